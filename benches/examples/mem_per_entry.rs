//! Bytes of memory per entry for 1,000,000 `u64 -> u64` entries in one cache, measured as the
//! growth of this process's resident set (Linux `/proc/self/statm`). One cache per process:
//! `cargo run --release -p cache-benches --example mem_per_entry -- <cache>`, with `<cache>` one of `cache-memory`,
//! `cache-memory-tinylfu`, `moka`, `quick_cache`,
//! `mutex-lru` (and `*-string` for the peers keyed by the same decimal strings that
//! `cache-memory`, whose keys are `&str`, stores). Prints `<cache>,<bytes per entry>`.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::Mutex;

use cache_core::Ttl;
use cache_memory::{InMemoryCache, Policy};

const N: u64 = 1_000_000;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

fn measure(fill: impl FnOnce() -> Box<dyn std::any::Any>) -> f64 {
    let before = resident_bytes();
    let keep = fill();
    let after = resident_bytes();
    drop(keep);
    (after.saturating_sub(before)) as f64 / N as f64
}

fn peers<K: Hash + Eq + Clone + Send + Sync + 'static>(name: &str, key: impl Fn(u64) -> K) -> f64 {
    // Room to spare, so that no peer evicts or refuses an entry while filling.
    let cap = N as usize * 2;
    match name {
        "moka" => measure(|| {
            let c = moka::sync::Cache::<K, u64>::new(cap as u64);
            (0..N).for_each(|i| c.insert(key(i), i));
            c.run_pending_tasks();
            assert_eq!(c.entry_count(), N);
            Box::new(c)
        }),
        "quick_cache" => measure(|| {
            let c = quick_cache::sync::Cache::<K, u64>::new(cap);
            (0..N).for_each(|i| c.insert(key(i), i));
            assert_eq!(c.len() as u64, N);
            Box::new(c)
        }),
        "mutex-lru" => measure(|| {
            let c = Mutex::new(lru::LruCache::<K, u64>::new(
                NonZeroUsize::new(cap).unwrap(),
            ));
            (0..N).for_each(|i| {
                c.lock().unwrap().put(key(i), i);
            });
            Box::new(c)
        }),
        other => panic!("unknown cache {other:?}"),
    }
}

fn main() {
    let name = std::env::args()
        .nth(1)
        .expect("usage: mem_per_entry <cache>");
    let policy = match name.as_str() {
        "cache-memory-tinylfu" => Policy::TinyLfu,
        _ => Policy::Lru,
    };
    let bytes = match name.as_str() {
        "cache-memory" | "cache-memory-tinylfu" => measure(|| {
            let c = InMemoryCache::<u64>::builder()
                .max_size(N as usize * 2)
                .policy(policy)
                .build()
                .expect("valid");
            (0..N).for_each(|i| {
                c.set(&i.to_string(), i, Ttl::Never).expect("infallible");
            });
            assert_eq!(c.len() as u64, N);
            Box::new(c)
        }),
        s if s.ends_with("-string") => peers(s.trim_end_matches("-string"), |i| i.to_string()),
        s => peers(s, |i| i),
    };
    println!("{name},{bytes:.1}");
}
