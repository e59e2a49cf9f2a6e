use cache::memoize;

#[memoize]
struct S;

fn main() {}
