//! Single flight across processes on one directory: the test binary re-invokes itself (the
//! `child` test does a child's part when `cache_conformance::flights` says so) and the
//! checks live in `cache_conformance::flights`, shared with the Redis backend.

use std::process::Command;

use cache_conformance::flights;
use cache_core::{Cache, CacheError, CacheExt, Ttl};
use cache_file::FileBasedCache;

const DIR_ENV: &str = "CACHE_FILE_FLIGHT_DIR";

fn spawner(dir: &std::path::Path) -> impl Fn() -> Command + '_ {
    move || {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "child", "--nocapture", "--test-threads=1", "-q"])
            .env(DIR_ENV, dir);
        cmd
    }
}

/// The children's side; a no-op in an ordinary test run.
#[test]
fn child() {
    if let Some((role, work)) = flights::child_role() {
        let dir = std::env::var(DIR_ENV).expect("the cache directory");
        let cache = FileBasedCache::new(dir, None).expect("open");
        flights::run_child(&role, &work, &cache);
    }
}

#[test]
fn two_processes_of_eight_threads_run_the_loader_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FileBasedCache::new(dir.path(), None).unwrap();
    flights::loader_runs_once_across_processes(&spawner(dir.path()), &cache);
}

#[test]
fn a_failing_loader_runs_once_and_every_process_gets_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FileBasedCache::new(dir.path(), None).unwrap();
    flights::failing_loader_runs_once_across_processes(&spawner(dir.path()), &cache);
    // The flight is over: its lock file is gone, and the next call loads anew.
    let got = cache
        .try_get_or_insert_with(flights::KEY, Ttl::Never, || {
            Ok::<_, CacheError>("ok".to_string())
        })
        .unwrap();
    assert_eq!(got, "ok");
    let lock = cache.entry_path(flights::KEY).with_extension("flight");
    assert!(
        std::fs::symlink_metadata(&lock).is_err(),
        "no lock file is left"
    );
}

#[test]
fn a_holder_killed_mid_load_releases_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FileBasedCache::new(dir.path(), None).unwrap();
    flights::killed_holder_blocks_no_one(&spawner(dir.path()), &cache);
}

/// With `single_flight(false)` two callers that miss together both load: their loaders meet.
#[test]
fn single_flight_off_runs_every_loader() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FileBasedCache::builder(dir.path())
        .single_flight(false)
        .build()
        .unwrap();
    let (to_b, from_a) = std::sync::mpsc::channel::<()>();
    let (to_a, from_b) = std::sync::mpsc::channel::<()>();
    let meet = |tx: std::sync::mpsc::Sender<()>, rx: std::sync::mpsc::Receiver<()>, v: u32| {
        move || {
            tx.send(()).unwrap();
            rx.recv_timeout(std::time::Duration::from_secs(20))
                .expect("the other loader never ran concurrently");
            v
        }
    };
    let (a, b) = (meet(to_b, from_b, 1), meet(to_a, from_a, 2));
    let cache = &cache;
    std::thread::scope(|s| {
        let a = s.spawn(move || cache.get_or_insert_with("k", Ttl::Never, a));
        let b = s.spawn(move || cache.get_or_insert_with("k", Ttl::Never, b));
        let mut got = [a.join().unwrap().unwrap(), b.join().unwrap().unwrap()];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
    assert!(Cache::<u32>::get(cache, "k").unwrap().is_some());
}
