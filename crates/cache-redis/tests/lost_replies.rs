//! A connection that fails after the server ran a command and before its reply came back
//! (a proxy drops the reply and closes the connection): a command whose effect or answer
//! would change if it ran twice (`incr`, `decr`, `add`) is not sent again and fails with an
//! error saying its outcome is unknown, the server holding its effect once; the others are
//! sent again and succeed. A command that cannot have reached the server (its pooled
//! connection was reset before it was written) is sent again. Blocking and async, a plain
//! `INCRBY` and the script of a default TTL alike. Each test owns its server and proxy.

use std::time::Duration;

use cache_core::{Cache, CacheError, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use redis_test_support::{unique_prefix, FaultProxy, RedisServer};

/// A server, a proxy in front of it, and a configuration on the proxy: one pooled
/// connection and none opened in the background, so that every reply the proxy sees
/// answers a command of the test.
fn setup() -> (RedisServer, FaultProxy, RedisConfig) {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port()).expect("a proxy");
    let config = RedisConfig::new(proxy.url())
        .key_prefix(unique_prefix("lost"))
        .timeouts(Duration::from_secs(5))
        .pool_size(1)
        .min_idle(Some(0));
    (server, proxy, config)
}

/// What the server holds under `key` of the cache of `config`, as text.
fn held(server: &RedisServer, config: &RedisConfig, key: &str) -> String {
    server
        .query(&["GET", &format!("{}{key}", config.key_prefix)])
        .expect("GET of the test server")
        .text()
}

/// `err` says that the command may have run, names the key and the server, and is not an
/// outage.
#[track_caller]
fn outcome_unknown(err: &CacheError, key: &str, proxy: &FaultProxy) {
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert!(!err.is_unavailable(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&format!("{key:?}")), "names the key: {text}");
    assert!(
        text.contains(&format!("127.0.0.1:{}", proxy.port())),
        "names the server: {text}"
    );
    assert!(text.contains("may or may not have run"), "{text}");
}

#[test]
fn counters_and_add_are_not_sent_twice_when_their_reply_is_lost() {
    for default_ttl in [None, Some(Duration::from_secs(600))] {
        let (server, proxy, config) = setup();
        let cache = RedisCache::new(config.clone().default_ttl(default_ttl)).expect("a cache");
        assert_eq!(cache.incr("n", 1).unwrap(), 1);

        proxy.drop_next_reply();
        let err = cache.incr("n", 1).expect_err("the reply was lost");
        outcome_unknown(&err, "n", &proxy);
        assert!(err.to_string().contains("INCRBY"), "{err}");
        assert_eq!(
            held(&server, &config, "n"),
            "2",
            "applied once ({default_ttl:?})"
        );
        assert_eq!(cache.incr("n", 1).unwrap(), 3, "the cache works on");

        proxy.drop_next_reply();
        let err = cache.decr("n", 5).expect_err("the reply was lost");
        outcome_unknown(&err, "n", &proxy);
        assert_eq!(
            held(&server, &config, "n"),
            "-2",
            "applied once ({default_ttl:?})"
        );
        assert_eq!(cache.incr("n", 0).unwrap(), -2);

        proxy.drop_next_reply();
        let err = Cache::<String>::add(&cache, "a", "mine".into(), Ttl::Never)
            .expect_err("the reply was lost");
        outcome_unknown(&err, "a", &proxy);
        assert_eq!(
            Cache::<String>::get(&cache, "a").unwrap().as_deref(),
            Some("mine"),
            "stored by this call"
        );
        assert!(!Cache::<String>::add(&cache, "a", "other".into(), Ttl::Never).unwrap());
        assert_eq!(proxy.dropped_replies(), 3);
        assert_eq!(cache.stats().sets, 3, "the three incr that answered");
    }
}

#[test]
fn idempotent_operations_are_sent_again_and_succeed() {
    let (server, proxy, config) = setup();
    let cache = RedisCache::new(config.clone()).expect("a cache");
    let lose = || proxy.drop_next_reply();
    let get = |key: &str| Cache::<String>::get(&cache, key).unwrap();

    lose();
    assert!(cache.set("k", "v".to_string(), Ttl::Never).unwrap());
    lose();
    assert_eq!(get("k").as_deref(), Some("v"));
    lose();
    assert!(cache.exists("k").unwrap());
    lose();
    assert_eq!(cache.ttl("k").unwrap(), Some(None));
    lose();
    assert!(cache
        .touch("k", Ttl::After(Duration::from_secs(60)))
        .unwrap());
    assert!(matches!(cache.ttl("k").unwrap(), Some(Some(d)) if d > Duration::from_secs(50)));
    lose();
    Cache::<String>::set_many(
        &cache,
        vec![("a", "1".to_string()), ("b", "2".to_string())],
        Ttl::Never,
    )
    .unwrap();
    lose();
    assert_eq!(
        Cache::<String>::get_many(&cache, &["a", "b", "c"]).unwrap(),
        [Some("1".to_string()), Some("2".to_string()), None]
    );
    lose();
    // The effect is the same; the answer is the resend's, which found nothing left (as
    // documented: a resent delete may report `false` for the entry it removed).
    assert!(!cache.delete("k").unwrap());
    assert!(!cache.exists("k").unwrap());
    lose();
    cache.delete_many(&["a", "b"]).unwrap();
    assert_eq!(get("a"), None);
    assert_eq!(get("b"), None);
    assert_eq!(proxy.dropped_replies(), 9);
    assert_eq!(server.query(&["DBSIZE"]).expect("DBSIZE").int(), Some(0));
}

