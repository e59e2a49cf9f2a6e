//! The quick start: `cargo run --example quickstart`.
//!
//! Shows the in-memory cache: set with a TTL, get, expiry, LRU eviction, pattern delete and
//! statistics. Expiry is shown on a mock clock so the example runs instantly.

use std::time::Duration;

use cache::{Cache, CacheError, InMemoryCache, MockClock, Ttl};

fn main() -> Result<(), CacheError> {
    let clock = MockClock::new();
    let cache: InMemoryCache<String> = InMemoryCache::builder()
        .max_size(3)
        .default_ttl(Duration::from_secs(60))
        .clock(clock.shared())
        .build()?;

    // Set with a TTL (a Duration, or a Ttl), and get.
    cache.set("user:1", "alice".into(), Duration::from_secs(5))?;
    cache.set("user:2", "bob".into(), Ttl::Default)?; // the cache's 60 s default
    cache.set("config", "dark-mode".into(), Ttl::Never)?;
    println!("get user:1          -> {:?}", cache.get("user:1")?);

    // Expiry: five seconds later user:1 is gone, user:2 is not.
    clock.advance(Duration::from_secs(5));
    println!("after 5 s, user:1   -> {:?}", cache.get("user:1")?);
    println!("after 5 s, user:2   -> {:?}", cache.get("user:2")?);

    // LRU eviction: the cache holds 3 entries; "config" is the least recently used.
    cache.set("user:3", "carol".into(), Ttl::Default)?;
    cache.set("user:4", "dave".into(), Ttl::Default)?;
    println!("config evicted      -> {}", !cache.exists("config")?);

    // Pattern delete over the original keys.
    let removed = cache.delete_pattern("user:*")?;
    println!("delete_pattern user:* removed {removed}");

    let stats = cache.stats();
    println!(
        "stats: hits={} misses={} sets={} deletes={} evictions={} expirations={} entries={:?} hit_rate={:.2}",
        stats.hits,
        stats.misses,
        stats.sets,
        stats.deletes,
        stats.evictions,
        stats.expirations,
        stats.entries,
        stats.hit_rate()
    );
    Ok(())
}
