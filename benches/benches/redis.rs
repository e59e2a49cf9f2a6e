//! `RedisCache` against a bare `redis` connection on the same servers (one standalone
//! `redis-server`, one 3-primary cluster, both started here): single-key get and set, and
//! `get_many` / `set_many` of 100 keys against a bare pipeline of the same commands, `incr`
//! against a bare `INCRBY` (and, as `cache-redis-default-ttl`, `incr` on a cache with a default
//! TTL, which runs a Lua script), `add` against a bare `SET NX`, from 1 and 2 threads (the cache through its pool, the bare side with one connection per thread).
//! Values are 64 bytes; the bare side moves the same bytes (the codec envelope).
//!
//! Each single-key row is also measured *paired*: ours and the bare connection alternate,
//! round by round, in one loop (`redis-paired.csv`, a table of its own in the report). Two
//! criterion rows run seconds apart, and on two cores the 2-thread rows drift by up to ±25%
//! between them (where the scheduler keeps `redis-server` and the client threads), both ways;
//! a paired round compares two runs made milliseconds apart, under the same conditions. The
//! `get_or_insert_with` row is paired with our own `get` too: a hit must cost what a get does.
//!
//! `redis/tls-get/1t`: the same `RedisCache` get over plaintext and over TLS (`rediss://`,
//! a CA generated here), to one server that serves both: what TLS costs per get on loopback.

use std::sync::Mutex;
use std::time::Instant;

use cache_benches::{configure, quick, selected, write_paired, Paired};
use cache_core::{codec, CacheExt, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use redis::ConnectionLike;
use redis_test_support::{RedisCluster, RedisServer, TestCertificates};

const BATCH: usize = 100;
const KEYS: usize = 1_000;

/// One bare connection per benchmark thread.
enum Bare {
    Single(Vec<Mutex<redis::Connection>>),
    Cluster(Vec<Mutex<redis::cluster::ClusterConnection>>),
}

impl Bare {
    fn query<T: redis::FromRedisValue>(&self, thread: usize, cmd: &redis::Cmd) -> T {
        match self {
            Bare::Single(c) => cmd.query(&mut *c[thread].lock().unwrap()).unwrap(),
            Bare::Cluster(c) => cmd.query(&mut *c[thread].lock().unwrap()).unwrap(),
        }
    }

    /// A pipeline of `cmds`: `redis::pipe` on a server, `cluster_pipe` on a cluster.
    fn pipeline(&self, thread: usize, cmds: impl Iterator<Item = redis::Cmd>) {
        match self {
            Bare::Single(c) => {
                let mut p = redis::pipe();
                cmds.for_each(|cmd| {
                    p.add_command(cmd).ignore();
                });
                let conn: &mut redis::Connection = &mut c[thread].lock().unwrap();
                let _: () = p.query(conn).unwrap();
            }
            Bare::Cluster(c) => {
                let mut p = redis::cluster::cluster_pipe();
                cmds.for_each(|cmd| {
                    p.add_command(cmd).ignore();
                });
                let conn: &mut redis::cluster::ClusterConnection = &mut c[thread].lock().unwrap();
                assert!(conn.is_open());
                let _: () = p.query(conn).unwrap();
            }
        }
    }
}

struct Setup {
    name: &'static str,
    cache: RedisCache,
    /// The same server and prefix, with a default TTL: `incr` then runs its Lua script.
    ttl_cache: RedisCache,
    bare: Bare,
}

/// One benchmarked step: `op(thread, i)`.
type Op<'a> = dyn Fn(usize, usize) + Sync + 'a;

/// Measures `ours` against `peer` ([`Paired::measure`]) in rounds of `per_thread` calls on
/// each of `threads` threads.
fn pair(
    workload: &str,
    cache: &'static str,
    peer: &'static str,
    threads: usize,
    per_thread: usize,
    ours: &Op<'_>,
    peer_op: &Op<'_>,
) -> Paired {
    let rounds = if quick() { 20 } else { 200 };
    Paired::measure(
        workload,
        cache,
        peer,
        rounds,
        || parallel(threads, per_thread, ours),
        || parallel(threads, per_thread, peer_op),
    )
}

/// Runs `op(thread, i)` for `per_thread` values of `i` on each of `threads` threads.
fn parallel(threads: usize, per_thread: usize, op: &Op<'_>) {
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || (0..per_thread).for_each(|i| op(t, i)));
        }
    });
}

