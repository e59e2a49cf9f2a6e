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
        #[cfg(feature = "tokio")]
        if let Some(role) = flights::tasks_role(&role) {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            let cache = std::sync::Arc::new(cache_file::AsyncFileCache::new(cache));
            flights::run_child_tasks(role, &work, cache, &runtime);
            return;
        }
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

/// Single flight through the async API (`AsyncFileCache`): across tasks, across processes,
/// and shared with blocking callers of the same directory.
#[cfg(feature = "tokio")]
mod async_api {
    use super::*;
    use cache_conformance::blocking::OnRuntime;
    use cache_conformance::flights::Api;
    use cache_core::AsyncCache;
    use cache_file::AsyncFileCache;
    use std::sync::Arc;

    fn async_cache(dir: &std::path::Path) -> Arc<dyn AsyncCache<String>> {
        Arc::new(AsyncFileCache::new(FileBasedCache::new(dir, None).unwrap()))
    }

    fn no_lock_is_left(dir: &std::path::Path, key: &str) {
        let cache = FileBasedCache::new(dir, None).unwrap();
        let lock = cache.entry_path(key).with_extension("flight");
        assert!(
            std::fs::symlink_metadata(&lock).is_err(),
            "no lock file is left"
        );
    }

    #[test]
    fn thousand_tasks_on_a_current_thread_runtime_run_the_loader_once() {
        let dir = tempfile::tempdir().unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(flights::thousand_tasks_run_the_loader_once(async_cache(
                dir.path(),
            )));
        no_lock_is_left(dir.path(), "hot");
    }

    #[test]
    fn thousand_tasks_on_a_multi_thread_runtime_run_the_loader_once() {
        let dir = tempfile::tempdir().unwrap();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap()
            .block_on(flights::thousand_tasks_run_the_loader_once(async_cache(
                dir.path(),
            )));
        no_lock_is_left(dir.path(), "hot");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failing_loader_runs_once_and_every_task_gets_its_error() {
        let dir = tempfile::tempdir().unwrap();
        flights::failing_loader_error_reaches_every_task(async_cache(dir.path())).await;
        no_lock_is_left(dir.path(), "hot");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelling_the_leading_task_lets_a_waiter_load_and_leaves_nothing_locked() {
        let dir = tempfile::tempdir().unwrap();
        flights::cancelled_leader_lets_a_waiter_load(async_cache(dir.path())).await;
        no_lock_is_left(dir.path(), "hot");
    }

    /// A blocking cache and an async one on the same directory (two instances: they meet
    /// on the lock file), then on one instance (they meet in its flights).
    #[test]
    fn blocking_and_async_callers_share_one_flight() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let blocking = FileBasedCache::new(dir.path(), None).unwrap();
        flights::blocking_and_async_callers_share_one_flight(
            &blocking,
            async_cache(dir.path()),
            &runtime,
        );
        let dir = tempfile::tempdir().unwrap();
        let blocking = FileBasedCache::new(dir.path(), None).unwrap();
        let same: Arc<dyn AsyncCache<String>> = Arc::new(AsyncFileCache::new(blocking.clone()));
        flights::blocking_and_async_callers_share_one_flight(&blocking, same, &runtime);
        no_lock_is_left(dir.path(), "shared-a");
        no_lock_is_left(dir.path(), "shared-b");
    }

    #[test]
    fn two_processes_of_many_tasks_run_the_loader_once() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileBasedCache::new(dir.path(), None).unwrap();
        flights::loader_runs_once_across_processes_through(
            &spawner(dir.path()),
            &cache,
            [Api::Tasks; 2],
        );
    }

    #[test]
    fn a_blocking_process_and_an_async_one_share_one_flight() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileBasedCache::new(dir.path(), None).unwrap();
        flights::loader_runs_once_across_processes_through(
            &spawner(dir.path()),
            &cache,
            [Api::Threads, Api::Tasks],
        );
    }

    #[test]
    fn a_failing_loader_runs_once_and_every_task_of_both_processes_gets_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileBasedCache::new(dir.path(), None).unwrap();
        flights::failing_loader_runs_once_across_processes_through(
            &spawner(dir.path()),
            &cache,
            [Api::Tasks, Api::Threads],
        );
        no_lock_is_left(dir.path(), flights::KEY);
    }

    /// With `single_flight(false)` two async callers that miss together both load.
    #[test]
    fn single_flight_off_runs_every_loader() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let cache = AsyncFileCache::new(
            FileBasedCache::builder(dir.path())
                .single_flight(false)
                .build()
                .unwrap(),
        );
        let cache = OnRuntime::with_executor(cache, runtime.handle().clone());
        flights::loaders_meet(&cache, &cache);
    }
}
