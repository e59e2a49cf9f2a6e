//! The lease of a flight's lock across processes: a child process leads a flight whose
//! loader hangs (never returns) or is slower than its 1 s lease; the parent's
//! `get_or_insert_with` of the same key takes the lock over once the lease is over and
//! loads. The test binary re-invokes itself: the `child` test does the child's part when
//! `CACHE_FILE_LEASE_CHILD` says so, and nothing otherwise.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cache_core::{CacheExt, Ttl};
use cache_file::FileBasedCache;

const CHILD: &str = "CACHE_FILE_LEASE_CHILD";
const KEY: &str = "slow";
const LEASE: Duration = Duration::from_secs(1);

fn open(dir: &str) -> FileBasedCache {
    FileBasedCache::builder(dir)
        .flight_lease(LEASE)
        .build()
        .expect("open")
}

/// The child's side: leads the flight of [`KEY`] with a loader that says `loading`, then
/// never returns (`hang`) or returns 1 after 3 s (`slow`), then says `landed`.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let (role, dir) = spec.split_once('\n').expect("role and directory");
    let cache = open(dir);
    let v = cache
        .get_or_insert_with(KEY, Ttl::Never, || {
            println!("loading");
            if role == "hang" {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            std::thread::sleep(3 * LEASE);
            1u32
        })
        .expect("get_or_insert_with");
    println!("landed {v}");
}

/// A child in `role` on `dir`, its output lines, once it said `loading`.
struct Leader {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Leader {
    fn start(role: &str, dir: &str) -> Leader {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--nocapture", "--test-threads=1", "-q"])
            .env(CHILD, format!("{role}\n{dir}"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("a child");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut leader = None;
        for line in lines.by_ref() {
            if line.expect("the child's output").trim() == "loading" {
                leader = Some(());
                break;
            }
        }
        assert!(leader.is_some(), "the child never loaded");
        Leader { child, lines }
    }

    /// The next line that starts with `landed`.
    fn landed(&mut self) -> Option<String> {
        self.lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.starts_with("landed"))
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `f` on a thread of its own: its result, or `None` if it takes longer than `limit`
/// (the thread is then left behind, blocked).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

/// A loader that never returns holds its key for its lease, not forever: the parent loads
/// after it, while the child still hangs, and stores its value; the next call reads it.
#[test]
fn a_hung_loader_holds_its_key_for_its_lease_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let mut leader = Leader::start("hang", &path);
    let cache = open(&path);
    let t = Instant::now();
    let c = cache.clone();
    let got = within(Duration::from_secs(20), move || {
        c.get_or_insert_with(KEY, Ttl::Never, || 7u32)
    });
    let waited = t.elapsed();
    eprintln!("took over after {waited:?}");
    let got = got.expect("still waiting for a hung loader after 20 s");
    assert_eq!(got.unwrap(), 7);
    assert!(
        leader.child.try_wait().unwrap().is_none(),
        "the child's loader is still hung"
    );
    let again = cache.get_or_insert_with(KEY, Ttl::Never, || 8u32).unwrap();
    assert_eq!(again, 7, "stored, and read by the next call");
}

/// A loader slower than its lease: the parent takes over after the lease and loads too;
/// the first holder's end, while the parent holds the lock, leaves the parent's lock file
/// in place; both values are stored, the last one wins.
#[test]
fn a_loader_slower_than_its_lease_runs_twice_and_the_last_value_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let leader = Leader::start("slow", &path);
    let cache = open(&path);
    let lock = cache.entry_path(KEY).with_extension("flight");
    let c = cache.clone();
    let got = within(Duration::from_secs(20), move || {
        let mut leader = leader;
        let (mut child_landed, mut lock_left) = (None, false);
        let v = c.get_or_insert_with(KEY, Ttl::Never, || {
            // The parent holds the lock: the child's loader ends meanwhile.
            child_landed = leader.landed();
            lock_left = std::fs::symlink_metadata(&lock).is_ok();
            7u32
        });
        (v, child_landed, lock_left)
    });
    let (v, child_landed, lock_left) = got.expect("still waiting after 20 s");
    assert_eq!(
        v.unwrap(),
        7,
        "the parent loaded (not read the child's value)"
    );
    assert_eq!(
        child_landed.as_deref(),
        Some("landed 1"),
        "the child loaded too"
    );
    assert!(
        lock_left,
        "the child's end removed the lock file the parent held"
    );
    let stored: Option<u32> = cache_core::Cache::get(&cache, KEY).unwrap();
    assert_eq!(stored, Some(7), "the last value stored wins");
}