fn bench_setup(c: &mut Criterion, s: &Setup, paired: &mut Vec<Paired>) {
    let value = vec![7u8; 64];
    let envelope = codec::encode("k", &value).expect("encodable");
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key:{i}")).collect();
    let bare_keys: Vec<String> = keys.iter().map(|k| format!("bare:{k}")).collect();
    for (k, bk) in keys.iter().zip(&bare_keys) {
        s.cache.set(k, value.clone(), Ttl::Never).unwrap();
        let _: () = s.bare.query(0, redis::cmd("SET").arg(bk).arg(&envelope));
    }
    let counters: Vec<String> = (0..KEYS).map(|i| format!("n:{i}")).collect();
    let bare_counters: Vec<String> = counters.iter().map(|k| format!("bare:{k}")).collect();
    let per_thread = if quick() { 50 } else { 200 };
    for threads in [1, 2] {
        let single_ops: [(&str, &Op<'_>, &Op<'_>); 5] = [
            (
                "get",
                &|_t, i| {
                    let v: Option<Vec<u8>> = s.cache.get(&keys[i % KEYS]).unwrap();
                    assert!(v.is_some());
                },
                &|t, i| {
                    let v: Option<Vec<u8>> =
                        s.bare.query(t, redis::cmd("GET").arg(&bare_keys[i % KEYS]));
                    assert!(v.is_some());
                },
            ),
            (
                // On a hit (every key is present): single flight must cost nothing there,
                // so this row should match the `get` row.
                "get_or_insert_with",
                &|_t, i| {
                    let v: Vec<u8> = s
                        .cache
                        .get_or_insert_with(&keys[i % KEYS], Ttl::Never, || {
                            unreachable!("every key is present")
                        })
                        .unwrap();
                    assert!(!v.is_empty());
                },
                &|t, i| {
                    let v: Option<Vec<u8>> =
                        s.bare.query(t, redis::cmd("GET").arg(&bare_keys[i % KEYS]));
                    assert!(v.is_some());
                },
            ),
            (
                "set",
                &|_t, i| {
                    s.cache
                        .set(&keys[i % KEYS], value.clone(), Ttl::Never)
                        .unwrap();
                },
                &|t, i| {
                    let _: () = s.bare.query(
                        t,
                        redis::cmd("SET").arg(&bare_keys[i % KEYS]).arg(&envelope),
                    );
                },
            ),
            (
                "incr",
                &|_t, i| {
                    s.cache.incr(&counters[i % KEYS], 1).unwrap();
                },
                &|t, i| {
                    let _: i64 = s
                        .bare
                        .query(t, redis::cmd("INCRBY").arg(&bare_counters[i % KEYS]).arg(1));
                },
            ),
            (
                // The keys exist: both sides answer "not stored", as most adds of a hot key do.
                "add",
                &|_t, i| {
                    s.cache
                        .add(&keys[i % KEYS], value.clone(), Ttl::Never)
                        .unwrap();
                },
                &|t, i| {
                    let _: Option<String> = s.bare.query(
                        t,
                        redis::cmd("SET")
                            .arg(&bare_keys[i % KEYS])
                            .arg(&envelope)
                            .arg("NX"),
                    );
                },
            ),
        ];
        let get = single_ops[0].1;
        let incr_with_ttl: &Op<'_> = &|_t, i| {
            s.ttl_cache.incr(&counters[i % KEYS], 1).unwrap();
        };
        for (op, ours, bare) in single_ops {
            let mut group = c.benchmark_group(format!("redis/{}-{op}/{threads}t", s.name));
            configure(&mut group);
            group.throughput(Throughput::Elements((threads * per_thread) as u64));
            let mut contenders = vec![("cache-redis", ours), ("bare-connection", bare)];
            if op == "incr" {
                contenders.push(("cache-redis-default-ttl", incr_with_ttl));
            }
            for &(who, f) in &contenders {
                group.bench_function(BenchmarkId::from_parameter(who), |b| {
                    b.iter_custom(|iters| {
                        let t0 = Instant::now();
                        for _ in 0..iters {
                            parallel(threads, per_thread, f);
                        }
                        t0.elapsed()
                    })
                });
            }
            group.finish();
            let workload = format!("{}-{op}/{threads}t", s.name);
            if !selected(&format!("redis/{workload}")) {
                continue;
            }
            for &(who, f) in &contenders {
                if who != "bare-connection" {
                    paired.push(pair(
                        &workload,
                        who,
                        "bare-connection",
                        threads,
                        per_thread,
                        f,
                        bare,
                    ));
                }
            }
            if op == "get_or_insert_with" {
                // The "a hit costs what a plain get costs", measured the same way.
                paired.push(pair(
                    &workload,
                    "cache-redis",
                    "cache-redis get",
                    threads,
                    per_thread,
                    ours,
                    get,
                ));
            }
        }
        let batches = per_thread / 10;
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let batch_ops: [(&str, &Op<'_>, &Op<'_>); 2] = [
            (
                "get_many100",
                &|_t, i| {
                    let start = (i * BATCH) % (KEYS - BATCH);
                    let v: Vec<Option<Vec<u8>>> =
                        s.cache.get_many(&refs[start..start + BATCH]).unwrap();
                    assert_eq!(v.len(), BATCH);
                },
                &|t, i| {
                    let start = (i * BATCH) % (KEYS - BATCH);
                    s.bare.pipeline(
                        t,
                        bare_keys[start..start + BATCH].iter().map(|k| {
                            let mut cmd = redis::cmd("GET");
                            cmd.arg(k);
                            cmd
                        }),
                    );
                },
            ),
            (
                "set_many100",
                &|_t, i| {
                    let start = (i * BATCH) % (KEYS - BATCH);
                    let entries = refs[start..start + BATCH]
                        .iter()
                        .map(|k| (*k, value.clone()))
                        .collect();
                    s.cache.set_many(entries, Ttl::Never).unwrap();
                },
                &|t, i| {
                    let start = (i * BATCH) % (KEYS - BATCH);
                    s.bare.pipeline(
                        t,
                        bare_keys[start..start + BATCH].iter().map(|k| {
                            let mut cmd = redis::cmd("SET");
                            cmd.arg(k).arg(&envelope);
                            cmd
                        }),
                    );
                },
            ),
        ];
        for (op, ours, bare) in batch_ops {
            let mut group = c.benchmark_group(format!("redis/{}-{op}/{threads}t", s.name));
            configure(&mut group);
            group.throughput(Throughput::Elements((threads * batches * BATCH) as u64));
            for (who, f) in [("cache-redis", ours), ("bare-pipeline", bare)] {
                group.bench_function(BenchmarkId::from_parameter(who), |b| {
                    b.iter_custom(|iters| {
                        let t0 = Instant::now();
                        for _ in 0..iters {
                            parallel(threads, batches, f);
                        }
                        t0.elapsed()
                    })
                });
            }
            group.finish();
        }
    }
}

