//! Server-assisted invalidation (`near::Invalidations` of `RedisCache`), outside criterion:
//! - the invalidation delay: a `set` on one cache (its call starts) to another cache's
//!   subscribed sink hearing the key, p50 and p99 over many writes on loopback;
//! - the cost to the server: writes/s of a plain `RedisCache` with 3 tracking listeners on
//!   its prefix attached, against none, in paired rounds (with, then without, then without,
//!   then with, ...; the median of per-round ratios).
//!
//! Writes `target/bench/invalidation.csv`. `CACHE_BENCH_QUICK=1`: fewer samples and rounds.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_benches::{as_test, quick, write_metric};
use cache_core::near::{InvalidationSink, Invalidations};
use cache_core::Ttl;
use cache_redis::{RedisCache, RedisConfig};
use redis_test_support::RedisServer;

/// Tells when each key was heard.
struct Clocked(Mutex<mpsc::Sender<(String, Instant)>>);

impl InvalidationSink for Clocked {
    fn invalidate(&self, key: &str) {
        let _ = self
            .0
            .lock()
            .unwrap()
            .send((key.to_owned(), Instant::now()));
    }
    fn invalidate_all(&self) {}
    fn connected(&self, _up: bool) {}
}

/// Counts nothing: a listener whose only cost is the server's and its own thread's.
struct Quiet;

impl InvalidationSink for Quiet {
    fn invalidate(&self, _key: &str) {}
    fn invalidate_all(&self) {}
    fn connected(&self, _up: bool) {}
}

fn cache(server: &RedisServer, prefix: &str) -> RedisCache {
    RedisCache::new(
        RedisConfig::new(server.url())
            .key_prefix(prefix)
            .pool_size(16),
    )
    .expect("a cache on the bench server")
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The delay from the start of a `set` to the sink's call, in microseconds, sorted.
fn delays(server: &RedisServer, samples: usize) -> Vec<f64> {
    let writer = cache(server, "delay:");
    let reader = cache(server, "delay:");
    let (tx, rx) = mpsc::channel();
    let _subscription = reader
        .subscribe(Arc::new(Clocked(Mutex::new(tx))))
        .expect("subscribed");
    let mut delays = Vec::with_capacity(samples);
    for i in 0..samples + samples / 10 {
        let key = format!("k{}", i % 64);
        let start = Instant::now();
        writer.set(&key, i as u64, Ttl::Never).expect("a set");
        loop {
            let (heard, at) = rx
                .recv_timeout(Duration::from_secs(5))
                .expect("the invalidation within 5 s");
            if heard == key {
                // The first tenth warms up.
                if i >= samples / 10 {
                    delays.push(at.duration_since(start).as_secs_f64() * 1e6);
                }
                break;
            }
        }
    }
    delays.sort_by(f64::total_cmp);
    delays
}

/// Seconds for `threads` threads to make `per_thread` sets each.
fn writes(cache: &RedisCache, threads: usize, per_thread: usize) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for i in 0..per_thread {
                    let key = format!("w{t}:{}", i % 256);
                    cache.set(&key, i as u64, Ttl::Never).expect("a set");
                }
            });
        }
    });
    start.elapsed().as_secs_f64()
}

/// The server's CPU time so far (`INFO cpu`: user + system of the main thread and its
/// children), in seconds.
fn server_cpu(server: &RedisServer) -> f64 {
    let info = server.query(&["INFO", "cpu"]).expect("INFO cpu").text();
    info.lines()
        .filter(|l| l.starts_with("used_cpu_sys:") || l.starts_with("used_cpu_user:"))
        .filter_map(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
        .sum()
}

/// Per-round ratios of write throughput with 3 listeners to throughput without, sorted,
/// and the same of the server's CPU time per write (without over with: below 1 is a cost).
fn write_cost(
    server: &RedisServer,
    rounds: usize,
    threads: usize,
    per_thread: usize,
) -> (Vec<f64>, Vec<f64>) {
    let cache = cache(server, "cost:");
    let listeners = [cache.clone(), cache.clone(), cache.clone()];
    let timed = |with: bool| {
        let subscriptions: Vec<_> = if with {
            listeners
                .iter()
                .map(|l| l.subscribe(Arc::new(Quiet)).expect("subscribed"))
                .collect()
        } else {
            Vec::new()
        };
        let cpu = server_cpu(server);
        let t = writes(&cache, threads, per_thread);
        let cpu = server_cpu(server) - cpu;
        drop(subscriptions);
        (t, cpu)
    };
    for _ in 0..2 {
        timed(true);
        timed(false);
    }
    let (mut ratios, mut cpu): (Vec<f64>, Vec<f64>) = (0..rounds)
        .map(|round| {
            let (with, without) = if round % 2 == 0 {
                let w = timed(true);
                (w, timed(false))
            } else {
                let wo = timed(false);
                (timed(true), wo)
            };
            // Writes/s with over writes/s without; server CPU without over with.
            (without.0 / with.0, without.1 / with.1)
        })
        .unzip();
    ratios.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (ratios, cpu)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter naming neither part skips this file.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| "invalidation".contains(f.as_str())) {
        return;
    }
    let server = RedisServer::start();
    let (samples, rounds, per_thread) = if as_test() {
        (100, 2, 50)
    } else if quick() {
        (2_000, 20, 500)
    } else {
        (20_000, 100, 2_000)
    };
    let d = delays(&server, samples);
    let (p50, p99) = (quantile(&d, 0.5), quantile(&d, 0.99));
    println!(
        "invalidation delay (set called -> sink called), {} writes: p50 {p50:.0} us, p99 {p99:.0} us, max {:.0} us",
        d.len(),
        d[d.len() - 1]
    );
    let mut csv = format!("metric,value\ndelay_p50_us,{p50:.1}\ndelay_p99_us,{p99:.1}\n");
    for threads in [4, 16] {
        let (ratios, cpu) = write_cost(&server, rounds, threads, per_thread);
        let (mid, lo, hi) = (
            quantile(&ratios, 0.5),
            quantile(&ratios, 0.25),
            quantile(&ratios, 0.75),
        );
        println!(
            "writes/s with 3 tracking listeners / without ({threads} threads, {rounds} paired rounds): {mid:.3}x (middle half {lo:.3}x to {hi:.3}x)"
        );
        let cpu_mid = quantile(&cpu, 0.5);
        println!(
            "server CPU per write without listeners / with 3 ({threads} threads): {cpu_mid:.3}x (middle half {:.3}x to {:.3}x)",
            quantile(&cpu, 0.25),
            quantile(&cpu, 0.75)
        );
        csv.push_str(&format!(
            "writes_ratio_{threads}t,{mid:.4}\nwrites_ratio_{threads}t_q25,{lo:.4}\nwrites_ratio_{threads}t_q75,{hi:.4}\nserver_cpu_per_write_ratio_{threads}t,{cpu_mid:.4}\n"
        ));
    }
    write_metric("invalidation.csv", &csv);
}
