//! Single flight across processes on one Redis prefix: the test binary re-invokes itself
//! (the `child` test does a child's part when `cache_conformance::flights` says so) and
//! the checks live in `cache_conformance::flights`, shared with the file backend.

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
            .int()
            .unwrap(),
        1,
        "the failure marker is there for the flight's waiters"
    );
    assert_eq!(Cache::<u32>::delete_pattern(&c, "*").unwrap(), 0);
    assert_eq!(
        shared_server()
            .query(&[b"EXISTS".as_slice(), &marker])
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
