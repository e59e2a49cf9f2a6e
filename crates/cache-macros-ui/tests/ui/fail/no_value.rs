use cache::memoize;

#[memoize(ttl)]
fn f(n: u32) -> u32 { n }

fn main() {}
