//! The conformance harness of `RedisCache`, on a server or cluster shared by the test binary;
//! each cache gets a key prefix of its own.

use cache_conformance::processes::Handles;
use cache_conformance::{Harness, Setup, Shared, Time, TypedHarness};
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

/// The suite of [`cache_conformance::conformance_tests!`] as every harness here runs it:
/// without the cases of what Redis does not have (exact LRU under an entry bound: the
/// server's `maxmemory` policy is its own; a removal listener), and, but for the one run of
/// [`SharedRedisHarness`], without the cross-process cases.
#[allow(unused_macros)] // Not every test binary runs the suite.
macro_rules! redis_conformance_tests {
    ($harness:expr) => {
        cache_conformance::conformance_tests!(
            $harness,
            skip: [
                lru_evicts_least_recently_used,
                lru_drops_expired_entries_first,
                removal_listener_hears_each_removal_once,
                cross_process,
            ]
        );
    };
}

/// [`RedisHarness`] on the test binary's standalone server, with the cross-process cases:
/// a child process opens the parent's server and a key prefix of the case's own from
/// `URL`, a newline, `PREFIX`.
#[allow(dead_code)] // Not every test binary uses it.
pub struct SharedRedisHarness(pub RedisHarness);

impl Harness for SharedRedisHarness {
    type Cache = RedisCache;

    fn single_flight(&self) -> bool {
        self.0.single_flight()
    }

    fn time(&self) -> Time {
        self.0.time()
    }

    fn counts_expirations(&self) -> bool {
        self.0.counts_expirations()
    }

    fn create(&self, setup: Setup) -> RedisCache {
        self.0.create(setup)
    }

    fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
        self.0.counters(setup)
    }

    fn shared(&self) -> Option<&dyn Shared> {
        Some(self)
    }
}

impl Shared for SharedRedisHarness {
    fn fresh(&self) -> (String, Box<dyn std::any::Any>) {
        let url = redis_test_support::shared_server().url();
        let prefix = redis_test_support::unique_prefix("shared");
        (format!("{url}\n{prefix}"), Box::new(()))
    }

    fn open(&self, spec: &str) -> Handles {
        let (url, prefix) = spec.split_once('\n').expect("URL, newline, prefix");
        let cache = RedisCache::new(RedisConfig::new(url).key_prefix(prefix))
            .expect("a cache on the parent's server");
        (Box::new(cache.clone()), Box::new(cache))
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
