//! Every call returns within its timeout: the longest of the connect, read and write
//! timeouts, plus [`MARGIN`] (see `RedisConfig`'s docs), on a server that is down (the
//! connection refused: `Unavailable`), frozen (SIGSTOP: accepted, never answered: `Timeout`)
//! or a listening socket that never accepts; blocking and async, at 200 ms and 1 s, while
//! the cache reconnects in between. Each test owns its servers, since it breaks them.

use std::time::{Duration, Instant};

use cache_core::{BackendFailure, Cache, CacheError, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use redis_test_support::{unique_prefix, RedisServer};

/// What a call may take beyond its timeout on a loaded test machine: a scheduling delay of
/// the runtime or the thread, not a second timeout. The documented promise is 100 ms; a
/// debug build on a 2-core machine shared with compilers gets more room here.
const MARGIN: Duration = Duration::from_millis(250);

const TIMEOUTS: [Duration; 2] = [Duration::from_millis(200), Duration::from_secs(1)];

/// How many calls each case makes (the first ones meet the dropped connection, the later
/// ones a reconnection under way or failed).
const CALLS: usize = 4;

fn config(url: String, timeout: Duration) -> RedisConfig {
    RedisConfig::new(url)
        .key_prefix(unique_prefix("deadlines"))
        .timeouts(timeout)
        .pool_size(2)
}

/// Checks `result`, which took `took`, failed within `timeout` + [`MARGIN`] with `kind`.
#[track_caller]
fn failed_in_time<T: std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    kind: BackendFailure,
    took: Duration,
    result: Result<T, CacheError>,
) {
    let err = result.expect_err(what);
    let got = err.backend_failure_kind();
    eprintln!("{what} at {timeout:?}: {took:?}, {got:?}: {err:#}");
    assert!(
        took <= timeout + MARGIN,
        "{what} at {timeout:?} took {took:?}: {err:#}"
    );
    assert_eq!(
        err.backend_failure_kind(),
        Some(kind),
        "{what} at {timeout:?}: {err:#}"
    );
}

#[track_caller]
fn timed<T>(op: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let result = op();
    (start.elapsed(), result)
}

fn get(cache: &RedisCache, key: &str) -> Result<Option<String>, CacheError> {
    Cache::<String>::get(cache, key)
}

#[test]
fn blocking_calls_on_a_killed_server_are_unavailable_in_time() {
    for timeout in TIMEOUTS {
        let server = RedisServer::start();
        let cache = RedisCache::new(config(server.url(), timeout)).expect("a cache");
        cache.set("k", "v".to_string(), Ttl::Never).unwrap();
        server.kill();
        for i in 0..CALLS {
            let (took, result) = timed(|| get(&cache, "k"));
            let what = format!("blocking get #{i} on a killed server");
            failed_in_time(&what, timeout, BackendFailure::Unavailable, took, result);
        }
        let (took, result) = timed(|| RedisCache::new(config(server.url(), timeout)));
        let what = "a blocking cache on a closed port";
        failed_in_time(what, timeout, BackendFailure::Unavailable, took, result);
    }
}

#[test]
fn blocking_calls_on_a_frozen_server_time_out_in_time() {
    for timeout in TIMEOUTS {
        let server = RedisServer::start();
        let cache = RedisCache::new(config(server.url(), timeout)).expect("a cache");
        cache.set("k", "v".to_string(), Ttl::Never).unwrap();
        server.freeze();
        for i in 0..CALLS {
            let (took, result) = timed(|| get(&cache, "k"));
            let what = format!("blocking get #{i} on a frozen server");
            // Once the connections that timed out are dropped, the pool cannot open one to
            // the frozen server within its wait: no pooled connection, `Unavailable`, as
            // `BackendFailure` documents.
            let pool_wait = result
                .as_ref()
                .is_err_and(|e| format!("{e:#}").contains("timed out waiting for connection"));
            let kind = if pool_wait {
                BackendFailure::Unavailable
            } else {
                BackendFailure::Timeout
            };
            failed_in_time(&what, timeout, kind, took, result);
        }
        let (took, result) = timed(|| RedisCache::new(config(server.url(), timeout)));
        let what = "a blocking cache on a frozen server";
        failed_in_time(what, timeout, BackendFailure::Timeout, took, result);
        server.thaw();
        assert_eq!(get(&cache, "k").unwrap().as_deref(), Some("v"));
    }
}

