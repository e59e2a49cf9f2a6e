//! `incr` of one key under contention against one uncontended caller: 2 processes x 8
//! threads doing 4,000 increments in all, then one thread doing 4,000 alone, on the same
//! kind of directory (`$INCR_DIR`, else tmpfs when `/dev/shm` exists). Prints both times per increment and
//! their ratio, and checks the final count.
//!
//! `cargo run --release -p cache-file --example incr_contention [-- TOTAL]`

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cache_file::FileBasedCache;

const PROCESSES: usize = 2;
const THREADS: usize = 8;

fn open(dir: &Path) -> FileBasedCache {
    FileBasedCache::new(dir, None).expect("open")
}

fn scratch() -> tempfile::TempDir {
    if let Ok(d) = std::env::var("INCR_DIR") {
        return tempfile::tempdir_in(d).expect("a temporary directory");
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).expect("a temporary directory")
    } else {
        tempfile::tempdir().expect("a temporary directory")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let (dir, per_thread): (&Path, u64) = (Path::new(&args[2]), args[3].parse().unwrap());
        let cache = open(dir);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    for _ in 0..per_thread {
                        cache.incr("counter", 1).expect("incr");
                    }
                });
            }
        });
        return;
    }
    let total: u64 = args.get(1).map_or(4_000, |t| t.parse().unwrap());
    let per_thread = total / (PROCESSES * THREADS) as u64;
    let total = per_thread * (PROCESSES * THREADS) as u64;

    let dir = scratch();
    drop(open(dir.path()));
    if std::env::var_os("INCR_ALONE").is_some() {
        let cache = open(dir.path());
        for _ in 0..total {
            cache.incr("counter", 1).unwrap();
        }
        return;
    }
    let t = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "child",
                    &dir.path().display().to_string(),
                    &per_thread.to_string(),
                ])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let contended = t.elapsed();
    let count: Option<i64> = open(dir.path()).get("counter").unwrap();
    assert_eq!(count, Some(total as i64), "lost increments");

    let dir = scratch();
    let cache = open(dir.path());
    let t = Instant::now();
    for _ in 0..total {
        cache.incr("counter", 1).unwrap();
    }
    let alone = t.elapsed();
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / total as f64;
    println!(
        "{total} incr: {PROCESSES} processes x {THREADS} threads {:.2?} ({:.1} us/op), one thread {:.2?} ({:.1} us/op), ratio {:.1}",
        contended,
        per(contended),
        alone,
        per(alone),
        per(contended) / per(alone)
    );
}
