use cache::memoize;

#[memoize(key = "user:{}")]
fn f(id: u32) -> u32 { id }

fn main() {}
