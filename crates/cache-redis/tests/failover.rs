//! Failover: a sentinel-watched primary and a cluster primary are killed (SIGKILL), a
//! replica is promoted, and the same cache instance works again without being rebuilt.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cache_core::{Cache, CacheError, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use redis_test_support::{unique_prefix, RedisCluster, SentinelGroup};

/// How soon after the promotion the cache must work again.
const RECOVERY: Duration = Duration::from_secs(15);

fn config(base: RedisConfig) -> RedisConfig {
    base.key_prefix(unique_prefix("failover"))
        .timeouts(Duration::from_millis(500))
        .pool_size(4)
}

/// Retries `op` until it succeeds, failing the test if that takes longer than [`RECOVERY`].
#[track_caller]
fn within_recovery<T>(what: &str, mut op: impl FnMut() -> Result<T, CacheError>) -> T {
    let deadline = Instant::now() + RECOVERY;
    loop {
        match op() {
            Ok(v) => return v,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "{what}: still failing {RECOVERY:?} after the promotion: {e:#}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[test]
fn sentinel_failover_is_followed_by_the_same_cache() {
    let group = SentinelGroup::start(1, 3);
    let cache = RedisCache::new(config(RedisConfig::sentinel(
        group.sentinel_urls(),
        SentinelGroup::MASTER_NAME,
    )))
    .expect("a cache on the sentinels' primary");
    assert!(format!("{cache:?}").contains("sentinel"), "{cache:?}");

    // A writer keeps writing increasing values to a few keys while a reader checks that
    // every value read was written (a failover may lose the last writes, never invent one).
    let written: Mutex<HashMap<String, Vec<u64>>> = Mutex::new(HashMap::new());
    let stop = AtomicBool::new(false);
    let keys: Vec<String> = (0..4).map(|i| format!("k{i}")).collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = &keys[(n % 4) as usize];
                // Recorded before the write, so the reader never sees an unrecorded value.
                written
                    .lock()
                    .unwrap()
                    .entry(key.clone())
                    .or_default()
                    .push(n);
                let _ = cache.set(key, n, Ttl::Never);
                n += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                for key in &keys {
                    if let Ok(Some(v)) = Cache::<u64>::get(&cache, key) {
                        let w = written.lock().unwrap();
                        assert!(
                            w.get(key).is_some_and(|vs| vs.contains(&v)),
                            "{key} read {v}, which was never written"
                        );
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });

        std::thread::sleep(Duration::from_millis(300));
        let old = group.primary();
        group.servers()[old].kill();
        let new = group.wait_for_promotion(old);
        assert_ne!(new, old);
        within_recovery("a write after the failover", || {
            cache.set("after", "failover".to_string(), Ttl::Never)
        });
        let read: Option<String> = within_recovery("a read after the failover", || {
            Cache::<String>::get(&cache, "after")
        });
        assert_eq!(read.as_deref(), Some("failover"));
        // Let the reader and writer run on the new primary for a while.
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
    });
    // The new primary holds what was written through the cache.
    let raw_key = format!("{}after", cache.key_prefix());
    let primary = &group.servers()[group.primary()];
    assert_eq!(primary.query(&["EXISTS", raw_key.as_str()]).int(), Some(1));
    assert!(cache.exists("after").unwrap());
}

/// Keys whose Redis keys (prefix + key) fall in every one of the 16384 slots: a hash tag
/// `{n}` per slot, found by trying numbers.
fn one_key_per_slot(prefix: &str) -> Vec<String> {
    let mut by_slot: Vec<Option<String>> = vec![None; 16384];
    let mut left = by_slot.len();
    let mut n = 0u64;
    while left > 0 {
        let key = format!("{{{n}}}");
        let slot = redis_test_support::key_slot(format!("{prefix}{key}").as_bytes());
        if by_slot[slot as usize].is_none() {
            by_slot[slot as usize] = Some(key);
            left -= 1;
        }
        n += 1;
    }
    by_slot.into_iter().flatten().collect()
}

#[test]
fn cluster_failover_is_followed_by_the_same_cache_on_every_slot() {
    let cluster = RedisCluster::start_with_replicas(3, 1);
    let cache =
        RedisCache::new(config(RedisConfig::cluster(cluster.urls()))).expect("a cluster cache");
    let keys = one_key_per_slot(cache.key_prefix());
    assert_eq!(keys.len(), 16384);
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let batch = |value: &str| refs.iter().map(|k| (*k, value.to_string())).collect();
    cache.set_many(batch("before"), Ttl::Never).unwrap();

    let victim = cluster.node_of_key(format!("{}{}", cache.key_prefix(), keys[0]).as_bytes());
    cluster.nodes()[victim].kill();
    cluster.wait_failover();
    assert_ne!(
        cluster.node_of_key(format!("{}{}", cache.key_prefix(), keys[0]).as_bytes()),
        victim
    );

    // Every slot, through the same instance: writes, then reads of what was written.
    within_recovery("writes on every slot", || {
        cache.set_many(batch("after"), Ttl::Never)
    });
    let values: Vec<Option<String>> = within_recovery("reads on every slot", || {
        Cache::<String>::get_many(&cache, &refs)
    });
    assert!(
        values.iter().all(|v| v.as_deref() == Some("after")),
        "every slot reads back its write"
    );
    for key in refs.iter().step_by(997) {
        assert_eq!(
            Cache::<String>::get(&cache, key).unwrap().as_deref(),
            Some("after")
        );
    }
    assert_eq!(cache.count().unwrap(), 16384);
    cache.clear().unwrap();
    assert_eq!(cache.count().unwrap(), 0);
}
