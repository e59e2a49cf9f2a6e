//! Several processes on one directory: concurrent writers and readers, writers killed with
//! SIGKILL (in the middle of writes and of the sweep of expired entries), and a writer that
//! runs out of space. The test binary re-invokes itself: the
//! `child` test does the child's part when `CACHE_FILE_CHILD` says so, and nothing otherwise.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cache_core::{Cache, Ttl};
use cache_file::{FileBasedCache, TMP_DIR};

const CHILD: &str = "CACHE_FILE_CHILD";

/// A small xorshift generator; tests print their seed.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("seed {seed}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A value that proves itself complete: writer, round, length, then bytes derived from them.
fn value(writer: u8, round: u32, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(9 + len);
    v.push(writer);
    v.extend_from_slice(&round.to_le_bytes());
    v.extend_from_slice(&(len as u32).to_le_bytes());
    v.extend((0..len).map(|i| filler(writer, round, i)));
    v
}

fn filler(writer: u8, round: u32, i: usize) -> u8 {
    (u64::from(writer) * 31 + u64::from(round) * 7 + i as u64 * 13 % 251) as u8
}

/// Panics unless `v` is a complete value some writer wrote.
fn check(v: &[u8]) {
    assert!(v.len() >= 9, "a value of {} bytes", v.len());
    let writer = v[0];
    let round = u32::from_le_bytes(v[1..5].try_into().unwrap());
    let len = u32::from_le_bytes(v[5..9].try_into().unwrap()) as usize;
    assert_eq!(v.len(), 9 + len, "a torn value");
    assert!(
        v[9..]
            .iter()
            .enumerate()
            .all(|(i, b)| *b == filler(writer, round, i)),
        "a mixed value"
    );
}

fn child_command(role: &str, dir: &Path, arg: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1", "-q"])
        .env(CHILD, format!("{role}\n{}\n{arg}", dir.display()));
    cmd
}

/// Files under `tmp/` (in the instances' own directories included).
fn tmp_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(TMP_DIR))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() {
                std::fs::read_dir(&p).map_or(0, |d| d.count())
            } else {
                1
            }
        })
        .sum()
}

