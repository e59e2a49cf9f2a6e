//! A bound shared by several writer processes, measured exactly: four children write to one
//! directory bounded by `max_entries(100)` while the parent, every few milliseconds, stops
//! them all (SIGSTOP, waiting until each is stopped), counts the entry files, and lets them
//! go on (SIGCONT). Once every writer has stopped, the accounting file must say what the
//! directory holds, and the directory must be full (at least 90% of the bound); while they
//! ran, the directory must never have held more than 110% of the bound, or 125% when a
//! writer is killed (SIGKILL) every second and a new one started in its place.
//!
//! Each run takes `CACHE_FILE_SHARED_BOUNDS_SECS` seconds (default 6); the target
//! is a 60 s run: `CACHE_FILE_SHARED_BOUNDS_SECS=60 cargo test -p cache-file --test
//! shared_bounds -- --nocapture`.
//!
//! The test binary re-invokes itself: the `child` test does a writer's part when
//! `CACHE_FILE_SHARED_BOUNDS_CHILD` says so, and nothing otherwise.

use std::io;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cache_core::Ttl;
use cache_file::{FileBasedCache, USAGE_FILE};
use rustix::process::{kill_process, Pid, Signal};
use serde_bytes::ByteBuf;

const CHILD: &str = "CACHE_FILE_SHARED_BOUNDS_CHILD";
const BOUND: u64 = 100;
const WRITERS: usize = 4;

fn secs() -> u64 {
    std::env::var("CACHE_FILE_SHARED_BOUNDS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6)
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A writer's part: until the deadline, sets new keys of its own, and every fourth time
/// overwrites one of its recent keys (a replacement, which the accounting must not count
/// as a new entry).
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let parts: Vec<&str> = spec.split('\n').collect();
    let (dir, writer) = (Path::new(parts[0]), parts[1]);
    let deadline: u128 = parts[2].parse().unwrap();
    let cache = FileBasedCache::builder(dir)
        .max_entries(BOUND)
        .build()
        .expect("open");
    let value = ByteBuf::from(vec![7u8; 100]);
    let mut i = 0u64;
    while now_ns() < deadline {
        let key = if i % 4 == 3 {
            format!("w{writer}:{}", i - 2)
        } else {
            format!("w{writer}:{i}")
        };
        cache.set(&key, value.clone(), Ttl::Never).expect("set");
        i += 1;
    }
}

fn spawn(dir: &Path, writer: usize, deadline: u128) -> io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .args(["--exact", "child", "--nocapture", "--test-threads=1", "-q"])
        .env(CHILD, format!("{}\n{writer}\n{deadline}", dir.display()))
        .spawn()
}

/// The entry files in `dir` (names of 32 hex digits in the two-digit fan-out directories:
/// no lock, temporary or accounting file) and their bytes; files that go while counted are
/// skipped.
fn entry_files(dir: &Path) -> io::Result<(u64, u64)> {
    let (mut n, mut bytes) = (0, 0);
    for fan in std::fs::read_dir(dir)? {
        let fan = fan?;
        if fan.file_name().len() != 2 || !fan.file_type()?.is_dir() {
            continue;
        }
        for e in std::fs::read_dir(fan.path())? {
            let e = e?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                n += 1;
                if let Ok(m) = e.metadata() {
                    bytes += m.len();
                }
            }
        }
    }
    Ok((n, bytes))
}

/// The entries and bytes the accounting file `DIR/usage` holds, read as it is (layout in
/// the crate README: `FBUSAGE1`, 24 bytes, then 256 slots of entries, bytes, earliest,
/// reserved).
fn accounted(dir: &Path) -> io::Result<(u64, u64)> {
    let b = std::fs::read(dir.join(USAGE_FILE))?;
    if b.len() != 32 + 256 * 32 || &b[..8] != b"FBUSAGE1" {
        return Err(io::Error::other("not an accounting file"));
    }
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    Ok((0..256).fold((0, 0), |(e, by), i| {
        (e + word(32 + i * 32), by + word(40 + i * 32))
    }))
}

/// Whether process `pid` is stopped (state `T` in `/proc/PID/stat`), or gone.
fn stopped(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which ends at the last ')'.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| {
            matches!(
                rest.trim_start().chars().next(),
                Some('T' | 't' | 'Z' | 'X')
            )
        }),
        Err(_) => true,
    }
}

