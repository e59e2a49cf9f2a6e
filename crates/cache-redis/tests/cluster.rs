//! The whole conformance suite, typed cases included, on a real 3-primary Redis Cluster.

#[macro_use]
mod common;

use cache_redis::RedisConfig;
use common::RedisHarness;

fn cluster() -> RedisConfig {
    RedisConfig::cluster(redis_test_support::shared_cluster().urls())
}

redis_conformance_tests!(RedisHarness { base: cluster });
cache_conformance::typed_conformance_tests!(RedisHarness { base: cluster });

/// The same suite on the async API (`AsyncRedisCache`).
#[cfg(feature = "tokio")]
mod async_api {
    use super::{cluster, common::AsyncRedisHarness};

    redis_conformance_tests!(AsyncRedisHarness { base: cluster });

    /// Single flight across 1,000 tasks on the cluster (the lock key lives in the slot of
    /// its own name).
    #[test]
    fn thousand_tasks_run_the_loader_once() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let config = cluster().key_prefix(redis_test_support::unique_prefix("aflight"));
            let cache = cache_redis::AsyncRedisCache::new(config).await.unwrap();
            cache_conformance::flights::thousand_tasks_run_the_loader_once(std::sync::Arc::new(
                cache,
            ))
            .await;
        });
    }
}

/// What only a cluster shows: slots and every primary.
mod on_the_cluster {
    use cache_core::Ttl;
    use cache_redis::{RedisCache, RedisConfig};
    use redis_test_support::{shared_cluster, unique_prefix};

    fn cache() -> RedisCache {
        RedisCache::new(
            RedisConfig::cluster(shared_cluster().urls()).key_prefix(unique_prefix("slots")),
        )
        .unwrap()
    }

    #[test]
    fn batches_over_every_primary_never_fail_crossslot() {
        let c = cache();
        let keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let nodes: std::collections::HashSet<usize> = keys
            .iter()
            .map(|k| shared_cluster().node_of_key(format!("{}{k}", c.key_prefix()).as_bytes()))
            .collect();
        assert_eq!(
            nodes.len(),
            3,
            "the keys of one cache spread over every primary"
        );
        c.set_many(refs.iter().map(|k| (*k, k.len())).collect(), Ttl::Never)
            .unwrap();
        let got: Vec<Option<usize>> = c.get_many(&refs).unwrap();
        assert!(got.iter().zip(&refs).all(|(v, k)| *v == Some(k.len())));
        assert_eq!(c.count().unwrap(), 500);
        assert_eq!(c.delete_many(&refs[..250]).unwrap(), 250);
        assert_eq!(c.delete_pattern("k*").unwrap(), 250);
        assert_eq!(c.count().unwrap(), 0);
        let s = c.stats();
        assert_eq!((s.hits, s.sets, s.deletes), (500, 500, 500));
    }

    #[test]
    fn clear_visits_every_primary() {
        let c = cache();
        for i in 0..100 {
            c.set(&format!("k{i}"), i, Ttl::Never).unwrap();
        }
        assert_eq!(c.count().unwrap(), 100);
        c.clear().unwrap();
        assert_eq!(c.count().unwrap(), 0);
        assert!((0..100).all(|i| !c.exists(&format!("k{i}")).unwrap()));
    }
}
