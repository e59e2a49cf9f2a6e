use cache::memoize;

#[memoize]
fn bare(n: u32) -> u32 {
    n + 1
}

#[memoize(size = 10)]
fn sized(a: &str, b: String) -> String {
    format!("{a}{b}")
}

#[memoize(ttl = "60s")]
fn unit() {}

#[memoize(ttl = "never", size = 1)]
fn no_args() -> Vec<u8> {
    vec![1]
}

#[memoize(ttl = "1h 30m")]
pub fn public(mut n: u64) -> u64 {
    n += 1;
    n
}

fn main() {
    assert_eq!(bare(1), 2);
    assert_eq!(sized("a", "b".into()), "ab");
    unit();
    assert_eq!(no_args(), vec![1]);
    assert_eq!(public(1), 2);
    assert!(bare_invalidate(1).unwrap());
    assert_eq!(sized_clear().unwrap(), 1);
    assert!(unit_invalidate().unwrap());
    assert!(no_args_invalidate().unwrap());
    assert!(public_invalidate(1).unwrap());
}
