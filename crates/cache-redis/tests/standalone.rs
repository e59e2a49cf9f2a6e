//! The whole conformance suite, typed cases included, on one real `redis-server`.

mod common;

use cache_redis::RedisConfig;
use common::RedisHarness;

fn server() -> RedisConfig {
    RedisConfig::new(redis_test_support::shared_server().url())
}

cache_conformance::conformance_tests!(RedisHarness { base: server });
cache_conformance::typed_conformance_tests!(RedisHarness { base: server });
