//! Two real processes over one file cache directory, each with a stamped `TieredCache`
//! (one checking every hit, one with a max staleness), doing mixed writes and reads on two
//! threads each for a few seconds: no process ever reads a value older than one it has
//! read or written before (values carry their writer and a per-writer sequence number; each
//! process keeps the newest number seen per key and per writer, and a read never returns a
//! lower one), and each sees the other's writes.
//!
//! The children are this test binary, re-invoked to run the `child` test with the role in
//! its environment (the conformance suite's cross-process cases do the same).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::{CacheExt, Ttl};
use cache_file::FileBasedCache;
use cache_tiered::TieredCache;

const DIR_VAR: &str = "CACHE_TIERED_CHILD_DIR";
const ID_VAR: &str = "CACHE_TIERED_CHILD_ID";
const SECS_VAR: &str = "CACHE_TIERED_CHILD_SECS";
const KEYS: usize = 8;
const WRITERS: usize = 2;

/// A value: who wrote it, and its number in that writer's sequence.
type Value = (u32, u64);

/// The newest sequence number this process has seen, per key and per writer.
struct Seen([[AtomicU64; WRITERS]; KEYS]);

impl Seen {
    fn new() -> Self {
        Seen(std::array::from_fn(|_| {
            std::array::from_fn(|_| AtomicU64::new(0))
        }))
    }

    /// A read of key `k` that began when the floors were `floor` returned `v`.
    fn check(&self, k: usize, floor: &[u64; WRITERS], v: Option<Value>) -> Result<bool, String> {
        let Some((w, n)) = v else {
            return Ok(false);
        };
        let w = w as usize;
        if w >= WRITERS {
            return Err(format!(
                "key {k}: a value of writer {w}, who does not exist"
            ));
        }
        if n < floor[w] {
            return Err(format!(
                "key {k}: read writer {w}'s #{n} after #{} had been read or written",
                floor[w]
            ));
        }
        self.0[k][w].fetch_max(n, Ordering::SeqCst);
        Ok(true)
    }

    fn floor(&self, k: usize) -> [u64; WRITERS] {
        std::array::from_fn(|w| self.0[k][w].load(Ordering::SeqCst))
    }
}

/// A small xorshift: no dependency, a fixed seed per thread.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One child's run: returns (reads, reads of the other writer's values) or the first
/// monotonicity violation.
fn run_child(dir: &str, id: u32, secs: u64) -> Result<(u64, u64), String> {
    let far = FileBasedCache::new(dir, None).map_err(|e| format!("{e:#}"))?;
    let mut b = TieredCache::<Value, _>::builder(far).near_max_size(64);
    if id == 1 {
        b = b.max_staleness(Duration::from_millis(2));
    }
    let cache = Arc::new(b.build_stamped().map_err(|e| format!("{e:#}"))?);
    let seen = Arc::new(Seen::new());
    // This writer's sequence, shared by its threads: a number is taken and written under
    // the lock, so that the writer's numbers reach the far tier in order.
    let next = Arc::new(std::sync::Mutex::new(1u64));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let (cache, seen, next, stop) = (
                Arc::clone(&cache),
                Arc::clone(&seen),
                Arc::clone(&next),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || -> Result<(u64, u64), String> {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (u64::from(id) << 8) ^ t);
                let (mut reads, mut theirs) = (0u64, 0u64);
                while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                    let r = rng.next();
                    let k = (r % KEYS as u64) as usize;
                    let key = format!("k{k}");
                    let floor = seen.floor(k);
                    let fail = |e: cache_core::CacheError| format!("{e:#}");
                    let got = match (r >> 8) % 100 {
                        0..=59 => cache.get(&key).map_err(fail)?,
                        60..=89 => {
                            let mut next = next.lock().unwrap();
                            let n = *next;
                            *next += 1;
                            cache.set(&key, (id, n), Ttl::Never).map_err(fail)?;
                            // Its own write: no later read may return an older value of it.
                            seen.0[k][id as usize].fetch_max(n, Ordering::SeqCst);
                            continue;
                        }
                        90..=94 => {
                            cache.delete(&key).map_err(fail)?;
                            continue;
                        }
                        _ => {
                            let mut next = next.lock().unwrap();
                            let n = *next;
                            *next += 1;
                            Some(
                                cache
                                    .get_or_insert_with(&key, Ttl::Never, || (id, n))
                                    .map_err(fail)?,
                            )
                        }
                    };
                    reads += 1;
                    if let Some((w, _)) = got {
                        theirs += u64::from(w != id);
                    }
                    if let Err(e) = seen.check(k, &floor, got) {
                        stop.store(true, Ordering::SeqCst);
                        return Err(e);
                    }
                }
                Ok((reads, theirs))
            })
        })
        .collect();
    let mut total = (0, 0);
    for t in threads {
        let (r, o) = t.join().map_err(|_| "a thread panicked".to_owned())??;
        total = (total.0 + r, total.1 + o);
    }
    let tiers = cache.tier_stats();
    println!("near hits served {}", tiers.near_hits_served);
    Ok(total)
}

/// A child's part; nothing in an ordinary run.
#[test]
fn child() {
    let (Ok(dir), Ok(id), Ok(secs)) = (
        std::env::var(DIR_VAR),
        std::env::var(ID_VAR),
        std::env::var(SECS_VAR),
    ) else {
        return;
    };
    let id: u32 = id.parse().expect("a writer id");
    let secs: u64 = secs.parse().expect("a duration");
    match run_child(&dir, id, secs) {
        Ok((reads, theirs)) => println!("result reads {reads} theirs {theirs}"),
        Err(e) => {
            println!("violation {e}");
            panic!("{e}");
        }
    }
}

#[test]
fn two_processes_over_one_directory_read_monotonically() {
    let dir = tempfile::tempdir().expect("a cache directory");
    let spec = dir.path().to_str().expect("a UTF-8 path");
    let children: Vec<_> = (0..WRITERS)
        .map(|id| {
            Command::new(std::env::current_exe().expect("the test binary"))
                .args(["--exact", "child", "--nocapture", "--test-threads=1", "-q"])
                .env(DIR_VAR, spec)
                .env(ID_VAR, id.to_string())
                .env(SECS_VAR, "10")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawning a child")
        })
        .collect();
    for (id, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("a child's output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child {id} failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let result = stdout
            .lines()
            .find_map(|l| l.strip_prefix("result "))
            .unwrap_or_else(|| panic!("child {id} printed no result: {stdout}"));
        let nums: Vec<u64> = result.split(' ').filter_map(|w| w.parse().ok()).collect();
        let (reads, theirs) = (nums[0], nums[1]);
        assert!(reads > 1_000, "child {id} read {reads} times: {stdout}");
        assert!(
            theirs > 0,
            "child {id} never saw the other's writes: {stdout}"
        );
        eprintln!("child {id}: {stdout}");
    }
}
