//! Values over the largest string the server takes (`proto-max-bulk-len`, matched by
//! `RedisConfig::max_value_bytes`) are refused before they are sent, with an error naming
//! the limit and the value's size, not sent and then cut off by the server; a value at the
//! limit is stored. Blocking and async, single writes, `add` and batches.

use cache_core::codec::Raw;
use cache_core::{Cache, CacheError, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use redis_test_support::{unique_prefix, RedisServer};

/// 1 MiB, the smallest `proto-max-bulk-len` Redis takes.
const LIMIT: usize = 1 << 20;

/// A server that takes strings of at most [`LIMIT`] bytes, and a configuration (storing
/// strings as their bytes) that knows it.
fn setup() -> (RedisServer, RedisConfig<Raw>) {
    let server = RedisServer::start();
    let set = server
        .query(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"])
        .expect("CONFIG SET");
    assert_eq!(set.text(), "OK");
    let config = RedisConfig::new(server.url())
        .key_prefix(unique_prefix("limit"))
        .codec(Raw)
        .max_value_bytes(LIMIT);
    (server, config)
}

#[track_caller]
fn refused(err: &CacheError, key: &str) {
    assert!(matches!(err, CacheError::InvalidInput { .. }), "{err:?}");
    let text = err.to_string();
    for part in [
        format!("{key:?}"),
        format!("{} bytes", LIMIT + 1),
        format!("limit of {LIMIT} bytes"),
        "max_value_bytes".to_owned(),
    ] {
        assert!(text.contains(&part), "{part}: {text}");
    }
}

#[test]
fn values_over_the_limit_are_refused_before_they_are_sent() {
    let (server, config) = setup();
    let cache = RedisCache::new(config).expect("a cache");
    let over = "x".repeat(LIMIT + 1);
    let at = "y".repeat(LIMIT);

    refused(
        &cache.set("big", over.clone(), Ttl::Never).unwrap_err(),
        "big",
    );
    refused(
        &Cache::<String>::add(&cache, "big", over.clone(), Ttl::Never).unwrap_err(),
        "big",
    );
    let batch = vec![("small", "s".to_string()), ("big", over.clone())];
    refused(
        &Cache::<String>::set_many(&cache, batch, Ttl::Never).unwrap_err(),
        "big",
    );
    assert_eq!(
        server.query(&["DBSIZE"]).expect("DBSIZE").int(),
        Some(0),
        "nothing was sent"
    );

    assert!(cache.set("max", at.clone(), Ttl::Never).unwrap());
    assert_eq!(Cache::<String>::get(&cache, "max").unwrap(), Some(at));
    assert_eq!(cache.stats().sets, 1);
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "current_thread")]
async fn the_async_cache_refuses_them_too() {
    use cache_core::AsyncCache;
    use cache_redis::AsyncRedisCache;

    let (server, config) = setup();
    let cache = AsyncRedisCache::new(config).await.expect("a cache");
    let over = "x".repeat(LIMIT + 1);
    let at = "y".repeat(LIMIT);

    refused(
        &cache
            .set("big", over.clone(), Ttl::Never)
            .await
            .unwrap_err(),
        "big",
    );
    refused(
        &AsyncCache::<String>::add(&cache, "big", over.clone(), Ttl::Never)
            .await
            .unwrap_err(),
        "big",
    );
    let batch = vec![("small", "s".to_string()), ("big", over)];
    refused(
        &AsyncCache::<String>::set_many(&cache, batch, Ttl::Never)
            .await
            .unwrap_err(),
        "big",
    );
    assert_eq!(
        server.query(&["DBSIZE"]).expect("DBSIZE").int(),
        Some(0),
        "nothing was sent"
    );

    assert!(cache.set("max", at.clone(), Ttl::Never).await.unwrap());
    let got: Option<String> = cache.get("max").await.unwrap();
    assert_eq!(got, Some(at));
}
