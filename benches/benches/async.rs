//! The async API. Memory: `AsyncInMemoryCache::get` against the blocking `InMemoryCache::get`
//! on the same cache (the async one polled in a loop inside one task). Redis: `AsyncRedisCache` get and
//! set from 1, 16 and 64 concurrent tasks (a 2-worker tokio runtime) on a standalone server
//! and on a 3-primary cluster, beside the async peers users would pick instead (fred, and
//! deadpool-redis: a pool of multiplexed connections), all on the same servers and moving the
//! same bytes (the codec envelope of a 64-byte value). `redis-benchmark` runs on the same
//! servers with the same value size and as many clients as tasks; its requests per second go
//! to `target/bench/async-redis-benchmark.csv` (criterion cannot time a foreign process),
//! which `cargo xtask bench` puts in the `async-redis` table as a `redis-benchmark` column.

use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_benches::{configure, quick, write_metric};
use cache_core::{codec, AsyncCache, Cache, Ttl};
use cache_memory::{AsyncInMemoryCache, InMemoryCache};
use cache_redis::{AsyncRedisCache, RedisConfig};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fred::prelude::{ClientLike, KeysInterface};
use redis_test_support::{RedisCluster, RedisServer};
use tokio::runtime::Runtime;

const KEYS: usize = 1_000;
const TASKS: [usize; 3] = [1, 16, 64];

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn memory(c: &mut Criterion) {
    let cache: InMemoryCache<Vec<u8>> = InMemoryCache::new(10_000, None).expect("valid");
    let async_cache = AsyncInMemoryCache::new(cache.clone());
    let keys = cache_benches::keys(KEYS);
    for k in &keys {
        cache.set(k, vec![7u8; 64], Ttl::Never).unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("async-memory/get");
    configure(&mut group);
    group.throughput(Throughput::Elements(KEYS as u64));
    group.bench_function(BenchmarkId::from_parameter("cache-memory-sync"), |b| {
        b.iter(|| {
            for k in &keys {
                assert!(cache.get(k).unwrap().is_some());
            }
        })
    });
    group.bench_function(BenchmarkId::from_parameter("cache-memory-async"), |b| {
        b.iter(|| {
            rt.block_on(async {
                for k in &keys {
                    assert!(async_cache.get(k).await.unwrap().is_some());
                }
            })
        })
    });
    group.finish();
}

/// Runs `op(task, i)` for `per_task` values of `i` in each of `tasks` tasks, and waits for
/// them all.
async fn tasks<F, Fut>(tasks: usize, per_task: usize, op: Arc<F>)
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                for i in 0..per_task {
                    op(t, i).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("no panic");
    }
}

/// One contender: its get and its set, each `(key index)`.
struct Contender {
    name: &'static str,
    get: Arc<dyn Fn(usize) -> cache_core::BoxFuture<'static, ()> + Send + Sync>,
    set: Arc<dyn Fn(usize) -> cache_core::BoxFuture<'static, ()> + Send + Sync>,
}

fn redis_rows(c: &mut Criterion, rt: &Runtime, topology: &str, contenders: &[Contender]) {
    let per_task = if quick() { 20 } else { 200 };
    for op in ["get", "set"] {
        for n in TASKS {
            let mut group = c.benchmark_group(format!("async-redis/{topology}-{op}/{n}tasks"));
            configure(&mut group);
            group.throughput(Throughput::Elements((n * per_task) as u64));
            for who in contenders {
                let f = if op == "get" { &who.get } else { &who.set };
                group.bench_function(BenchmarkId::from_parameter(who.name), |b| {
                    b.iter_custom(|iters| {
                        let t0 = Instant::now();
                        for _ in 0..iters {
                            let f = Arc::clone(f);
                            rt.block_on(tasks(
                                n,
                                per_task,
                                Arc::new(move |t, i| f((t * 7919 + i) % KEYS)),
                            ));
                        }
                        t0.elapsed()
                    })
                });
            }
            group.finish();
        }
    }
}

