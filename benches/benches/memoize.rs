//! `#[memoize]` on a hit against a direct `get` of the same key on the same cache: what the
//! macro adds to a cached call (building the key from the arguments, the single-flight
//! `try_get_or_insert_with` on a hit, the result's shape). Issue #28's target: a hit costs
//! at most 1.1x a `get`.
//!
//! Two peers per backend: `get` with the key already built (the floor: no key work at
//! all), and `get` with the key built by `format!` on each call (what code without the
//! macro writes: `cache.get(&format!("user:{id}"))`). Each is measured *paired* (rounds of
//! the two alternate in one loop, see `redis.rs`), on the in-memory cache (values `u64`:
//! the cheapest get, so the largest share of overhead), the file cache (64-byte values, a
//! temporary directory) and Redis (64-byte values, a `redis-server` started here).
//! `target/bench/memoize-paired.csv` keeps the ratios.
//!
//! The ratios are throughput, memoized hit / peer, as every paired row's. A quick run
//! (`CACHE_BENCH_QUICK=1`, 30 paired rounds, 2 shared cores) gave, as costs (the inverse):
//! memory 3.07x (3.01-3.23) a get of a built key, 0.86x (0.85-0.88) a get that formats its
//! key; file 1.00x (0.99-1.03) and 1.00x; Redis 1.01x (0.93-1.06) and 0.99x. On memory (a get is ~21 ns) the hit is the key (~27 ns: prefix
//! and argument on the stack), the `try_get_or_insert_with` (~22 ns) and ~17 ns of wrapping.

use std::fmt::Write as _;
use std::hint::black_box;

#[allow(unused_imports)]
use cache::__memo::{DisplayArg as _, FastArg as _};
use std::sync::OnceLock;

use cache::{memoize, Cache, CacheExt, FileBasedCache, InMemoryCache, RedisCache, Ttl};
use cache_benches::{as_test, configure, quick, selected, write_paired, Paired};
use criterion::{criterion_group, criterion_main, Criterion};

const KEYS: u32 = 1_000;

static MEMORY: OnceLock<InMemoryCache<u64>> = OnceLock::new();
static FILES: OnceLock<FileBasedCache> = OnceLock::new();
static REDIS: OnceLock<RedisCache> = OnceLock::new();

fn memory() -> &'static InMemoryCache<u64> {
    MEMORY.get_or_init(|| InMemoryCache::new(10 * KEYS as usize, None).unwrap())
}

#[memoize(cache = memory(), ttl = "never")]
fn on_memory(id: u32) -> u64 {
    u64::from(id) * 3
}

#[memoize(cache = FILES.get().expect("opened"), ttl = "never")]
fn on_files(id: u32) -> Vec<u8> {
    vec![id as u8; 64]
}

#[memoize(cache = REDIS.get().expect("opened"), ttl = "never")]
fn on_redis(id: u32) -> Vec<u8> {
    vec![id as u8; 64]
}

/// The memoized hit against `peer` ([`Paired::measure`]), in rounds of `per_round` calls.
fn pair(
    backend: &str,
    peer: &str,
    per_round: u32,
    ours: &dyn Fn(u32),
    theirs: &dyn Fn(u32),
) -> Paired {
    let rounds = if as_test() {
        2
    } else if quick() {
        30
    } else {
        200
    };
    let run = |op: &dyn Fn(u32)| (0..per_round).for_each(|i| op(i % KEYS));
    Paired::measure(
        &format!("{backend}/1t"),
        "memoized-hit",
        peer,
        rounds,
        || run(ours),
        || run(theirs),
    )
}

/// One backend's side: its memoized function, its `get`, its `get_or_insert_with` (on a
/// hit) and the memoized function's key prefix.
struct Backend<'a, V> {
    name: &'static str,
    per_round: u32,
    memoized: fn(u32) -> V,
    get: &'a dyn Fn(&str) -> Option<V>,
    load: &'a dyn Fn(&str) -> V,
    prefix: &'a str,
}

