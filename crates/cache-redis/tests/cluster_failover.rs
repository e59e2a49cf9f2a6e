//! Failover on a cluster with replicas: a primary is killed (SIGKILL), its replica is
//! promoted, and every slot works again through the same cache instance.

use std::time::Duration;

use cache_core::{Cache, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use redis_test_support::{succeeds_within, unique_prefix, RedisCluster};

/// How soon after the promotion the cache must work again.
const RECOVERY: Duration = Duration::from_secs(15);

fn config(base: RedisConfig) -> RedisConfig {
    base.key_prefix(unique_prefix("failover"))
        .timeouts(Duration::from_millis(500))
        .pool_size(4)
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
    succeeds_within(RECOVERY, "writes on every slot", || {
        cache.set_many(batch("after"), Ttl::Never)
    });
    let values: Vec<Option<String>> = succeeds_within(RECOVERY, "reads on every slot", || {
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

/// The async cache sends single-key commands straight to the primary of their slot (its own
/// slot map): after a failover, that map is read again and every slot works through the
/// same instance, by single-key commands as by batches.
#[cfg(feature = "tokio")]
#[test]
fn async_cluster_failover_is_followed_by_single_key_commands_on_every_slot() {
    use cache_core::AsyncCache;
    use cache_redis::AsyncRedisCache;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cluster = RedisCluster::start_with_replicas(3, 1);
    let cache = rt
        .block_on(AsyncRedisCache::new(config(RedisConfig::cluster(
            cluster.urls(),
        ))))
        .expect("a cluster cache");
    let keys = one_key_per_slot(cache.key_prefix());
    // A key in every 61st slot: a few hundred single-key commands, on every primary.
    let sample: Vec<&str> = keys.iter().step_by(61).map(String::as_str).collect();
    let write_all = |value: &'static str| {
        rt.block_on(async {
            for k in &sample {
                cache.set(k, value.to_string(), Ttl::Never).await?;
                let read: Option<String> = cache.get(k).await?;
                assert_eq!(read.as_deref(), Some(value), "{k}");
            }
            Ok::<_, cache_core::CacheError>(())
        })
    };
    write_all("before").unwrap();

    let victim = cluster.node_of_key(format!("{}{}", cache.key_prefix(), keys[0]).as_bytes());
    cluster.nodes()[victim].kill();
    cluster.wait_failover();

    succeeds_within(
        RECOVERY,
        "single-key writes and reads on every slot",
        || write_all("after"),
    );
    for k in &sample {
        let n = rt.block_on(cache.incr(&format!("{k}:n"), 2)).unwrap();
        assert_eq!(n, 2, "{k}");
    }
    let values: Vec<Option<String>> = rt.block_on(cache.get_many(&sample)).unwrap();
    assert!(values.iter().all(|v| v.as_deref() == Some("after")));
    rt.block_on(AsyncCache::<String>::clear(&cache)).unwrap();
}
