//! `add`, `incr`, `touch` and `ttl` as only a real server shows them: counters as plain
//! integers, TTLs set by the script, and races between processes (on a server and on a
//! cluster, through the suite's [`cache_conformance::processes`]; the test binary re-invokes
//! itself for the children).

use std::time::Duration;

use cache_conformance::processes::{self, Handles};
use cache_core::{Cache, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use redis_test_support::{shared_server, unique_prefix, Reply};

const CHILD: &str = "CACHE_REDIS_OPS_CHILD";

/// A cache on `urls` (comma-separated: a cluster when more than one) under `prefix`.
fn cache_on(urls: &str, prefix: &str) -> RedisCache {
    let nodes: Vec<&str> = urls.split(',').collect();
    let config = match nodes.as_slice() {
        [one] => RedisConfig::new(*one),
        #[cfg(feature = "cluster")]
        many => RedisConfig::cluster(many.iter().copied()),
        #[cfg(not(feature = "cluster"))]
        many => panic!("a cluster ({many:?}) needs the cluster feature"),
    };
    let threads = processes::THREADS as u32;
    RedisCache::new(config.key_prefix(prefix).pool_size(threads)).expect("a cache")
}

fn server_cache(prefix: &str) -> RedisCache {
    cache_on(&shared_server().url(), prefix)
}

/// A race's spec, `prefix` then `urls`, and the handles a child opens from it.
fn open(spec: &str) -> Handles {
    let (prefix, urls) = spec.split_once('\n').expect("prefix and URLs");
    let cache = cache_on(urls, prefix);
    (Box::new(cache.clone()), Box::new(cache))
}

/// The children's side; a no-op in an ordinary test run.
#[test]
fn child() {
    processes::child(CHILD, open);
}

fn counts_exactly(urls: &str) {
    let spec = format!("{}\n{urls}", unique_prefix("incr-procs"));
    let (counters, _) = open(&spec);
    processes::incr_across_processes(CHILD, &spec, &*counters);
}

fn one_add_winner_per_key(urls: &str) {
    let spec = format!("{}\n{urls}", unique_prefix("add-procs"));
    let (_, strings) = open(&spec);
    processes::add_across_processes(CHILD, &spec, &*strings);
}

#[test]
fn two_processes_of_eight_threads_count_exactly_on_a_server() {
    counts_exactly(&shared_server().url());
}

#[cfg(feature = "cluster")]
#[test]
fn two_processes_of_eight_threads_count_exactly_on_a_cluster() {
    counts_exactly(&redis_test_support::shared_cluster().urls().join(","));
}

#[test]
fn two_processes_racing_add_have_one_winner_per_key_on_a_server() {
    one_add_winner_per_key(&shared_server().url());
}

#[cfg(feature = "cluster")]
#[test]
fn two_processes_racing_add_have_one_winner_per_key_on_a_cluster() {
    one_add_winner_per_key(&redis_test_support::shared_cluster().urls().join(","));
}

fn raw(args: &[&str]) -> Reply {
    shared_server()
        .query(args)
        .expect("a reply of the test server")
}

/// A counter is a plain integer on the server, as `INCRBY` makes it and `redis-cli GET`
/// shows it; one written by another client counts on, and `set::<i64>` writes the same form.
#[test]
fn counters_are_plain_integers_on_the_server() {
    let p = unique_prefix("plain");
    let c = server_cache(&p);
    assert_eq!(c.incr("n", 5).unwrap(), 5);
    assert_eq!(
        raw(&["GET", &format!("{p}n")]),
        Reply::Bulk(Some(b"5".to_vec()))
    );
    raw(&["SET", &format!("{p}other"), "41"]);
    assert_eq!(Cache::<i64>::get(&c, "other").unwrap(), Some(41));
    assert_eq!(c.incr("other", 1).unwrap(), 42);
    c.set("set", -7i64, Ttl::Never).unwrap();
    assert_eq!(
        raw(&["GET", &format!("{p}set")]),
        Reply::Bulk(Some(b"-7".to_vec()))
    );
    assert_eq!(raw(&["INCRBY", &format!("{p}set"), "10"]).int(), Some(3));
    assert_eq!(Cache::<i64>::get(&c, "set").unwrap(), Some(3));
    raw(&["SET", &format!("{p}text"), "twelve"]);
    let err = c.incr("text", 1).unwrap_err();
    assert!(
        matches!(err, cache_core::CacheError::NotACounter { .. }),
        "{err}"
    );
    raw(&["RPUSH", &format!("{p}list"), "x"]);
    let err = c.incr("list", 1).unwrap_err();
    assert!(
        matches!(err, cache_core::CacheError::NotACounter { .. }),
        "{err}"
    );
}

fn pttl(key: &str) -> i64 {
    raw(&["PTTL", key]).int().unwrap()
}

/// With a default TTL, the script gives a new counter that TTL in the same step and leaves an
/// existing counter's TTL alone; `ttl` reads `PTTL`, `Ttl::Never` as `Some(None)`.
#[test]
fn new_counters_take_the_default_ttl_and_keep_it() {
    let p = unique_prefix("ttl");
    let c = RedisCache::new(
        RedisConfig::new(shared_server().url())
            .key_prefix(&p)
            .default_ttl(Duration::from_secs(60)),
    )
    .unwrap();
    assert_eq!(c.incr("n", 1).unwrap(), 1);
    assert!((59_000..=60_000).contains(&pttl(&format!("{p}n"))));
    raw(&["PEXPIRE", &format!("{p}n"), "5000"]);
    assert_eq!(c.incr("n", 1).unwrap(), 2);
    assert!(pttl(&format!("{p}n")) <= 5_000, "the TTL was kept");
    let left = c.ttl("n").unwrap().unwrap().unwrap();
    assert!(left <= Duration::from_secs(5) && left > Duration::from_secs(4));
    c.set("forever", 1i64, Ttl::Never).unwrap();
    assert_eq!(c.incr("forever", 1).unwrap(), 2);
    assert_eq!(pttl(&format!("{p}forever")), -1);
    assert_eq!(
        c.ttl("forever").unwrap(),
        Some(None),
        "Ttl::Never reads Some(None)"
    );
    assert_eq!(c.ttl("absent").unwrap(), None);
    assert!(c.touch("forever", Ttl::Default).unwrap());
    assert!((59_000..=60_000).contains(&pttl(&format!("{p}forever"))));
    assert!(c.touch("forever", Ttl::Never).unwrap());
    assert_eq!(pttl(&format!("{p}forever")), -1);
    assert!(
        c.touch("forever", Ttl::Never).unwrap(),
        "already without a TTL: still true"
    );
    assert!(!c.touch("absent", Ttl::Never).unwrap());
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.sets), (0, 0, 4), "{s:?}");
}

