//! `#[memoize]` on the in-memory cache: what is stored, what is shared, the keys, the
//! companions.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, LazyLock};

use cache::memoize;
use cache::prelude::*;

static SQUARES: AtomicUsize = AtomicUsize::new(0);

#[memoize(size = 100)]
fn square(n: u64) -> u64 {
    SQUARES.fetch_add(1, SeqCst);
    n * n
}

#[test]
fn a_result_is_computed_once_per_key() {
    assert_eq!(square(3), 9);
    assert_eq!(square(3), 9);
    assert_eq!(square(4), 16);
    assert_eq!(SQUARES.load(SeqCst), 2);
    assert!(square_invalidate(3).unwrap());
    assert!(!square_invalidate(3).unwrap());
    assert_eq!(square(3), 9);
    assert_eq!(SQUARES.load(SeqCst), 3);
    assert_eq!(square_clear().unwrap(), 2);
    assert_eq!(square(4), 16);
    assert_eq!(SQUARES.load(SeqCst), 4);
}

static SHARED: LazyLock<InMemoryCache<String>> =
    LazyLock::new(|| InMemoryCache::new(100, None).unwrap());
static SLOW_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(cache = SHARED, key = "slow:{id}")]
fn slow(id: u32, gate: &Barrier) -> String {
    SLOW_RUNS.fetch_add(1, SeqCst);
    let _ = gate;
    std::thread::sleep(std::time::Duration::from_millis(50));
    format!("value {id}")
}

#[test]
fn concurrent_callers_share_one_run() {
    let gate = Barrier::new(1);
    std::thread::scope(|s| {
        let all = Arc::new(Barrier::new(16));
        for _ in 0..16 {
            let all = Arc::clone(&all);
            let gate = &gate;
            s.spawn(move || {
                all.wait();
                assert_eq!(slow(7, gate), "value 7");
            });
        }
    });
    assert_eq!(SLOW_RUNS.load(SeqCst), 1);
    let key = format!("{}::slow#slow:7", module_path!());
    assert_eq!(SHARED.get(&key).unwrap().as_deref(), Some("value 7"));
}

static FALLIBLE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize]
fn fallible(n: i32) -> Result<i32, String> {
    FALLIBLE_RUNS.fetch_add(1, SeqCst);
    if n < 0 {
        return Err(format!("negative: {n}"));
    }
    let doubled = n.checked_mul(2).ok_or("overflow")?;
    Ok(doubled)
}

#[test]
fn errors_are_returned_and_not_stored() {
    assert_eq!(fallible(-1), Err("negative: -1".to_string()));
    assert_eq!(fallible(-1), Err("negative: -1".to_string()));
    assert_eq!(FALLIBLE_RUNS.load(SeqCst), 2);
    assert_eq!(fallible(5), Ok(10));
    assert_eq!(fallible(5), Ok(10));
    assert_eq!(FALLIBLE_RUNS.load(SeqCst), 3);
}
