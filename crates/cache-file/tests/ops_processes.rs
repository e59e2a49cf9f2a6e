//! `incr` and `add` raced by several processes on one directory. The test binary re-invokes
//! itself: the `child` test does a child's part when `CACHE_FILE_OPS_CHILD` says so, and
//! nothing otherwise. Children start together: each says "ready" and waits for "go".

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Barrier;

use cache_core::{Cache, Ttl};
use cache_file::FileBasedCache;

const CHILD: &str = "CACHE_FILE_OPS_CHILD";
const THREADS: usize = 8;
const INCRS: usize = 1_000;
const ADD_ROUNDS: usize = 10;

/// The children's side; a no-op in an ordinary test run.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let (role, rest) = spec.split_once('\n').unwrap();
    let (dir, name) = rest.split_once('\n').unwrap();
    let cache = FileBasedCache::new(dir, None).expect("open");
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (cache, barrier) = (&cache, &barrier);
            s.spawn(move || match role {
                "incr" => {
                    barrier.wait();
                    for _ in 0..INCRS {
                        cache.incr("count", 1).expect("incr");
                    }
                }
                "add" => {
                    for round in 0..ADD_ROUNDS {
                        barrier.wait();
                        let me = format!("{name}-{t}");
                        let key = format!("race{round}");
                        if cache.add(&key, me.clone(), Ttl::Never).expect("add") {
                            println!("won {key} {me}");
                        }
                    }
                }
                other => panic!("unknown role {other}"),
            });
        }
    });
}

/// Starts `n` children in `role` on `dir`, lets them go at once, and returns their output.
fn race(role: &str, dir: &Path, n: usize) -> Vec<String> {
    let mut children: Vec<(Child, BufReader<std::process::ChildStdout>)> = (0..n)
        .map(|i| {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child", "--nocapture", "--test-threads=1", "-q"])
                .env(CHILD, format!("{role}\n{}\np{i}", dir.display()))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            while line.trim() != "ready" {
                line.clear();
                assert!(
                    out.read_line(&mut line).unwrap() > 0,
                    "a child did not start"
                );
            }
            (child, out)
        })
        .collect();
    for (child, _) in &mut children {
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    let mut lines = Vec::new();
    for (mut child, out) in children {
        lines.extend(out.lines().map(Result::unwrap));
        assert!(child.wait().unwrap().success(), "a child failed");
    }
    lines
}

#[test]
fn two_processes_of_eight_threads_count_exactly() {
    let dir = tempfile::tempdir().unwrap();
    race("incr", dir.path(), 2);
    let cache = FileBasedCache::new(dir.path(), None).unwrap();
    assert_eq!(
        Cache::<i64>::get(&cache, "count").unwrap(),
        Some((2 * THREADS * INCRS) as i64)
    );
    let leftovers: Vec<_> = std::fs::read_dir(cache.entry_path("count").parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "only the entry, no lock file: {leftovers:?}"
    );
}

#[test]
fn two_processes_racing_add_have_one_winner_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let lines = race("add", dir.path(), 2);
    let cache = FileBasedCache::new(dir.path(), None).unwrap();
    for round in 0..ADD_ROUNDS {
        let key = format!("race{round}");
        let winners: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("won {key} ")))
            .collect();
        assert_eq!(winners.len(), 1, "{key}: {winners:?}");
        let stored: Option<String> = cache.get(&key).unwrap();
        assert_eq!(stored.as_deref(), Some(winners[0]), "{key}");
    }
}
