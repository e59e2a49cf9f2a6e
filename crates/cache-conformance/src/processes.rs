//! Races between processes, for backends that several processes share (a directory, a Redis
//! prefix): two child processes of eight threads each `incr` one key, or `add` keys at the
//! same instant. The test binary re-invokes itself for the children: a backend's test file
//! has a `child` test that calls [`child`] (a no-op in an ordinary run), and tests that call
//! [`incr_across_processes`] and [`add_across_processes`].
//!
//! ```no_run
//! // tests/processes.rs of a backend whose caches open from a directory path.
//! use cache_conformance::processes::{self, Handles};
//! # fn open_my_cache(dir: &str) -> Handles { unimplemented!() }
//!
//! const CHILD: &str = "MY_BACKEND_RACE_CHILD";
//!
//! #[test]
//! fn child() {
//!     // Both handles on one cache in `dir`: as a `Cache<i64>` and as a `Cache<String>`.
//!     processes::child(CHILD, |dir| open_my_cache(dir));
//! }
//!
//! #[test]
//! fn incr_across_processes() {
//!     let dir = "/tmp/my-backend-race";
//!     let (counters, _) = open_my_cache(dir);
//!     processes::incr_across_processes(CHILD, dir, &*counters);
//! }
//! # fn main() {}
//! ```

use std::sync::Barrier;

use cache_core::{Cache, Ttl};

use crate::children::{self, Child};

/// Threads per child process.
pub const THREADS: usize = 8;
/// `incr`s per thread.
pub const INCRS: usize = 1_000;
/// Keys raced by `add`, one after the other.
pub const ADD_ROUNDS: usize = 10;
/// Child processes per race.
pub const CHILDREN: usize = 2;

/// Handles on one shared cache: for counters, and for string values.
pub type Handles = (Box<dyn Cache<i64>>, Box<dyn Cache<String>>);

/// The children's side: when the environment variable `var` is set (by a race), opens the
/// cache that `open` makes from the race's `spec`, waits for the start signal and does its
/// part; otherwise returns at once.
pub fn child(var: &str, open: impl FnOnce(&str) -> Handles) {
    let Ok(env) = std::env::var(var) else {
        return;
    };
    let mut parts = env.splitn(3, '\n');
    let (Some(role), Some(name), Some(spec)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("a bad child specification {env:?}");
    };
    let (counters, strings) = open(spec);
    children::ready_and_wait_for_go();
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (counters, strings, barrier) = (&counters, &strings, &barrier);
            s.spawn(move || match role {
                "incr" => {
                    barrier.wait();
                    for _ in 0..INCRS {
                        counters.incr("count", 1).expect("incr");
                    }
                }
                "add" => {
                    for round in 0..ADD_ROUNDS {
                        barrier.wait();
                        let me = format!("{name}-{t}");
                        let key = format!("race{round}");
                        if strings.add(&key, me.clone(), Ttl::Never).expect("add") {
                            println!("won {key} {me}");
                        }
                    }
                }
                other => panic!("unknown role {other}"),
            });
        }
    });
}

/// Starts [`CHILDREN`] children of this test binary (its test `child_test`) in `role` on
/// `spec`, lets them go at once, and returns what they printed.
fn race(child_test: &str, var: &str, role: &str, spec: &str) -> Vec<String> {
    let children = (0..CHILDREN)
        .map(|i| {
            let mut cmd = children::this_test_binary(child_test);
            cmd.env(var, format!("{role}\np{i}\n{spec}"));
            Child::spawn(cmd)
        })
        .collect();
    children::release_together(children)
}

/// [`CHILDREN`] processes of [`THREADS`] threads each `incr` one key [`INCRS`] times: the
/// count read back through `cache` (on the same storage as `spec`) is exact.
pub fn incr_across_processes(var: &str, spec: &str, cache: &dyn Cache<i64>) {
    incr_across_processes_from(children::CHILD_TEST, var, spec, cache);
}

/// [`incr_across_processes`] with children that run the test `child_test` (its full name).
pub(crate) fn incr_across_processes_from(
    child_test: &str,
    var: &str,
    spec: &str,
    cache: &dyn Cache<i64>,
) {
    race(child_test, var, "incr", spec);
    let total = (CHILDREN * THREADS * INCRS) as i64;
    assert_eq!(cache.get("count").expect("get"), Some(total));
}

/// [`CHILDREN`] processes of [`THREADS`] threads race `add` on each of [`ADD_ROUNDS`] keys:
/// exactly one caller wins each key, and the value `cache` reads is the winner's.
pub fn add_across_processes(var: &str, spec: &str, cache: &dyn Cache<String>) {
    add_across_processes_from(children::CHILD_TEST, var, spec, cache);
}

/// [`add_across_processes`] with children that run the test `child_test` (its full name).
pub(crate) fn add_across_processes_from(
    child_test: &str,
    var: &str,
    spec: &str,
    cache: &dyn Cache<String>,
) {
    let lines = race(child_test, var, "add", spec);
    for round in 0..ADD_ROUNDS {
        let key = format!("race{round}");
        let winners: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("won {key} ")))
            .collect();
        assert_eq!(winners.len(), 1, "{key}: {winners:?}");
        let stored = cache.get(&key).expect("get");
        assert_eq!(stored.as_deref(), Some(winners[0]), "{key}");
    }
}