/// The children's side; a no-op in an ordinary test run.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let mut parts = spec.splitn(3, '\n');
    let (role, dir, arg) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let cache = FileBasedCache::new(dir, None).expect("open");
    match role {
        "read-write" => {
            let writer: u8 = arg.parse().unwrap();
            let mut rng = Rng::seeded();
            let start = Instant::now();
            let mut rounds = 0;
            for round in 0..3_000u32 {
                if start.elapsed() > Duration::from_secs(3) {
                    break;
                }
                rounds += 1;
                let key = format!("k{}", rng.below(16));
                let len = rng.below(8 * 1024) as usize;
                let ttl = match rng.below(10) {
                    0 => Ttl::After(Duration::from_millis(1)), // exercises expiry removal
                    _ => Ttl::Never,
                };
                cache
                    .set(&key, value(writer, round, len), ttl)
                    .expect("set");
                let key = format!("k{}", rng.below(16));
                if let Some(v) = Cache::<Vec<u8>>::get(&cache, &key).expect("get") {
                    check(&v);
                }
                if rng.below(50) == 0 {
                    cache.delete(&key).expect("delete");
                }
                if rng.below(200) == 0 {
                    cache.delete_pattern("k1?").expect("delete_pattern");
                }
            }
            eprintln!("writer {writer}: {rounds} rounds");
            assert_eq!(cache.corruptions(), 0);
        }
        "overwriter" => {
            // Overwrites keys that always exist, each value tagged with its key's number,
            // at sizes whose files are kept and written again as other keys' entries.
            let mut rng = Rng::seeded();
            for round in 0..2_000u32 {
                let k = rng.below(16) as u8;
                let len = rng.below(12_000) as usize;
                cache
                    .set(&format!("k{k}"), value(k, round, len), Ttl::Never)
                    .expect("set");
            }
            assert_eq!(cache.corruptions(), 0);
        }
        "writer" => {
            println!("ready");
            let mut rng = Rng::seeded();
            for round in 0.. {
                let key = format!("k{}", round % 8);
                let len = rng.below(256 * 1024) as usize;
                cache
                    .set(&key, value(1, round, len), Ttl::Never)
                    .expect("set");
                // Short-lived entries, so that the sweep on writes runs when the kill comes.
                cache
                    .set(
                        &format!("short{round}"),
                        value(1, round, 16),
                        Ttl::After(Duration::from_millis(1)),
                    )
                    .expect("set");
            }
        }
        "disk-full" => {
            let old = Cache::<Vec<u8>>::get(&cache, "k")
                .unwrap()
                .expect("old value");
            let err = cache
                .set("k", vec![7u8; 1 << 20], Ttl::Never)
                .expect_err("the file size limit is exceeded");
            eprintln!("set failed as it should: {err}");
            assert_eq!(Cache::<Vec<u8>>::get(&cache, "k").unwrap(), Some(old));
            assert_eq!(tmp_count(Path::new(dir)), 0, "no partial file remains");
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn two_processes_read_only_complete_values() {
    let dir = tempfile::tempdir().unwrap();
    FileBasedCache::new(dir.path(), None).unwrap();
    let children: Vec<Child> = (1..=2)
        .map(|w| {
            child_command("read-write", dir.path(), &w.to_string())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a child saw a bad value");
    }
    let cache = FileBasedCache::new(dir.path(), None).unwrap();
    for k in 0..16 {
        if let Some(v) = Cache::<Vec<u8>>::get(&cache, &format!("k{k}")).unwrap() {
            check(&v);
        }
    }
    assert_eq!(cache.corruptions(), 0);
    assert_eq!(tmp_count(dir.path()), 0);
}

/// Two processes overwrite keys that always exist (their replaced files written again as
/// other keys' entries) while this one reads them: each read is a complete value of the key
/// read, never a miss, never another key's.
#[test]
fn readers_see_their_keys_while_other_processes_reuse_files() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FileBasedCache::new(dir.path(), None).unwrap();
    for k in 0..16u8 {
        cache
            .set(&format!("k{k}"), value(k, 0, 100), Ttl::Never)
            .unwrap();
    }
    let mut children: Vec<Child> = (1..=2)
        .map(|_| {
            child_command("overwriter", dir.path(), "")
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut reads = 0u64;
    let mut running = children.len();
    while running > 0 || reads < 1_000 {
        let k = (reads % 16) as u8;
        let v = Cache::<Vec<u8>>::get(&cache, &format!("k{k}"))
            .unwrap()
            .unwrap_or_else(|| panic!("k{k}: a miss of a key that always exists"));
        check(&v);
        assert_eq!(v[0], k, "k{k}: another key's value");
        reads += 1;
        if reads.is_multiple_of(64) {
            running = 0;
            for c in &mut children {
                running += usize::from(c.try_wait().unwrap().is_none());
            }
        }
    }
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a writer failed");
    }
    assert_eq!(cache.corruptions(), 0);
    assert_eq!(cache.stats().misses, 0);
    drop(cache);
    assert_eq!(tmp_count(dir.path()), 0);
}

#[test]
fn writers_killed_at_random_points_leave_complete_values_or_misses() {
    let dir = tempfile::tempdir().unwrap();
    FileBasedCache::new(dir.path(), None).unwrap();
    let mut rng = Rng::seeded();
    let start = Instant::now();
    let mut kills = 0;
    while kills < 25 && start.elapsed() < Duration::from_secs(8) {
        let mut child = child_command("writer", dir.path(), "")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Past the test harness's own lines, to the child's "ready".
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while line.trim() != "ready" {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "the child did not start"
            );
        }
        std::thread::sleep(Duration::from_micros(rng.below(30_000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;

        let cache = FileBasedCache::new(dir.path(), None).unwrap();
        assert_eq!(
            tmp_count(dir.path()),
            0,
            "temporary files survived the open"
        );
        for k in 0..8 {
            if let Some(v) = Cache::<Vec<u8>>::get(&cache, &format!("k{k}")).unwrap() {
                check(&v);
            }
        }
        assert_eq!(cache.corruptions(), 0, "a kill left a damaged entry");
    }
    assert!(kills >= 5, "only {kills} kills");
}

#[test]
fn disk_full_fails_the_set_and_keeps_the_old_value() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FileBasedCache::new(dir.path(), None).unwrap();
    cache.set("k", b"old".to_vec(), Ttl::Never).unwrap();
    let before = std::fs::read(cache.entry_path("k")).unwrap();
    // The shell ignores SIGXFSZ (inherited across exec) so that a write past the limit fails
    // with EFBIG instead of killing the child, and limits files to 64 blocks (32-64 KiB).
    // The child's output goes to pipes: the size limit applies to every file the child
    // writes, and an inherited stdout or stderr may be a log file already past it.
    let child = child_command("disk-full", dir.path(), "");
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 64; exec "$0" "$@""#)
        .arg(child.get_program())
        .args(child.get_args())
        .envs(child.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the child failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(cache.entry_path("k")).unwrap(), before);
    assert_eq!(
        Cache::<Vec<u8>>::get(&cache, "k").unwrap(),
        Some(b"old".to_vec())
    );
    assert_eq!(tmp_count(dir.path()), 0);
}
