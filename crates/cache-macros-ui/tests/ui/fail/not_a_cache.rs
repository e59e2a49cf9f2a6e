use cache::memoize;

#[memoize(cache = 5)]
fn f(id: u32) -> u32 { id }

fn main() {}
