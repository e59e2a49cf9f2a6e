//! In-memory backends under a Zipf (s = 1.0) get-or-set loop: 1,000,000 keys, capacity
//! 100,000, 64-byte values, 1 and 2 threads: `InMemoryCache` against `moka::sync::Cache`,
//! `quick_cache::sync::Cache` and `Mutex<lru::LruCache>`. Hit ratios are printed and written
//! to `target/bench/memory-hit-ratio.csv`.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cache_benches::{keys, Zipf};
use cache_core::{Cache, Ttl};
use cache_memory::InMemoryCache;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const KEYS: usize = 1_000_000;
const CAPACITY: usize = 100_000;
/// Operations per thread per measured batch.
const BATCH: usize = 200_000;

type Value = [u8; 64];

/// The one operation the workload needs, on every cache under test.
trait GetOrSet: Sync {
    const NAME: &'static str;
    fn build() -> Self;
    /// Reads `key`; on a miss stores `value`. Returns whether it was a hit.
    fn get_or_set(&self, key: &str, value: &Value) -> bool;
}

impl GetOrSet for InMemoryCache<Value> {
    const NAME: &'static str = "cache-memory";
    fn build() -> Self {
        InMemoryCache::new(CAPACITY, None).expect("valid")
    }
    fn get_or_set(&self, key: &str, value: &Value) -> bool {
        if self.get(key).expect("infallible").is_some() {
            return true;
        }
        self.set(key, *value, Ttl::Never).expect("infallible");
        false
    }
}

impl GetOrSet for moka::sync::Cache<String, Value> {
    const NAME: &'static str = "moka";
    fn build() -> Self {
        moka::sync::Cache::new(CAPACITY as u64)
    }
    fn get_or_set(&self, key: &str, value: &Value) -> bool {
        if self.get(key).is_some() {
            return true;
        }
        self.insert(key.to_owned(), *value);
        false
    }
}

impl GetOrSet for quick_cache::sync::Cache<String, Value> {
    const NAME: &'static str = "quick_cache";
    fn build() -> Self {
        quick_cache::sync::Cache::new(CAPACITY)
    }
    fn get_or_set(&self, key: &str, value: &Value) -> bool {
        if self.get(key).is_some() {
            return true;
        }
        self.insert(key.to_owned(), *value);
        false
    }
}

impl GetOrSet for Mutex<lru::LruCache<String, Value>> {
    const NAME: &'static str = "mutex-lru";
    fn build() -> Self {
        Mutex::new(lru::LruCache::new(NonZeroUsize::new(CAPACITY).unwrap()))
    }
    fn get_or_set(&self, key: &str, value: &Value) -> bool {
        let mut lru = self.lock().unwrap();
        if lru.get(key).is_some() {
            return true;
        }
        lru.put(key.to_owned(), *value);
        false
    }
}

struct Workload {
    keys: Vec<String>,
    /// One trace per thread, each a different seed.
    traces: Vec<Vec<usize>>,
    value: Value,
}

impl Workload {
    fn new(threads: usize) -> Self {
        let zipf = Zipf::new(KEYS, 1.0);
        Workload {
            keys: keys(KEYS),
            traces: (0..threads)
                .map(|t| zipf.trace(t as u64 + 1, BATCH * 5))
                .collect(),
            value: [7; 64],
        }
    }

    /// Runs `BATCH` operations per thread starting at `offset` in each trace; returns hits.
    fn run<C: GetOrSet>(&self, cache: &C, threads: usize, offset: usize) -> usize {
        let start = offset % (self.traces[0].len() - BATCH);
        std::thread::scope(|s| {
            let handles: Vec<_> = self.traces[..threads]
                .iter()
                .map(|trace| {
                    s.spawn(move || {
                        trace[start..start + BATCH]
                            .iter()
                            .filter(|&&k| cache.get_or_set(&self.keys[k], &self.value))
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        })
    }
}

fn hit_ratio<C: GetOrSet>(w: &Workload) -> f64 {
    let cache = C::build();
    // Warm up over the first 400k operations, then measure the next 400k.
    w.run(&cache, 1, 0);
    w.run(&cache, 1, BATCH);
    let hits = w.run(&cache, 1, 2 * BATCH) + w.run(&cache, 1, 3 * BATCH);
    hits as f64 / (2 * BATCH) as f64
}

fn bench_one<C: GetOrSet>(c: &mut Criterion, w: &Workload, threads: usize) {
    let mut group = c.benchmark_group(format!("memory/zipf-get-or-set/{threads}t"));
    group.throughput(Throughput::Elements((BATCH * threads) as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    let cache = C::build();
    w.run(&cache, threads, 0);
    let mut round = 0;
    group.bench_function(BenchmarkId::from_parameter(C::NAME), |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                round += 1;
                w.run(&cache, threads, round * BATCH);
            }
            started.elapsed()
        })
    });
    group.finish();
}

fn zipf_get_or_set(c: &mut Criterion) {
    let w = Workload::new(2);
    let mut ratios = String::from("cache,hit_ratio\n");
    for (name, ratio) in [
        (
            InMemoryCache::<Value>::NAME,
            hit_ratio::<InMemoryCache<Value>>(&w),
        ),
        (
            moka::sync::Cache::<String, Value>::NAME,
            hit_ratio::<moka::sync::Cache<String, Value>>(&w),
        ),
        (
            quick_cache::sync::Cache::<String, Value>::NAME,
            hit_ratio::<quick_cache::sync::Cache<String, Value>>(&w),
        ),
        (
            Mutex::<lru::LruCache<String, Value>>::NAME,
            hit_ratio::<Mutex<lru::LruCache<String, Value>>>(&w),
        ),
    ] {
        println!("hit ratio {name}: {:.4}", ratio);
        ratios.push_str(&format!("{name},{ratio:.6}\n"));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    std::fs::write(dir.join("memory-hit-ratio.csv"), ratios).expect("write hit ratios");
    for threads in [1, 2] {
        bench_one::<InMemoryCache<Value>>(c, &w, threads);
        bench_one::<moka::sync::Cache<String, Value>>(c, &w, threads);
        bench_one::<quick_cache::sync::Cache<String, Value>>(c, &w, threads);
        bench_one::<Mutex<lru::LruCache<String, Value>>>(c, &w, threads);
    }
}

criterion_group!(benches, zipf_get_or_set);
criterion_main!(benches);