/// Gets through a plaintext and a TLS cache on one server, one thread.
fn bench_tls(c: &mut Criterion) {
    let certificates = TestCertificates::generate();
    let server = RedisServer::start_tls(&certificates, false);
    let tls = cache_redis::TlsCertificates::default().ca_cert(certificates.ca_pem.clone());
    let plain = RedisCache::new(RedisConfig::new(server.url()).key_prefix("bench:")).unwrap();
    let secure = RedisCache::new(
        RedisConfig::new(server.tls_url())
            .tls(tls)
            .key_prefix("bench:"),
    )
    .unwrap();
    let value = vec![7u8; 64];
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key:{i}")).collect();
    for k in &keys {
        plain.set(k, value.clone(), Ttl::Never).unwrap();
    }
    let per_iter = if quick() { 50 } else { 200 };
    let mut group = c.benchmark_group("redis/tls-get/1t");
    configure(&mut group);
    group.throughput(Throughput::Elements(per_iter as u64));
    for (who, cache) in [("cache-redis-plain", &plain), ("cache-redis-tls", &secure)] {
        group.bench_function(BenchmarkId::from_parameter(who), |b| {
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                for _ in 0..iters {
                    for k in &keys[..per_iter] {
                        let v: Option<Vec<u8>> = cache.get(k).unwrap();
                        assert!(v.is_some());
                    }
                }
                t0.elapsed()
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_tls(c);
    let server = RedisServer::start();
    let standalone = Setup {
        name: "standalone",
        cache: RedisCache::new(RedisConfig::new(server.url()).key_prefix("bench:")).unwrap(),
        ttl_cache: RedisCache::new(
            RedisConfig::new(server.url())
                .key_prefix("bench:")
                .default_ttl(std::time::Duration::from_secs(3600)),
        )
        .unwrap(),
        bare: Bare::Single(
            (0..2)
                .map(|_| {
                    Mutex::new(
                        redis::Client::open(server.url())
                            .unwrap()
                            .get_connection()
                            .unwrap(),
                    )
                })
                .collect(),
        ),
    };
    let mut paired = Vec::new();
    bench_setup(c, &standalone, &mut paired);
    drop(standalone);
    drop(server);

    let cluster = RedisCluster::start(3);
    let client = redis::cluster::ClusterClient::new(cluster.urls()).unwrap();
    let on_cluster = Setup {
        name: "cluster",
        cache: RedisCache::new(RedisConfig::cluster(cluster.urls()).key_prefix("bench:")).unwrap(),
        ttl_cache: RedisCache::new(
            RedisConfig::cluster(cluster.urls())
                .key_prefix("bench:")
                .default_ttl(std::time::Duration::from_secs(3600)),
        )
        .unwrap(),
        bare: Bare::Cluster(
            (0..2)
                .map(|_| Mutex::new(client.get_connection().unwrap()))
                .collect(),
        ),
    };
    bench_setup(c, &on_cluster, &mut paired);
    write_paired("redis", &paired);
}

criterion_group!(redis_benches, benches);
criterion_main!(redis_benches);
