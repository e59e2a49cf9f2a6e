//! Failover: a sentinel-watched primary is killed (SIGKILL), a replica is promoted, and the
//! same cache instance works again without being rebuilt (the cluster's is in
//! `cluster_failover.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use cache_core::{Cache, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use redis_test_support::{succeeds_within, unique_prefix, SentinelGroup};

/// How soon after the promotion the cache must work again.
const RECOVERY: Duration = Duration::from_secs(15);

fn config(base: RedisConfig) -> RedisConfig {
    base.key_prefix(unique_prefix("failover"))
        .timeouts(Duration::from_millis(500))
        .pool_size(4)
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
        succeeds_within(RECOVERY, "a write after the failover", || {
            cache.set("after", "failover".to_string(), Ttl::Never)
        });
        let read: Option<String> = succeeds_within(RECOVERY, "a read after the failover", || {
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

#[test]
fn connections_to_a_demoted_primary_are_replaced_at_once() {
    let group = SentinelGroup::start(1, 1);
    let cache = RedisCache::new(
        config(RedisConfig::sentinel(
            group.sentinel_urls(),
            SentinelGroup::MASTER_NAME,
        ))
        .min_idle(Some(4)),
    )
    .expect("a cache on the sentinels' primary");
    // Four threads at once: the pool holds four connections to the primary.
    std::thread::scope(|s| {
        for t in 0..4 {
            let cache = &cache;
            s.spawn(move || {
                for i in 0..20 {
                    cache.set(&format!("{t}:{i}"), i, Ttl::Never).unwrap();
                }
            });
        }
    });
    let old = group.primary();
    // A forced failover: the old primary lives on, as a replica of the new one.
    // Refused (NOGOODSLAVE) until the sentinel has heard from the replica itself.
    succeeds_within(RECOVERY, "SENTINEL FAILOVER", || {
        let reply =
            group.sentinels()[0].query(&["SENTINEL", "FAILOVER", SentinelGroup::MASTER_NAME]);
        match reply.text() {
            ok if ok == "OK" => Ok(()),
            other => Err(other),
        }
    });
    let new = group.wait_for_promotion(old);
    assert_ne!(new, old);
    succeeds_within(RECOVERY, "the old primary's demotion", || {
        let role = group.servers()[old].query(&["ROLE"]);
        match role.items().first().map(|r| r.text()) {
            Some(r) if r == "slave" => Ok(()),
            other => Err(format!("role {other:?}")),
        }
    });
    // Every pooled connection went to the demoted server (which the sentinel also told to
    // drop its clients): each write is retried on a fresh connection, to the new primary,
    // and succeeds at the first call.
    for i in 0..20 {
        cache
            .set(&format!("after:{i}"), i, Ttl::Never)
            .expect("a write after the failover");
    }
    let raw_key = format!("{}after:0", cache.key_prefix());
    let primary = &group.servers()[new];
    assert_eq!(primary.query(&["EXISTS", raw_key.as_str()]).int(), Some(1));
}
