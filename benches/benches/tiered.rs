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
//! After the criterion rows, the paired row: the invalidated near hit and the `InMemoryCache`
//! get alternated round by round in one loop, the median of the per-round ratios written to
//! `target/bench/tiered-paired.csv` (honouring the command line's filter).

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_benches::{configure, keys, quick, write_metric, Zipf};
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

/// The median (and quartiles) of per-round throughput ratios ours / peer, rounds
/// alternating which goes first.
fn pair(
    ours: &dyn Cache<Value>,
    peer: &dyn Cache<Value>,
    keys: &[String],
    trace: &[usize],
) -> (f64, f64, f64, usize) {
    // Short rounds, many of them: on a loaded machine most rounds then run unpreempted,
    // and the median of their ratios ignores the others.
    let rounds = if quick() { 300 } else { 2_000 };
    let per_round = 2_000;
    let time = |c: &dyn Cache<Value>, start: usize| {
        let t0 = Instant::now();
        read(c, keys, trace, start, per_round);
        t0.elapsed().as_secs_f64()
    };
    for r in 0..rounds / 10 {
        time(ours, r * 997 % trace.len());
        time(peer, r * 997 % trace.len());
    }
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|r| {
            let start = r * 7_919 % trace.len();
            let (a, b) = if r % 2 == 0 {
                let a = time(ours, start);
                (a, time(peer, start))
            } else {
                let b = time(peer, start);
                (time(ours, start), b)
            };
            b / a
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let q = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    (q(0.5), q(0.25), q(0.75), rounds)
}

/// Whether `id` matches the command line's filter (a substring; none: everything).
fn selected(id: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty() || filters.iter().any(|f| id.contains(f.as_str()))
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

    let id = "tiered-near-hit/paired";
    if selected(id) {
        // The method's own floor: two identical in-memory caches, paired the same way.
        let twin = memory();
        warm(&twin, &[&twin], &keys);
        let mut csv = String::from("workload,cache,peer,rounds,median,q1,q3\n");
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
        for (name, ours, peer, peer_name) in pairs {
            let (median, q1, q3, rounds) = pair(ours, peer, &keys, &trace);
            println!(
                "paired {id}: {name} / {peer_name} = {median:.3}x (middle half of {rounds} rounds {q1:.3}x to {q3:.3}x)"
            );
            let _ = writeln!(
                csv,
                "near-hit,{name},{peer_name},{rounds},{median:.4},{q1:.4},{q3:.4}"
            );
        }
        write_metric("tiered-paired.csv", &csv);
    }
}

criterion_group!(tiered_benches, benches);
criterion_main!(tiered_benches);
