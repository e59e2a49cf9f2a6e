//! Single flight across processes, for backends shared by several processes (a directory, a
//! Redis prefix): the test binary re-invokes itself as child processes that call
//! `get_or_insert_with` on one key, and the parent checks how often the loader ran. (The
//! `incr` and `add` races between processes are in [`processes`](crate::processes).)
//!
//! A backend's test file provides two things: a `#[test] fn child()` that, when
//! [`child_role`] says this process is a child, opens a cache on the shared storage and calls
//! [`run_child`]; and a way to spawn such a child (a [`Command`] that runs the test binary's
//! `child` test with whatever the backend needs to find the storage, in its own environment
//! variables). Each `pub fn` here is then one test.
//!
//! With the `tokio` feature, a child may call through a backend's async API instead
//! ([`Api::Tasks`]: many tasks on one runtime, see `run_child_tasks`), so that the same
//! checks cover async single flight across processes, and a blocking process and an async
//! one sharing one flight. The `async` functions at the end are single flight across the
//! tasks of one process, for any [`cache_core::AsyncCache`].
//!
//! ```no_run
//! use cache_conformance::flights;
//! use std::process::Command;
//!
//! fn spawn() -> Command {
//!     let mut cmd = Command::new(std::env::current_exe().unwrap());
//!     cmd.args(["--exact", "child", "--nocapture", "--test-threads=1", "-q"]);
//!     cmd.env("MY_BACKEND_LOCATION", "...");
//!     cmd
//! }
//!
//! // #[test]
//! fn child() {
//!     if let Some((role, work)) = flights::child_role() {
//!         let cache = cache_memory::InMemoryCache::<String>::new(10, None).unwrap(); // your shared cache
//!         flights::run_child(&role, &work, &cache);
//!     }
//! }
//! ```

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

#[cfg(feature = "tokio")]
use cache_core::{AsyncCache, AsyncCacheExt};
use cache_core::{Cache, CacheError, CacheExt, Ttl};

use crate::children::{self, Child};

/// The environment variable that makes a test binary a child: `role`, a newline, and the
/// work directory (where the loader counts its runs).
pub const ROLE_ENV: &str = "CACHE_FLIGHT_CHILD";

/// The key every child loads.
pub const KEY: &str = "flight:hot";

/// Threads per child process.
pub const THREADS: usize = 8;

/// Tasks per child process calling through the async API ([`Api::Tasks`]).
pub const TASKS: usize = 100;

/// How a child process calls its cache: [`THREADS`] threads on a blocking [`Cache`], or
/// [`TASKS`] tasks of one tokio runtime on an `AsyncCache` (`run_child_tasks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// [`run_child`]: threads, on the blocking API.
    Threads,
    /// `run_child_tasks`: tasks, on the async API.
    Tasks,
}

impl Api {
    /// The callers of one child.
    fn callers(self) -> usize {
        match self {
            Api::Threads => THREADS,
            Api::Tasks => TASKS,
        }
    }
}

/// The suffix of a role played through the async API.
const TASKS_SUFFIX: &str = ":tasks";

/// The role and work directory of this process, if the parent started it as a child.
///
/// ```
/// assert!(cache_conformance::flights::child_role().is_none());
/// ```
pub fn child_role() -> Option<(String, PathBuf)> {
    let spec = std::env::var(ROLE_ENV).ok()?;
    let (role, work) = spec.split_once('\n')?;
    Some((role.to_owned(), PathBuf::from(work)))
}

/// The role to play through the async API (`run_child_tasks`), if the parent asked for
/// [`Api::Tasks`]; `None` for a role of [`run_child`].
///
/// ```
/// use cache_conformance::flights::tasks_role;
/// assert_eq!(tasks_role("load:tasks"), Some("load"));
/// assert_eq!(tasks_role("load"), None);
/// ```
pub fn tasks_role(role: &str) -> Option<&str> {
    role.strip_suffix(TASKS_SUFFIX)
}

/// Appends a line to the file that counts the loader's runs (`O_APPEND`: whole lines from
/// every process).
fn count_run(work: &Path, who: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(work.join("runs"))
        .expect("the runs file");
    f.write_all(format!("{who}\n").as_bytes())
        .expect("counting a run");
}

/// The loader's runs so far, one line each.
fn runs(work: &Path) -> Vec<String> {
    match fs::read_to_string(work.join("runs")) {
        Ok(s) => s.lines().map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    }
}