/// The contenders on a server or cluster: ours, fred, deadpool-redis. Each writes its own
/// keys (`{name}:key:i`), all set beforehand, so every get is a hit.
fn contenders(
    rt: &Runtime,
    ours: RedisConfig,
    fred_url: &str,
    urls: &[String],
    cluster: bool,
) -> Vec<Contender> {
    let value = vec![7u8; 64];
    let envelope = Arc::new(codec::encode("k", &value).expect("encodable"));
    let keys = Arc::new(cache_benches::keys(KEYS));

    let cache = Arc::new(
        rt.block_on(AsyncRedisCache::new(ours.key_prefix("async-bench:")))
            .expect("ours"),
    );
    rt.block_on(async {
        for k in keys.iter() {
            cache.set(k, value.clone(), Ttl::Never).await.unwrap();
        }
    });
    let ours = {
        let (c1, c2, k1, k2) = (cache.clone(), cache, keys.clone(), keys.clone());
        let value = value.clone();
        Contender {
            name: "cache-redis-async",
            get: Arc::new(move |i| {
                let (c, k) = (c1.clone(), k1.clone());
                Box::pin(async move {
                    let v: Option<Vec<u8>> = c.get(&k[i]).await.unwrap();
                    assert!(v.is_some());
                })
            }),
            set: Arc::new(move |i| {
                let (c, k, v) = (c2.clone(), k2.clone(), value.clone());
                Box::pin(async move {
                    c.set(&k[i], v, Ttl::Never).await.unwrap();
                })
            }),
        }
    };

    let fred = {
        let config = fred::prelude::Config::from_url(fred_url).expect("a fred URL");
        let client = fred::prelude::Builder::from_config(config)
            .build()
            .expect("a fred client");
        rt.block_on(client.init()).expect("fred connects");
        let fkeys: Arc<Vec<String>> = Arc::new(keys.iter().map(|k| format!("fred:{k}")).collect());
        rt.block_on(async {
            for k in fkeys.iter() {
                let _: () = client
                    .set(k, envelope.as_slice(), None, None, false)
                    .await
                    .unwrap();
            }
        });
        let (c1, c2, k1, k2, e) = (
            client.clone(),
            client,
            fkeys.clone(),
            fkeys,
            envelope.clone(),
        );
        Contender {
            name: "fred",
            get: Arc::new(move |i| {
                let (c, k) = (c1.clone(), k1.clone());
                Box::pin(async move {
                    let v: Option<Vec<u8>> = c.get(&k[i]).await.unwrap();
                    assert!(v.is_some());
                })
            }),
            set: Arc::new(move |i| {
                let (c, k, e) = (c2.clone(), k2.clone(), e.clone());
                Box::pin(async move {
                    let _: () = c.set(&k[i], e.as_slice(), None, None, false).await.unwrap();
                })
            }),
        }
    };

    let deadpool = {
        let dkeys: Arc<Vec<String>> =
            Arc::new(keys.iter().map(|k| format!("deadpool:{k}")).collect());
        let runtime = Some(deadpool_redis::Runtime::Tokio1);
        // A pool of 16 connections either way, as deadpool users configure it.
        let pool: Arc<dyn DeadpoolGet> = if cluster {
            let mut cfg = deadpool_redis::cluster::Config::from_urls(urls.to_vec());
            cfg.pool = Some(deadpool_redis::PoolConfig::new(16));
            Arc::new(
                rt.block_on(async { cfg.create_pool(runtime) })
                    .expect("a pool"),
            )
        } else {
            let mut cfg = deadpool_redis::Config::from_url(urls[0].clone());
            cfg.pool = Some(deadpool_redis::PoolConfig::new(16));
            Arc::new(
                rt.block_on(async { cfg.create_pool(runtime) })
                    .expect("a pool"),
            )
        };
        rt.block_on(async {
            for k in dkeys.iter() {
                let mut cmd = redis::cmd("SET");
                cmd.arg(k).arg(envelope.as_slice());
                pool.query(cmd).await;
            }
        });
        let (p1, p2, k1, k2, e) = (pool.clone(), pool, dkeys.clone(), dkeys, envelope.clone());
        Contender {
            name: "deadpool-redis",
            get: Arc::new(move |i| {
                let (p, k) = (p1.clone(), k1.clone());
                Box::pin(async move {
                    let mut cmd = redis::cmd("GET");
                    cmd.arg(&k[i]);
                    assert_ne!(p.query(cmd).await, redis::Value::Nil);
                })
            }),
            set: Arc::new(move |i| {
                let (p, k, e) = (p2.clone(), k2.clone(), e.clone());
                Box::pin(async move {
                    let mut cmd = redis::cmd("SET");
                    cmd.arg(&k[i]).arg(e.as_slice());
                    p.query(cmd).await;
                })
            }),
        }
    };
    vec![ours, fred, deadpool]
}