/// Stops every child, counts the entry files, lets them go on.
fn paused_count(dir: &Path, children: &[Child]) -> io::Result<u64> {
    for c in children {
        kill_process(Pid::from_child(c), Signal::STOP)?;
    }
    let t = Instant::now();
    for c in children {
        while !stopped(c.id()) {
            if t.elapsed() > Duration::from_secs(10) {
                return Err(io::Error::other("a child does not stop"));
            }
            std::thread::yield_now();
        }
    }
    let counted = entry_files(dir);
    for c in children {
        kill_process(Pid::from_child(c), Signal::CONT)?;
    }
    Ok(counted?.0)
}

/// Runs the writers for the configured time (killing one a second if `kill`), sampling the
/// directory; returns the peak and the number of samples and kills.
fn run_writers(dir: &Path, kill: bool) -> io::Result<(u64, usize, usize)> {
    let run = Duration::from_secs(secs());
    let deadline = now_ns() + run.as_nanos();
    let mut children = (0..WRITERS)
        .map(|w| spawn(dir, w, deadline))
        .collect::<io::Result<Vec<_>>>()?;
    let mut next_writer = WRITERS;
    let start = Instant::now();
    let mut next_kill = Duration::from_secs(1);
    let (mut peak, mut samples, mut kills) = (0, 0, 0);
    while start.elapsed() < run {
        std::thread::sleep(Duration::from_millis(10));
        let n = paused_count(dir, &children)?;
        peak = peak.max(n);
        samples += 1;
        if kill
            && start.elapsed() >= next_kill
            && start.elapsed() + Duration::from_millis(500) < run
        {
            let victim = kills % WRITERS;
            children[victim].kill()?;
            children[victim].wait()?;
            children[victim] = spawn(dir, next_writer, deadline)?;
            next_writer += 1;
            kills += 1;
            next_kill += Duration::from_secs(1);
        }
    }
    for mut c in children {
        let status = c.wait()?;
        if !status.success() {
            return Err(io::Error::other(format!("a writer failed: {status}")));
        }
    }
    Ok((peak, samples, kills))
}

fn fresh_dir() -> io::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    // The directory and its accounting file exist before the writers start.
    drop(
        FileBasedCache::builder(dir.path())
            .max_entries(BOUND)
            .build()
            .map_err(io::Error::other)?,
    );
    Ok(dir)
}

#[test]
fn four_writers_keep_the_shared_bound() -> io::Result<()> {
    let dir = fresh_dir()?;
    let (peak, samples, _) = run_writers(dir.path(), false)?;
    let (files, bytes) = entry_files(dir.path())?;
    let usage = accounted(dir.path())?;
    eprintln!("{samples} samples, peak {peak}; at rest {files} files ({bytes} bytes), accounted {usage:?}");
    assert!(samples >= 20, "only {samples} samples");
    assert!(
        peak <= BOUND * 110 / 100,
        "peak of {peak} entries for a bound of {BOUND}"
    );
    assert_eq!(usage, (files, bytes), "the accounting at rest");
    assert!(
        files >= BOUND * 90 / 100,
        "{files} entries at rest for a bound of {BOUND}"
    );
    assert!(
        files <= BOUND,
        "{files} entries at rest for a bound of {BOUND}"
    );
    Ok(())
}

#[test]
fn four_writers_one_killed_a_second_keep_the_shared_bound() -> io::Result<()> {
    let dir = fresh_dir()?;
    let (peak, samples, kills) = run_writers(dir.path(), true)?;
    let (files, bytes) = entry_files(dir.path())?;
    let usage = accounted(dir.path())?;
    eprintln!(
        "{samples} samples, {kills} kills, peak {peak}; at rest {files} files ({bytes} bytes), accounted {usage:?}"
    );
    assert!(kills >= secs() as usize / 2, "only {kills} kills");
    assert!(
        peak <= BOUND * 125 / 100,
        "peak of {peak} entries for a bound of {BOUND}"
    );
    assert!(
        files >= BOUND * 90 / 100,
        "{files} entries at rest for a bound of {BOUND}"
    );
    // A writer killed between placing a file and recording it leaves the accounting one
    // short: at most one per kill, and the recount of the next open sets it right.
    let drift = files.abs_diff(usage.0);
    assert!(
        drift <= kills as u64,
        "the accounting is {drift} entries off after {kills} kills"
    );
    let check = FileBasedCache::builder(dir.path())
        .max_entries(BOUND)
        .build()
        .map_err(io::Error::other)?;
    check.wait_for_recount();
    assert_eq!(
        check.directory_usage().map_err(io::Error::other)?,
        (files, bytes)
    );
    Ok(())
}