/// Waits (up to a minute) until `n` children have reached their call.
fn wait_for_callers(work: &Path, n: usize) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let calling = fs::read_dir(work)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("calling-"))
                })
                .count()
            })
            .unwrap_or(0);
        if calling >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("the other process never reached its call");
}

/// What the loader of `role` returns in process `pid`, after its 200 ms.
fn loaded(role: &str, pid: u32) -> Result<String, String> {
    if role == "fail" {
        Err(format!("database down in {pid}"))
    } else {
        Ok(format!("value-{pid}"))
    }
}

/// The line a caller prints for what its call returned.
fn outcome(got: Result<String, CacheError>) -> String {
    match got {
        Ok(v) => format!("value {v}"),
        Err(CacheError::Loader { source, .. }) => format!("error {source}"),
        Err(e) => format!("other {e}"),
    }
}

/// Prints each caller's line.
fn print_lines(lines: Vec<String>) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}").unwrap();
    }
}

/// The child's part. Roles:
/// - `load` / `fail`: print `ready`, wait for a line on stdin, then [`THREADS`] threads call
///   `try_get_or_insert_with(KEY)` with a loader that counts its run, waits until both
///   children are calling, sleeps 200 ms and returns `value-<pid>` (or fails with
///   `database down in <pid>`); each thread prints `value <v>` or `error <message>`.
/// - `hang`: one call whose loader counts its run, prints `loading` and sleeps for ten
///   minutes (the parent kills it).
pub fn run_child(role: &str, work: &Path, cache: &dyn Cache<String>) {
    let pid = std::process::id();
    match role {
        "load" | "fail" => {
            children::ready_and_wait_for_go();
            let barrier = Barrier::new(THREADS);
            let lines: Vec<String> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|i| {
                        let barrier = &barrier;
                        s.spawn(move || {
                            barrier.wait();
                            if i == 0 {
                                fs::write(work.join(format!("calling-{pid}")), b"").unwrap();
                            }
                            outcome(cache.try_get_or_insert_with(KEY, Ttl::Never, || {
                                count_run(work, &pid.to_string());
                                wait_for_callers(work, 2);
                                std::thread::sleep(Duration::from_millis(200));
                                loaded(role, pid)
                            }))
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            print_lines(lines);
        }
        "hang" => {
            let got = cache.get_or_insert_with(KEY, Ttl::Never, || {
                count_run(work, "hang");
                let mut out = std::io::stdout().lock();
                writeln!(out, "loading").unwrap();
                out.flush().unwrap();
                std::thread::sleep(Duration::from_secs(600));
                "from the killed process".to_string()
            });
            panic!("the hanging loader returned: {got:?}");
        }
        other => panic!("unknown role {other}"),
    }
}

/// The child's part through the async API (the role [`tasks_role`] returned): as
/// [`run_child`]'s `load` / `fail`, with [`TASKS`] tasks on `runtime` calling
/// `try_get_or_insert_with` on `cache`, whose loader awaits tokio's timer.
///
/// ```no_run
/// use cache_conformance::flights;
/// use std::sync::Arc;
///
/// if let Some((role, work)) = flights::child_role() {
///     let runtime = tokio::runtime::Runtime::new().unwrap();
///     let cache = cache_memory::InMemoryCache::<String>::new(10, None).unwrap();
///     match flights::tasks_role(&role) {
///         Some(role) => {
///             let tasks = Arc::new(cache_memory::AsyncInMemoryCache::new(cache));
///             flights::run_child_tasks(role, &work, tasks, &runtime)
///         }
///         None => flights::run_child(&role, &work, &cache),
///     }
/// }
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub fn run_child_tasks(
    role: &str,
    work: &Path,
    cache: std::sync::Arc<dyn AsyncCache<String>>,
    runtime: &tokio::runtime::Runtime,
) {
    assert!(matches!(role, "load" | "fail"), "unknown role {role}");
    let pid = std::process::id();
    children::ready_and_wait_for_go();
    let lines = runtime.block_on(async {
        fs::write(work.join(format!("calling-{pid}")), b"").unwrap();
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (cache, work, role) = (cache.clone(), work.to_owned(), role.to_owned());
                tokio::spawn(async move {
                    let got = cache
                        .try_get_or_insert_with(KEY, Ttl::Never, || async move {
                            count_run(&work, &pid.to_string());
                            let w = work.clone();
                            tokio::task::spawn_blocking(move || wait_for_callers(&w, 2))
                                .await
                                .expect("the other process reached its call");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            loaded(&role, pid)
                        })
                        .await;
                    outcome(got)
                })
            })
            .collect();
        let mut lines = Vec::new();
        for task in tasks {
            lines.push(task.await.expect("no panic"));
        }
        lines
    });
    print_lines(lines);
}

/// Starts a child in `role` calling through `api`.
fn start(spawn: &dyn Fn() -> Command, role: &str, api: Api, work: &Path) -> Child {
    let role = match api {
        Api::Threads => role.to_owned(),
        Api::Tasks => format!("{role}{TASKS_SUFFIX}"),
    };
    let mut cmd = spawn();
    cmd.env(ROLE_ENV, format!("{role}\n{}", work.display()));
    Child::spawn(cmd)
}

/// Two children calling through `apis`, released together, call `try_get_or_insert_with` on
/// one key; returns their result lines and the loader's runs.
fn two_children(
    role: &str,
    spawn: &dyn Fn() -> Command,
    apis: [Api; 2],
) -> (Vec<String>, Vec<String>) {
    let work = tempfile_dir();
    let children = apis
        .iter()
        .map(|&api| start(spawn, role, api, &work))
        .collect();
    let results = children::release_together(children)
        .into_iter()
        .filter(|l| l.starts_with("value ") || l.starts_with("error ") || l.starts_with("other "))
        .collect();
    let runs = runs(&work);
    let _ = fs::remove_dir_all(&work);
    (results, runs)
}

/// A fresh work directory under the system's temporary directory.
fn tempfile_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cache-flight-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("a work directory");
    dir
}

