use cache::memoize;

#[memoize(ttl = "1s", ttl = "2s")]
fn f(n: u32) -> u32 { n }

fn main() {}
