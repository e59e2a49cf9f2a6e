use cache::memoize;

#[memoize(size = "10")]
fn f(id: u32) -> u32 { id }

fn main() {}
