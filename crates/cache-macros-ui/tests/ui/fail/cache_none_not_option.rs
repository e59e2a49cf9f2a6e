use cache::memoize;

#[memoize(cache_none = false)]
fn f(id: u32) -> u32 { id }

fn main() {}
