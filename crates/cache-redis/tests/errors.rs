//! Each kind of error a program can act on, produced by a real fault: a frozen server
//! (timeout), a killed server and an exhausted pool (unavailable), a wrong or missing
//! password (auth). Each message states its cause once.

use std::error::Error;
use std::time::Duration;

use cache_core::{Cache, CacheError, Ttl};
use cache_redis::{RedisCache, RedisConfig, RedisFailure};
use redis_test_support::{unique_prefix, RedisServer};

fn config(url: String) -> RedisConfig {
    RedisConfig::new(url)
        .key_prefix(unique_prefix("errors"))
        .timeouts(Duration::from_millis(300))
        .pool_size(2)
}

fn get(cache: &RedisCache, key: &str) -> Result<Option<String>, CacheError> {
    Cache::<String>::get(cache, key)
}

#[test]
fn a_frozen_server_is_a_timeout() {
    let server = RedisServer::start();
    let cache = RedisCache::new(config(server.url())).unwrap();
    cache.set("k", "v".to_string(), Ttl::Never).unwrap();
    server.freeze();
    let err = get(&cache, "k").expect_err("a frozen server");
    let err2 = cache
        .set("k", "v2".to_string(), Ttl::Never)
        .expect_err("a frozen server");
    server.thaw();
    for e in [&err, &err2] {
        assert!(e.is_timeout(), "{e:#}");
        assert!(
            !e.is_unavailable() && !e.is_auth() && !e.is_misconfigured(),
            "{e:#}"
        );
    }
    assert!(
        get(&cache, "k").unwrap().is_some(),
        "works again once thawed"
    );
}

#[test]
fn a_killed_server_is_unavailable() {
    let server = RedisServer::start();
    let cache = RedisCache::new(config(server.url())).unwrap();
    cache.set("k", "v".to_string(), Ttl::Never).unwrap();
    server.kill();
    for err in [
        get(&cache, "k").expect_err("a killed server"),
        cache.delete_pattern("*").expect_err("a killed server"),
        RedisCache::new(config(server.url())).expect_err("nothing listens"),
    ] {
        assert!(err.is_unavailable(), "{err:#}");
        assert!(
            !err.is_timeout() && !err.is_auth() && !err.is_misconfigured(),
            "{err:#}"
        );
        // The cause: the refused connection, or the pool's wait for one that ran out.
        let cause = err.source().expect("a cause");
        if let Some(redis) = cause.downcast_ref::<RedisFailure>() {
            assert!(redis.redis_error().is_io_error(), "{err:#}");
        } else {
            assert!(cause.to_string().contains("timed out waiting"), "{err:#}");
        }
    }
    server.restart();
    assert_eq!(
        get(&cache, "k").unwrap(),
        None,
        "works again, nothing persisted"
    );
}

#[test]
fn an_exhausted_pool_is_unavailable() {
    let server = RedisServer::start();
    let cache = RedisCache::new(
        config(server.url())
            .pool_size(1)
            .read_timeout(Duration::from_secs(3))
            .pool_timeout(Duration::from_millis(100)),
    )
    .unwrap();
    cache.set("k", "v".to_string(), Ttl::Never).unwrap();
    server.freeze();
    let err = std::thread::scope(|s| {
        // The only connection waits on the frozen server...
        let holder = s.spawn(|| get(&cache, "k"));
        std::thread::sleep(Duration::from_millis(500));
        // ... so another operation finds none.
        let err = get(&cache, "k").expect_err("no connection to be had");
        server.thaw();
        let _ = holder.join().unwrap();
        err
    });
    assert!(err.is_unavailable(), "{err:#}");
    assert!(
        !err.is_timeout() && !err.is_auth() && !err.is_misconfigured(),
        "{err:#}"
    );
}

#[test]
fn a_wrong_or_missing_password_is_auth_and_says_so_once() {
    let server = RedisServer::start();
    server
        .query(&["CONFIG", "SET", "requirepass", "s3cret"])
        .expect("a reply of the test server");
    let port = server.port();
    for (url, code) in [
        (format!("redis://:wrong@127.0.0.1:{port}/"), "WRONGPASS"),
        (
            format!("redis://default:wrong@127.0.0.1:{port}/"),
            "WRONGPASS",
        ),
        (format!("redis://127.0.0.1:{port}/"), "NOAUTH"),
    ] {
        let err = RedisCache::new(config(url.clone())).expect_err("refused login");
        assert!(err.is_auth(), "{url}: {err:#}");
        assert!(
            !err.is_timeout() && !err.is_unavailable() && !err.is_misconfigured(),
            "{err:#}"
        );
        // `{:#}` prints the chain as a report walking `source()` does (cache-core checks
        // that): this error, then each cause.
        let report = format!("{err:#}");
        assert!(err.source().is_some(), "{report}");
        let cause = if report.contains(code) {
            code
        } else {
            "authentication failed"
        };
        assert_eq!(report.matches(cause).count(), 1, "the cause once: {report}");
        assert!(
            !report.contains("wrong"),
            "no password in messages: {report}"
        );
    }
}
