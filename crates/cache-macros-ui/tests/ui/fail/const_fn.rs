use cache::memoize;

#[memoize]
const fn f(id: u32) -> u32 { id }

fn main() {}
