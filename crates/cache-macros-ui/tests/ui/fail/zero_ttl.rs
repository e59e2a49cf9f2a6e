use cache::memoize;

#[memoize(ttl = "0s")]
fn f(n: u32) -> u32 { n }

fn main() {}
