//! The Redis cache: `REDIS_URL=redis://127.0.0.1:6379/0 cargo run -p cache-examples
//! --example redis` (without `REDIS_URL`: `redis://127.0.0.1:6379/`).
//!
//! Everything it writes is under a key prefix of its own, removed again at the end.

use std::process::ExitCode;
use std::time::Duration;

use cache::{Cache, CacheError, RedisCache, RedisConfig, Ttl};

fn main() -> ExitCode {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let config = RedisConfig::new(url)
        .key_prefix(format!("cache-example-{}:", std::process::id()))
        .default_ttl(Duration::from_secs(600))
        .timeouts(Duration::from_secs(2));
    // Connects (and PINGs) once here: no server is an error now, not at the first `get`.
    let cache = match RedisCache::new(config) {
        Ok(cache) => cache,
        Err(e) => {
            eprintln!("no Redis server answered: {e}");
            eprintln!(
                "start one (`redis-server`) or point REDIS_URL at one, e.g. \
                 REDIS_URL=redis://127.0.0.1:6379/0"
            );
            return ExitCode::FAILURE;
        }
    };
    match run(&cache) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cache: &RedisCache) -> Result<(), CacheError> {
    println!("connected; key prefix {:?}", cache.key_prefix());
    cache.set("user:1", "alice".to_string(), Ttl::Default)?; // the 600 s default
    cache.set(
        "user:2",
        "bob".to_string(),
        Ttl::After(Duration::from_secs(5)),
    )?;
    let alice: Option<String> = cache.get("user:1")?;
    println!("user:1             -> {alice:?}");
    assert_eq!(alice.as_deref(), Some("alice"));

    // Batches are one round trip.
    cache.set_many(vec![("n:1", 1u32), ("n:2", 2), ("n:3", 3)], Ttl::Never)?;
    let numbers: Vec<Option<u32>> = cache.get_many(&["n:1", "n:2", "n:9"])?;
    println!("get_many           -> {numbers:?}");
    assert_eq!(numbers, vec![Some(1), Some(2), None]);

    let removed = Cache::<String>::delete_pattern(cache, "user:*")?;
    println!("delete_pattern     -> {removed} removed");
    assert_eq!(removed, 2);
    Cache::<u32>::clear(cache)?; // only this prefix's keys
    println!("stats              -> {:?}", Cache::<u32>::stats(cache));
    Ok(())
}