#[test]
fn a_command_that_cannot_have_reached_the_server_is_sent_again() {
    let (server, proxy, config) = setup();
    let cache = RedisCache::new(config.clone()).expect("a cache");
    assert_eq!(cache.incr("n", 1).unwrap(), 1);
    // The pooled connection is reset: the next write on it fails, so nothing is sent.
    assert_eq!(proxy.reset_clients().expect("reset"), 1);
    assert_eq!(
        cache.incr("n", 1).unwrap(),
        2,
        "sent again, on a new connection"
    );
    assert_eq!(held(&server, &config, "n"), "2");
    // The retry's connection is not kept: the next call opens a pooled one.
    assert_eq!(cache.incr("n", 0).unwrap(), 2);
    assert_eq!(proxy.reset_clients().expect("reset"), 1);
    assert!(Cache::<String>::add(&cache, "a", "v".into(), Ttl::Never).unwrap());
    assert!(!held(&server, &config, "a").is_empty());
}

#[cfg(feature = "tokio")]
mod async_api {
    use super::*;
    use cache_core::AsyncCache;
    use cache_redis::AsyncRedisCache;

    #[tokio::test(flavor = "current_thread")]
    async fn counters_and_add_are_not_sent_twice_when_their_reply_is_lost() {
        for default_ttl in [None, Some(Duration::from_secs(600))] {
            let (server, proxy, config) = setup();
            let cache = AsyncRedisCache::new(config.clone().default_ttl(default_ttl))
                .await
                .expect("a cache");
            assert_eq!(cache.incr("n", 1).await.unwrap(), 1);

            proxy.drop_next_reply();
            let err = cache.incr("n", 1).await.expect_err("the reply was lost");
            outcome_unknown(&err, "n", &proxy);
            assert_eq!(
                held(&server, &config, "n"),
                "2",
                "applied once ({default_ttl:?})"
            );
            assert_eq!(cache.incr("n", 1).await.unwrap(), 3, "the cache works on");

            proxy.drop_next_reply();
            let err = cache.decr("n", 5).await.expect_err("the reply was lost");
            outcome_unknown(&err, "n", &proxy);
            assert_eq!(
                held(&server, &config, "n"),
                "-2",
                "applied once ({default_ttl:?})"
            );
            assert_eq!(cache.incr("n", 0).await.unwrap(), -2);

            proxy.drop_next_reply();
            let err = AsyncCache::<String>::add(&cache, "a", "mine".into(), Ttl::Never)
                .await
                .expect_err("the reply was lost");
            outcome_unknown(&err, "a", &proxy);
            let got: Option<String> = cache.get("a").await.unwrap();
            assert_eq!(got.as_deref(), Some("mine"), "stored by this call");
            assert_eq!(proxy.dropped_replies(), 3);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn idempotent_operations_are_sent_again_and_succeed() {
        let (server, proxy, config) = setup();
        let cache = AsyncRedisCache::new(config).await.expect("a cache");
        let lose = || proxy.drop_next_reply();

        lose();
        assert!(cache.set("k", "v".to_string(), Ttl::Never).await.unwrap());
        lose();
        let got: Option<String> = cache.get("k").await.unwrap();
        assert_eq!(got.as_deref(), Some("v"));
        lose();
        assert!(AsyncCache::<String>::exists(&cache, "k").await.unwrap());
        lose();
        assert_eq!(cache.ttl("k").await.unwrap(), Some(None));
        lose();
        assert!(cache.touch("k", Ttl::Never).await.unwrap());
        lose();
        AsyncCache::<String>::set_many(
            &cache,
            vec![("a", "1".to_string()), ("b", "2".to_string())],
            Ttl::Never,
        )
        .await
        .unwrap();
        lose();
        assert_eq!(
            AsyncCache::<String>::get_many(&cache, &["a", "b", "c"])
                .await
                .unwrap(),
            [Some("1".to_string()), Some("2".to_string()), None]
        );
        lose();
        assert!(!AsyncCache::<String>::delete(&cache, "k").await.unwrap());
        lose();
        AsyncCache::<String>::delete_many(&cache, &["a", "b"])
            .await
            .unwrap();
        assert_eq!(proxy.dropped_replies(), 9);
        assert_eq!(server.query(&["DBSIZE"]).expect("DBSIZE").int(), Some(0));
    }
}
