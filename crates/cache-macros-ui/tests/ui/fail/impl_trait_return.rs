use cache::memoize;

#[memoize]
fn f(id: u32) -> impl std::fmt::Display { id }

fn main() {}
