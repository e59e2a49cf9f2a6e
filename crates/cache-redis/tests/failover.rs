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
