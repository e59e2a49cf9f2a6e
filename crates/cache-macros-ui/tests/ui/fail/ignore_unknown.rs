use cache::memoize;

#[memoize(ignore = [con])]
fn f(id: u32, conn: u32) -> u32 { id + conn }

fn main() {}
