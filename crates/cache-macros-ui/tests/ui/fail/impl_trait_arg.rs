use cache::memoize;

#[memoize]
fn f(id: impl std::fmt::Display) -> String { id.to_string() }

fn main() {}
