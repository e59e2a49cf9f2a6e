//! Server-assisted invalidation (`near::Invalidations`) on one server and through sentinels:
//! what another client writes under the prefix reaches the sink as the cache key, nothing
//! else does; a flush, a killed listener, a restart, a frozen server, a failover are each
//! reported as a loss, then `invalidate_all` and `connected(true)`, and news flows again;
//! dropping the subscription closes its connection. The cluster's are in
//! `invalidations_cluster.rs`, TLS in `invalidations_tls.rs`.

mod near_common;

use std::sync::Arc;
use std::time::Duration;

use cache_core::near::Invalidations;
use cache_core::{AsyncCache, Cache, CacheExt, Ttl};
use cache_redis::{AsyncRedisCache, RedisCache, RedisConfig};
use near_common::{kill_listener, wait_gone, Event, Recorder};
use redis_test_support::{
    shared_server, succeeds_within, unique_prefix, RedisServer, SentinelGroup,
};

/// Short timeouts: the heartbeat and the loss of a frozen server follow them.
fn config(url: String, prefix: &str) -> RedisConfig {
    RedisConfig::new(url)
        .key_prefix(prefix)
        .timeouts(Duration::from_millis(300))
        .pool_size(2)
}

fn cache_on(server: &RedisServer, prefix: &str) -> RedisCache {
    RedisCache::new(config(server.url(), prefix)).expect("a cache on the test server")
}

#[test]
fn writes_under_the_prefix_reach_the_sink_as_cache_keys() {
    let server = shared_server();
    let prefix = unique_prefix("inv");
    let cache = cache_on(server, &prefix);
    let sink = Arc::new(Recorder::default());
    let _subscription = cache.subscribe(sink.clone()).expect("subscribed");
    // Up before `subscribe` returned, after an invalidate_all.
    assert_eq!(sink.events(), [Event::All, Event::Up(true)]);

    let other = cache_on(server, &prefix);
    let mark = sink.mark();
    other.set("a", 1u64, Ttl::Never).unwrap();
    sink.wait_key(mark, "a");

    let mark = sink.mark();
    assert!(Cache::<u64>::delete(&other, "a").unwrap());
    sink.wait_key(mark, "a");

    let mark = sink.mark();
    other.set("b", 1u64, Ttl::Never).unwrap();
    sink.wait_key(mark, "b");
    let mark = sink.mark();
    assert!(Cache::<u64>::touch(&other, "b", Ttl::After(Duration::from_secs(60))).unwrap());
    sink.wait_key(mark, "b");

    // A raw EXPIRE, a key that expires by itself, an INCRBY of a counter, a key with a
    // newline, a key of another version of the cache.
    let mark = sink.mark();
    let raw_b = format!("{prefix}b");
    server.query(&["EXPIRE", raw_b.as_str(), "100"]).unwrap();
    sink.wait_key(mark, "b");
    let mark = sink.mark();
    other
        .set("short", 1u64, Ttl::After(Duration::from_millis(20)))
        .unwrap();
    sink.wait_key(mark, "short");
    let mark = sink.mark();
    sink.wait_for(mark, "the expiry of \"short\"", |e| {
        e.contains(&Event::Key("short".to_owned()))
    });
    let mark = sink.mark();
    Cache::<i64>::incr(&other, "n", 2).unwrap();
    sink.wait_key(mark, "n");
    let mark = sink.mark();
    other.set("line\nbreak", 1u64, Ttl::Never).unwrap();
    sink.wait_key(mark, "line\nbreak");
    let v2 = RedisCache::new(config(server.url(), &prefix).version(2)).unwrap();
    let mark = sink.mark();
    v2.set("c", 1u64, Ttl::Never).unwrap();
    sink.wait_key(mark, "c");

    // Keys outside the prefix are not reported: the marker written after them arrives
    // alone (news of one connection's writes comes in order).
    let mark = sink.mark();
    let outside = unique_prefix("elsewhere");
    server.query(&["SET", &format!("{outside}x"), "1"]).unwrap();
    other.set("marker", 1u64, Ttl::Never).unwrap();
    sink.wait_key(mark, "marker");
    assert_eq!(sink.since(mark), [Event::Key("marker".to_owned())]);

    // A single-flight load reports the key it stores, not its lock.
    let mark = sink.mark();
    let v: u64 = other
        .get_or_insert_with("loaded", Ttl::Never, || 7u64)
        .unwrap();
    assert_eq!(v, 7);
    other.set("marker", 2u64, Ttl::Never).unwrap();
    sink.wait_key(mark, "marker");
    assert!(
        sink.since(mark)
            .iter()
            .all(|e| matches!(e, Event::Key(k) if k == "loaded" || k == "marker")),
        "{:?}",
        sink.since(mark)
    );

    // A key under the prefix that no cache key maps to (not UTF-8): every key.
    let mark = sink.mark();
    let mut odd = prefix.as_bytes().to_vec();
    odd.push(0xfe);
    server.query(&[&b"SET"[..], &odd, b"1"]).unwrap();
    sink.wait_for(mark, "invalidate_all for an unmappable key", |e| {
        e.contains(&Event::All)
    });
    // The channel never went down.
    assert!(!sink.events().contains(&Event::Up(false)));
}

