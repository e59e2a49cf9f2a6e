//! Single flight across processes on one directory: the test binary re-invokes itself (the
//! `child` test does a child's part when `cache_conformance::flights` says so) and the
//! checks live in `cache_conformance::flights`, shared with the Redis backend.

use std::process::Command;

use cache_conformance::flights;
use cache_core::{CacheError, CacheExt, Ttl};
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

/// With `single_flight(false)` two callers that miss together both load.
#[test]
fn single_flight_off_runs_every_loader() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FileBasedCache::builder(dir.path())
        .single_flight(false)
        .build()
        .unwrap();
    flights::loaders_meet(&cache, &cache);
}
