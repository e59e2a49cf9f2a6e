//! Hit ratios of the in-memory caches on deterministic traces: our exact LRU and our
//! adaptive W-TinyLFU (`cache-memory-lru`, `cache-memory-tinylfu`) beside moka, quick_cache
//! and the lru crate. One thread; each trace is a get, and a set after a miss, per request;
//! 4,000,000 requests of which the last 3,000,000 are counted (1,000,000 of 400,000 with
//! `CACHE_BENCH_QUICK=1`). Capacities 10,000 and 100,000.
//!
//! Workloads (fixed seeds; "fresh" keys are never requested again):
//! - `zipf-0.8`, `zipf-1.0`: Zipf over 1,000,000 keys.
//! - `loop-1.2x`: the keys `0..1.2 × capacity` in a loop.
//! - `zipf-0.9+scans`: Zipf 0.9 over 1,000,000 keys, and after every 4 × capacity requests
//!   a one-time scan of 2 × capacity fresh keys.
//! - `hot-set-shift`: Zipf 0.9 over a hot set of 4 × capacity keys that is replaced by fresh
//!   keys every 500,000 requests.
//! - `shift+scans`: the moving hot set of `hot-set-shift`, with the scans of
//!   `zipf-0.9+scans`.
//!
//! Not a criterion benchmark (a hit ratio has no variance to sample): `cargo bench --bench
//! hit_ratio [-- <filter>...]` prints the table and writes `target/bench/hit-ratio.csv`
//! (`workload,capacity,cache,hit_ratio`), which `cargo xtask bench` turns into a table.
//! Filters keep the workloads or caches whose name contains one of them.

use std::fmt::Write as _;
use std::num::NonZeroUsize;

use cache_benches::{as_test, quick, write_metric, Zipf};
use cache_core::{Cache, Ttl};
use cache_memory::{InMemoryCache, Policy};

/// Keys above this are fresh (scans, moved hot sets); below it, the Zipf key space.
const FRESH: u64 = 1 << 40;

/// The shard count of our caches, fixed so that the figures do not depend on the machine's
/// CPU count (64 is the default on 2 CPUs; both capacities here are split into at most
/// `capacity / 512` shards anyway: 16 at 10,000, 64 at 100,000).
const SHARDS: usize = 64;

struct Trace {
    name: &'static str,
    keys: Vec<u64>,
}

fn zipf_keys(zipf: &Zipf, seed: u64, len: usize) -> Vec<u64> {
    zipf.trace(seed, len)
        .into_iter()
        .map(|k| k as u64)
        .collect()
}

/// `base` with a scan of `2 × capacity` fresh keys after every `4 × capacity` requests,
/// cut to `len`.
fn with_scans(base: &[u64], capacity: usize, len: usize, fresh: &mut u64) -> Vec<u64> {
    let mut out = Vec::with_capacity(len);
    let mut base = base.iter();
    while out.len() < len {
        out.extend(base.by_ref().take(4 * capacity));
        for _ in 0..2 * capacity {
            out.push(*fresh);
            *fresh += 1;
        }
    }
    out.truncate(len);
    out
}

/// Zipf 0.9 over a hot set of `4 × capacity` keys, moved to fresh keys every 500,000
/// requests.
fn shifting(capacity: usize, len: usize, seed: u64) -> Vec<u64> {
    let hot = 4 * capacity;
    let zipf = Zipf::new(hot, 0.9);
    let ranks = zipf.trace(seed, len);
    ranks
        .into_iter()
        .enumerate()
        .map(|(i, k)| FRESH / 2 + (i / 500_000 * hot + k) as u64)
        .collect()
}

fn traces(capacity: usize, len: usize) -> Vec<Trace> {
    let mut fresh = FRESH;
    let z08 = Zipf::new(1_000_000, 0.8);
    let z10 = Zipf::new(1_000_000, 1.0);
    let z09 = Zipf::new(1_000_000, 0.9);
    let loop_len = (capacity * 6 / 5) as u64;
    let zipf09 = zipf_keys(&z09, 3, len);
    let shift = shifting(capacity, len, 4);
    vec![
        Trace {
            name: "zipf-0.8",
            keys: zipf_keys(&z08, 1, len),
        },
        Trace {
            name: "zipf-1.0",
            keys: zipf_keys(&z10, 2, len),
        },
        Trace {
            name: "loop-1.2x",
            keys: (0..len as u64).map(|i| i % loop_len).collect(),
        },
        Trace {
            name: "zipf-0.9+scans",
            keys: with_scans(&zipf09, capacity, len, &mut fresh),
        },
        Trace {
            name: "hot-set-shift",
            keys: shift.clone(),
        },
        Trace {
            name: "shift+scans",
            keys: with_scans(&shift, capacity, len, &mut fresh),
        },
    ]
}