#[test]
fn a_flush_invalidates_every_key() {
    let server = RedisServer::start();
    let prefix = unique_prefix("flush");
    let cache = cache_on(&server, &prefix);
    let sink = Arc::new(Recorder::default());
    let _subscription = cache.subscribe(sink.clone()).expect("subscribed");
    cache.set("a", 1u64, Ttl::Never).unwrap();
    for flush in ["FLUSHDB", "FLUSHALL"] {
        let mark = sink.mark();
        server.query(&[flush]).unwrap();
        sink.wait_for(mark, flush, |e| e.contains(&Event::All));
    }
    assert!(!sink.events().contains(&Event::Up(false)));
}

#[test]
fn an_empty_prefix_tracks_every_key() {
    let server = RedisServer::start();
    let cache = cache_on(&server, "");
    let sink = Arc::new(Recorder::default());
    let _subscription = cache.subscribe(sink.clone()).expect("subscribed");
    let mark = sink.mark();
    server.query(&["SET", "anything:at:all", "1"]).unwrap();
    sink.wait_key(mark, "anything:at:all");
}

#[test]
fn a_killed_listener_is_reported_and_replaced() {
    let server = shared_server();
    let prefix = unique_prefix("kill");
    let cache = cache_on(server, &prefix);
    let sink = Arc::new(Recorder::default());
    let _subscription = cache.subscribe(sink.clone()).expect("subscribed");
    for round in 0..2 {
        let mark = sink.mark();
        kill_listener(server, &prefix);
        sink.wait_recovery(mark);
        assert_eq!(sink.since(mark)[0], Event::Up(false), "round {round}");
        let mark = sink.mark();
        cache.set("after", round as u64, Ttl::Never).unwrap();
        sink.wait_key(mark, "after");
    }
}

#[test]
fn a_restart_on_the_same_port_is_reported_and_followed() {
    let server = RedisServer::start();
    let prefix = unique_prefix("restart");
    let cache = cache_on(&server, &prefix);
    let sink = Arc::new(Recorder::default());
    let _subscription = cache.subscribe(sink.clone()).expect("subscribed");
    let mark = sink.mark();
    server.kill();
    sink.wait_for(mark, "the loss", |e| e.contains(&Event::Up(false)));
    // Down stays down while the server is: no `Up(true)` without a server.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !sink.since(mark).contains(&Event::Up(true)),
        "{:?}",
        sink.since(mark)
    );
    server.restart();
    sink.wait_recovery(mark);
    let mark = sink.mark();
    succeeds_within(near_common::NEWS, "a write after the restart", || {
        cache.set("after", 1u64, Ttl::Never)
    });
    sink.wait_key(mark, "after");
}

#[test]
fn a_frozen_server_is_a_loss_within_the_heartbeat() {
    let server = RedisServer::start();
    let prefix = unique_prefix("frozen");
    let cache = cache_on(&server, &prefix);
    let sink = Arc::new(Recorder::default());
    let _subscription = cache.subscribe(sink.clone()).expect("subscribed");
    let mark = sink.mark();
    server.freeze();
    // A PING after 300 ms of silence, unanswered for 300 ms more: a loss.
    sink.wait_for(mark, "the loss of a frozen server", |e| {
        e.contains(&Event::Up(false))
    });
    server.thaw();
    sink.wait_recovery(mark);
    let mark = sink.mark();
    succeeds_within(near_common::NEWS, "a write after the thaw", || {
        cache.set("after", 1u64, Ttl::Never)
    });
    sink.wait_key(mark, "after");
}

#[test]
fn dropping_the_subscription_closes_its_connection() {
    let server = shared_server();
    let prefix = unique_prefix("drop");
    let cache = cache_on(server, &prefix);
    let sink = Arc::new(Recorder::default());
    let subscription = cache.subscribe(sink.clone()).expect("subscribed");
    let name = format!("near:{prefix}");
    assert_eq!(near_common::clients_named(server, &name).len(), 1);
    drop(subscription);
    let mark = sink.mark();
    wait_gone(server, &name);
    cache.set("after", 1u64, Ttl::Never).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Nothing after the drop, not even a `connected(false)`.
    assert_eq!(sink.since(mark), []);
    // Two subscriptions of one cache are two listeners.
    let a = cache.subscribe(Arc::new(Recorder::default())).unwrap();
    let b = cache.subscribe(Arc::new(Recorder::default())).unwrap();
    assert_eq!(near_common::clients_named(server, &name).len(), 2);
    drop((a, b));
    wait_gone(server, &name);
}

