//! `add`, `incr`, `touch` and `ttl` as only a real server shows them: counters as plain
//! integers, TTLs set by the script, and races between processes (on a server and on a
//! cluster). The test binary re-invokes itself: the `child` test does a child's part when
//! `CACHE_REDIS_OPS_CHILD` says so, and nothing otherwise.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Barrier;
use std::time::Duration;

use cache_core::{Cache, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use redis_test_support::{shared_cluster, shared_server, unique_prefix, Reply};

const CHILD: &str = "CACHE_REDIS_OPS_CHILD";
const THREADS: usize = 8;
const INCRS: usize = 1_000;
const ADD_ROUNDS: usize = 10;

/// A cache on the URLs `urls` (comma-separated: a cluster when more than one).
fn cache_on(urls: &str, prefix: &str) -> RedisCache {
    let nodes: Vec<&str> = urls.split(',').collect();
    let config = match nodes.as_slice() {
        [one] => RedisConfig::new(*one),
        many => RedisConfig::cluster(many.iter().copied()),
    };
    RedisCache::new(config.key_prefix(prefix).pool_size(THREADS as u32)).expect("a cache")
}

fn server_cache(prefix: &str) -> RedisCache {
    cache_on(&shared_server().url(), prefix)
}

/// The children's side; a no-op in an ordinary test run.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let parts: Vec<&str> = spec.split('\n').collect();
    let [role, urls, prefix, name] = parts[..] else {
        panic!("a bad child spec {spec:?}");
    };
    let cache = cache_on(urls, prefix);
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (cache, barrier) = (&cache, &barrier);
            s.spawn(move || match role {
                "incr" => {
                    barrier.wait();
                    for _ in 0..INCRS {
                        cache.incr("count", 1).expect("incr");
                    }
                }
                "add" => {
                    for round in 0..ADD_ROUNDS {
                        barrier.wait();
                        let me = format!("{name}-{t}");
                        let key = format!("race{round}");
                        if cache.add(&key, me.clone(), Ttl::Never).expect("add") {
                            println!("won {key} {me}");
                        }
                    }
                }
                other => panic!("unknown role {other}"),
            });
        }
    });
}

/// Starts two children in `role` on the cache (`urls`, `prefix`), lets them go at once, and
/// returns their output.
fn race(role: &str, urls: &str, prefix: &str) -> Vec<String> {
    let mut children: Vec<(Child, BufReader<std::process::ChildStdout>)> = (0..2)
        .map(|i| {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child", "--nocapture", "--test-threads=1", "-q"])
                .env(CHILD, format!("{role}\n{urls}\n{prefix}\np{i}"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            while line.trim() != "ready" {
                line.clear();
                assert!(
                    out.read_line(&mut line).unwrap() > 0,
                    "a child did not start"
                );
            }
            (child, out)
        })
        .collect();
    for (child, _) in &mut children {
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    let mut lines = Vec::new();
    for (mut child, out) in children {
        lines.extend(out.lines().map(Result::unwrap));
        assert!(child.wait().unwrap().success(), "a child failed");
    }
    lines
}

fn counts_exactly(urls: &str) {
    let prefix = unique_prefix("incr-procs");
    race("incr", urls, &prefix);
    let cache = cache_on(urls, &prefix);
    let total = (2 * THREADS * INCRS) as i64;
    assert_eq!(Cache::<i64>::get(&cache, "count").unwrap(), Some(total));
}

fn one_add_winner_per_key(urls: &str) {
    let prefix = unique_prefix("add-procs");
    let lines = race("add", urls, &prefix);
    let cache = cache_on(urls, &prefix);
    for round in 0..ADD_ROUNDS {
        let key = format!("race{round}");
        let winners: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("won {key} ")))
            .collect();
        assert_eq!(winners.len(), 1, "{key}: {winners:?}");
        let stored: Option<String> = cache.get(&key).unwrap();
        assert_eq!(stored.as_deref(), Some(winners[0]), "{key}");
    }
}

#[test]
fn two_processes_of_eight_threads_count_exactly_on_a_server() {
    counts_exactly(&shared_server().url());
}

#[test]
fn two_processes_of_eight_threads_count_exactly_on_a_cluster() {
    counts_exactly(&shared_cluster().urls().join(","));
}

#[test]
fn two_processes_racing_add_have_one_winner_per_key_on_a_server() {
    one_add_winner_per_key(&shared_server().url());
}

#[test]
fn two_processes_racing_add_have_one_winner_per_key_on_a_cluster() {
    one_add_winner_per_key(&shared_cluster().urls().join(","));
}

fn raw(args: &[&str]) -> Reply {
    shared_server().query(args)
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
