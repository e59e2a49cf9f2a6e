//! Failover: a sentinel-watched primary is killed (SIGKILL) or frozen (SIGSTOP), a replica
//! is promoted, and the same cache instance works again without being rebuilt (the
//! cluster's is in `cluster_failover.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use cache_core::{Cache, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use redis_test_support::{succeeds_within, unique_prefix, RedisServer, SentinelGroup};

/// How soon after the promotion the cache must work again.
const RECOVERY: Duration = Duration::from_secs(15);

fn config(base: RedisConfig) -> RedisConfig {
    base.key_prefix(unique_prefix("failover"))
        .timeouts(Duration::from_millis(500))
        .pool_size(4)
}

/// What the scenarios need of a cache: the blocking `RedisCache`, or the async one driven
/// from the test's threads (`OnRuntime`), each the same instance throughout.
trait Under: Cache<u64> + Cache<String> + Sync {}

impl<C: Cache<u64> + Cache<String> + Sync> Under for C {}

/// The primary fails by `fault` (SIGKILL, SIGSTOP) while a writer writes and a reader
/// checks: within [`RECOVERY`] of the promotion the same `cache` (on `group`, with key
/// prefix `prefix`) reads and writes again, and no read ever returned a value that was not
/// written.
fn follows_a_failed_primary(
    group: &SentinelGroup,
    cache: &impl Under,
    prefix: &str,
    fault: fn(&RedisServer),
) {
    // A writer keeps writing increasing values to a few keys while a reader checks that
    // every value read was written (a failover may lose the last writes, never invent one).
    let written: Mutex<HashMap<String, Vec<u64>>> = Mutex::new(HashMap::new());
    let stop = AtomicBool::new(false);
    let keys: Vec<String> = (0..4).map(|i| format!("k{i}")).collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = &keys[(n % 4) as usize];
                // Recorded before the write, so the reader never sees an unrecorded value.
                written
                    .lock()
                    .unwrap()
                    .entry(key.clone())
                    .or_default()
                    .push(n);
                let _ = cache.set(key, n, Ttl::Never);
                n += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                for key in &keys {
                    if let Ok(Some(v)) = Cache::<u64>::get(cache, key) {
                        let w = written.lock().unwrap();
                        assert!(
                            w.get(key).is_some_and(|vs| vs.contains(&v)),
                            "{key} read {v}, which was never written"
                        );
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });

        let _stop = StopOnDrop(&stop);
        std::thread::sleep(Duration::from_millis(300));
        let old = group.primary();
        fault(&group.servers()[old]);
        let new = group.wait_for_promotion(old);
        assert_ne!(new, old);
        succeeds_within(RECOVERY, "a write after the failover", || {
            cache.set("after", "failover".to_string(), Ttl::Never)
        });
        let read: Option<String> = succeeds_within(RECOVERY, "a read after the failover", || {
            Cache::<String>::get(cache, "after")
        });
        assert_eq!(read.as_deref(), Some("failover"));
        // Let the reader and writer run on the new primary for a while.
        std::thread::sleep(Duration::from_millis(300));
    });
    // The new primary holds what was written through the cache.
    let raw_key = format!("{prefix}after");
    let primary = &group.servers()[group.primary()];
    assert_eq!(
        primary
            .query(&["EXISTS", raw_key.as_str()])
            .expect("a reply of the test server")
            .int(),
        Some(1)
    );
    assert!(Cache::<String>::exists(cache, "after").unwrap());
}

