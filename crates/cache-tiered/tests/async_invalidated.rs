//! `AsyncTieredCache` with invalidated coherence, over an async far tier that reports its
//! changes: invalidations drop copies, a lost channel empties and bypasses the near tier, a
//! far read older than an invalidation is not filled, and concurrent tasks that miss share
//! one far read.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::near::{InvalidationSink, Invalidations, Subscription};
use cache_core::{
    AsyncCache, AsyncCacheExt, CacheError, CacheFuture, CacheStats, CounterValue, Ttl,
};
use cache_memory::InMemoryCache;
use cache_tiered::AsyncTieredCache;
use support::Reporting;
use tokio::sync::Notify;

/// A held read's two signals: it entered (read the far value), and it may go on.
type Hold = (Arc<Notify>, Arc<Notify>);

/// [`Reporting`] as an async far tier whose `get` can be held until released.
#[derive(Clone)]
struct AsyncFar {
    far: Reporting<i64>,
    gets: Arc<AtomicU64>,
    hold: Arc<std::sync::Mutex<Option<Hold>>>,
}

impl AsyncFar {
    fn new() -> Self {
        AsyncFar {
            far: Reporting::new(InMemoryCache::new(1_000, None).unwrap()),
            gets: Arc::default(),
            hold: Arc::default(),
        }
    }

    /// The next far `get` reads, tells `entered`, and waits for `release`.
    fn arm(&self) -> Hold {
        let pair = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        *self.hold.lock().unwrap() = Some(pair.clone());
        pair
    }
}

impl Invalidations for AsyncFar {
    fn subscribe(&self, sink: Arc<dyn InvalidationSink>) -> Result<Subscription, CacheError> {
        self.far.subscribe(sink)
    }
}

impl AsyncCache<i64> for AsyncFar {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<Option<i64>, CacheError>> {
        CacheFuture::boxed(async move {
            self.gets.fetch_add(1, Ordering::SeqCst);
            let v = cache_core::Cache::get(&self.far, key);
            let held = self.hold.lock().unwrap().take();
            if let Some((entered, release)) = held {
                entered.notify_one();
                release.notified().await;
            }
            v
        })
    }
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: i64,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::ready(cache_core::Cache::set(&self.far, key, value, ttl))
    }
    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::ready(cache_core::Cache::delete(&self.far, key))
    }
    fn clear(&self) -> CacheFuture<'_, Result<(), CacheError>> {
        CacheFuture::ready(cache_core::Cache::clear(&self.far))
    }
    fn exists<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::ready(cache_core::Cache::exists(&self.far, key))
    }
    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> CacheFuture<'a, Result<u64, CacheError>> {
        CacheFuture::ready(cache_core::Cache::delete_pattern(&self.far, pattern))
    }
    fn stats(&self) -> CacheStats {
        cache_core::Cache::stats(&self.far)
    }
    fn add<'a>(
        &'a self,
        key: &'a str,
        value: i64,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::ready(cache_core::Cache::add(&self.far, key, value, ttl))
    }
    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        i64: CounterValue,
    {
        CacheFuture::ready(cache_core::Cache::incr(&self.far, key, delta))
    }
    fn touch<'a>(&'a self, key: &'a str, ttl: Ttl) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::ready(cache_core::Cache::touch(&self.far, key, ttl))
    }
    fn ttl<'a>(
        &'a self,
        key: &'a str,
    ) -> CacheFuture<'a, Result<Option<Option<Duration>>, CacheError>> {
        CacheFuture::ready(cache_core::Cache::ttl(&self.far, key))
    }
}

fn tiered() -> (AsyncTieredCache<i64, AsyncFar>, AsyncFar) {
    let far = AsyncFar::new();
    let cache = AsyncTieredCache::builder(far.clone())
        .build_invalidated()
        .unwrap();
    (cache, far)
}

#[tokio::test]
async fn invalidations_and_a_lost_channel() {
    let (cache, far) = tiered();
    cache_core::Cache::set(&far.far.cache, "k", 1, Ttl::Never).unwrap(); // another process
    assert_eq!(cache.get("k").await.unwrap(), Some(1));
    assert_eq!(cache.get("k").await.unwrap(), Some(1));
    assert_eq!(far.gets.load(Ordering::SeqCst), 1, "a near hit");
    cache_core::Cache::set(&far.far.cache, "k", 2, Ttl::Never).unwrap();
    far.far.report("k");
    assert_eq!(
        cache.get("k").await.unwrap(),
        Some(2),
        "the invalidation dropped 1"
    );
    far.far.connected(false);
    assert!(cache.tier_stats().bypassed);
    cache_core::Cache::set(&far.far.cache, "k", 3, Ttl::Never).unwrap();
    assert_eq!(cache.get("k").await.unwrap(), Some(3));
    assert_eq!(cache.get("k").await.unwrap(), Some(3));
    assert_eq!(
        far.gets.load(Ordering::SeqCst),
        4,
        "bypassed: every read went far"
    );
    far.far.connected(true);
    assert_eq!(cache.get("k").await.unwrap(), Some(3));
    assert_eq!(cache.get("k").await.unwrap(), Some(3));
    assert_eq!(far.gets.load(Ordering::SeqCst), 5, "filled again once back");
    // Its own writes, at once.
    cache.set("k", 4, Ttl::Never).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_read_older_than_an_invalidation_is_not_filled() {
    let (cache, far) = tiered();
    far.far.quiet.store(true, Ordering::SeqCst);
    cache_core::Cache::set(&far.far.cache, "k", 1, Ttl::Never).unwrap();
    let (entered, release) = far.arm();
    let reader = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get("k").await.unwrap() })
    };
    entered.notified().await;
    cache_core::Cache::set(&far.far.cache, "k", 2, Ttl::Never).unwrap();
    far.far.report("k");
    release.notify_one();
    assert_eq!(reader.await.unwrap(), Some(1));
    assert_eq!(cache.get("k").await.unwrap(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_that_miss_together_share_one_far_read() {
    let (cache, far) = tiered();
    cache_core::Cache::set(&far.far.cache, "k", 7, Ttl::Never).unwrap();
    let (entered, release) = far.arm();
    let first = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get("k").await.unwrap() })
    };
    entered.notified().await;
    let others: Vec<_> = (0..8)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get("k").await.unwrap() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.notify_one();
    assert_eq!(first.await.unwrap(), Some(7));
    for o in others {
        assert_eq!(o.await.unwrap(), Some(7));
    }
    assert_eq!(
        far.gets.load(Ordering::SeqCst),
        1,
        "one far read for 9 tasks"
    );
    let v = cache
        .get_or_insert_with("k", Ttl::Never, || async { 0 })
        .await
        .unwrap();
    assert_eq!(v, 7, "a near hit");
}
