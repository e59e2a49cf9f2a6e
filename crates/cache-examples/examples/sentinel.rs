//! The Redis cache on the primary that Redis Sentinel names, followed across failovers:
//! `REDIS_SENTINEL_URLS=redis://127.0.0.1:26379 REDIS_SENTINEL_MASTER=mymaster cargo run -p
//! cache-examples --example sentinel`.

mod shared;

use cache::{RedisCache, RedisConfig};

fn main() -> std::process::ExitCode {
    shared::main_of(|| {
        let how = "REDIS_SENTINEL_URLS=redis://127.0.0.1:26379 REDIS_SENTINEL_MASTER=mymaster \
                   cargo run -p cache-examples --example sentinel";
        let urls = shared::env("REDIS_SENTINEL_URLS", how)?;
        let master = shared::env("REDIS_SENTINEL_MASTER", how)?;
        let config = RedisConfig::sentinel(urls.split(',').map(str::trim), master)
            .key_prefix(shared::prefix("sentinel"));
        RedisCache::new(config).map_err(|e| format!("no primary found: {e:#}"))
    })
}