/// The default-TTL script answers exactly on both sides of 2^53 (a Lua number is a double),
/// and refuses what `INCRBY` refuses, leaving the value as it was.
#[test]
fn the_default_ttl_script_counts_exactly_and_refuses_as_incrby_does() {
    let p = unique_prefix("script");
    let c = RedisCache::new(
        RedisConfig::new(shared_server().url())
            .key_prefix(&p)
            .default_ttl(Duration::from_secs(60)),
    )
    .unwrap();
    let big = (1i64 << 53) - 2;
    assert_eq!(c.incr("big", big).unwrap(), big);
    assert_eq!(c.incr("big", 1).unwrap(), big + 1, "below 2^53: an integer");
    assert_eq!(
        c.incr("big", 1).unwrap(),
        big + 2,
        "2^53: the decimal string"
    );
    assert_eq!(c.incr("big", 1).unwrap(), big + 3);
    assert_eq!(c.incr("big", -(big + 3) * 2).unwrap(), -(big + 3));
    assert_eq!(c.incr("max", i64::MAX).unwrap(), i64::MAX);
    assert_eq!(c.incr("min", i64::MIN).unwrap(), i64::MIN);
    assert!((59_000..=60_000).contains(&pttl(&format!("{p}min"))));
    let err = c.incr("max", 1).unwrap_err();
    assert!(
        matches!(err, cache_core::CacheError::CounterOverflow { .. }),
        "{err}"
    );
    assert_eq!(Cache::<i64>::get(&c, "max").unwrap(), Some(i64::MAX));
    c.set("text", "twelve".to_owned(), Ttl::Never).unwrap();
    let err = c.incr("text", 1).unwrap_err();
    assert!(
        matches!(err, cache_core::CacheError::NotACounter { .. }),
        "{err}"
    );
    assert_eq!(
        Cache::<String>::get(&c, "text").unwrap().as_deref(),
        Some("twelve")
    );
    assert_eq!(pttl(&format!("{p}text")), -1, "no TTL was given to it");
    raw(&["RPUSH", &format!("{p}list"), "x"]);
    let err = c.incr("list", 1).unwrap_err();
    assert!(
        matches!(err, cache_core::CacheError::NotACounter { .. }),
        "{err}"
    );
}

/// Scripts go by their hash (`EVALSHA`); a server that does not know them (never loaded, or
/// after `SCRIPT FLUSH`) gets them in full (`EVAL`), with the same keys and arguments.
#[test]
fn scripts_unknown_to_the_server_are_sent_in_full() {
    let server = redis_test_support::RedisServer::start();
    let c = RedisCache::new(
        RedisConfig::new(server.url())
            .key_prefix("scripts:")
            .default_ttl(Duration::from_secs(60)),
    )
    .unwrap();
    for round in 1..=3 {
        server
            .query(&["SCRIPT", "FLUSH"])
            .expect("a reply of the test server");
        assert_eq!(c.incr("n", 5).unwrap(), 5, "a new counter");
        assert!((59_000..=60_000).contains(
            &server
                .query(&["PTTL", "scripts:n"])
                .expect("a reply of the test server")
                .int()
                .unwrap()
        ));
        server
            .query(&["SCRIPT", "FLUSH"])
            .expect("a reply of the test server");
        assert!(c.touch("n", Ttl::Never).unwrap());
        assert_eq!(
            server
                .query(&["PTTL", "scripts:n"])
                .expect("a reply of the test server")
                .int(),
            Some(-1)
        );
        assert!(!c.touch("absent", Ttl::Never).unwrap());
        // Loaded now: by hash.
        assert_eq!(c.incr("m", -1).unwrap(), -round);
        server
            .query(&["DEL", "scripts:n"])
            .expect("a reply of the test server");
    }
}

/// `add` is `SET NX`: it never replaces a value, and stores with the TTL asked.
#[test]
fn add_is_set_nx_with_its_ttl() {
    let p = unique_prefix("add");
    let c = server_cache(&p);
    assert!(c
        .add("k", 1u8, Ttl::After(Duration::from_secs(30)))
        .unwrap());
    assert!((29_000..=30_000).contains(&pttl(&format!("{p}k"))));
    assert!(!c.add("k", 2u8, Ttl::Never).unwrap());
    assert_eq!(Cache::<u8>::get(&c, "k").unwrap(), Some(1));
    assert!(
        (29_000..=30_000).contains(&pttl(&format!("{p}k"))),
        "untouched"
    );
}