/// Sets its flag when dropped, also when a check panics: the writer and the reader then
/// stop and their scope ends, so a failed check fails the test instead of hanging it.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A forced failover (`SENTINEL FAILOVER`): the old primary lives on, as a replica of the
/// new one, and the sentinel tells it to drop its clients. `writers` threads wrote through
/// `cache` before; after the demotion, each writes again at once, and every write succeeds
/// at the first call (retried on a connection to the new primary).
fn follows_a_forced_failover(
    group: &SentinelGroup,
    cache: &impl Under,
    prefix: &str,
    writers: u64,
) {
    let write_all = |tag: &str| {
        std::thread::scope(|s| {
            for t in 0..writers {
                s.spawn(move || {
                    for i in 0..20u64 {
                        cache
                            .set(&format!("{tag}{t}:{i}"), i, Ttl::Never)
                            .unwrap_or_else(|e| panic!("a write {tag}the failover: {e:#}"));
                    }
                });
            }
        });
    };
    write_all("before:");
    let old = group.primary();
    // Refused (NOGOODSLAVE) until the sentinel has heard from the replica itself.
    succeeds_within(RECOVERY, "SENTINEL FAILOVER", || {
        // An I/O error is one more reason to try again.
        let reply = group.sentinels()[0]
            .query(&["SENTINEL", "FAILOVER", SentinelGroup::MASTER_NAME])
            .map_err(|e| e.to_string())?;
        match reply.text() {
            ok if ok == "OK" => Ok(()),
            other => Err(other),
        }
    });
    let new = group.wait_for_promotion(old);
    assert_ne!(new, old);
    succeeds_within(RECOVERY, "the old primary's demotion", || {
        // The demoted server drops its clients (the sentinel tells it to): a reset
        // connection is one more reason to ask again.
        let role = group.servers()[old]
            .query(&["ROLE"])
            .map_err(|e| e.to_string())?;
        match role.items().first().map(|r| r.text()) {
            Some(r) if r == "slave" => Ok(()),
            other => Err(format!("role {other:?}")),
        }
    });
    write_all("after:");
    let raw_key = format!("{prefix}after:0:0");
    let primary = &group.servers()[new];
    assert_eq!(
        primary
            .query(&["EXISTS", raw_key.as_str()])
            .expect("a reply of the test server")
            .int(),
        Some(1)
    );
}

fn sentinel_config(group: &SentinelGroup) -> RedisConfig {
    config(RedisConfig::sentinel(
        group.sentinel_urls(),
        SentinelGroup::MASTER_NAME,
    ))
}

#[test]
fn sentinel_failover_is_followed_by_the_same_cache() {
    let group = SentinelGroup::start(1, 3);
    let cache =
        RedisCache::new(sentinel_config(&group)).expect("a cache on the sentinels' primary");
    assert!(format!("{cache:?}").contains("sentinel"), "{cache:?}");
    follows_a_failed_primary(&group, &cache, cache.key_prefix(), RedisServer::kill);
}

/// A frozen primary (SIGSTOP: connections accepted, nothing answered, as behind a network
/// partition) makes requests time out: the pool drops those connections, and the sentinel
/// lookups of their replacements are bounded by the timeouts (the frozen server's `ROLE`
/// check included), so once the sentinels name the promoted replica the same cache works on
/// it.
#[test]
fn the_cache_leaves_a_frozen_primary() {
    let group = SentinelGroup::start(1, 3);
    let cache =
        RedisCache::new(sentinel_config(&group)).expect("a cache on the sentinels' primary");
    follows_a_failed_primary(&group, &cache, cache.key_prefix(), RedisServer::freeze);
}

/// Every pooled connection (four, from four threads at once) went to the demoted server:
/// each write is retried on a fresh connection, to the new primary.
#[test]
fn connections_to_a_demoted_primary_are_replaced_at_once() {
    let group = SentinelGroup::start(1, 1);
    let cache = RedisCache::new(sentinel_config(&group).min_idle(Some(4)))
        .expect("a cache on the sentinels' primary");
    follows_a_forced_failover(&group, &cache, cache.key_prefix(), 4);
}

/// The async cache on a runtime of its own, as a blocking cache the scenarios drive from
/// their threads (each call runs on the calling thread, with the runtime's drivers).
#[cfg(feature = "tokio")]
fn async_cache(
    config: RedisConfig,
) -> (
    tokio::runtime::Runtime,
    cache_conformance::blocking::OnRuntime<cache_redis::AsyncRedisCache, tokio::runtime::Handle>,
    String,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let cache = runtime
        .block_on(cache_redis::AsyncRedisCache::new(config))
        .expect("an async cache on the sentinels' primary");
    assert!(format!("{cache:?}").contains("sentinel"), "{cache:?}");
    let prefix = cache.key_prefix().to_owned();
    let handle = runtime.handle().clone();
    (
        runtime,
        cache_conformance::blocking::OnRuntime::with_executor(cache, handle),
        prefix,
    )
}

