//! What the Redis examples share: a setting from the environment, and a short run against
//! the cache (under a key prefix of its own, cleared at the end).

use std::time::Duration;

use cache::{Cache, CacheError, RedisCache, Ttl};

/// The environment variable `name`, or the error that says how to run the example.
pub fn env(name: &str, how: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set; run it as: {how}"))
}

/// A key prefix of this process's own.
pub fn prefix(example: &str) -> String {
    format!("cache-example-{example}-{}:", std::process::id())
}

/// Sets, reads back, counts and clears: what each example shows on its topology.
pub fn exercise(cache: &RedisCache) -> Result<(), CacheError> {
    println!("connected; key prefix {:?}", cache.key_prefix());
    cache.set(
        "user:1",
        "alice".to_string(),
        Ttl::After(Duration::from_secs(60)),
    )?;
    let alice: Option<String> = cache.get("user:1")?;
    println!("user:1             -> {alice:?}");
    assert_eq!(alice.as_deref(), Some("alice"));
    // Keys of many slots (on a cluster, many nodes), one round trip per node.
    let keys: Vec<String> = (0..20).map(|i| format!("n:{i}")).collect();
    cache.set_many(
        keys.iter().map(|k| (k.as_str(), 1u32)).collect(),
        Ttl::Never,
    )?;
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values: Vec<Option<u32>> = cache.get_many(&refs)?;
    let found = values.into_iter().flatten().count();
    println!("get_many           -> {found} of {} found", keys.len());
    assert_eq!(found, keys.len());
    println!("incr visits        -> {}", cache.incr("visits", 1)?);
    Cache::<u32>::clear(cache)?; // only this prefix's keys
    println!("stats              -> {:?}", Cache::<u32>::stats(cache));
    Ok(())
}

/// Runs `exercise` on the cache `open` makes, reporting either error plainly.
pub fn main_of(open: impl FnOnce() -> Result<RedisCache, String>) -> std::process::ExitCode {
    let outcome = open().and_then(|cache| exercise(&cache).map_err(|e| format!("{e:#}")));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
