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

static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

#[memoize(cache_none = false)]
fn lookup(name: &str) -> Option<usize> {
    LOOKUPS.fetch_add(1, SeqCst);
    (name != "nobody").then_some(name.len())
}

static LOOKUPS_NONE: AtomicUsize = AtomicUsize::new(0);

#[memoize]
fn lookup_none_stored(name: &str) -> Option<usize> {
    LOOKUPS_NONE.fetch_add(1, SeqCst);
    (name != "nobody").then_some(name.len())
}

#[test]
fn none_is_stored_unless_told_not_to() {
    assert_eq!(lookup("nobody"), None);
    assert_eq!(lookup("nobody"), None);
    assert_eq!(lookup("alice"), Some(5));
    assert_eq!(lookup("alice"), Some(5));
    assert_eq!(LOOKUPS.load(SeqCst), 3);

    assert_eq!(lookup_none_stored("nobody"), None);
    assert_eq!(lookup_none_stored("nobody"), None);
    assert_eq!(LOOKUPS_NONE.load(SeqCst), 1);
}

static CLOCK: LazyLock<cache::MockClock> = LazyLock::new(cache::MockClock::new);
static TIMED: LazyLock<InMemoryCache<u64>> = LazyLock::new(|| {
    InMemoryCache::builder()
        .max_size(10)
        .clock(CLOCK.shared())
        .build()
        .unwrap()
});
static TIMED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(cache = TIMED, ttl = "1m 30s")]
fn timed() -> u64 {
    TIMED_RUNS.fetch_add(1, SeqCst) as u64
}

#[test]
fn entries_live_for_the_ttl() {
    assert_eq!(timed(), 0);
    CLOCK.advance(std::time::Duration::from_secs(89));
    assert_eq!(timed(), 0);
    let key = format!("{}::timed#", module_path!());
    assert_eq!(
        TIMED.ttl(&key).unwrap(),
        Some(Some(std::time::Duration::from_secs(1)))
    );
    CLOCK.advance(std::time::Duration::from_secs(1));
    assert_eq!(timed(), 1);
}

#[memoize(prefix = "pair:")]
fn pair(a: &str, b: &str) -> String {
    format!("{a}+{b}")
}

#[memoize(cache = SHARED, ignore = [noise])]
fn ignoring(id: u32, noise: u32) -> String {
    format!("{id}/{noise}")
}

#[test]
fn default_keys_escape_their_separator() {
    assert_eq!(pair("a:b", "c"), "a:b+c");
    assert_eq!(pair("a", "b:c"), "a+b:c");
    assert_eq!(pair("a\\", ":"), "a\\+:");
    assert_eq!(pair_clear().unwrap(), 3);
    // The ignored argument is not in the key: the first call's value stays.
    assert_eq!(ignoring(1, 10), "1/10");
    assert_eq!(ignoring(1, 20), "1/10");
    let key = format!("{}::ignoring#1", module_path!());
    assert_eq!(SHARED.get(&key).unwrap().as_deref(), Some("1/10"));
    assert!(ignoring_invalidate(1).unwrap());
}

struct Service {
    cache: AsyncInMemoryCache<String>,
    runs: AtomicUsize,
}

impl Service {
    #[memoize(cache = self.cache, ttl = "60s")]
    async fn describe(&self, id: u32) -> Result<String, std::io::Error> {
        self.runs.fetch_add(1, SeqCst);
        tokio::task::yield_now().await;
        if id == 0 {
            return Err(std::io::Error::other("no id 0"));
        }
        Ok(format!("item {id}"))
    }

    #[memoize(size = 10)]
    async fn own_cache(&self, id: u32) -> u32 {
        self.runs.fetch_add(1, SeqCst);
        id + 1
    }

    #[memoize(size = 10)]
    fn blocking_own_cache(&self, id: u32) -> u32 {
        self.runs.fetch_add(1, SeqCst);
        id + 2
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_methods_share_one_run() {
    let service = Arc::new(Service {
        cache: AsyncInMemoryCache::new(InMemoryCache::new(100, None).unwrap()),
        runs: AtomicUsize::new(0),
    });
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let service = Arc::clone(&service);
            tokio::spawn(async move { service.describe(3).await.unwrap() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), "item 3");
    }
    assert_eq!(service.runs.load(SeqCst), 1);
    assert_eq!(
        service.describe(0).await.unwrap_err().to_string(),
        "no id 0"
    );
    assert_eq!(service.runs.load(SeqCst), 2);
    assert!(service.describe_invalidate(3).await.unwrap());
    assert_eq!(service.describe(3).await.unwrap(), "item 3");
    assert_eq!(service.runs.load(SeqCst), 3);
    assert_eq!(service.describe_clear().await.unwrap(), 1);

    assert_eq!(service.own_cache(1).await, 2);
    assert_eq!(service.own_cache(1).await, 2);
    assert_eq!(service.blocking_own_cache(1), 3);
    assert_eq!(service.blocking_own_cache(1), 3);
    assert_eq!(service.runs.load(SeqCst), 5);
    assert!(service.own_cache_invalidate(1).await.unwrap());
    assert_eq!(service.blocking_own_cache_clear().unwrap(), 1);
}

static ASYNC_FREE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(key = "{a}-{b:?}")]
async fn async_free(a: u8, b: Option<u8>) -> Vec<u8> {
    ASYNC_FREE_RUNS.fetch_add(1, SeqCst);
    vec![a, b.unwrap_or(0)]
}

#[tokio::test]
async fn async_free_functions_use_their_own_cache() {
    assert_eq!(async_free(1, Some(2)).await, vec![1, 2]);
    assert_eq!(async_free(1, Some(2)).await, vec![1, 2]);
    assert_eq!(async_free(1, None).await, vec![1, 0]);
    assert_eq!(ASYNC_FREE_RUNS.load(SeqCst), 2);
    assert!(async_free_invalidate(1, None).await.unwrap());
}
