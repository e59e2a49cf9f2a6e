//! One caching interface, several backends. This crate only re-exports: the core types
//! always ([`Cache`], [`Ttl`], [`CacheStats`], [`CacheError`], ...), each backend behind its
//! feature.
//!
//! | feature | backend | crate |
//! |---|---|---|
//! | `memory` (default) | [`InMemoryCache`]: sharded in-memory LRU with TTL | `cache-memory` |
//! | `file` | [`FileBasedCache`]: crash-safe, multi-process file cache | `cache-file` |
//! | `redis` | [`RedisCache`]: Redis, pooled, native TTL | `cache-redis` |
//! | `redis-cluster` | [`RedisCache`] on a Redis Cluster ([`RedisConfig::cluster`]) | `cache-redis` |
//! | `tokio` | [`AsyncFileCache`] and [`AsyncRedisCache`] (with `file` / `redis`) | both |
//! | `redis-tls-rustls` | `rediss://` and certificates for [`RedisCache`] (rustls) | `cache-redis` |
//!
//! **Async.** [`AsyncCache<V>`](AsyncCache) has every operation of `Cache<V>` as a future
//! (object-safe: `Arc<dyn AsyncCache<V>>`), with async loaders through [`AsyncCacheExt`].
//! [`InMemoryCache`] implements it without any runtime; the file and Redis backends do on
//! tokio, behind the `tokio` feature.
//!
//! Every backend implements the object-safe [`Cache<V>`](Cache) and passes the same
//! conformance suite (`cache-conformance`); code written against `&dyn Cache<V>` works with
//! any of them. Each backend takes its default TTL (for [`Ttl::Default`] writes) as a
//! `Duration`, `Some(duration)` or `None`; zero is an error when it is built.
//!
//! ```
//! use cache::{Cache, InMemoryCache, Ttl};
//! use std::time::Duration;
//!
//! let cache = InMemoryCache::new(1_000, Duration::from_secs(60))?;
//! cache.set("answer", 42u32, Ttl::Default)?;
//! assert_eq!(cache.get("answer")?, Some(42));
//!
//! // Any backend, through the trait:
//! fn warm(cache: &dyn Cache<u32>) -> Result<(), cache::CacheError> {
//!     cache.set("warm", 1, Ttl::Never).map(drop)
//! }
//! warm(&cache)?;
//! # Ok::<(), cache::CacheError>(())
//! ```
//!
//! The file and Redis backends, with their features on:
//!
//! ```no_run
//! # #[cfg(all(feature = "file", feature = "redis"))]
//! # fn main() -> Result<(), cache::CacheError> {
//! use cache::{Cache, FileBasedCache, RedisCache, Ttl};
//! use std::time::Duration;
//!
//! let files = FileBasedCache::new("/var/cache/myapp", Duration::from_secs(3600))?;
//! files.set("user:42", ("alice".to_string(), 42u32), Ttl::Default)?;
//!
//! let redis = RedisCache::open("redis://127.0.0.1:6379/0")?;
//! let user: Option<(String, u32)> = redis.get("user:42")?;
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "file", feature = "redis")))]
//! # fn main() {}
//! ```
//!
//! Minimum Rust version: 1.89.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The links to the backends of features that are off have nothing to point to.
#![cfg_attr(
    not(all(
        feature = "memory",
        feature = "file",
        feature = "redis-cluster",
        feature = "tokio"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]

pub use cache_core::*;

#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub use cache_memory::{InMemoryCache, InMemoryCacheBuilder, Policy};

#[cfg(all(feature = "file", feature = "tokio"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "file", feature = "tokio"))))]
pub use cache_file::AsyncFileCache;
#[cfg(feature = "file")]
#[cfg_attr(docsrs, doc(cfg(feature = "file")))]
pub use cache_file::{FileBasedCache, FileBasedCacheBuilder};
#[cfg(all(feature = "redis", feature = "tokio"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "redis", feature = "tokio"))))]
pub use cache_redis::AsyncRedisCache;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use cache_redis::{
    RedisCache, RedisConfig, RedisFailure, RedisTopology, SentinelTopology, TlsCertificates,
};

/// This crate's README, compiled and run as doctests, so that its crates.io page never lies.
#[cfg(all(doctest, feature = "file", feature = "redis-cluster"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
