use cache::memoize;

struct Conn;

#[memoize(ignore = [conn])]
fn ignored(id: u32, conn: &Conn) -> u32 {
    let _ = conn;
    id
}

#[memoize(key = "user:{id}:{flag:?}")]
fn templated(id: u32, flag: bool, conn: &Conn) -> u32 {
    let _ = (conn, flag);
    id
}

#[memoize(prefix = "my-app/users:")]
fn prefixed(id: u32) -> u32 {
    id
}

#[memoize(key = "{{literal}} {id}")]
fn braces(id: u32) -> u32 {
    id
}

fn main() {
    assert_eq!(ignored(1, &Conn), 1);
    assert!(ignored_invalidate(1).unwrap());
    assert_eq!(templated(2, true, &Conn), 2);
    assert!(templated_invalidate(2, true).unwrap());
    assert_eq!(prefixed(3), 3);
    assert_eq!(prefixed_clear().unwrap(), 1);
    assert_eq!(braces(4), 4);
}
