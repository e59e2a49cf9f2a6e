//! `FileBasedCache` against `cacache` (sync API), single thread, 100-byte values: a get that
//! hits, a get that misses, and a set (overwriting one of 1,000 keys).
//!
//! Run with `cargo bench -p cache-file --bench file`. The caches live in temporary
//! directories under `$CACHE_BENCH_DIR` if set (for example a tmpfs, to measure the code
//! rather than the disk), else under the system's temporary directory.

use std::hint::black_box;
use std::time::Duration;

use cache_core::{Cache, Ttl};
use cache_file::FileBasedCache;
use criterion::{criterion_group, criterion_main, Criterion};

const KEYS: usize = 1_000;

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("bench:key:{i}")).collect()
}

fn temp_dir() -> tempfile::TempDir {
    match std::env::var_os("CACHE_BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("a temporary directory")
}

/// A 100-byte value; `n` makes each write's bytes new, so that cacache (content-addressed)
/// cannot skip writing content it already holds.
fn value(n: u64) -> Vec<u8> {
    let mut v: Vec<u8> = (0..100u8).collect();
    v[..8].copy_from_slice(&n.to_le_bytes());
    v
}

fn file_cache(c: &mut Criterion) {
    let dir = temp_dir();
    let cache = FileBasedCache::new(dir.path(), None).expect("a cache");
    let keys = keys();
    for k in &keys {
        cache.set(k, value(0), Ttl::Never).expect("set");
    }
    let mut g = c.benchmark_group("get-hit");
    let mut i = 0;
    g.bench_function("FileBasedCache", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            let v: Option<Vec<u8>> = cache.get(&keys[i]).expect("get");
            black_box(v.expect("a hit"))
        })
    });
    let cdir = temp_dir();
    for k in &keys {
        cacache::write_sync(cdir.path(), k, value(0)).expect("cacache write");
    }
    g.bench_function("cacache", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(cacache::read_sync(cdir.path(), &keys[i]).expect("a hit"))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("get-miss");
    g.bench_function("FileBasedCache", |b| {
        b.iter(|| {
            let v: Option<Vec<u8>> = cache.get("absent:key").expect("get");
            black_box(v)
        })
    });
    g.bench_function("cacache", |b| {
        b.iter(|| black_box(cacache::read_sync(cdir.path(), "absent:key").is_err()))
    });
    g.finish();

    let mut g = c.benchmark_group("set");
    let mut n = 0;
    g.bench_function("FileBasedCache", |b| {
        b.iter(|| {
            n += 1;
            let k = &keys[n as usize % KEYS];
            cache.set(k, value(n), Ttl::Never).expect("set")
        })
    });
    g.bench_function("cacache", |b| {
        b.iter(|| {
            n += 1;
            let k = &keys[n as usize % KEYS];
            cacache::write_sync(cdir.path(), k, value(n)).expect("cacache write")
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    targets = file_cache
}
criterion_main!(benches);
