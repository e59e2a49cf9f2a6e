//! The near cache (`cache-tiered`): a near hit beside an `InMemoryCache` get of the same
//! keys, the cost the issue bounds at 1.1x.
//!
//! Rows of the `tiered-near-hit` group (10,000 keys, all resident, a Zipf 1.0 trace, 64-byte
//! values, one thread): `cache-memory` (the bare `InMemoryCache` get), `cache-tiered-invalidated`
//! (a far tier with invalidations, connected: one atomic load on top of the near tier's
//! get), `cache-tiered-private` (no coherence), `cache-tiered-stamped` (over files, each hit
//! `stat`s the entry), `cache-tiered-stamped-staleness` (over files, `max_staleness(1 h)`:
//! no `stat` within it) and `cache-file` (the far tier alone, for scale).
//!
//! The `tiered-near-miss` group: every read a near miss (a near tier of one entry, keys read
//! in order): the stamped tiered cache over files beside `cache-file`'s get, and the private
//! one over memory beside `cache-memory`'s: the cost of a far read, its `ttl` and the fill.
//!
//! After the criterion rows, the paired row: the invalidated near hit and the `InMemoryCache`
//! get alternated round by round in one loop, the median of the per-round ratios written to
//! `target/bench/tiered-paired.csv` (honouring the command line's filter).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cache_benches::{as_test, configure, keys, quick, selected, write_paired, Paired, Zipf};
use cache_core::near::{InvalidationSink, Invalidations, Subscription};
use cache_core::{Cache, CacheError, CacheStats, CounterValue, Loader, Ttl};
use cache_file::FileBasedCache;
use cache_memory::InMemoryCache;
use cache_tiered::TieredCache;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// 64 bytes (arrays of up to 32 elements are serde types: the file rows need one).
type Value = [u64; 8];

const KEYS: usize = 10_000;

/// A paired row: our row's name, our cache, the peer's cache, the peer's name.
type Pairing<'a> = (&'a str, &'a dyn Cache<Value>, &'a dyn Cache<Value>, &'a str);

/// An in-memory far tier that reports itself connected (it is never written behind the
/// near tier's back here): what a Redis far tier with its channel up looks like to a hit.
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
    fn incr(&self, key: &str, _delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        Err(CacheError::not_a_counter(key))
    }
    fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        Cache::touch(&self.0, key, ttl)
    }
    fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        self.0.ttl(key)
    }
    fn get_or_load(&self, key: &str, ttl: Ttl, loader: Loader<'_, V>) -> Result<V, CacheError> {
        self.0.get_or_load(key, ttl, loader)
    }
}

fn memory() -> InMemoryCache<Value> {
    InMemoryCache::new(2 * KEYS, None).expect("valid")
}

/// Every key written through `writer`, then read once through each of `readers`, so that
/// each is resident in every near tier (every in-memory cache here holds twice the keys:
/// its shards never evict). The file rows share one directory: written once, then read.
fn warm(writer: &dyn Cache<Value>, readers: &[&dyn Cache<Value>], keys: &[String]) {
    for k in keys {
        writer.set(k, [7; 8], Ttl::Never).expect("set");
    }
    for r in readers {
        for k in keys {
            assert!(r.get(k).expect("get").is_some());
        }
    }
}

/// `reads` gets of the trace, from `start` on; returns where the next batch starts.
fn read(
    cache: &dyn Cache<Value>,
    keys: &[String],
    trace: &[usize],
    start: usize,
    reads: usize,
) -> usize {
    let mut i = start;
    for _ in 0..reads {
        black_box(cache.get(&keys[trace[i]]).expect("get"));
        i += 1;
        if i == trace.len() {
            i = 0;
        }
    }
    i
}

/// Ours against the peer, paired ([`Paired::measure`]): short rounds, many of them, so that
/// on a loaded machine most rounds run unpreempted and the median ignores the others.
fn pair(
    name: &str,
    peer_name: &str,
    ours: &dyn Cache<Value>,
    peer: &dyn Cache<Value>,
    keys: &[String],
    trace: &[usize],
) -> Paired {
    let rounds = if as_test() {
        2
    } else if quick() {
        300
    } else {
        2_000
    };
    let per_round = 2_000;
    let (mut a, mut b) = (0, 0);
    Paired::measure(
        "near-hit/1t",
        name,
        peer_name,
        rounds,
        || {
            a = (a + 7_919) % trace.len();
            read(ours, keys, trace, a, per_round);
        },
        || {
            b = (b + 7_919) % trace.len();
            read(peer, keys, trace, b, per_round);
        },
    )
}

