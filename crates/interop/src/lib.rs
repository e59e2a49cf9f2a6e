//! Test-only crate: two programs, `writer` and `reader` (`src/bin/`), each a crate of its own
//! with its own `User` and `Point`, share a cache directory and a Redis prefix; the test
//! `tests/two_programs.rs` runs them. Both open their caches the same way, through
//! [`caches`].
#![forbid(unsafe_code)]

use cache_file::FileBasedCache;
use cache_redis::{RedisCache, RedisConfig};

/// The file cache in `dir` and the Redis cache at `url` under `prefix`, both with the
/// default codec, from the command line `PROGRAM DIR URL PREFIX`.
///
/// ```no_run
/// let (file, redis) = cache_interop::caches(std::env::args().skip(1));
/// ```
pub fn caches(mut args: impl Iterator<Item = String>) -> (FileBasedCache, RedisCache) {
    let (Some(dir), Some(url), Some(prefix)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: PROGRAM CACHE_DIR REDIS_URL KEY_PREFIX");
        std::process::exit(2);
    };
    let file = FileBasedCache::new(dir, None).unwrap_or_else(|e| fail(e));
    let redis =
        RedisCache::new(RedisConfig::new(url).key_prefix(prefix)).unwrap_or_else(|e| fail(e));
    (file, redis)
}

fn fail(e: cache_core::CacheError) -> ! {
    eprintln!("{e}");
    std::process::exit(1)
}
