//! Faults on real servers: an unreachable server at construction, a server killed mid-run
//! and restarted, a server frozen with SIGSTOP, and a cluster node down or frozen. Each test
//! owns its servers, since it breaks them.

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use cache_core::{Cache, CacheError, Ttl};
use cache_redis::{RedisCache, RedisConfig};
#[cfg(feature = "cluster")]
use redis_test_support::RedisCluster;
use redis_test_support::{unique_prefix, RedisServer};

/// The timeout of every fault test; errors must come within it plus this slack.
const TIMEOUT: Duration = Duration::from_millis(500);
const SLACK: Duration = Duration::from_millis(1500);

fn config(base: RedisConfig) -> RedisConfig {
    base.key_prefix(unique_prefix("faults"))
        .timeouts(TIMEOUT)
        .pool_size(4)
}

fn cache_on(server: &RedisServer) -> RedisCache {
    RedisCache::new(config(RedisConfig::new(server.url()))).expect("a cache")
}

fn get(cache: &RedisCache, key: &str) -> Result<Option<String>, CacheError> {
    Cache::<String>::get(cache, key)
}

fn set(cache: &RedisCache, key: &str, value: &str) -> Result<bool, CacheError> {
    cache.set(key, value.to_string(), Ttl::Never)
}

/// Runs `op`, checks that it fails as a backend error naming `server` within the bound, and
/// returns the error's text.
#[track_caller]
fn fails_in_time<T: std::fmt::Debug>(
    server: &str,
    bound: Duration,
    op: impl FnOnce() -> Result<T, CacheError>,
) -> String {
    let start = Instant::now();
    let result = op();
    let took = start.elapsed();
    let err = result.expect_err("the operation must fail");
    assert!(took < bound, "failed only after {took:?}: {err}");
    assert!(matches!(err, CacheError::Backend { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(server), "the error names the server: {text}");
    text
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn unreachable_server_at_construction_is_a_clear_error() {
    let port = closed_port();
    let addr = format!("127.0.0.1:{port}");
    let text = fails_in_time(&addr, TIMEOUT + SLACK, || {
        RedisCache::new(config(RedisConfig::new(format!("redis://{addr}/"))))
    });
    assert!(text.contains("connecting"), "{text}");
    #[cfg(feature = "cluster")]
    {
        let text = fails_in_time(&addr, TIMEOUT + SLACK, || {
            RedisCache::new(config(RedisConfig::cluster([format!("redis://{addr}/")])))
        });
        assert!(text.contains("cluster"), "{text}");
    }
}

#[test]
fn malformed_urls_are_config_errors() {
    for url in ["", "localhost:6379", "redis://host:notaport/", "http://x/"] {
        let err = RedisCache::open(url).expect_err(url);
        assert!(matches!(err, CacheError::Config { .. }), "{url}: {err}");
    }
}

#[test]
fn killed_server_gives_errors_then_the_same_cache_recovers_after_restart() {
    let server = RedisServer::start();
    let cache = cache_on(&server);
    set(&cache, "k", "v").unwrap();
    assert_eq!(get(&cache, "k").unwrap().as_deref(), Some("v"));

    server.kill();
    let addr = server.addr();
    let bound = 2 * TIMEOUT + SLACK;
    let text = fails_in_time(&addr, bound, || get(&cache, "k"));
    assert!(
        text.contains("GET"),
        "the error names the operation: {text}"
    );
    fails_in_time(&addr, bound, || set(&cache, "k", "v2"));
    fails_in_time(&addr, bound, || cache.delete_pattern("k*"));
    fails_in_time(&addr, bound, || cache.clear());
    fails_in_time(&addr, bound, || {
        Cache::<String>::get_many(&cache, &["a", "b"])
    });

    server.restart();
    // Nothing is persisted, but the cache works again without being rebuilt.
    assert_eq!(get(&cache, "k").unwrap(), None);
    set(&cache, "k", "v3").unwrap();
    assert_eq!(get(&cache, "k").unwrap().as_deref(), Some("v3"));
    assert_eq!(cache.delete_pattern("*").unwrap(), 1);
}

#[test]
fn stale_pooled_connections_are_retried_once_after_a_restart() {
    let server = RedisServer::start();
    let cache =
        RedisCache::new(config(RedisConfig::new(server.url())).min_idle(Some(4))).expect("a cache");
    // Fill the pool: four threads hold four connections at once.
    std::thread::scope(|s| {
        for t in 0..4 {
            let cache = &cache;
            s.spawn(move || {
                for i in 0..50 {
                    set(cache, &format!("{t}:{i}"), "v").unwrap();
                }
            });
        }
    });
    server.kill();
    server.restart();
    // Every pooled connection is now stale; each operation still succeeds, on its retry.
    for i in 0..10 {
        set(&cache, &format!("after:{i}"), "v").expect("a retried set");
        assert_eq!(
            get(&cache, &format!("after:{i}")).unwrap().as_deref(),
            Some("v")
        );
    }
    assert!(cache.exists("after:0").unwrap());
}

#[test]
fn frozen_server_gives_errors_within_the_timeout_and_no_hang() {
    let server = RedisServer::start();
    let cache = cache_on(&server);
    set(&cache, "k", "v").unwrap();

    server.freeze();
    let addr = server.addr();
    let bound = TIMEOUT + SLACK;
    fails_in_time(&addr, bound, || get(&cache, "k"));
    fails_in_time(&addr, bound, || set(&cache, "k", "v2"));
    fails_in_time(&addr, bound, || cache.exists("k"));
    fails_in_time(&addr, bound, || cache.delete_pattern("*"));
    // Building a cache on a frozen server fails in time too (the handshake is bounded).
    fails_in_time(&addr, bound, || {
        RedisCache::new(config(RedisConfig::new(server.url())))
    });

    server.thaw();
    // The replies to the timed-out requests may still arrive; they must never be taken for
    // the answers to later requests.
    for i in 0..20 {
        let key = format!("after:{i}");
        set(&cache, &key, &key).unwrap();
        assert_eq!(get(&cache, &key).unwrap().as_deref(), Some(key.as_str()));
    }
    // A write that timed out may still have been applied once the server woke up.
    let k = get(&cache, "k").unwrap();
    assert!(matches!(k.as_deref(), Some("v" | "v2")), "{k:?}");
}

#[cfg(feature = "cluster")]
#[test]
fn cluster_node_down_or_frozen_errors_its_keys_while_other_slots_keep_working() {
    let cluster = RedisCluster::start(3);
    let cache =
        RedisCache::new(config(RedisConfig::cluster(cluster.urls()))).expect("a cluster cache");
    let keys: Vec<String> = (0..60).map(|i| format!("key:{i}")).collect();
    let owner: Vec<usize> = keys
        .iter()
        .map(|k| cluster.node_of_key(format!("{}{k}", cache.key_prefix()).as_bytes()))
        .collect();
    assert!(owner.contains(&0) && owner.iter().any(|&n| n != 0));
    for k in &keys {
        set(&cache, k, k).unwrap();
    }

    let down = &cluster.nodes()[0];
    down.kill();
    let bound = 3 * TIMEOUT + SLACK;
    for (k, &node) in keys.iter().zip(&owner) {
        if node == 0 {
            let start = Instant::now();
            let err = get(&cache, k).expect_err("a key of the node that is down");
            assert!(start.elapsed() < bound, "took {:?}", start.elapsed());
            assert!(matches!(err, CacheError::Backend { .. }), "{err}");
            assert!(err.to_string().contains("cluster"), "{err}");
        } else {
            assert_eq!(get(&cache, k).unwrap().as_deref(), Some(k.as_str()));
            set(&cache, k, "updated").unwrap();
            assert!(cache.delete(k).unwrap());
        }
    }
    // A batch that touches the node that is down fails as a whole; one that does not works.
    let live: Vec<&str> = keys
        .iter()
        .zip(&owner)
        .filter(|(_, &n)| n != 0)
        .map(|(k, _)| k.as_str())
        .collect();
    assert!(Cache::<String>::get_many(
        &cache,
        &keys.iter().map(String::as_str).collect::<Vec<_>>()
    )
    .is_err());
    Cache::<String>::set_many(
        &cache,
        live.iter().map(|k| (*k, "batch".to_string())).collect(),
        Ttl::Never,
    )
    .unwrap();
    assert_eq!(cache.delete_many(&live).unwrap(), live.len() as u64);
    assert!(cache.clear().is_err(), "clear must visit every primary");

    down.restart();
    cluster.wait_healthy();
    let deadline = Instant::now() + Duration::from_secs(10);
    let first_down = &keys[owner.iter().position(|&n| n == 0).unwrap()];
    while get(&cache, first_down).is_err() {
        assert!(Instant::now() < deadline, "the cache never recovered");
        std::thread::sleep(Duration::from_millis(100));
    }
    set(&cache, first_down, "back").unwrap();
    assert_eq!(get(&cache, first_down).unwrap().as_deref(), Some("back"));
    cache.clear().unwrap();
    assert_eq!(cache.count().unwrap(), 0);

    // A frozen node: its keys error within the timeout (per try), the others keep working.
    let on = |node: usize| &keys[owner.iter().position(|&n| n == node).unwrap()];
    for k in [on(1), on(2)] {
        set(&cache, k, "v").unwrap();
    }
    cluster.nodes()[1].freeze();
    let start = Instant::now();
    let err = get(&cache, on(1)).expect_err("a key of the frozen node");
    let took = start.elapsed();
    cluster.nodes()[1].thaw();
    assert!(took < 2 * TIMEOUT + SLACK, "took {took:?}: {err}");
    assert_eq!(get(&cache, on(2)).unwrap().as_deref(), Some("v"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match get(&cache, on(1)) {
            Ok(v) => break assert_eq!(v.as_deref(), Some("v")),
            Err(e) => assert!(Instant::now() < deadline, "no recovery after thaw: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn url_credentials_and_database_are_honoured() {
    let server = RedisServer::start();
    assert_eq!(
        server
            .query(&["CONFIG", "SET", "requirepass", "s3cret"])
            .expect("a reply of the test server")
            .text(),
        "OK"
    );
    let url = |auth: &str, db: u8| format!("redis://{auth}127.0.0.1:{}/{db}", server.port());
    let open = |auth: &str, db: u8| {
        RedisCache::new(config(RedisConfig::new(url(auth, db))).key_prefix("same:"))
    };
    let err = open("", 0).expect_err("no password");
    assert!(matches!(err, CacheError::Backend { .. }), "{err}");
    let err = open("default:wrong@", 0).expect_err("a wrong password");
    assert!(
        !err.to_string().contains("wrong"),
        "no password in messages: {err}"
    );

    let db0 = open("default:s3cret@", 0).unwrap();
    let db3 = open(":s3cret@", 3).unwrap();
    set(&db3, "k", "in db 3").unwrap();
    assert_eq!(get(&db0, "k").unwrap(), None, "databases are separate");
    assert_eq!(get(&db3, "k").unwrap().as_deref(), Some("in db 3"));
    db0.clear().unwrap();
    assert_eq!(db3.count().unwrap(), 1);
}