#[test]
fn an_unreachable_server_is_an_error_at_subscribe() {
    let server = RedisServer::start();
    let cache = cache_on(&server, "gone:");
    server.kill();
    let err = cache
        .subscribe(Arc::new(Recorder::default()))
        .expect_err("no server");
    assert!(err.is_unavailable(), "{err:#}");
    assert!(err.to_string().contains("invalidations"), "{err}");
}

#[test]
fn the_async_cache_hears_the_blocking_one_and_itself() {
    let server = shared_server();
    let prefix = unique_prefix("async");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cache = rt
        .block_on(AsyncRedisCache::new(config(server.url(), &prefix)))
        .expect("an async cache");
    let sink = Arc::new(Recorder::default());
    let _subscription = cache.subscribe(sink.clone()).expect("subscribed");
    let blocking = cache_on(server, &prefix);
    let mark = sink.mark();
    blocking.set("from-blocking", 1u64, Ttl::Never).unwrap();
    sink.wait_key(mark, "from-blocking");
    let mark = sink.mark();
    rt.block_on(AsyncCache::<u64>::set(&cache, "from-async", 1, Ttl::Never))
        .unwrap();
    sink.wait_key(mark, "from-async");
    // And the blocking cache hears the async one.
    let blocking_sink = Arc::new(Recorder::default());
    let blocking_subscription = blocking.subscribe(blocking_sink.clone()).unwrap();
    let mark = blocking_sink.mark();
    rt.block_on(AsyncCache::<u64>::delete(&cache, "from-blocking"))
        .unwrap();
    blocking_sink.wait_key(mark, "from-blocking");
    drop(blocking_subscription);
    // The async cache's listener is replaced after a kill too.
    let mark = sink.mark();
    kill_listener(server, &prefix);
    sink.wait_for(mark, "the async cache's recovery", near_common::recovered);
}

fn sentinel_cache(group: &SentinelGroup, prefix: &str) -> RedisCache {
    let config = RedisConfig::sentinel(group.sentinel_urls(), SentinelGroup::MASTER_NAME)
        .key_prefix(prefix)
        .timeouts(Duration::from_millis(500))
        .pool_size(2);
    RedisCache::new(config).expect("a cache on the sentinels' primary")
}

/// A forced failover (`SENTINEL FAILOVER`) demotes a primary that stays up and still
/// answers `PING`s: the listener on it is lost all the same, because Sentinel kills the
/// normal and pub/sub clients of a server it reconfigures (`CLIENT KILL TYPE pubsub`):
/// the listener does not check the role itself, so `connected(false)` here can only come
/// from that kill. The new listener is on the new primary, and hears writes there.
#[test]
fn a_sentinel_failover_moves_the_listener_to_the_new_primary() {
    let group = SentinelGroup::start(1, 3);
    let prefix = unique_prefix("sentinel");
    let cache = sentinel_cache(&group, &prefix);
    let sink = Arc::new(Recorder::default());
    let _subscription = cache.subscribe(sink.clone()).expect("subscribed");
    let name = format!("near:{prefix}");
    let old = group.primary();
    assert_eq!(
        near_common::clients_named(&group.servers()[old], &name).len(),
        1
    );

    let mark = sink.mark();
    succeeds_within(near_common::NEWS, "SENTINEL FAILOVER", || {
        group.sentinels()[0].query(&["SENTINEL", "FAILOVER", SentinelGroup::MASTER_NAME])
    });
    let new = group.wait_for_promotion(old);
    sink.wait_recovery(mark);
    succeeds_within(near_common::NEWS, "the listener on the new primary", || {
        match near_common::clients_named(&group.servers()[new], &name).len() {
            1 => Ok(()),
            n => Err(format!("{n} listeners on the new primary")),
        }
    });
    let mark = sink.mark();
    succeeds_within(near_common::NEWS, "a write after the failover", || {
        cache.set("after", 1u64, Ttl::Never)
    });
    sink.wait_key(mark, "after");

    // A killed primary: the connection drops, and the listener follows the promotion.
    let mark = sink.mark();
    group.servers()[new].kill();
    sink.wait_for(mark, "the loss of a killed primary", |e| {
        e.contains(&Event::Up(false))
    });
    let newer = group.wait_for_promotion(new);
    sink.wait_recovery(mark);
    let mark = sink.mark();
    succeeds_within(
        near_common::NEWS,
        "a write after the second failover",
        || cache.set("after", 2u64, Ttl::Never),
    );
    sink.wait_key(mark, "after");
    assert_eq!(
        near_common::clients_named(&group.servers()[newer], &name).len(),
        1
    );
}
