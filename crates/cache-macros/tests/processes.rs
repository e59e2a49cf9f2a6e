//! Two processes of 16 threads (or tasks) call one memoized function with the same argument,
//! over one Redis server and over one file cache directory: the body runs once in all, and
//! every caller gets the value it computed. Also: with the Redis server gone, a memoized
//! call still answers (the body runs).
//!
//! One binary (`harness = false`): the parent runs the cases and starts itself as the
//! children, which it tells apart by `MEMOIZE_CHILD`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Barrier, OnceLock};
use std::time::Duration;

use cache::{memoize, AsyncRedisCache, FileBasedCache, RedisCache};

const CHILD_ENV: &str = "MEMOIZE_CHILD";
const THREADS: usize = 16;

/// What a child needs: the backend, its address (URL or directory), the file that counts
/// the body's runs.
struct Spec {
    backend: String,
    address: String,
    runs: PathBuf,
}

static SPEC: OnceLock<Spec> = OnceLock::new();
static REDIS: OnceLock<RedisCache> = OnceLock::new();
static ASYNC_REDIS: OnceLock<AsyncRedisCache> = OnceLock::new();
static FILES: OnceLock<FileBasedCache> = OnceLock::new();

fn spec() -> &'static Spec {
    SPEC.get().expect("the spec is set first")
}

fn redis() -> &'static RedisCache {
    REDIS.get_or_init(|| RedisCache::open(&spec().address).expect("opening Redis"))
}

fn async_redis() -> &'static AsyncRedisCache {
    ASYNC_REDIS.get().expect("opened by the async child")
}

fn files() -> &'static FileBasedCache {
    FILES.get_or_init(|| FileBasedCache::new(&spec().address, None).expect("opening the directory"))
}

/// The body's work: one line appended to the runs file (`O_APPEND`: whole lines from any
/// number of processes), a pause so that every caller arrives while it runs, and a value
/// that names the process and thread that computed it.
fn work(n: u32) -> String {
    let mut runs = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&spec().runs)
        .expect("the runs file");
    runs.write_all(b"run\n").expect("counting a run");
    std::thread::sleep(Duration::from_millis(300));
    format!(
        "{n} by {} {:?}",
        std::process::id(),
        std::thread::current().id()
    )
}

#[memoize(cache = redis(), ttl = "10m")]
fn over_redis(n: u32) -> String {
    work(n)
}

#[memoize(cache = files(), ttl = "10m")]
fn over_files(n: u32) -> String {
    work(n)
}

#[memoize(cache = async_redis(), ttl = "10m")]
async fn over_async_redis(n: u32) -> String {
    tokio::task::spawn_blocking(move || work(n))
        .await
        .expect("the blocking work")
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let server = redis_test_support::RedisServer::start();
    let dir = tempfile::tempdir().expect("a temporary directory");

    one_run_across_processes("redis", &server.url(), &dir.path().join("redis-runs"));
    one_run_across_processes("async-redis", &server.url(), &dir.path().join("async-runs"));
    let files = dir.path().join("cache");
    std::fs::create_dir(&files).expect("the cache directory");
    one_run_across_processes(
        "files",
        files.to_str().expect("a UTF-8 path"),
        &dir.path().join("file-runs"),
    );

    // The server gone, the call still answers, computed here.
    let runs = dir.path().join("down-runs");
    SPEC.set(Spec {
        backend: "redis".into(),
        address: server.url(),
        runs: runs.clone(),
    })
    .map_err(|_| ())
    .expect("the parent's spec, once");
    assert!(over_redis(5).starts_with(&format!("5 by {}", std::process::id())));
    server.kill();
    assert!(over_redis(6).starts_with(&format!("6 by {}", std::process::id())));
    assert_eq!(count_runs(&runs), 2, "the body ran for each call");
    println!("processes: 4 cases passed");
}

/// The parent's side of one backend: two children released together, their 32 callers'
/// values equal, one run of the body.
fn one_run_across_processes(backend: &str, address: &str, runs: &Path) {
    let spawn = || {
        let mut child = Command::new(std::env::current_exe().expect("this test binary"))
            .env(
                CHILD_ENV,
                format!("{backend}\n{address}\n{}", runs.display()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting a child");
        let mut out = BufReader::new(child.stdout.take().expect("its stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("the child's ready line");
        assert_eq!(line.trim(), "ready", "{backend}: the child did not start");
        (child, out)
    };
    let mut children = [spawn(), spawn()];
    for (child, _) in &mut children {
        writeln!(child.stdin.as_mut().expect("its stdin"), "go").expect("releasing a child");
    }
    let mut values = Vec::new();
    for (mut child, out) in children {
        for line in out.lines() {
            values.push(line.expect("a child's line"));
        }
        let status = child.wait().expect("a child's end");
        assert!(status.success(), "{backend}: a child failed: {status}");
    }
    assert_eq!(
        values.len(),
        2 * THREADS,
        "{backend}: every caller answered"
    );
    assert!(
        values
            .iter()
            .all(|v| v == &values[0] && v.starts_with("42 by ")),
        "{backend}: every caller got the one computed value: {values:?}"
    );
    assert_eq!(count_runs(runs), 1, "{backend}: the body ran once in all");
    println!("processes: {backend}: 2 processes x {THREADS} callers, 1 run");
}

fn count_runs(runs: &Path) -> usize {
    std::fs::read_to_string(runs)
        .expect("the runs file")
        .lines()
        .count()
}

/// A child: prints `ready`, waits for `go`, then calls the memoized function from 16
/// threads (or tasks) at once and prints each value.
fn child(spec_text: &str) {
    let mut parts = spec_text.splitn(3, '\n');
    let mut next = || parts.next().expect("a complete spec").to_owned();
    let (backend, address, runs) = (next(), next(), PathBuf::from(next()));
    let backend_name = backend.clone();
    SPEC.set(Spec {
        backend,
        address,
        runs,
    })
    .map_err(|_| ())
    .expect("the child's spec, once");
    // The connections made before the go, so that the callers start together.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime");
    match backend_name.as_str() {
        "redis" => drop(redis()),
        "files" => drop(files()),
        _ => {
            let cache = runtime
                .block_on(AsyncRedisCache::open(&spec().address))
                .expect("opening Redis");
            ASYNC_REDIS.set(cache).map_err(|_| ()).expect("once");
        }
    }
    println!("ready");
    let mut go = String::new();
    std::io::stdin()
        .read_line(&mut go)
        .expect("the parent's go");

    let values: Vec<String> = if spec().backend == "async-redis" {
        runtime.block_on(async {
            let tasks: Vec<_> = (0..THREADS)
                .map(|_| tokio::spawn(over_async_redis(42)))
                .collect();
            let mut values = Vec::new();
            for task in tasks {
                values.push(task.await.expect("a task"));
            }
            values
        })
    } else {
        let start = Barrier::new(THREADS);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        if spec().backend == "redis" {
                            over_redis(42)
                        } else {
                            over_files(42)
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a caller"))
                .collect()
        })
    };
    let mut out = std::io::stdout().lock();
    for v in values {
        writeln!(out, "{v}").expect("printing a value");
    }
}
