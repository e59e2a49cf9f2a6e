//! Instructions per access of each `cache-memory` policy on a fixed trace, for
//! `valgrind --tool=callgrind`: `policy_cost <lru|tinylfu> <measured requests>` warms a
//! 100,000-entry cache with 300,000 Zipf 1.0 get-or-set requests over 1,000,000 keys, then
//! runs the given number more. Two runs (0 and N measured requests) differ by the cost of N
//! requests; divide by N. Prints the hits of the measured part (so nothing is optimised away).

use cache_benches::{keys, Zipf};
use cache_core::{Cache, Ttl};
use cache_memory::{InMemoryCache, Policy};

const WARM: usize = 300_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let policy = match args.next().as_deref() {
        Some("lru") => Policy::Lru,
        Some("tinylfu") => Policy::TinyLfu,
        _ => panic!("usage: policy_cost <lru|tinylfu> <requests>"),
    };
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("a request count");
    let names = keys(1_000_000);
    let trace = Zipf::new(1_000_000, 1.0).trace(1, WARM + 1_000_000);
    let cache = InMemoryCache::<[u8; 64]>::builder()
        .max_size(100_000)
        .shards(64)
        .policy(policy)
        .build()
        .expect("valid");
    let mut hits = 0usize;
    for (i, &k) in trace[..WARM + n].iter().enumerate() {
        let key = &names[k];
        let hit = cache.get(key).expect("infallible").is_some() || {
            cache.set(key, [7; 64], Ttl::Never).expect("infallible");
            false
        };
        if i >= WARM {
            hits += usize::from(hit);
        }
    }
    println!("{hits}");
}
