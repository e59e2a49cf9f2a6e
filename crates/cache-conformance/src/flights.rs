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
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use cache_core::{Cache, CacheError, CacheExt, Ttl};

/// The environment variable that makes a test binary a child: `role`, a newline, and the
/// work directory (where the loader counts its runs).
pub const ROLE_ENV: &str = "CACHE_FLIGHT_CHILD";

/// The key every child loads.
pub const KEY: &str = "flight:hot";

/// Threads per child process.
pub const THREADS: usize = 8;

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

/// The child's part. Roles:
/// - `load` / `fail`: print `ready`, wait for a line on stdin, then [`THREADS`] threads call
///   `try_get_or_insert_with(KEY)` with a loader that counts its run, waits until both
///   children are calling, sleeps 200 ms and returns `value-<pid>` (or fails with
///   `database down in <pid>`); each thread prints `value <v>` or `error <message>`.
/// - `hang`: one call whose loader counts its run, prints `loading` and sleeps for ten
///   minutes (the parent kills it).
pub fn run_child(role: &str, work: &Path, cache: &dyn Cache<String>) {
    let pid = std::process::id();
    let out = std::io::stdout();
    match role {
        "load" | "fail" => {
            println!("ready");
            let mut go = String::new();
            std::io::stdin()
                .read_line(&mut go)
                .expect("the parent's go");
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
                            let got = cache.try_get_or_insert_with(KEY, Ttl::Never, || {
                                count_run(work, &pid.to_string());
                                wait_for_callers(work, 2);
                                std::thread::sleep(Duration::from_millis(200));
                                if role == "fail" {
                                    Err(format!("database down in {pid}"))
                                } else {
                                    Ok(format!("value-{pid}"))
                                }
                            });
                            match got {
                                Ok(v) => format!("value {v}"),
                                Err(CacheError::Loader { source, .. }) => format!("error {source}"),
                                Err(e) => format!("other {e}"),
                            }
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let mut out = out.lock();
            for line in lines {
                writeln!(out, "{line}").unwrap();
            }
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

/// A child process that is killed when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a child in `role`, reading its stdout.
fn start(spawn: &dyn Fn() -> Command, role: &str, work: &Path) -> (Child, BufReader<ChildStdout>) {
    let mut child = spawn()
        .env(ROLE_ENV, format!("{role}\n{}", work.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawning a child");
    let out = BufReader::new(child.stdout.take().expect("a stdout"));
    (child, out)
}

/// Reads lines until one equals `want` (lines of the test harness come first).
fn await_line(out: &mut BufReader<ChildStdout>, want: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).expect("reading a child");
        assert!(n > 0, "the child ended before printing {want:?}");
        if line.trim() == want {
            return;
        }
    }
}

/// Two children of [`THREADS`] threads each, released together, call
/// `try_get_or_insert_with` on one key; returns their result lines and the loader's runs.
fn two_children(role: &str, spawn: &dyn Fn() -> Command) -> (Vec<String>, Vec<String>) {
    let work = tempfile_dir();
    let mut children: Vec<_> = (0..2)
        .map(|_| {
            let (child, out) = start(spawn, role, &work);
            (KillOnDrop(child), out)
        })
        .collect();
    for (_, out) in &mut children {
        await_line(out, "ready");
    }
    for (child, _) in &mut children {
        let stdin = child.0.stdin.as_mut().expect("a stdin");
        stdin.write_all(b"go\n").expect("releasing a child");
        stdin.flush().expect("releasing a child");
    }
    let mut results = Vec::new();
    for (mut child, mut out) in children {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).expect("a child's output");
        assert!(child.0.wait().expect("a child").success(), "a child failed");
        results.extend(
            rest.lines()
                .filter(|l| {
                    l.starts_with("value ") || l.starts_with("error ") || l.starts_with("other ")
                })
                .map(str::to_owned),
        );
    }
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
    let (results, runs) = two_children("load", spawn);
    assert_eq!(runs.len(), 1, "the loader ran in {runs:?}");
    let want = format!("value value-{}", runs[0]);
    assert_eq!(results.len(), 2 * THREADS, "{results:?}");
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
    let (results, runs) = two_children("fail", spawn);
    assert_eq!(runs.len(), 1, "the loader ran in {runs:?}");
    let want = format!("error database down in {}", runs[0]);
    assert_eq!(results.len(), 2 * THREADS, "{results:?}");
    assert!(results.iter().all(|r| r == &want), "{results:?}");
    assert_eq!(check.get(KEY).expect("reading"), None);
}

/// A process killed with SIGKILL in the middle of its load does not block the others for
/// longer than the backend's lease (none, for `flock`): a caller here that waited behind it
/// loads once the holder is dead, and its value is stored. `cache` is a cache on the same
/// storage, in this process.
pub fn killed_holder_blocks_no_one(spawn: &dyn Fn() -> Command, cache: &dyn Cache<String>) {
    let work = tempfile_dir();
    let (holder, mut out) = start(spawn, "hang", &work);
    // Killed on every path, a failed assertion's included.
    let mut holder = KillOnDrop(holder);
    await_line(&mut out, "loading");
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
        holder.0.kill().expect("SIGKILL"); // SIGKILL on Unix
        holder.0.wait().expect("reaping the holder");
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
