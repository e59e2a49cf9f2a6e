//! Bounds shared by the processes on a directory, the default bound, the sweep of expired
//! entries on writes, and opening a large directory without scanning it. The test binary
//! re-invokes itself for the two-process cases: the `child` test does the child's part
//! when `CACHE_FILE_BOUNDS_CHILD` says so, and nothing otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cache_core::{Cache, MockClock, Ttl};
use cache_file::{FileBasedCache, DEFAULT_MAX_BYTES};
use serde_bytes::ByteBuf;

const CHILD: &str = "CACHE_FILE_BOUNDS_CHILD";
const KEYS: usize = 1_000;
const VALUE: usize = 1_000;

/// A directory on tmpfs where there is one (the large tests write gigabytes), else the
/// system's temporary directory.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// The entry files in `dir` (names of 32 hex digits in the fan-out directories) and their
/// total size.
fn entry_files(dir: &Path) -> (Vec<PathBuf>, u64) {
    let mut files = Vec::new();
    let mut bytes = 0;
    for fan in std::fs::read_dir(dir).unwrap() {
        let fan = fan.unwrap().path();
        let name = fan.file_name().unwrap().to_string_lossy().into_owned();
        if name.len() != 2 || !fan.is_dir() {
            continue;
        }
        for e in std::fs::read_dir(&fan).unwrap() {
            let e = e.unwrap();
            if e.file_name().len() == 32 {
                bytes += e.metadata().unwrap().len();
                files.push(e.path());
            }
        }
    }
    (files, bytes)
}

fn bounded(dir: &Path, bound: &str) -> FileBasedCache {
    let b = FileBasedCache::builder(dir);
    let b = match bound {
        "entries" => b.max_entries(100),
        _ => b.max_bytes(100 * entry_len()),
    };
    b.build().expect("open")
}

/// The size of one entry file of the two-process test (header, key, value).
fn entry_len() -> u64 {
    let d = tempfile::tempdir().unwrap();
    let c = FileBasedCache::new(d.path(), None).unwrap();
    c.set(&key(1, 0), ByteBuf::from(vec![0u8; VALUE]), Ttl::Never)
        .unwrap();
    std::fs::metadata(c.entry_path(&key(1, 0))).unwrap().len()
}

fn key(writer: usize, i: usize) -> String {
    format!("w{writer}:{i:04}")
}

/// The children's side; a no-op in an ordinary test run. A child writes its keys, then the
/// wall-clock time (ns) at which each set returned, one per line, to the file it was given.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let parts: Vec<&str> = spec.split('\n').collect();
    let (dir, bound, writer) = (parts[0], parts[1], parts[2].parse::<usize>().unwrap());
    let cache = bounded(Path::new(dir), bound);
    let mut done = Vec::with_capacity(KEYS);
    for i in 0..KEYS {
        cache
            .set(
                &key(writer, i),
                ByteBuf::from(vec![writer as u8; VALUE]),
                Ttl::Never,
            )
            .expect("set");
        done.push(now_ns());
    }
    let lines: Vec<String> = done.iter().map(u128::to_string).collect();
    std::fs::write(parts[3], lines.join("\n")).expect("write the set times");
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Two processes, each bounded to 100 entries' worth, each writing 1,000 distinct keys:
/// the directory holds at most 105 entries' worth once both are done, at least 50, within
/// each process the least recently used went first (what it kept is a run of its newest
/// sets), and the most recent set of the two is there (taken in the order the sets
/// returned, from the times the children record).
///
/// How the room is split between the two is the scheduler's: each process evicts among
/// the entries it knows (its own, and those its recount at open found), so a process whose
/// partner wrote most of its entries after that recount and then stopped is squeezed into
/// what the partner left (see "Bounds" in the crate docs); on a loaded machine one child may
/// also run wholly after the other, and then rightly evicts all of the earlier one's
/// entries. Neither its last 10 sets nor the 20 most recent of the two are sure to stay:
/// both were asserted once, and failed now and then on a loaded machine (the 20 most
/// recent: 3 runs of 6).
fn two_processes_share_the_bound(bound: &str) {
    let dir = scratch();
    drop(bounded(dir.path(), bound));
    let times = tempfile::tempdir().unwrap();
    let times_of = |w: usize| times.path().join(format!("writer{w}"));
    let children: Vec<_> = (1..=2)
        .map(|w| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child", "--nocapture", "--test-threads=1", "-q"])
                .env(
                    CHILD,
                    format!(
                        "{}\n{bound}\n{w}\n{}",
                        dir.path().display(),
                        times_of(w).display()
                    ),
                )
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a child failed");
    }
    let (files, bytes) = entry_files(dir.path());
    let one = entry_len();
    eprintln!("{bound}: {} files, {bytes} bytes", files.len());
    match bound {
        "entries" => assert!(files.len() <= 105, "{} entry files", files.len()),
        _ => assert!(bytes <= 105 * one, "{bytes} bytes of entries"),
    }
    assert!(
        files.len() >= 50,
        "over-evicted: {} entry files",
        files.len()
    );
    let check = FileBasedCache::builder(dir.path())
        .unbounded()
        .build()
        .unwrap();
    let mut sets = Vec::new();
    for w in 1..=2 {
        let alive: Vec<bool> = (0..KEYS)
            .map(|i| check.exists(&key(w, i)).unwrap())
            .collect();
        let kept = alive.iter().filter(|a| **a).count();
        eprintln!("writer {w} kept {kept} entries");
        assert!(
            alive[KEYS - kept..].iter().all(|a| *a),
            "writer {w}: an entry of its last {kept} sets went before an older one"
        );
        let done = std::fs::read_to_string(times_of(w)).unwrap();
        let done: Vec<u128> = done.lines().map(|t| t.parse().unwrap()).collect();
        assert_eq!(done.len(), KEYS);
        sets.extend(
            done.into_iter()
                .enumerate()
                .map(|(i, t)| (t, w, i, alive[i])),
        );
    }
    sets.sort_unstable();
    let &(_, w, i, alive) = sets.last().unwrap();
    assert!(alive, "{}, the most recent set, was evicted", key(w, i));
    // The shared accounting agrees with the directory.
    check.wait_for_recount();
    let again = bounded(dir.path(), bound);
    again.wait_for_recount();
    assert_eq!(
        again.directory_usage().unwrap(),
        (files.len() as u64, bytes)
    );
}

