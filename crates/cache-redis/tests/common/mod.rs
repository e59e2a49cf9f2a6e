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

/// The async twin of [`RedisHarness`]: `AsyncRedisCache`s, each call driven on one tokio
/// runtime shared by the test binary, through the suite's blocking adapter.
#[cfg(feature = "tokio")]
pub struct AsyncRedisHarness<C = Postcard> {
    pub base: fn() -> RedisConfig<C>,
}

/// The runtime every async cache of a test binary runs on.
#[cfg(feature = "tokio")]
#[allow(dead_code)] // Not every test binary uses it.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

#[cfg(feature = "tokio")]
impl<C: Codec> Harness for AsyncRedisHarness<C> {
    type Cache = cache_conformance::blocking::OnRuntime<
        cache_redis::AsyncRedisCache<C>,
        tokio::runtime::Handle,
    >;

    fn single_flight(&self) -> bool {
        true
    }

    fn time(&self) -> Time {
        Time::Real
    }

    fn counts_expirations(&self) -> bool {
        false
    }

    fn create(&self, setup: Setup) -> Self::Cache {
        let mut config =
            (self.base)().key_prefix(redis_test_support::unique_prefix("async-conformance"));
        config.default_ttl = setup.default_ttl;
        let cache = runtime()
            .block_on(cache_redis::AsyncRedisCache::new(config))
            .expect("a cache on the test server");
        cache_conformance::blocking::OnRuntime::with_executor(cache, runtime().handle().clone())
    }

    fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
        Box::new(self.create(setup))
    }
}
