//! A slot migration under load: while a slot holding the test's keys moves from one primary
//! to another and back (`CLUSTER SETSLOT ... IMPORTING/MIGRATING`, `MIGRATE` key by key,
//! `CLUSTER SETSLOT ... NODE`), caches with `cluster_retries = 1` read and write those keys
//! without interruption: `MOVED` and `ASK` are followed, never surfaced, and every read
//! returns the value last written.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use redis_test_support::{key_slot, unique_prefix, RedisCluster, RedisServer};

/// Keys of the slot that moves: one hash tag.
const KEYS: usize = 20;
/// How many times the slot moves (there and back, and so on).
const MOVES: usize = 8;

fn config(cluster: &RedisCluster) -> RedisConfig {
    RedisConfig::cluster(cluster.urls())
        .key_prefix(unique_prefix("migration"))
        .timeouts(Duration::from_secs(2))
        .cluster_retries(1)
}

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("{{moving}}:{i}")).collect()
}

fn ask(node: &RedisServer, args: &[&str]) -> redis_test_support::Reply {
    node.query(args)
        .unwrap_or_else(|e| panic!("{args:?} on {}: {e}", node.addr()))
}

fn node_id(node: &RedisServer) -> String {
    ask(node, &["CLUSTER", "MYID"]).text()
}

/// Moves `slot` from `from` to `to`, a key at a time with pauses (so that callers meet the
/// slot half moved: `ASK`), then gives it to `to` everywhere (then `MOVED`).
fn migrate(cluster: &RedisCluster, slot: u16, from: usize, to: usize) {
    let (src, dst) = (&cluster.nodes()[from], &cluster.nodes()[to]);
    let slot = slot.to_string();
    let (src_id, dst_id) = (node_id(src), node_id(dst));
    ask(dst, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &src_id]);
    ask(src, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &dst_id]);
    loop {
        let keys = ask(src, &["CLUSTER", "GETKEYSINSLOT", &slot, "1"]);
        let Some(key) = keys.items().first().map(|k| k.text()) else {
            break;
        };
        let port = dst.port().to_string();
        let reply = ask(src, &["MIGRATE", "127.0.0.1", &port, &key, "0", "5000"]);
        assert_eq!(reply.text(), "OK", "MIGRATE {key}: {reply:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The new owner first, then the old one, then the rest (as redis-cli does).
    ask(dst, &["CLUSTER", "SETSLOT", &slot, "NODE", &dst_id]);
    ask(src, &["CLUSTER", "SETSLOT", &slot, "NODE", &dst_id]);
    for (i, node) in cluster.nodes().iter().enumerate() {
        if i != from && i != to {
            ask(node, &["CLUSTER", "SETSLOT", &slot, "NODE", &dst_id]);
        }
    }
    std::thread::sleep(Duration::from_millis(100));
}

/// Each key's writer writes increasing values and reads each back at once, through
/// `write` and `read`, until `stop`; any error or wrong value fails the test.
fn load<W, R>(stop: &AtomicBool, write: W, read: R) -> u64
where
    W: Fn(&str, u64) -> Result<(), cache_core::CacheError> + Sync,
    R: Fn(&str) -> Result<Option<u64>, cache_core::CacheError> + Sync,
{
    let keys = keys();
    let calls = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for key in &keys {
            let (write, read, calls) = (&write, &read, &calls);
            s.spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    write(key, n).unwrap_or_else(|e| panic!("set {key} = {n}: {e:#}"));
                    let got = read(key).unwrap_or_else(|e| panic!("get {key}: {e:#}"));
                    assert_eq!(got, Some(n), "{key}");
                    calls.fetch_add(2, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
        }
    });
    calls.load(Ordering::Relaxed)
}

/// Runs `load` while the slot of the test's keys moves [`MOVES`] times.
fn under_migration(cluster: &RedisCluster, prefix: &str, load: impl FnOnce(&AtomicBool) -> u64) {
    let slot = key_slot(format!("{prefix}{}", keys()[0]).as_bytes());
    let stop = Arc::new(AtomicBool::new(false));
    let calls = std::thread::scope(|s| {
        let mover = s.spawn(|| {
            let stop = StopOnDrop(&stop);
            std::thread::sleep(Duration::from_millis(200));
            for _ in 0..MOVES {
                let from = cluster.node_of_key(format!("{prefix}{}", keys()[0]).as_bytes());
                let to = (from + 1) % cluster.nodes().len();
                migrate(cluster, slot, from, to);
            }
            drop(stop);
        });
        let calls = load(&stop);
        mover.join().expect("the migration");
        calls
    });
    assert!(calls > 100, "only {calls} calls");
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn the_blocking_cache_follows_a_slot_migration() {
    let cluster = RedisCluster::start(3);
    let cache = RedisCache::new(config(&cluster)).expect("a cluster cache");
    let prefix = cache.key_prefix().to_owned();
    under_migration(&cluster, &prefix, |stop| {
        load(
            stop,
            |k, v| cache.set(k, v, Ttl::Never).map(drop),
            |k| Cache::<u64>::get(&cache, k),
        )
    });
}

#[cfg(feature = "tokio")]
#[test]
fn the_async_cache_follows_a_slot_migration() {
    use cache_core::AsyncCache;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let cluster = RedisCluster::start(3);
    let cache = runtime
        .block_on(cache_redis::AsyncRedisCache::new(config(&cluster)))
        .expect("a cluster cache");
    let prefix = cache.key_prefix().to_owned();
    under_migration(&cluster, &prefix, |stop| {
        load(
            stop,
            |k, v| runtime.block_on(cache.set(k, v, Ttl::Never)).map(drop),
            |k| runtime.block_on(AsyncCache::<u64>::get(&cache, k)),
        )
    });
}