/// A cache under test: `access` is a get, and a set after a miss; it returns whether the get
/// hit.
trait Subject {
    fn access(&mut self, key: u64) -> bool;
}

struct Ours {
    cache: InMemoryCache<u64>,
    buf: String,
}

impl Subject for Ours {
    fn access(&mut self, key: u64) -> bool {
        self.buf.clear();
        let _ = write!(self.buf, "{key}");
        if Cache::get(&self.cache, &self.buf)
            .expect("infallible")
            .is_some()
        {
            return true;
        }
        Cache::set(&self.cache, &self.buf, key, Ttl::Never).expect("infallible");
        false
    }
}

impl Subject for moka::sync::Cache<u64, u64> {
    fn access(&mut self, key: u64) -> bool {
        self.get(&key).is_some() || {
            self.insert(key, key);
            false
        }
    }
}

impl Subject for quick_cache::sync::Cache<u64, u64> {
    fn access(&mut self, key: u64) -> bool {
        self.get(&key).is_some() || {
            self.insert(key, key);
            false
        }
    }
}

impl Subject for lru::LruCache<u64, u64> {
    fn access(&mut self, key: u64) -> bool {
        self.get(&key).is_some() || {
            self.put(key, key);
            false
        }
    }
}

const WORKLOADS: [&str; 6] = [
    "zipf-0.8",
    "zipf-1.0",
    "loop-1.2x",
    "zipf-0.9+scans",
    "hot-set-shift",
    "shift+scans",
];

const CACHES: [&str; 5] = [
    "cache-memory-lru",
    "cache-memory-tinylfu",
    "moka",
    "quick_cache",
    "lru",
];

fn subject(name: &str, capacity: usize) -> Box<dyn Subject> {
    let ours = |policy| {
        Box::new(Ours {
            cache: InMemoryCache::builder()
                .max_size(capacity)
                .shards(SHARDS)
                .policy(policy)
                .build()
                .expect("valid"),
            buf: String::new(),
        })
    };
    match name {
        "cache-memory-lru" => ours(Policy::Lru),
        "cache-memory-tinylfu" => ours(Policy::TinyLfu),
        "moka" => Box::new(moka::sync::Cache::new(capacity as u64)),
        "quick_cache" => Box::new(quick_cache::sync::Cache::new(capacity)),
        "lru" => Box::new(lru::LruCache::new(
            NonZeroUsize::new(capacity).expect("> 0"),
        )),
        other => unreachable!("{other}"),
    }
}

/// The share of hits among the requests after `warm_up`.
fn hit_ratio(subject: &mut dyn Subject, keys: &[u64], warm_up: usize) -> f64 {
    let mut hits = 0u64;
    for (i, &k) in keys.iter().enumerate() {
        let hit = subject.access(k);
        if i >= warm_up {
            hits += u64::from(hit);
        }
    }
    hits as f64 / (keys.len() - warm_up) as f64
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    // Arguments naming caches keep those caches; arguments naming workloads keep those.
    let keep = |names: &[&str], name: &str| {
        let named: Vec<&String> = args
            .iter()
            .filter(|a| names.iter().any(|n| n.contains(a.as_str())))
            .collect();
        named.is_empty() || named.iter().any(|a| name.contains(a.as_str()))
    };
    let (len, warm_up) = if as_test() {
        (20_000, 5_000)
    } else if quick() {
        (1_000_000, 400_000)
    } else {
        (4_000_000, 1_000_000)
    };
    let mut csv = String::from("workload,capacity,cache,hit_ratio\n");
    for capacity in [10_000, 100_000] {
        for trace in traces(capacity, len) {
            if !keep(&WORKLOADS, trace.name) {
                continue;
            }
            let mut row = format!("{:>15} {capacity:>7}", trace.name);
            for name in CACHES.into_iter().filter(|c| keep(&CACHES, c)) {
                let mut s = subject(name, capacity);
                let ratio = hit_ratio(&mut *s, &trace.keys, warm_up);
                assert!(
                    (0.0..=1.0).contains(&ratio),
                    "{name} on {}: a hit ratio of {ratio}",
                    trace.name
                );
                let _ = write!(row, "  {name} {ratio:.4}");
                let _ = writeln!(csv, "{},{capacity},{name},{ratio:.6}", trace.name);
            }
            println!("{row}");
        }
    }
    write_metric("hit-ratio.csv", &csv);
}
