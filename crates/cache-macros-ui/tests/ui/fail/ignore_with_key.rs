use cache::memoize;

#[memoize(key = "{id}", ignore = [conn])]
fn f(id: u32, conn: u32) -> u32 { id + conn }

fn main() {}