/// Two processes of [`THREADS`] threads miss [`KEY`] together: the loader (200 ms) runs
/// exactly once, every caller gets its value, and that value is stored. `check` is a cache
/// on the same storage, in this process; the key must be absent from it at the start.
pub fn loader_runs_once_across_processes(spawn: &dyn Fn() -> Command, check: &dyn Cache<String>) {
    loader_runs_once_across_processes_through(spawn, check, [Api::Threads; 2]);
}

/// [`loader_runs_once_across_processes`] with each child calling through its [`Api`]:
/// `[Api::Tasks; 2]` is two processes of [`TASKS`] tasks on the async API, and
/// `[Api::Threads, Api::Tasks]` a blocking process and an async one sharing one flight.
/// A child of [`Api::Tasks`] plays its role through `run_child_tasks`.
pub fn loader_runs_once_across_processes_through(
    spawn: &dyn Fn() -> Command,
    check: &dyn Cache<String>,
    apis: [Api; 2],
) {
    let (results, runs) = two_children("load", spawn, apis);
    assert_eq!(runs.len(), 1, "the loader ran in {runs:?}");
    let want = format!("value value-{}", runs[0]);
    let callers: usize = apis.iter().map(|a| a.callers()).sum();
    assert_eq!(results.len(), callers, "{results:?}");
    assert!(results.iter().all(|r| r == &want), "{results:?}");
    assert_eq!(
        check.get(KEY).expect("reading the stored value"),
        Some(format!("value-{}", runs[0]))
    );
}

/// Two processes of [`THREADS`] threads miss [`KEY`] together and its loader fails: it runs
/// once, every caller (in both processes) gets its error, and nothing is stored.
pub fn failing_loader_runs_once_across_processes(
    spawn: &dyn Fn() -> Command,
    check: &dyn Cache<String>,
) {
    failing_loader_runs_once_across_processes_through(spawn, check, [Api::Threads; 2]);
}

/// [`failing_loader_runs_once_across_processes`] with each child calling through its
/// [`Api`].
pub fn failing_loader_runs_once_across_processes_through(
    spawn: &dyn Fn() -> Command,
    check: &dyn Cache<String>,
    apis: [Api; 2],
) {
    let (results, runs) = two_children("fail", spawn, apis);
    assert_eq!(runs.len(), 1, "the loader ran in {runs:?}");
    let want = format!("error database down in {}", runs[0]);
    let callers: usize = apis.iter().map(|a| a.callers()).sum();
    assert_eq!(results.len(), callers, "{results:?}");
    assert!(results.iter().all(|r| r == &want), "{results:?}");
    assert_eq!(check.get(KEY).expect("reading"), None);
}

