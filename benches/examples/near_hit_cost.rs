//! Instructions per near hit, for `valgrind --tool=callgrind` (or `perf stat`), free of the
//! timing noise of a shared machine: `cargo run --release -p cache-benches --example
//! near_hit_cost -- <memory|tiered> [reads]` reads 10,000 resident keys in a Zipf 1.0 order
//! through a bare `InMemoryCache` or an invalidated `TieredCache` near hit.

use std::hint::black_box;
use std::sync::Arc;

use cache_benches::{keys, Zipf};
use cache_core::near::{InvalidationSink, Invalidations, Subscription};
use cache_core::{Cache, CacheError, CacheStats, CounterValue, Ttl};
use cache_memory::InMemoryCache;
use cache_tiered::TieredCache;

type Value = [u64; 8];

/// A far tier that says it is connected and never reports a change.
struct Connected<V>(InMemoryCache<V>);

impl<V> Invalidations for Connected<V> {
    fn subscribe(&self, sink: Arc<dyn InvalidationSink>) -> Result<Subscription, CacheError> {
        sink.connected(true);
        Ok(Subscription::new(()))
    }
}

impl<V: Clone + Send + Sync + 'static> Cache<V> for Connected<V> {
    fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        self.0.get(key)
    }
    fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        Cache::set(&self.0, key, value, ttl)
    }
    fn delete(&self, key: &str) -> Result<bool, CacheError> {
        self.0.delete(key)
    }
    fn clear(&self) -> Result<(), CacheError> {
        self.0.clear()
    }
    fn exists(&self, key: &str) -> Result<bool, CacheError> {
        self.0.exists(key)
    }
    fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        self.0.delete_pattern(pattern)
    }
    fn stats(&self) -> CacheStats {
        self.0.stats()
    }
    fn add(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        Cache::add(&self.0, key, value, ttl)
    }
    fn incr(&self, key: &str, _: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        Err(CacheError::not_a_counter(key))
    }
    fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        Cache::touch(&self.0, key, ttl)
    }
    fn ttl(&self, key: &str) -> Result<Option<Option<std::time::Duration>>, CacheError> {
        self.0.ttl(key)
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "tiered".to_owned());
    let reads: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let n = 10_000;
    let keys = keys(n);
    let trace = Zipf::new(n, 1.0).trace(42, 1 << 16);
    let cache: Box<dyn Cache<Value>> = match which.as_str() {
        "memory" => Box::new(InMemoryCache::new(2 * n, None).expect("valid")),
        _ => Box::new(
            TieredCache::builder(Connected(InMemoryCache::new(2 * n, None).expect("valid")))
                .near_max_size(2 * n)
                .build_invalidated()
                .expect("valid"),
        ),
    };
    for k in &keys {
        cache.set(k, [7; 8], Ttl::Never).expect("set");
        cache.get(k).expect("get");
    }
    for i in 0..reads {
        black_box(cache.get(&keys[trace[i % trace.len()]]).expect("get"));
    }
}