/// The async cache follows a killed primary as the blocking one does.
#[cfg(feature = "tokio")]
#[test]
fn sentinel_failover_is_followed_by_the_same_async_cache() {
    let group = SentinelGroup::start(1, 3);
    let (_runtime, cache, prefix) = async_cache(sentinel_config(&group));
    follows_a_failed_primary(&group, &cache, &prefix, RedisServer::kill);
}

/// A frozen primary (SIGSTOP: connections accepted, nothing answered) makes requests time
/// out, not fail: the sentinels are asked again in the background, and once they name the
/// promoted replica the same async cache works on it.
#[cfg(feature = "tokio")]
#[test]
fn the_async_cache_leaves_a_frozen_primary() {
    let group = SentinelGroup::start(1, 3);
    let (_runtime, cache, prefix) = async_cache(sentinel_config(&group));
    follows_a_failed_primary(&group, &cache, &prefix, RedisServer::freeze);
}

/// The async cache's one multiplexed connection went to the demoted server: the four
/// threads' writes fail on it at once, one of them asks the sentinels, and all are retried
/// on the new primary.
#[cfg(feature = "tokio")]
#[test]
fn the_async_cache_leaves_a_demoted_primary_at_once() {
    let group = SentinelGroup::start(1, 1);
    let (_runtime, cache, prefix) = async_cache(sentinel_config(&group));
    follows_a_forced_failover(&group, &cache, &prefix, 4);
}

/// `AsyncRedisCache` connects through the same sentinel lookup: it reaches the primary the
/// blocking cache writes to.
#[cfg(feature = "tokio")]
#[test]
fn the_async_cache_reaches_the_sentinels_primary() {
    use cache_core::AsyncCache;
    use cache_redis::AsyncRedisCache;

    let group = SentinelGroup::start(1, 3);
    let config = sentinel_config(&group);
    let blocking = RedisCache::new(config.clone()).expect("a cache on the primary");
    blocking.set("shared", 7u64, Ttl::Never).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let cache = AsyncRedisCache::new(config).await.expect("an async cache");
        assert_eq!(
            AsyncCache::<u64>::get(&cache, "shared").await.unwrap(),
            Some(7)
        );
        assert!(AsyncCache::<u64>::add(&cache, "new", 1, Ttl::Never)
            .await
            .unwrap());
        assert_eq!(cache.incr("count", 5).await.unwrap(), 5);
    });
    assert_eq!(Cache::<u64>::get(&blocking, "new").unwrap(), Some(1));
    assert_eq!(blocking.incr("count", 1).unwrap(), 6);
}

/// After a forced failover, the async cache's first call on the demoted server looks the
/// primary up again: an `INFO` event (target `cache`) in that call's span, without the key.
#[cfg(feature = "tokio")]
#[test]
fn the_async_cache_tells_when_it_looks_the_primary_up_again() {
    use cache_conformance::observe::Captured;
    let group = SentinelGroup::start(1, 1);
    let (_runtime, cache, prefix) = async_cache(sentinel_config(&group).name("followed"));
    // The writes run on threads of their own: the only global subscriber of this binary.
    let captured = Captured::default();
    captured
        .install_globally()
        .expect("no other global subscriber");
    follows_a_forced_failover(&group, &cache, &prefix, 1);
    let events: Vec<_> = captured
        .events()
        .into_iter()
        .filter(|e| e.fields.get("cache").map(String::as_str) == Some("followed"))
        .collect();
    let looked_up: Vec<_> = events
        .iter()
        .filter(|e| e.name == "primary looked up again")
        .collect();
    assert!(!looked_up.is_empty(), "{events:?}");
    for event in &looked_up {
        assert_eq!(event.level, "INFO");
        assert_eq!(event.target, "cache");
        assert_eq!(event.fields["cache"], "followed");
        assert_eq!(event.parent.as_deref(), Some("cache_op"));
    }
    assert!(!format!("{events:?}").contains("after:0:"), "{events:?}");
}
