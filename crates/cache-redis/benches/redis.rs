//! `RedisCache` against a bare `redis::Connection` on the same fresh server: single-key get
//! and set, then `get_many` / `set_many` of 100 keys. Run with
//! `cargo bench -p cache-redis --bench redis`; the README gives the ratios.

use std::hint::black_box;
use std::time::Duration;

use cache_core::{codec, Cache, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redis::Commands;
use redis_test_support::RedisServer;

/// A small value, as caches mostly hold.
const VALUE_LEN: usize = 64;
const BATCH: usize = 100;

fn benches(c: &mut Criterion) {
    let server = RedisServer::start();
    let cache = RedisCache::new(RedisConfig::new(server.url()).key_prefix("bench:"))
        .expect("a cache on the benchmark server");
    let mut bare = redis::Client::open(server.url())
        .and_then(|c| c.get_connection())
        .expect("a bare connection");
    let value = vec![7u8; VALUE_LEN];
    // The bare connection moves the same bytes the cache stores: the envelope.
    let envelope = codec::encode("k", &value).expect("encodable");

    cache.set("k", value.clone(), Ttl::Never).unwrap();
    let _: () = bare.set("bare:k", &envelope).unwrap();

    let mut single = c.benchmark_group("single");
    single.throughput(Throughput::Elements(1));
    single.bench_function("get/RedisCache", |b| {
        b.iter(|| {
            let v: Option<Vec<u8>> = cache.get(black_box("k")).unwrap();
            black_box(v)
        })
    });
    single.bench_function("get/bare", |b| {
        b.iter(|| {
            let v: Option<Vec<u8>> = bare.get(black_box("bare:k")).unwrap();
            black_box(v)
        })
    });
    single.bench_function("set/RedisCache", |b| {
        b.iter(|| {
            cache
                .set(black_box("k"), value.clone(), Ttl::Never)
                .unwrap()
        })
    });
    single.bench_function("set/bare", |b| {
        b.iter(|| {
            let _: () = bare.set(black_box("bare:k"), &envelope).unwrap();
        })
    });
    single.finish();

    let keys: Vec<String> = (0..BATCH).map(|i| format!("batch:{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut batch = c.benchmark_group("batch100");
    batch.throughput(Throughput::Elements(BATCH as u64));
    batch.bench_function("set_many/RedisCache", |b| {
        b.iter(|| {
            let entries = refs.iter().map(|k| (*k, value.clone())).collect();
            cache.set_many(entries, Ttl::Never).unwrap()
        })
    });
    batch.bench_function("get_many/RedisCache", |b| {
        b.iter(|| {
            let v: Vec<Option<Vec<u8>>> = cache.get_many(black_box(&refs)).unwrap();
            black_box(v)
        })
    });
    batch.finish();
}

criterion_group! {
    name = redis_cache;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = benches
}
criterion_main!(redis_cache);
