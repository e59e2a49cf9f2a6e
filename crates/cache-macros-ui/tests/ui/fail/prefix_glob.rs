use cache::memoize;

#[memoize(prefix = "users:*")]
fn f(id: u32) -> u32 { id }

fn main() {}
