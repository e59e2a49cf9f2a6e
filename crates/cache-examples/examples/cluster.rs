//! The Redis cache on a Redis Cluster:
//! `REDIS_CLUSTER_URLS=redis://127.0.0.1:7000,redis://127.0.0.1:7001 cargo run -p
//! cache-examples --example cluster` (any of the cluster's nodes; the others are found).

mod shared;

use cache::{RedisCache, RedisConfig};

fn main() -> std::process::ExitCode {
    shared::main_of(|| {
        let urls = shared::env(
            "REDIS_CLUSTER_URLS",
            "REDIS_CLUSTER_URLS=redis://127.0.0.1:7000,redis://127.0.0.1:7001 \
             cargo run -p cache-examples --example cluster",
        )?;
        let config = RedisConfig::cluster(urls.split(',').map(str::trim))
            .key_prefix(shared::prefix("cluster"));
        RedisCache::new(config).map_err(|e| format!("no cluster answered: {e:#}"))
    })
}
