use cache::memoize;

struct Conn;

#[memoize]
fn f(id: u32, conn: Conn) -> u32 { let _ = conn; id }

fn main() {}
