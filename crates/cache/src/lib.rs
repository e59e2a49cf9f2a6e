//! One caching interface, several backends. This crate only re-exports: the core types
//! always, each backend behind its feature.
//!
//! | feature | backend | crate |
//! |---|---|---|
//! | `memory` (default) | [`InMemoryCache`]: sharded in-memory LRU with TTL | `cache-memory` |
//! | `file` | `FileBasedCache`: crash-safe, multi-process file cache | `cache-file` |
//! | `redis` | `RedisCache`: Redis and Redis Cluster, pooled, native TTL | `cache-redis` |
//! | `redis-tls-rustls` | `rediss://` and certificates for `RedisCache` (rustls) | `cache-redis` |
//!
//! ```
//! use cache::{Cache, InMemoryCache, Ttl};
//! use std::time::Duration;
//!
//! let cache = InMemoryCache::new(1_000, Some(Duration::from_secs(60)))?;
//! cache.set("answer", 42u32, Ttl::Default)?;
//! assert_eq!(cache.get("answer")?, Some(42));
//! # Ok::<(), cache::CacheError>(())
//! ```
#![forbid(unsafe_code)]

pub use cache_core::*;

#[cfg(feature = "memory")]
pub use cache_memory::{InMemoryCache, InMemoryCacheBuilder};

#[cfg(feature = "file")]
pub use cache_file::{FileBasedCache, FileBasedCacheBuilder};
#[cfg(feature = "redis")]
pub use cache_redis::{
    RedisCache, RedisConfig, RedisFailure, RedisTopology, SentinelTopology, TlsCertificates,
};

/// The README's examples, compiled and run as doctests so that the front door never lies.
#[cfg(all(doctest, feature = "file", feature = "redis"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
