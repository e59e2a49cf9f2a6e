use cache::memoize;

#[memoize]
fn result(n: u32) -> Result<u32, String> {
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n)
}

#[memoize]
fn io_result(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

#[memoize(cache_none = true)]
fn option_stored(n: u32) -> Option<u32> {
    n.checked_sub(1)
}

#[memoize(cache_none = false)]
fn option_not_stored(n: u32) -> Option<u32> {
    n.checked_sub(1)
}

fn main() {
    assert_eq!(result(0), Err("zero".to_string()));
    assert!(!result_invalidate(0).unwrap());
    assert_eq!(result(1), Ok(1));
    assert_eq!(io_result(1).unwrap(), 1);
    assert_eq!(option_stored(0), None);
    assert!(option_stored_invalidate(0).unwrap());
    assert_eq!(option_not_stored(0), None);
    assert!(!option_not_stored_invalidate(0).unwrap());
}
