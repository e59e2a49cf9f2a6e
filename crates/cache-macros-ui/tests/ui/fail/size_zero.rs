use cache::memoize;

#[memoize(size = 0)]
fn f(n: u32) -> u32 { n }

fn main() {}
