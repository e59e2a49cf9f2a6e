//! The conformance harness of `RedisCache`, on a server or cluster shared by the test binary;
//! each cache gets a key prefix of its own.

use cache_conformance::{Harness, Setup, Time, TypedHarness};
use cache_core::codec::{Codec, Postcard};
use cache_core::Cache;
use cache_redis::{RedisCache, RedisConfig};

/// Builds caches from a base configuration (which names the server or the cluster, and may
/// choose a codec, a version, compression).
pub struct RedisHarness<C = Postcard> {
    pub base: fn() -> RedisConfig<C>,
}

impl<C: Codec> Harness for RedisHarness<C> {
    type Cache = RedisCache<C>;

    fn single_flight(&self) -> bool {
        true
    }

    fn time(&self) -> Time {
        Time::Real
    }

    fn counts_expirations(&self) -> bool {
        false
    }

    fn create(&self, setup: Setup) -> RedisCache<C> {
        let mut config = (self.base)()
            .key_prefix(redis_test_support::unique_prefix("conformance"))
            .pool_size(8)
            .min_idle(Some(1));
        config.default_ttl = setup.default_ttl;
        RedisCache::new(config).expect("a cache on the test server")
    }

    fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
        Box::new(self.create(setup))
    }
}

impl<C: Codec> TypedHarness for RedisHarness<C> {
    fn as_u64(&self, cache: &RedisCache<C>) -> Box<dyn Cache<u64>> {
        Box::new(cache.clone())
    }

    fn as_string(&self, cache: &RedisCache<C>) -> Box<dyn Cache<String>> {
        Box::new(cache.clone())
    }

    fn as_i64(&self, cache: &RedisCache<C>) -> Box<dyn Cache<i64>> {
        Box::new(cache.clone())
    }
}
