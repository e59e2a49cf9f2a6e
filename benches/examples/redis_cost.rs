//! Client-side instruction counts of Redis operations, ours against the bare client or a
//! peer, for `valgrind --tool=callgrind` (deterministic where timings on a shared machine
//! are not). It starts its own server or cluster (redis-test-support), outside valgrind's
//! count:
//!
//! ```text
//! cargo build --release -p cache-benches --example redis_cost
//! valgrind --tool=callgrind target/release/examples/redis_cost TOPOLOGY OP WHO N [TASKS]
//! ```
//!
//! TOPOLOGY is `standalone` or `cluster`. Blocking (TASKS threads, 1 by default): OP `get`,
//! `set`, `add`, `incr` or `incr-ttl` (a cache with a default TTL: the script), WHO `ours`
//! (`RedisCache`) or `bare` (one `redis` connection per thread, the same command and
//! bytes). Async (a 2-worker tokio runtime, TASKS tasks, 64 by default): OP `async-get` or
//! `async-set`, WHO `ours` (`AsyncRedisCache`) or `fred`. Each prints its rate and the CPU
//! time per operation of the client and of the servers. Run each with two N and divide the difference of the
//! totals by the difference of N: the instructions of one operation, without start-up.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::{codec, AsyncCache, Cache, Ttl};
use cache_redis::{AsyncRedisCache, RedisCache, RedisConfig};
use fred::prelude::{ClientLike, KeysInterface};
use redis::ConnectionLike;
use redis_test_support::{RedisCluster, RedisServer};

const KEYS: usize = 1_000;

enum Servers {
    Standalone(RedisServer),
    Cluster(RedisCluster),
}

impl Servers {
    fn config(&self) -> RedisConfig {
        match self {
            Servers::Standalone(s) => RedisConfig::new(s.url()),
            Servers::Cluster(c) => RedisConfig::cluster(c.urls()),
        }
        .key_prefix("cost:")
    }

    fn bare(&self) -> Box<dyn ConnectionLike + Send> {
        match self {
            Servers::Standalone(s) => Box::new(
                redis::Client::open(s.url())
                    .unwrap()
                    .get_connection()
                    .unwrap(),
            ),
            Servers::Cluster(c) => Box::new(
                redis::cluster::ClusterClient::new(c.urls())
                    .unwrap()
                    .get_connection()
                    .unwrap(),
            ),
        }
    }

    fn pids(&self) -> Vec<u32> {
        match self {
            Servers::Standalone(s) => s.pid().into_iter().collect(),
            Servers::Cluster(c) => c.nodes().iter().filter_map(|n| n.pid()).collect(),
        }
    }

