use cache::memoize;

#[memoize]
fn f<T: std::fmt::Display>(id: T) -> String { id.to_string() }

fn main() {}
