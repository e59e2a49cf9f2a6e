//! Single flight across processes on one Redis prefix: the test binary re-invokes itself
//! (the `child` test does a child's part when `cache_conformance::flights` says so) and
//! the checks live in `cache_conformance::flights`, shared with the file backend; with
//! feature `tokio`, the same through `AsyncRedisCache` (children of many tasks, a blocking
//! child beside an async one) and single flight across the tasks of one process.

use std::process::Command;
use std::time::Duration;

use cache_conformance::flights;
use cache_core::{Cache, CacheError, CacheExt, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use redis_test_support::{shared_server, unique_prefix};

/// The server's URL and the prefix, for the children.
const WHERE_ENV: &str = "CACHE_REDIS_FLIGHT";

/// A short lease, for the test of a holder killed mid-load: the survivor waits that long at
/// most, and the test checks it is still waiting 300 ms after the holder started loading.
const SHORT_LEASE: Duration = Duration::from_secs(3);

fn config(url: &str, prefix: &str) -> RedisConfig {
    RedisConfig::new(url).key_prefix(prefix)
}

fn spawner(prefix: &str) -> impl Fn() -> Command + '_ {
    move || {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "child", "--nocapture", "--test-threads=1", "-q"])
            .env(WHERE_ENV, format!("{}\n{prefix}", shared_server().url()));
        cmd
    }
}

/// The children's side; a no-op in an ordinary test run.
#[test]
fn child() {
    if let Some((role, work)) = flights::child_role() {
        let spec = std::env::var(WHERE_ENV).expect("the server and prefix");
        let (url, prefix) = spec.split_once('\n').expect("url and prefix");
        let mut config = config(url, prefix);
        if role == "hang" {
            config = config.flight_lease(SHORT_LEASE);
        }
        #[cfg(feature = "tokio")]
        if let Some(role) = flights::tasks_role(&role) {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            let cache = runtime
                .block_on(cache_redis::AsyncRedisCache::new(config))
                .expect("a cache on the test server");
            flights::run_child_tasks(role, &work, std::sync::Arc::new(cache), &runtime);
            return;
        }
        let cache = RedisCache::new(config).expect("a cache on the test server");
        flights::run_child(&role, &work, &cache);
    }
}

fn cache(prefix: &str) -> RedisCache {
    RedisCache::new(config(&shared_server().url(), prefix)).unwrap()
}

#[test]
fn two_processes_of_eight_threads_run_the_loader_once() {
    let prefix = unique_prefix("flight-ok");
    flights::loader_runs_once_across_processes(&spawner(&prefix), &cache(&prefix));
}

#[test]
fn a_failing_loader_runs_once_and_every_process_gets_its_error() {
    let prefix = unique_prefix("flight-fail");
    let c = cache(&prefix);
    flights::failing_loader_runs_once_across_processes(&spawner(&prefix), &c);
    // The next call after that flight loads anew, over the failure marker.
    let got = c
        .try_get_or_insert_with(flights::KEY, Ttl::Never, || {
            Ok::<_, CacheError>("ok".to_string())
        })
        .unwrap();
    assert_eq!(got, "ok");
}

#[test]
fn a_holder_killed_mid_load_blocks_others_for_its_lease_only() {
    let prefix = unique_prefix("flight-kill");
    flights::killed_holder_blocks_no_one(&spawner(&prefix), &cache(&prefix));
}

/// A lease that runs out mid-load lets a waiter (here another instance, as another process
/// would) take the lock and load too, as the rustdoc of `flight_lease` says; both callers
/// get a value, one of them is stored, and no lock is left behind.
#[test]
fn a_lease_that_expires_mid_load_lets_one_waiter_load_too() {
    let prefix = unique_prefix("flight-lease");
    let short = || {
        RedisCache::new(
            config(&shared_server().url(), &prefix).flight_lease(Duration::from_millis(200)),
        )
        .unwrap()
    };
    flights::loaders_meet(&short(), &short());
    let lock = [prefix.as_bytes(), b"\xFFflight:meet"].concat();
    assert_eq!(
        shared_server()
            .query(&[b"EXISTS".as_slice(), &lock])
            .expect("a reply of the test server")
            .int()
            .unwrap(),
        0,
        "no lock is left"
    );
}

/// With `single_flight(false)` two callers that miss together both load.
#[test]
fn single_flight_off_runs_every_loader() {
    let prefix = unique_prefix("flight-off");
    let c = RedisCache::new(config(&shared_server().url(), &prefix).single_flight(false)).unwrap();
    flights::loaders_meet(&c, &c);
}

/// Lock keys and failure markers live under the prefix but are no cache key: a pattern
/// delete never counts or removes them.
#[test]
fn flight_keys_are_invisible_to_patterns() {
    let prefix = unique_prefix("flight-keys");
    let c = cache(&prefix);
    let err = c
        .try_get_or_insert_with("k", Ttl::Never, || Err::<u32, _>("down"))
        .unwrap_err();
    assert!(format!("{err:#}").contains("down"), "{err:#}");
    let marker = [prefix.as_bytes(), b"\xFFflight:k"].concat();
    assert_eq!(
        shared_server()
            .query(&[b"EXISTS".as_slice(), &marker])
            .expect("a reply of the test server")
            .int()
            .unwrap(),
        1,
        "the failure marker is there for the flight's waiters"
    );
    assert_eq!(Cache::<u32>::delete_pattern(&c, "*").unwrap(), 0);
    assert_eq!(
        shared_server()
            .query(&[b"EXISTS".as_slice(), &marker])
            .expect("a reply of the test server")
            .int()
            .unwrap(),
        1
    );
}