#[cfg(feature = "tokio")]
mod nonblocking {
    use super::*;
    use cache_core::AsyncCache;
    use cache_redis::AsyncRedisCache;
    use std::net::{Ipv4Addr, TcpListener};

    /// A loopback port nothing listens on.
    fn closed_port() -> u16 {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.local_addr().unwrap().port()
    }

    async fn get(cache: &AsyncRedisCache, key: &str) -> Result<Option<String>, CacheError> {
        AsyncCache::<String>::get(cache, key).await
    }

    async fn timed<T>(op: impl std::future::Future<Output = T>) -> (Duration, T) {
        let start = Instant::now();
        let result = op.await;
        (start.elapsed(), result)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_calls_on_a_killed_server_are_unavailable_in_time() {
        for timeout in TIMEOUTS {
            let server = RedisServer::start();
            let cache = AsyncRedisCache::new(config(server.url(), timeout))
                .await
                .expect("a cache");
            cache.set("k", "v".to_string(), Ttl::Never).await.unwrap();
            server.kill();
            for i in 0..CALLS {
                let (took, result) = timed(get(&cache, "k")).await;
                let what = format!("async get #{i} on a killed server");
                failed_in_time(&what, timeout, BackendFailure::Unavailable, took, result);
            }
            let (took, result) = timed(cache.set("k", "w".to_string(), Ttl::Never)).await;
            let what = "async set on a killed server";
            failed_in_time(what, timeout, BackendFailure::Unavailable, took, result);
            let (took, result) = timed(AsyncRedisCache::new(config(server.url(), timeout))).await;
            let what = "an async cache on a closed port";
            failed_in_time(what, timeout, BackendFailure::Unavailable, took, result);
            let url = format!("redis://127.0.0.1:{}/", closed_port());
            let (took, result) = timed(AsyncRedisCache::new(config(url, timeout))).await;
            let what = "an async cache on a port never open";
            failed_in_time(what, timeout, BackendFailure::Unavailable, took, result);
            // Back once the server is.
            server.restart();
            redis_test_support::succeeds_within(Duration::from_secs(10), "a get", || {
                tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(get(&cache, "k"))
                })
            });
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_calls_on_a_frozen_server_time_out_in_time() {
        for timeout in TIMEOUTS {
            let server = RedisServer::start();
            let cache = AsyncRedisCache::new(config(server.url(), timeout))
                .await
                .expect("a cache");
            cache.set("k", "v".to_string(), Ttl::Never).await.unwrap();
            server.freeze();
            for i in 0..CALLS {
                let (took, result) = timed(get(&cache, "k")).await;
                let what = format!("async get #{i} on a frozen server");
                failed_in_time(&what, timeout, BackendFailure::Timeout, took, result);
            }
            let (took, result) = timed(AsyncRedisCache::new(config(server.url(), timeout))).await;
            let what = "an async cache on a frozen server";
            failed_in_time(what, timeout, BackendFailure::Timeout, took, result);
            server.thaw();
            let got = get(&cache, "k").await;
            assert_eq!(got.unwrap().as_deref(), Some("v"));
        }
    }

    /// A socket that listens and never accepts: connecting hangs once its backlog is
    /// full, and before that nothing is ever answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_calls_on_a_socket_that_never_answers_time_out_in_time() {
        for timeout in TIMEOUTS {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let url = format!("redis://{}/", listener.local_addr().unwrap());
            let (took, result) = timed(AsyncRedisCache::new(config(url, timeout))).await;
            let what = "an async cache on a socket that never answers";
            failed_in_time(what, timeout, BackendFailure::Timeout, took, result);
        }
    }
}
