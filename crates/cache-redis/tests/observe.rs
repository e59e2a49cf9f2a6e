//! Metrics and spans (`cache_core::observe`) on a real server: the shared case for
//! `RedisCache`, its pool gauges, the retry event after a restart of the server, and the
//! async cache's spans and histograms. The dev-dependency on `cache-conformance/observe`
//! turns on `cache-core`'s `metrics` and `tracing` features for every test of this crate.

use cache_conformance::observe::{check_observed, Captured, Observed, Recorded};
use cache_core::{AsyncCache, CacheError, Ttl};
use cache_redis::{AsyncRedisCache, RedisCache, RedisConfig};
use redis_test_support::{unique_prefix, RedisServer};
use std::future::Future;

struct Redis(String);

impl Observed for Redis {
    type Cache = RedisCache;
    const BACKEND: &'static str = "redis";

    fn build(&self, name: &str, trace_keys: bool) -> Result<Self::Cache, CacheError> {
        let config = RedisConfig::new(self.0.as_str())
            .key_prefix(unique_prefix(name))
            .name(name)
            .trace_keys(trace_keys);
        RedisCache::new(config)
    }

    fn publish(&self, cache: &Self::Cache) {
        cache.publish_metrics();
    }
}

#[test]
fn counters_histograms_and_spans() -> Result<(), CacheError> {
    let server = RedisServer::start();
    check_observed(&Redis(server.url()))
}

#[test]
fn pool_gauges_are_published() -> Result<(), CacheError> {
    let server = RedisServer::start();
    let recorded = Recorded::default();
    let config = RedisConfig::new(server.url())
        .key_prefix(unique_prefix("pool"))
        .pool_size(4)
        .min_idle(Some(0))
        .name("pooled");
    let cache = metrics::with_local_recorder(&recorded, || RedisCache::new(config))?;
    cache.set("k", 1i64, Ttl::Never)?;
    assert_eq!(cache.get::<i64>("k")?, Some(1));
    cache.publish_metrics();
    let labels = [("backend", "redis"), ("cache", "pooled")];
    let open = recorded
        .gauge("cache_pool_connections", &labels)
        .expect("the open connections gauge");
    let idle = recorded
        .gauge("cache_pool_connections_idle", &labels)
        .expect("the idle connections gauge");
    let in_use = recorded
        .gauge("cache_pool_connections_in_use", &labels)
        .expect("the in-use connections gauge");
    assert!((1.0..=4.0).contains(&open), "{open} open");
    // Between calls nothing is in use: the last call's connection waits, idle, for the next.
    assert_eq!((idle, in_use), (open, 0.0));
    assert_eq!(recorded.counter("cache_hits_total", &labels), Some(1));
    assert_eq!(recorded.counter("cache_sets_total", &labels), Some(1));
    Ok(())
}

#[test]
fn a_retry_after_a_restart_is_a_debug_event_in_the_operation_span() -> Result<(), CacheError> {
    let server = RedisServer::start();
    let config = RedisConfig::new(server.url())
        .key_prefix(unique_prefix("retry"))
        .name("retried");
    let cache = RedisCache::new(config)?;
    cache.set("secret-user-3", 1i64, Ttl::Never)?;
    server.kill();
    server.restart();
    let captured = Captured::default();
    // The pooled connection died with the server: the get fails on it, then runs again on a
    // new one (the restarted server kept nothing: a miss).
    let got = captured.run(|| cache.get::<i64>("secret-user-3"))?;
    assert_eq!(got, None);
    let events = captured.events();
    let retries: Vec<_> = events.iter().filter(|e| e.name == "retry").collect();
    assert_eq!(retries.len(), 1, "{events:?}");
    assert_eq!(retries[0].level, "DEBUG");
    assert_eq!(retries[0].fields["cache"], "retried");
    assert_eq!(retries[0].parent.as_deref(), Some("cache_op"));
    assert!(
        retries[0].fields["detail"].contains(&server.addr()),
        "{events:?}"
    );
    assert!(!format!("{events:?}").contains("secret-user-3"));
    Ok(())
}

#[test]
fn the_async_cache_has_the_same_spans_and_histograms() -> Result<(), CacheError> {
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CacheError::io("starting a runtime", e))?;
    let recorded = Recorded::default();
    let config = RedisConfig::new(server.url())
        .key_prefix(unique_prefix("async"))
        .name("tasks");
    let cache: AsyncRedisCache = runtime.block_on(async {
        // Handles resolve when the cache is made: inside the local recorder.
        let making = AsyncRedisCache::new(config);
        let mut making = std::pin::pin!(making);
        std::future::poll_fn(|cx| {
            metrics::with_local_recorder(&recorded, || making.as_mut().poll(cx))
        })
        .await
    })?;
    let captured = Captured::default();
    captured.run(|| {
        runtime.block_on(async {
            AsyncCache::<i64>::set(&cache, "secret-key", 5, Ttl::Never).await?;
            let hit: Option<i64> = AsyncCache::get(&cache, "secret-key").await?;
            let miss: Option<i64> = AsyncCache::get(&cache, "other-key").await?;
            assert_eq!((hit, miss), (Some(5), None));
            assert_eq!(cache.incr("n", 2).await?, 2);
            Ok::<_, CacheError>(())
        })
    })?;
    cache.publish_metrics();
    let base = [("backend", "redis"), ("cache", "tasks")];
    for (operation, outcome) in [
        ("set", "ok"),
        ("get", "hit"),
        ("get", "miss"),
        ("incr", "ok"),
    ] {
        let mut labels = base.to_vec();
        labels.extend([("operation", operation), ("outcome", outcome)]);
        let samples = recorded.histogram("cache_operation_duration_seconds", &labels);
        assert_eq!(samples.len(), 1, "{operation}/{outcome}");
    }
    assert_eq!(recorded.counter("cache_hits_total", &base), Some(1));
    assert_eq!(recorded.counter("cache_misses_total", &base), Some(1));
    let spans = captured.spans_named("cache_op");
    let ops: Vec<_> = spans
        .iter()
        .map(|s| (s.fields["operation"].as_str(), s.fields["outcome"].as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("set", "ok"),
            ("get", "hit"),
            ("get", "miss"),
            ("incr", "ok")
        ]
    );
    assert!(spans.iter().all(|s| s.fields["cache"] == "tasks"));
    assert!(!format!("{spans:?}").contains("secret-key"));
    Ok(())
}