/// A lease too long for Redis's `PX` is capped, not refused; a zero lease is a
/// configuration error.
#[test]
fn lease_bounds() {
    let prefix = unique_prefix("flight-lease-bounds");
    let c = RedisCache::new(config(&shared_server().url(), &prefix).flight_lease(Duration::MAX))
        .unwrap();
    assert_eq!(c.get_or_insert_with("k", Ttl::Never, || 5u32).unwrap(), 5);
    let err = RedisCache::new(config(&shared_server().url(), &prefix).flight_lease(Duration::ZERO))
        .unwrap_err();
    assert!(err.to_string().contains("flight_lease"), "{err}");
}

/// Single flight through the async API (`AsyncRedisCache`): across tasks, across processes,
/// and shared with blocking callers of the same prefix.
#[cfg(feature = "tokio")]
mod async_api {
    use super::*;
    use cache_conformance::blocking::OnRuntime;
    use cache_conformance::flights::Api;
    use cache_core::AsyncCache;
    use cache_redis::AsyncRedisCache;
    use std::sync::Arc;

    async fn async_cache(config: RedisConfig) -> Arc<dyn AsyncCache<String>> {
        Arc::new(AsyncRedisCache::new(config).await.unwrap())
    }

    fn no_lock_is_left(prefix: &str, key: &str) {
        let lock = [prefix.as_bytes(), b"\xFFflight:", key.as_bytes()].concat();
        let exists = shared_server()
            .query(&[b"EXISTS".as_slice(), &lock])
            .expect("a reply of the test server")
            .int();
        assert_eq!(exists.unwrap(), 0, "no lock is left");
    }

    fn thousand_tasks_on(runtime: tokio::runtime::Runtime) {
        let prefix = unique_prefix("aflight-1000");
        runtime.block_on(async {
            let cache = async_cache(config(&shared_server().url(), &prefix)).await;
            flights::thousand_tasks_run_the_loader_once(cache).await;
        });
        no_lock_is_left(&prefix, "hot");
    }

    #[test]
    fn thousand_tasks_on_a_current_thread_runtime_run_the_loader_once() {
        thousand_tasks_on(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        );
    }

    #[test]
    fn thousand_tasks_on_a_multi_thread_runtime_run_the_loader_once() {
        thousand_tasks_on(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .unwrap(),
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failing_loader_runs_once_and_every_task_gets_its_error() {
        let prefix = unique_prefix("aflight-fail");
        let cache = async_cache(config(&shared_server().url(), &prefix)).await;
        flights::failing_loader_error_reaches_every_task(cache).await;
        no_lock_is_left(&prefix, "hot");
    }

    /// With a lease of an hour, only the cancelled leader's release lets the waiter in within
    /// the case's bound.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelling_the_leading_task_releases_its_lock_and_a_waiter_loads() {
        let prefix = unique_prefix("aflight-cancel");
        let long = config(&shared_server().url(), &prefix).flight_lease(Duration::from_secs(3600));
        flights::cancelled_leader_lets_a_waiter_load(async_cache(long).await).await;
        no_lock_is_left(&prefix, "hot");
    }

    #[test]
    fn blocking_and_async_callers_share_one_flight() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let prefix = unique_prefix("aflight-mixed");
        let cache = runtime.block_on(async_cache(config(&shared_server().url(), &prefix)));
        flights::blocking_and_async_callers_share_one_flight(
            &super::cache(&prefix),
            cache,
            &runtime,
        );
        no_lock_is_left(&prefix, "shared-a");
        no_lock_is_left(&prefix, "shared-b");
    }

    #[test]
    fn two_processes_of_many_tasks_run_the_loader_once() {
        let prefix = unique_prefix("aflight-ok");
        flights::loader_runs_once_across_processes_through(
            &spawner(&prefix),
            &cache(&prefix),
            [Api::Tasks; 2],
        );
    }

    #[test]
    fn a_blocking_process_and_an_async_one_share_one_flight() {
        let prefix = unique_prefix("aflight-procs");
        flights::loader_runs_once_across_processes_through(
            &spawner(&prefix),
            &cache(&prefix),
            [Api::Threads, Api::Tasks],
        );
    }

    #[test]
    fn a_failing_loader_runs_once_and_every_task_of_both_processes_gets_its_error() {
        let prefix = unique_prefix("aflight-procs-fail");
        flights::failing_loader_runs_once_across_processes_through(
            &spawner(&prefix),
            &cache(&prefix),
            [Api::Tasks, Api::Threads],
        );
    }

    /// With `single_flight(false)` two async callers that miss together both load.
    #[test]
    fn single_flight_off_runs_every_loader() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let prefix = unique_prefix("aflight-off");
        let cache = runtime
            .block_on(AsyncRedisCache::new(
                config(&shared_server().url(), &prefix).single_flight(false),
            ))
            .unwrap();
        let cache = OnRuntime::with_executor(cache, runtime.handle().clone());
        flights::loaders_meet(&cache, &cache);
    }
}
