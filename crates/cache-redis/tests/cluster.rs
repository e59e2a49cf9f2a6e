//! The whole conformance suite, typed cases included, on a real 3-primary Redis Cluster.

mod common;

use cache_redis::RedisConfig;
use common::RedisHarness;

fn cluster() -> RedisConfig {
    RedisConfig::cluster(redis_test_support::shared_cluster().urls())
}

cache_conformance::conformance_tests!(RedisHarness { base: cluster });
cache_conformance::typed_conformance_tests!(RedisHarness { base: cluster });