/// A command on a pooled connection of either deadpool pool, and its reply.
trait DeadpoolGet: Send + Sync {
    fn query(&self, cmd: redis::Cmd) -> cache_core::BoxFuture<'_, redis::Value>;
}

impl DeadpoolGet for deadpool_redis::Pool {
    fn query(&self, cmd: redis::Cmd) -> cache_core::BoxFuture<'_, redis::Value> {
        Box::pin(async move {
            let mut conn = self.get().await.expect("a pooled connection");
            cmd.query_async::<redis::Value>(&mut conn)
                .await
                .expect("a reply")
        })
    }
}

impl DeadpoolGet for deadpool_redis::cluster::Pool {
    fn query(&self, cmd: redis::Cmd) -> cache_core::BoxFuture<'_, redis::Value> {
        Box::pin(async move {
            let mut conn = self.get().await.expect("a pooled connection");
            cmd.query_async::<redis::Value>(&mut conn)
                .await
                .expect("a reply")
        })
    }
}

/// `redis-benchmark` GET and SET on `port` (`--cluster` on a cluster) with `clients`
/// clients and `size`-byte values: requests per second, from its `--csv` output.
fn redis_benchmark(port: u16, cluster: bool, clients: usize, size: usize) -> Vec<(String, f64)> {
    let requests = if quick() { 5_000 } else { 100_000 };
    let mut cmd = Command::new("redis-benchmark");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-c", &clients.to_string(), "-n", &requests.to_string()])
        .args(["-d", &size.to_string(), "-t", "get,set", "--csv"]);
    if cluster {
        cmd.arg("--cluster");
    }
    let out = cmd.output().expect("redis-benchmark runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').map(|f| f.trim_matches('"')).collect();
            let rps = fields.get(1)?.parse().ok()?;
            Some((fields[0].to_owned(), rps))
        })
        .collect()
}

fn redis(c: &mut Criterion) {
    let rt = runtime();
    let size = codec::encode("k", &vec![7u8; 64]).expect("encodable").len();
    let mut csv = String::from("topology,test,clients,requests_per_second\n");

    let server = RedisServer::start();
    let urls = vec![server.url()];
    let standalone = contenders(
        &rt,
        RedisConfig::new(server.url()),
        &server.url(),
        &urls,
        false,
    );
    redis_rows(c, &rt, "standalone", &standalone);
    for n in TASKS {
        for (test, rps) in redis_benchmark(server.port(), false, n, size) {
            csv.push_str(&format!("standalone,{test},{n},{rps}\n"));
        }
    }
    drop(standalone);
    drop(server);

    let cluster = RedisCluster::start(3);
    let urls = cluster.urls();
    let fred_url = format!("redis-cluster://{}", cluster.nodes()[0].addr());
    let on_cluster = contenders(
        &rt,
        RedisConfig::cluster(urls.clone()),
        &fred_url,
        &urls,
        true,
    );
    redis_rows(c, &rt, "cluster", &on_cluster);
    for n in TASKS {
        for (test, rps) in redis_benchmark(cluster.nodes()[0].port(), true, n, size) {
            csv.push_str(&format!("cluster,{test},{n},{rps}\n"));
        }
    }
    write_metric("async-redis-benchmark.csv", &csv);
    // Let the connections close before the servers go.
    drop(on_cluster);
    std::thread::sleep(Duration::from_millis(10));
}

fn benches(c: &mut Criterion) {
    memory(c);
    redis(c);
}

criterion_group!(async_benches, benches);
criterion_main!(async_benches);
