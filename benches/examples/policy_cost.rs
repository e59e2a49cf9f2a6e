//! Instructions per access of each `cache-memory` policy (and of quick_cache) on a fixed
//! trace, for `valgrind --tool=callgrind` (add `--cache-sim=yes` for cache misses):
//! `policy_cost <lru|tinylfu|quick_cache> <measured requests>` warms a
//! 100,000-entry cache with 300,000 Zipf 1.0 get-or-set requests over 1,000,000 keys, then
//! runs the given number more. Two runs (0 and N measured requests) differ by the cost of N
//! requests; divide by N. Prints the hits of the measured part (so nothing is optimised away).

use cache_benches::{keys, Zipf};
use cache_core::{Cache, Ttl};
use cache_memory::{InMemoryCache, Policy};

const WARM: usize = 300_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next();
    let policy = match which.as_deref() {
        Some("lru") => Some(Policy::Lru),
        Some("tinylfu") => Some(Policy::TinyLfu),
        Some("quick_cache") => None,
        _ => panic!("usage: policy_cost <lru|tinylfu|quick_cache> <requests>"),
    };
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("a request count");
    let names = keys(1_000_000);
    let trace = Zipf::new(1_000_000, 1.0).trace(1, WARM + 1_000_000);
    let mut hits = 0usize;
    let mut count = |i: usize, hit: bool| {
        if i >= WARM {
            hits += usize::from(hit);
        }
    };
    match policy {
        Some(policy) => {
            let cache = InMemoryCache::<[u8; 64]>::builder()
                .max_size(100_000)
                .shards(64)
                .policy(policy)
                .build()
                .expect("valid");
            for (i, &k) in trace[..WARM + n].iter().enumerate() {
                let key = &names[k];
                let hit = cache.get(key).expect("infallible").is_some() || {
                    cache.set(key, [7; 64], Ttl::Never).expect("infallible");
                    false
                };
                count(i, hit);
            }
        }
        None => {
            // The peer the throughput target is set against, on the same trace (its
            // default shard count; keys as owned strings, as in the `memory` bench).
            let cache = quick_cache::sync::Cache::<String, [u8; 64]>::new(100_000);
            for (i, &k) in trace[..WARM + n].iter().enumerate() {
                let key = &names[k];
                let hit = cache.get(key.as_str()).is_some() || {
                    cache.insert(key.clone(), [7; 64]);
                    false
                };
                count(i, hit);
            }
        }
    }
    println!("{hits}");
}