/// The rows of one backend: the memoized hit and the two `get`s, each checked once.
fn backend<V: PartialEq + std::fmt::Debug>(
    c: &mut Criterion,
    paired: &mut Vec<Paired>,
    b: Backend<'_, V>,
) {
    let Backend {
        name,
        per_round,
        memoized,
        get,
        load,
        prefix,
    } = b;
    let keys: Vec<String> = (0..KEYS).map(|i| format!("{prefix}{i}")).collect();
    for i in 0..KEYS {
        let v = memoized(i); // fills the cache
        assert_eq!(
            get(&keys[i as usize]).as_ref(),
            Some(&v),
            "the memoized key is {prefix}{i}"
        );
    }
    let ours = |i: u32| {
        black_box(memoized(black_box(i)));
    };
    let built = |i: u32| {
        black_box(get(&keys[black_box(i) as usize]).expect("a hit"));
    };
    let formatted = |i: u32| {
        let mut key = String::new();
        let _ = write!(key, "{prefix}{}", black_box(i));
        black_box(get(&key).expect("a hit"));
    };
    let mut i = 0u32;
    let mut group = c.benchmark_group(format!("memoize/{name}"));
    configure(&mut group);
    // The two parts of a memoized hit apart: the key, and the hit itself.
    let key_only = |i: u32| {
        let mut key = cache::__memo::Key::new(prefix);
        cache::__memo::Arg(&black_box(i)).write_to(&mut key, false);
        black_box(key.as_str().len());
    };
    let loaded = |i: u32| {
        black_box(load(&keys[black_box(i) as usize]));
    };
    group.bench_function("key-only", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            key_only(i)
        })
    });
    group.bench_function("get-or-insert-built-key", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            loaded(i)
        })
    });

    group.bench_function("memoized-hit", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            ours(i)
        })
    });
    group.bench_function("get-built-key", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            built(i)
        })
    });
    group.bench_function("get-format-key", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            formatted(i)
        })
    });
    group.finish();
    let _ = (&loaded, &key_only);
    paired.push(pair(name, "get-built-key", per_round, &ours, &built));
    paired.push(pair(name, "get-format-key", per_round, &ours, &formatted));
}

fn benches(c: &mut Criterion) {
    let selected = |name: &str| selected(&format!("memoize/{name}"));
    let mut paired = Vec::new();
    let prefix = |f: &str| format!("{}::{f}#", module_path!());
    if selected("memory") {
        let p = prefix("on_memory");
        backend(
            c,
            &mut paired,
            Backend {
                name: "memory",
                per_round: 20_000,
                memoized: on_memory,
                get: &|k| memory().get(k).unwrap(),
                load: &|k| {
                    memory()
                        .get_or_insert_with(k, Ttl::Never, || unreachable!())
                        .unwrap()
                },
                prefix: &p,
            },
        );
    }
    if selected("file") {
        let dir = tempfile::tempdir().unwrap();
        FILES
            .set(FileBasedCache::new(dir.path(), None).unwrap())
            .unwrap();
        let p = prefix("on_files");
        let files = FILES.get().unwrap();
        backend(
            c,
            &mut paired,
            Backend {
                name: "file",
                per_round: 500,
                memoized: on_files,
                get: &|k| files.get(k).unwrap(),
                load: &|k| {
                    files
                        .get_or_insert_with(k, Ttl::Never, || unreachable!())
                        .unwrap()
                },
                prefix: &p,
            },
        );
    }
    if selected("redis") {
        let server = redis_test_support::RedisServer::start();
        REDIS.set(RedisCache::open(&server.url()).unwrap()).unwrap();
        let p = prefix("on_redis");
        let redis = REDIS.get().unwrap();
        backend(
            c,
            &mut paired,
            Backend {
                name: "redis",
                per_round: 200,
                memoized: on_redis,
                get: &|k| redis.get(k).unwrap(),
                load: &|k| {
                    redis
                        .get_or_insert_with(k, Ttl::Never, || unreachable!())
                        .unwrap()
                },
                prefix: &p,
            },
        );
    }
    write_paired("memoize", &paired);
}

criterion_group!(memoize_benches, benches);
criterion_main!(memoize_benches);