/// A process killed with SIGKILL in the middle of its load does not block the others for
/// longer than the backend's lease (none, for `flock`): a caller here that waited behind it
/// loads once the holder is dead, and its value is stored. `cache` is a cache on the same
/// storage, in this process.
pub fn killed_holder_blocks_no_one(spawn: &dyn Fn() -> Command, cache: &dyn Cache<String>) {
    let work = tempfile_dir();
    // Killed on every path, a failed assertion's included.
    let mut holder = start(spawn, "hang", Api::Threads, &work);
    holder.await_line("loading");
    let work_ref = &work;
    std::thread::scope(|s| {
        let waiter = s.spawn(move || {
            cache.get_or_insert_with(KEY, Ttl::Never, || {
                count_run(work_ref, "parent");
                "from the survivor".to_string()
            })
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !waiter.is_finished(),
            "the caller did not wait for the holder's flight"
        );
        holder.kill();
        let got = waiter.join().expect("no panic").expect("a value");
        assert_eq!(got, "from the survivor");
    });
    assert_eq!(runs(&work), ["hang", "parent"]);
    assert_eq!(
        cache.get(KEY).expect("reading").as_deref(),
        Some("from the survivor")
    );
    let _ = fs::remove_dir_all(&work);
}

/// Two loaders that each announce themselves and wait (up to 20 s) for the other: they
/// return only if both run at the same time.
fn meeting_loaders() -> (impl FnOnce() -> u32, impl FnOnce() -> u32) {
    use std::sync::mpsc;
    let (to_b, from_a) = mpsc::channel::<()>();
    let (to_a, from_b) = mpsc::channel::<()>();
    let meet = |tx: mpsc::Sender<()>, rx: mpsc::Receiver<()>, v: u32| {
        move || {
            tx.send(()).expect("the other loader is there");
            rx.recv_timeout(Duration::from_secs(20))
                .expect("the other loader never ran concurrently");
            v
        }
    };
    (meet(to_b, from_b, 1), meet(to_a, from_a, 2))
}

/// `first` and `second` (handles on one cache or on two caches of the same storage) miss
/// the same key together, and their loaders meet inside their loads: what a cache built with
/// `single_flight(false)` allows, and single flight never does. Each caller gets its own
/// loader's value, and one of them is stored.
///
/// ```
/// use cache_memory::InMemoryCache;
/// let cache = InMemoryCache::<u32>::builder().single_flight(false).build().unwrap();
/// cache_conformance::flights::loaders_meet(&cache, &cache);
/// ```
pub fn loaders_meet(first: &dyn Cache<u32>, second: &dyn Cache<u32>) {
    let (a, b) = meeting_loaders();
    std::thread::scope(|s| {
        let a = s.spawn(|| first.get_or_insert_with("meet", Ttl::Never, a));
        let b = s.spawn(|| second.get_or_insert_with("meet", Ttl::Never, b));
        let mut got = [
            a.join().expect("no panic").expect("a value"),
            b.join().expect("no panic").expect("a value"),
        ];
        got.sort_unstable();
        assert_eq!(got, [1, 2], "each caller got its own loader's value");
    });
    let stored = first.get("meet").expect("reading");
    assert!(matches!(stored, Some(1 | 2)), "{stored:?}");
}

/// The key of the async cases below.
#[cfg(feature = "tokio")]
const HOT: &str = "hot";

/// How long a case waits, at most, for a task that should end before it calls the cache
/// broken (a lock left held): far beyond any normal run, so never a speed check.
#[cfg(feature = "tokio")]
const HANG: Duration = Duration::from_secs(20);

/// 1,000 tasks miss one key together; the loader (a 50 ms `tokio::time::sleep`) runs once,
/// every task gets its value, and it is stored once. Run it on a `current_thread` runtime
/// and on a multi-thread one; `cache` is empty.
///
/// ```
/// use cache_core::AsyncCache;
/// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
/// use std::sync::Arc;
///
/// let cache: Arc<dyn AsyncCache<String>> =
///     Arc::new(AsyncInMemoryCache::new(InMemoryCache::new(10, None)?));
/// tokio::runtime::Builder::new_current_thread()
///     .enable_time()
///     .build()
///     .unwrap()
///     .block_on(cache_conformance::flights::thousand_tasks_run_the_loader_once(cache));
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub async fn thousand_tasks_run_the_loader_once(cache: std::sync::Arc<dyn AsyncCache<String>>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move {
                cache
                    .get_or_insert_with(HOT, Ttl::Never, || async move {
                        let n = calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        format!("loaded-{n}")
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("no panic").expect("a value"), "loaded-0");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the loader ran once");
    assert_eq!(
        cache.get(HOT).await.expect("reading").as_deref(),
        Some("loaded-0")
    );
    assert_eq!(cache.stats().sets, 1, "stored once");
}

/// A loader that fails after 200 ms, with 8 more tasks missing the same key meanwhile: it
/// runs once, all 9 tasks get its error (one shared `Arc`, [`CacheError::Loader`]),
/// nothing is stored, and the next call loads anew. `cache` is empty.
///
/// ```
/// use cache_core::AsyncCache;
/// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
/// use std::sync::Arc;
///
/// let cache: Arc<dyn AsyncCache<String>> =
///     Arc::new(AsyncInMemoryCache::new(InMemoryCache::new(10, None)?));
/// tokio::runtime::Builder::new_current_thread()
///     .enable_time()
///     .build()
///     .unwrap()
///     .block_on(cache_conformance::flights::failing_loader_error_reaches_every_task(cache));
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub async fn failing_loader_error_reaches_every_task(
    cache: std::sync::Arc<dyn AsyncCache<String>>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..9)
        .map(|_| {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move {
                cache
                    .try_get_or_insert_with(HOT, Ttl::Never, || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        // Every task has had 200 ms to reach the flight.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Err::<String, _>("database down")
                    })
                    .await
            })
        })
        .collect();
    let mut sources = Vec::new();
    for task in tasks {
        match task.await.expect("no panic") {
            Err(err @ CacheError::Loader { .. }) => {
                assert_eq!(
                    format!("{err:#}"),
                    "the loader for key \"hot\" failed: database down"
                );
                let CacheError::Loader { source, .. } = err else {
                    unreachable!()
                };
                sources.push(source);
            }
            other => panic!("expected the loader's error, got {other:?}"),
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the loader ran once");
    assert!(sources.iter().all(|s| s.to_string() == "database down"));
    assert!(
        sources
            .iter()
            .all(|s| std::sync::Arc::ptr_eq(s, &sources[0])),
        "the tasks share the loader's error"
    );
    assert!(!cache.exists(HOT).await.expect("exists"), "nothing stored");
    let got = cache
        .get_or_insert_with(HOT, Ttl::Never, || async { "recovered".to_string() })
        .await
        .expect("a value");
    assert_eq!(got, "recovered", "the next call loads anew");
}

/// Starts a task whose loader of [`HOT`] never finishes, and returns once it runs.
#[cfg(feature = "tokio")]
async fn stuck_leader(
    cache: &std::sync::Arc<dyn AsyncCache<String>>,
    calls: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> tokio::task::JoinHandle<Result<String, CacheError>> {
    let (started, is_started) = tokio::sync::oneshot::channel();
    let (cache, calls) = (cache.clone(), calls.clone());
    let leader = tokio::spawn(async move {
        cache
            .get_or_insert_with(HOT, Ttl::Never, || async move {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                started.send(()).expect("the case waits");
                std::future::pending::<String>().await
            })
            .await
    });
    is_started.await.expect("the leader's loader started");
    leader
}

/// The task loading a key is cancelled (aborted) while 3 others wait for it: exactly one of
/// them loads instead, all 3 get that value, and it is stored; then a leader cancelled with
/// no one waiting leaves nothing locked: the next call loads at once. `cache` is empty; a
/// backend that holds a lock across processes (a lock file, a lock key) checks afterwards
/// that none is left.
///
/// ```
/// use cache_core::AsyncCache;
/// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
/// use std::sync::Arc;
///
/// let cache: Arc<dyn AsyncCache<String>> =
///     Arc::new(AsyncInMemoryCache::new(InMemoryCache::new(10, None)?));
/// tokio::runtime::Builder::new_current_thread()
///     .enable_time()
///     .build()
///     .unwrap()
///     .block_on(cache_conformance::flights::cancelled_leader_lets_a_waiter_load(cache));
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub async fn cancelled_leader_lets_a_waiter_load(cache: std::sync::Arc<dyn AsyncCache<String>>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let leader = stuck_leader(&cache, &calls).await;
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move {
                cache
                    .get_or_insert_with(HOT, Ttl::Never, || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        format!("from-waiter-{i}")
                    })
                    .await
            })
        })
        .collect();
    // The waiters reach the flight and wait; none of them loads.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "waiters do not load");
    leader.abort();
    assert!(leader.await.expect_err("aborted").is_cancelled());
    let mut values = Vec::new();
    for w in waiters {
        let got = tokio::time::timeout(HANG, w)
            .await
            .expect("a waiter took over: the lock was let go");
        values.push(got.expect("no panic").expect("a value"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one waiter took over");
    assert!(values.iter().all(|v| v == &values[0]), "{values:?}");
    assert!(values[0].starts_with("from-waiter-"), "{values:?}");
    assert_eq!(
        cache.get(HOT).await.expect("reading"),
        Some(values[0].clone())
    );

    // A cancelled leader that no one waited for.
    cache.delete(HOT).await.expect("delete");
    let leader = stuck_leader(&cache, &calls).await;
    leader.abort();
    assert!(leader.await.expect_err("aborted").is_cancelled());
    let next = cache.get_or_insert_with(HOT, Ttl::Never, || async { "next".to_string() });
    let got = tokio::time::timeout(HANG, next)
        .await
        .expect("the next call loads: nothing stayed locked");
    assert_eq!(got.expect("a value"), "next");
}

/// A blocking caller and async tasks miss the same key on caches of the same storage (the
/// same directory, the same Redis prefix; or one instance): whichever leads, the others wait
/// for it and get its value, and no other loader runs. `blocking` and `cache` are empty;
/// `runtime` drives `cache` (with its time driver).
///
/// ```no_run
/// # fn check(
/// #     blocking: &dyn cache_core::Cache<String>,
/// #     cache: std::sync::Arc<dyn cache_core::AsyncCache<String>>,
/// # ) {
/// let runtime = tokio::runtime::Runtime::new().unwrap();
/// cache_conformance::flights::blocking_and_async_callers_share_one_flight(blocking, cache, &runtime);
/// # }
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub fn blocking_and_async_callers_share_one_flight(
    blocking: &dyn Cache<String>,
    cache: std::sync::Arc<dyn AsyncCache<String>>,
    runtime: &tokio::runtime::Runtime,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    let others = std::sync::Arc::new(AtomicUsize::new(0));

    // A thread leads; tasks wait.
    let (started, is_started) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            blocking.get_or_insert_with("shared-a", Ttl::Never, move || {
                started.send(()).expect("the case waits");
                released
                    .recv_timeout(HANG)
                    .expect("the case releases the load");
                "from-blocking".to_string()
            })
        });
        is_started.recv().expect("the blocking loader started");
        let values = runtime.block_on(async {
            let tasks: Vec<_> = (0..10)
                .map(|_| {
                    let (cache, others) = (cache.clone(), others.clone());
                    tokio::spawn(async move {
                        cache
                            .get_or_insert_with("shared-a", Ttl::Never, || async move {
                                others.fetch_add(1, Ordering::SeqCst);
                                "from-async".to_string()
                            })
                            .await
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(200)).await;
            release.send(()).expect("the loader waits");
            let mut values = Vec::new();
            for t in tasks {
                values.push(t.await.expect("no panic").expect("a value"));
            }
            values
        });
        assert_eq!(
            leader.join().expect("no panic").expect("a value"),
            "from-blocking"
        );
        assert!(values.iter().all(|v| v == "from-blocking"), "{values:?}");
    });
    assert_eq!(others.load(Ordering::SeqCst), 0, "no task loaded");

    // A task leads; threads wait.
    let (started, is_started) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let leader = {
        let cache = cache.clone();
        runtime.spawn(async move {
            cache
                .get_or_insert_with("shared-b", Ttl::Never, || async move {
                    started.send(()).expect("the case waits");
                    let _ = tokio::time::timeout(HANG, released).await;
                    "from-async".to_string()
                })
                .await
        })
    };
    runtime
        .block_on(is_started)
        .expect("the async loader started");
    let values: Vec<String> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    blocking.get_or_insert_with("shared-b", Ttl::Never, || {
                        others.fetch_add(1, Ordering::SeqCst);
                        "from-blocking".to_string()
                    })
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        release.send(()).expect("the loader waits");
        threads
            .into_iter()
            .map(|t| t.join().expect("no panic").expect("a value"))
            .collect()
    });
    let led = runtime
        .block_on(leader)
        .expect("no panic")
        .expect("a value");
    assert_eq!(led, "from-async");
    assert!(values.iter().all(|v| v == "from-async"), "{values:?}");
    assert_eq!(others.load(Ordering::SeqCst), 0, "no thread loaded");
}