#[test]
fn two_processes_share_max_entries() {
    two_processes_share_the_bound("entries");
}

#[test]
fn two_processes_share_max_bytes() {
    two_processes_share_the_bound("bytes");
}

/// An unbounded cache that writes 10,000 entries with a 1 ms TTL, then 10,000 more once they
/// have expired: the writes sweep all but at most 10% of the expired files away.
#[test]
fn writes_sweep_expired_entries_away() {
    let dir = scratch();
    let clock = MockClock::new();
    let c = FileBasedCache::builder(dir.path())
        .unbounded()
        .clock(clock.shared())
        .build()
        .unwrap();
    let ttl = Ttl::After(Duration::from_millis(1));
    for i in 0..10_000 {
        c.set(&format!("old:{i}"), i as u32, ttl).unwrap();
    }
    clock.advance(Duration::from_millis(2));
    for i in 0..10_000 {
        c.set(&format!("new:{i}"), i as u32, ttl).unwrap();
    }
    let left = (0..10_000)
        .filter(|i| c.entry_path(&format!("old:{i}")).exists())
        .count();
    eprintln!("{left} of 10,000 expired files left");
    assert!(left <= 1_000, "{left} expired files left");
    let s = c.stats();
    assert_eq!(
        (s.sets, s.expirations),
        (20_000, 0),
        "sweeps are not counted"
    );
    // The newer entries, not expired yet, are all there.
    assert!((0..10_000).all(|i| c.exists(&format!("new:{i}")).unwrap()));
}

/// A cache built without bounds is bounded by 1 GiB: writing 2 GiB of distinct 1 MiB values
/// leaves at most 1.05 GiB of entry files.
#[test]
fn the_default_bound_holds_a_loop_of_large_writes() {
    let dir = scratch();
    let c = FileBasedCache::new(dir.path(), None).unwrap();
    assert_eq!(c.max_bytes(), Some(DEFAULT_MAX_BYTES));
    let value = ByteBuf::from(vec![5u8; 1 << 20]);
    for i in 0..2048 {
        c.set(&format!("blob:{i}"), value.clone(), Ttl::Never)
            .unwrap();
    }
    let (files, bytes) = entry_files(dir.path());
    eprintln!("{} files, {bytes} bytes", files.len());
    assert!(
        bytes <= DEFAULT_MAX_BYTES + DEFAULT_MAX_BYTES / 20,
        "{bytes} bytes"
    );
    assert!(
        bytes >= DEFAULT_MAX_BYTES / 2,
        "over-evicted: {bytes} bytes"
    );
    assert!(c.exists("blob:2047").unwrap());
    assert!(!c.exists("blob:0").unwrap());
}

/// Opening a directory of 200,000 entries does not scan it: the open returns at once (the
/// time is printed, not asserted), its first operations are right while the recount runs
/// in the background, and the recount then finds every entry.
#[test]
fn opening_a_large_directory_does_not_scan_it() {
    let dir = scratch();
    let n = 200_000;
    {
        // One real entry, then 199,999 more made from it on the side (header and key
        // rewritten, checksums recomputed), far faster than 200,000 sets.
        let seed = FileBasedCache::builder(dir.path())
            .unbounded()
            .build()
            .unwrap();
        seed.set("key:000000", 7u32, Ttl::Never).unwrap();
        let template = std::fs::read(seed.entry_path("key:000000")).unwrap();
        for i in 1..n {
            let k = format!("key:{i:06}");
            let mut bytes = template.clone();
            bytes[48..48 + k.len()].copy_from_slice(k.as_bytes());
            let mut h = crc32fast::Hasher::new();
            h.update(&bytes[..44]);
            h.update(k.as_bytes());
            bytes[44..48].copy_from_slice(&h.finalize().to_le_bytes());
            let path = seed.entry_path(&k);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        // The accounting file knows one entry: the rest were made behind its back.
        std::fs::remove_file(dir.path().join(cache_file::USAGE_FILE)).unwrap();
    }
    let t = Instant::now();
    let c = FileBasedCache::builder(dir.path())
        .max_entries(1_000_000)
        .build()
        .unwrap();
    eprintln!("opened {n} entries in {:?}", t.elapsed());
    assert_eq!(c.get("key:123456").unwrap(), Some(7u32));
    assert_eq!(Cache::<u32>::get(&c, "key:absent").unwrap(), None);
    c.set("key:new", 8u32, Ttl::Never).unwrap();
    assert!(c.delete("key:000001").unwrap());
    assert_eq!(c.get("key:new").unwrap(), Some(8u32));
    c.wait_for_recount();
    eprintln!("recounted after {:?}", t.elapsed());
    let (entries, _) = c.directory_usage().unwrap();
    assert_eq!(entries, n as u64, "200,000 + 1 new - 1 deleted");
    assert_eq!(c.stats().entries, Some(n as u64));
}
