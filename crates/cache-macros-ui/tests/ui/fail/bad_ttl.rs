use cache::memoize;

#[memoize(ttl = "60 seconds")]
fn f(n: u32) -> u32 { n }

fn main() {}
