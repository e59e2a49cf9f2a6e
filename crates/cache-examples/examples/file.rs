//! The file cache: `cargo run -p cache-examples --example file`.
//!
//! Stores entries under a directory (a fresh temporary one here; pass a path to keep it),
//! reads them back, shows that a second instance (another process would do the same) sees
//! them, bounds the cache, and sweeps expired entries.

use std::path::PathBuf;
use std::time::Duration;

use cache::{FileBasedCache, Ttl};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (dir, temporary) = match std::env::args_os().nth(1) {
        Some(dir) => (PathBuf::from(dir), false),
        None => {
            let dir = std::env::temp_dir().join(format!("cache-example-{}", std::process::id()));
            (dir, true)
        }
    };
    println!("cache directory: {}", dir.display());

    // A default TTL of an hour, at most 1,000 entries and 16 MiB of entry files.
    let cache = FileBasedCache::builder(&dir)
        .default_ttl(Duration::from_secs(3600))
        .max_entries(1_000)
        .max_bytes(16 << 20)
        .build()?;

    // Any serde type; the type is fixed at each call.
    cache.set("user:42", ("alice".to_string(), 42u32), Ttl::Default)?;
    cache.set("greeting", "hello".to_string(), Ttl::Never)?;
    cache.set("flash", "gone soon".to_string(), Ttl::After(Duration::ZERO))?;
    let user: Option<(String, u32)> = cache.get("user:42")?;
    println!("user:42            -> {user:?}");
    assert_eq!(user, Some(("alice".to_string(), 42)));
    let flash: Option<String> = cache.get("flash")?;
    println!("flash (zero TTL)   -> {flash:?}");
    assert_eq!(flash, None);

    // Another instance on the same directory (or another process) sees the same entries.
    let again = FileBasedCache::new(&dir, None)?;
    let greeting: Option<String> = again.get("greeting")?;
    println!("from a 2nd handle  -> {greeting:?}");
    assert_eq!(greeting.as_deref(), Some("hello"));

    // Reading a value as another type is a miss, never a wrong value.
    let wrong: Option<u64> = again.get("greeting")?;
    println!("greeting as u64    -> {wrong:?}");
    assert_eq!(wrong, None);

    let removed = cache.delete_pattern("user:*")?; // no value type needed
    println!("delete_pattern     -> {removed} removed");
    assert_eq!(removed, 1);
    cache.purge_expired()?;
    println!("stats              -> {:?}", cache.stats());

    if temporary {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