fn benches(c: &mut Criterion) {
    let keys = keys(KEYS);
    let trace = Zipf::new(KEYS, 1.0).trace(42, 1 << 16);
    let dir = tempfile::tempdir().expect("a directory");
    let files = FileBasedCache::new(dir.path(), None).expect("a file cache");

    let bare = memory();
    let invalidated = TieredCache::builder(Connected(memory()))
        .near_max_size(2 * KEYS)
        .build_invalidated()
        .expect("valid");
    let private = TieredCache::builder(memory())
        .near_max_size(2 * KEYS)
        .build_without_coherence_no_other_writers()
        .expect("valid");
    let stamped = TieredCache::<Value, _>::builder(files.clone())
        .near_max_size(2 * KEYS)
        .build_stamped()
        .expect("valid");
    let staleness = TieredCache::<Value, _>::builder(files.clone())
        .near_max_size(2 * KEYS)
        .max_staleness(Duration::from_secs(3600))
        .build_stamped()
        .expect("valid");
    let rows: [(&str, &dyn Cache<Value>); 6] = [
        ("cache-memory", &bare),
        ("cache-tiered-invalidated", &invalidated),
        ("cache-tiered-private", &private),
        ("cache-tiered-stamped", &stamped),
        ("cache-tiered-stamped-staleness", &staleness),
        ("cache-file", &files),
    ];
    warm(&bare, &[&bare], &keys);
    warm(&invalidated, &[&invalidated], &keys);
    warm(&private, &[&private], &keys);
    warm(&files, &[&stamped, &staleness, &files], &keys);
    let batch = 1_000;
    let mut group = c.benchmark_group("tiered-near-hit");
    configure(&mut group);
    group.throughput(Throughput::Elements(batch as u64));
    for (name, cache) in rows {
        let mut next = 0;
        group.bench_function(BenchmarkId::new(name, "1t"), |b| {
            b.iter(|| next = read(cache, &keys, &trace, next, batch))
        });
    }
    group.finish();

    // Near misses: a near tier of one entry read in key order, so that every read misses
    // it and goes to the far tier (`get`, then `ttl` for the fill's TTL, stamped: a `stat`
    // before and after), beside the far tier's own `get`.
    let tiny_files = TieredCache::<Value, _>::builder(files.clone())
        .near_max_size(1)
        .near_shards(1)
        .build_stamped()
        .expect("valid");
    let far_memory = memory();
    warm(&far_memory, &[&far_memory], &keys);
    let tiny_memory = TieredCache::builder(far_memory.clone())
        .near_max_size(1)
        .near_shards(1)
        .build_without_coherence_no_other_writers()
        .expect("valid");
    let in_order: Vec<usize> = (0..KEYS).collect();
    let misses: [(&str, &dyn Cache<Value>); 4] = [
        ("cache-file", &files),
        ("cache-tiered-stamped", &tiny_files),
        ("cache-memory", &far_memory),
        ("cache-tiered-private", &tiny_memory),
    ];
    let mut group = c.benchmark_group("tiered-near-miss");
    configure(&mut group);
    group.throughput(Throughput::Elements(batch as u64));
    for (name, cache) in misses {
        let mut next = 0;
        group.bench_function(BenchmarkId::new(name, "1t"), |b| {
            b.iter(|| next = read(cache, &keys, &in_order, next, batch))
        });
    }
    group.finish();

    let id = "tiered-near-hit/paired";
    if selected(id) {
        // The method's own floor: two identical in-memory caches, paired the same way.
        let twin = memory();
        warm(&twin, &[&twin], &keys);
        let pairs: [Pairing<'_>; 3] = [
            (
                "cache-tiered-invalidated",
                &invalidated,
                &bare,
                "cache-memory",
            ),
            ("cache-tiered-private", &private, &bare, "cache-memory"),
            ("cache-memory-twin", &twin, &bare, "cache-memory"),
        ];
        let rows: Vec<Paired> = pairs
            .into_iter()
            .map(|(name, ours, peer, peer_name)| pair(name, peer_name, ours, peer, &keys, &trace))
            .collect();
        write_paired("tiered", &rows);
    }
}

criterion_group!(tiered_benches, benches);
criterion_main!(tiered_benches);
