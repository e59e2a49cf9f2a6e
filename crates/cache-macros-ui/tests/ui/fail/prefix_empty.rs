use cache::memoize;

#[memoize(prefix = "")]
fn f(id: u32) -> u32 { id }

fn main() {}