    fn fred_url(&self) -> String {
        match self {
            Servers::Standalone(s) => s.url(),
            Servers::Cluster(c) => format!("redis-cluster://{}", c.nodes()[0].addr()),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: redis_cost standalone|cluster OP ours|bare|fred N [TASKS]";
    let (Some(topology), Some(op), Some(who), Some(n)) = (
        args.get(1),
        args.get(2),
        args.get(3),
        args.get(4).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let tasks: usize = args.get(5).and_then(|t| t.parse().ok()).unwrap_or(64);
    let servers = match topology.as_str() {
        "standalone" => Servers::Standalone(RedisServer::start()),
        "cluster" => Servers::Cluster(RedisCluster::start(3)),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key:{i}")).collect();
    let value = vec![7u8; 64];
    let envelope = codec::encode("k", &value).expect("encodable");
    if let Some(async_op) = op.strip_prefix("async-") {
        async_run(&servers, async_op, who, n, tasks, &keys, &value, &envelope);
        return;
    }
    let threads = args.get(5).and_then(|t| t.parse().ok()).unwrap_or(1);
    let per_thread = n.div_ceil(threads);
    let run = |op_of: &(dyn Fn(usize, usize) + Sync)| {
        let t0 = std::time::Instant::now();
        let cpu0 = cpu_ticks(&servers.pids());
        std::thread::scope(|s| {
            for t in 0..threads {
                s.spawn(move || (0..per_thread).for_each(|i| op_of(t, t * 7919 + i)));
            }
        });
        rate(t0, per_thread * threads, cpu0, &servers.pids());
    };
    match who.as_str() {
        "ours" => {
            let config = servers.config();
            let config = if op == "incr-ttl" {
                config.default_ttl(Duration::from_secs(3600))
            } else {
                config
            };
            let cache = RedisCache::new(config).unwrap();
            for k in &keys {
                cache.set(k, value.clone(), Ttl::Never).unwrap();
            }
            let counters: Vec<String> = (0..KEYS).map(|i| format!("n:{i}")).collect();
            run(&|_t, i| {
                let k = &keys[i % KEYS];
                match op.as_str() {
                    "get" => assert!(Cache::<Vec<u8>>::get(&cache, k).unwrap().is_some()),
                    "set" => {
                        cache.set(k, value.clone(), Ttl::Never).unwrap();
                    }
                    "add" => {
                        cache.add(k, value.clone(), Ttl::Never).unwrap();
                    }
                    "incr" | "incr-ttl" => {
                        cache.incr(&counters[i % KEYS], 1).unwrap();
                    }
                    _ => panic!("{usage}"),
                }
            });
        }
        "bare" => {
            let conns: Vec<Mutex<Box<dyn ConnectionLike + Send>>> =
                (0..threads).map(|_| Mutex::new(servers.bare())).collect();
            let bare: Vec<String> = keys.iter().map(|k| format!("cost:{k}")).collect();
            let counters: Vec<String> = (0..KEYS).map(|i| format!("cost:n:{i}")).collect();
            for k in &bare {
                let _: () = redis::cmd("SET")
                    .arg(k)
                    .arg(&envelope)
                    .query(&mut **conns[0].lock().unwrap())
                    .unwrap();
            }
            run(&|t, i| {
                let k = &bare[i % KEYS];
                let conn = &mut **conns[t].lock().unwrap();
                match op.as_str() {
                    "get" => {
                        let v: Option<Vec<u8>> = redis::cmd("GET").arg(k).query(conn).unwrap();
                        assert!(v.is_some());
                    }
                    "set" => {
                        let _: () = redis::cmd("SET").arg(k).arg(&envelope).query(conn).unwrap();
                    }
                    "add" => {
                        let _: Option<String> = redis::cmd("SET")
                            .arg(k)
                            .arg(&envelope)
                            .arg("NX")
                            .query(conn)
                            .unwrap();
                    }
                    "incr" => {
                        let _: i64 = redis::cmd("INCRBY")
                            .arg(&counters[i % KEYS])
                            .arg(1)
                            .query(conn)
                            .unwrap();
                    }
                    _ => panic!("{usage}"),
                }
            });
        }
        _ => panic!("{usage}"),
    }
}

#[allow(clippy::too_many_arguments)]
fn async_run(
    servers: &Servers,
    op: &str,
    who: &str,
    n: usize,
    tasks: usize,
    keys: &[String],
    value: &[u8],
    envelope: &[u8],
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let keys = Arc::new(keys.to_vec());
    let per_task = n.div_ceil(tasks);
    match who {
        "ours" => {
            let cache = Arc::new(rt.block_on(AsyncRedisCache::new(servers.config())).unwrap());
            rt.block_on(async {
                for k in keys.iter() {
                    cache.set(k, value.to_vec(), Ttl::Never).await.unwrap();
                }
                let t0 = std::time::Instant::now();
                let cpu0 = cpu_ticks(&servers.pids());
                let handles: Vec<_> = (0..tasks)
                    .map(|t| {
                        let (cache, keys, value) = (cache.clone(), keys.clone(), value.to_vec());
                        let op = op.to_owned();
                        tokio::spawn(async move {
                            for i in 0..per_task {
                                let k = &keys[(t * 7919 + i) % KEYS];
                                if op == "get" {
                                    let v: Option<Vec<u8>> = cache.get(k).await.unwrap();
                                    assert!(v.is_some());
                                } else {
                                    cache.set(k, value.clone(), Ttl::Never).await.unwrap();
                                }
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
                rate(t0, per_task * tasks, cpu0, &servers.pids());
            });
        }
        "fred" => {
            let config = fred::prelude::Config::from_url(&servers.fred_url()).unwrap();
            let client = fred::prelude::Builder::from_config(config).build().unwrap();
            rt.block_on(async {
                client.init().await.unwrap();
                for k in keys.iter() {
                    let _: () = client.set(k, envelope, None, None, false).await.unwrap();
                }
                let t0 = std::time::Instant::now();
                let cpu0 = cpu_ticks(&servers.pids());
                let handles: Vec<_> = (0..tasks)
                    .map(|t| {
                        let (client, keys, envelope) =
                            (client.clone(), keys.clone(), envelope.to_vec());
                        let op = op.to_owned();
                        tokio::spawn(async move {
                            for i in 0..per_task {
                                let k = &keys[(t * 7919 + i) % KEYS];
                                if op == "get" {
                                    let v: Option<Vec<u8>> = client.get(k).await.unwrap();
                                    assert!(v.is_some());
                                } else {
                                    let _: () = client
                                        .set(k, envelope.as_slice(), None, None, false)
                                        .await
                                        .unwrap();
                                }
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
                rate(t0, per_task * tasks, cpu0, &servers.pids());
            });
        }
        _ => panic!("ours or fred"),
    }
}

/// Prints the rate of `ops` operations since `t0` (rough: the machine may be busy), and the
/// CPU time of this process and of the servers (`cpu0`, from `cpu_ticks` at `t0`) per op.
fn rate(t0: std::time::Instant, ops: usize, cpu0: (u64, u64), pids: &[u32]) {
    let secs = t0.elapsed().as_secs_f64();
    let (client, servers) = cpu_ticks(pids);
    let per_op = |ticks: u64| ticks as f64 * 10_000.0 / ops as f64;
    eprintln!(
        "{ops} ops in {secs:.3} s: {:.0} ops/s; CPU per op: client {:.2} us, servers {:.2} us",
        ops as f64 / secs,
        per_op(client - cpu0.0),
        per_op(servers - cpu0.1)
    );
}

/// User + system clock ticks (10 ms) of this process and of the processes `pids`.
fn cpu_ticks(pids: &[u32]) -> (u64, u64) {
    let ticks = |pid: &str| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        // utime and stime: fields 14 and 15 of stat, 12 and 13 after the command name.
        fields
            .get(11)
            .and_then(|u| u.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
    };
    let servers = pids.iter().map(|p| ticks(&p.to_string())).sum();
    (ticks("self"), servers)
}
