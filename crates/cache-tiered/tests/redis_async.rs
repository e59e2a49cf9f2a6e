//! An `AsyncTieredCache` over `AsyncRedisCache` and a `TieredCache` over `RedisCache`, on one
//! server and one prefix, each subscribed to the invalidations: each reads its own writes at
//! once and sees the other's within a generous deadline, its near copy of the old value
//! dropped by the invalidation (a near hit of the old value before, the new value after).

use std::time::{Duration, Instant};

use cache_core::Ttl;
use cache_redis::{AsyncRedisCache, RedisCache, RedisConfig};
use cache_tiered::{AsyncTieredCache, TieredCache};
use redis_test_support::{unique_prefix, RedisServer};

const SEEN_WITHIN: Duration = Duration::from_secs(5);

#[test]
fn async_and_blocking_tiered_caches_see_each_others_writes() {
    let server = RedisServer::start();
    let prefix = unique_prefix("tiered-async");
    let config = || {
        RedisConfig::new(server.url())
            .key_prefix(&prefix)
            .timeouts(Duration::from_millis(500))
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let far = rt
        .block_on(AsyncRedisCache::new(config()))
        .expect("an async cache");
    let asynchronous = AsyncTieredCache::<u64, _>::builder(far)
        .build_invalidated()
        .expect("subscribed");
    let blocking = TieredCache::<u64, _>::builder(RedisCache::new(config()).unwrap())
        .build_invalidated()
        .expect("subscribed");

    for round in 0..20u64 {
        // The blocking cache writes; the async one holds the old value as a near copy.
        let (old, new) = (2 * round, 2 * round + 1);
        blocking.set("k", old, Ttl::Never).unwrap();
        assert_eq!(
            blocking.get("k").unwrap(),
            Some(old),
            "its own write at once"
        );
        let deadline = Instant::now() + SEEN_WITHIN;
        while rt.block_on(asynchronous.get("k")).unwrap() != Some(old) {
            assert!(
                Instant::now() < deadline,
                "round {round}: the async cache never saw {old}"
            );
        }
        // The blocking cache holds a near copy of the old value (its own write's news may
        // drop one: read until a read is a near hit).
        let deadline = Instant::now() + SEEN_WITHIN;
        loop {
            let hits = blocking.tier_stats().near_hits_served;
            assert_eq!(blocking.get("k").unwrap(), Some(old));
            if blocking.tier_stats().near_hits_served > hits {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: no near hit of {old}"
            );
        }

        // The async cache writes; the blocking one sees it, over its near copy.
        rt.block_on(asynchronous.set("k", new, Ttl::Never)).unwrap();
        assert_eq!(rt.block_on(asynchronous.get("k")).unwrap(), Some(new));
        let deadline = Instant::now() + SEEN_WITHIN;
        while blocking.get("k").unwrap() != Some(new) {
            assert!(
                Instant::now() < deadline,
                "round {round}: the blocking cache never saw {new}"
            );
        }
    }
    // And the async cache sees the blocking one's write over its near copy.
    blocking.set("k", 1_000, Ttl::Never).unwrap();
    let deadline = Instant::now() + SEEN_WITHIN;
    while rt.block_on(asynchronous.get("k")).unwrap() != Some(1_000) {
        assert!(Instant::now() < deadline, "the async cache never saw 1000");
    }
}
