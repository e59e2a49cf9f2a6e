//! One caching interface, several backends. This crate only re-exports: the core types
//! always ([`Cache`], [`Ttl`], [`CacheStats`], [`CacheError`], ...), each backend behind its
//! feature.
//!
//! | feature | backend | crate |
//! |---|---|---|
//! | `memory` (default) | [`InMemoryCache`]: sharded in-memory LRU with TTL, and [`AsyncInMemoryCache`] | `cache-memory` |
//! | `file` | [`FileBasedCache`]: crash-safe, multi-process file cache | `cache-file` |
//! | `redis` | [`RedisCache`]: Redis, pooled, native TTL | `cache-redis` |
//! | `redis-cluster` | [`RedisCache`] on a Redis Cluster ([`RedisConfig::cluster`]) | `cache-redis` |
//! | `tokio` | [`AsyncFileCache`] and [`AsyncRedisCache`] (with `file` / `redis`) | both |
//! | `tiered` | [`TieredCache`] and [`AsyncTieredCache`]: a near cache in memory in front of any backend, kept true across processes | `cache-tiered` |
//! | `redis-tls-rustls` | `rediss://` and certificates for [`RedisCache`] (rustls) | `cache-redis` |
//! | `macros` | [`#[memoize]`](macro@memoize): a function's results cached on any backend | `cache-macros` |
//! | `metrics` | latencies, counters and gauges through the `metrics` facade ([`observe`]) | every backend on |
//! | `tracing` | a span per operation, and events, through `tracing` ([`observe`]) | every backend on |
//!
//! **Async.** [`AsyncCache<V>`](AsyncCache) has every operation of `Cache<V>` as a future
//! (object-safe: `Arc<dyn AsyncCache<V>>`), with async loaders through [`AsyncCacheExt`].
//! Each backend has an async type beside its blocking one, a handle on the same cache:
//! [`AsyncInMemoryCache`] (no runtime needed), and on tokio, behind the `tokio` feature,
//! [`AsyncFileCache`] and [`AsyncRedisCache`]. A blocking type implements only `Cache` and
//! an async one only `AsyncCache`, so both traits can be imported together (`use
//! cache::*;`, [`use cache::prelude::*;`](prelude)) and method calls stay plain.
//!
//! **Handles.** Every cache type is a cheap clonable handle: a clone is the same cache (same
//! entries and counters). Clone it into threads and tasks instead of wrapping it in an
//! `Arc`.
//!
//! **TTLs.** The traits take a [`Ttl`] (the cache's default, never, or a duration). The
//! in-memory types' `set`, `add`, `touch` and `set_many`, and every cache's
//! `get_or_insert_with`, also take a `Duration` or an `Option<Duration>` (`None`: never
//! expires); see [Passing a TTL](cache_core#passing-a-ttl).
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
//! cache.set("short", 7u32, Duration::from_secs(5))?;
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
        feature = "tokio",
        feature = "tiered",
        feature = "macros"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]

pub use cache_core::*;

#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub use cache_memory::{
    AsyncInMemoryCache, InMemoryCache, InMemoryCacheBuilder, Policy, MIN_ENTRIES_PER_SHARD,
};

#[cfg(all(feature = "file", feature = "tokio"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "file", feature = "tokio"))))]
pub use cache_file::AsyncFileCache;
#[cfg(feature = "file")]
#[cfg_attr(docsrs, doc(cfg(feature = "file")))]
pub use cache_file::{
    FileBasedCache, FileBasedCacheBuilder, DEFAULT_MAX_BYTES, TMP_DIR, USAGE_FILE,
};
#[cfg(all(feature = "redis", feature = "tokio"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "redis", feature = "tokio"))))]
pub use cache_redis::AsyncRedisCache;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use cache_redis::{
    match_pattern, RedisCache, RedisConfig, RedisFailure, RedisTopology, SentinelTopology,
    TlsCertificates,
};

#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use cache_macros::memoize;
#[cfg(feature = "tiered")]
#[cfg_attr(docsrs, doc(cfg(feature = "tiered")))]
pub use cache_tiered::{
    AsyncTieredCache, AsyncTieredCacheBuilder, TierStats, TieredCache, TieredCacheBuilder,
    DEFAULT_NEAR_MAX_SIZE,
};

/// This crate's README, compiled and run as doctests, so that its crates.io page never lies.
#[cfg(all(doctest, feature = "file", feature = "redis-cluster"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// What most code needs, in one import: the traits and their extension traits (so that
/// methods can be called), [`Ttl`], [`CacheError`], and the cache types of the enabled
/// features. Every cache type implements one of the two traits only, so these imports never
/// make a method call ambiguous.
///
/// ```
/// use cache::prelude::*;
/// use std::time::Duration;
///
/// # #[cfg(feature = "memory")] {
/// let cache = InMemoryCache::new(1_000, None)?;
/// cache.set("a", 1u32, Duration::from_secs(60))?;
/// let b = cache.get_or_insert_with("b", Ttl::Never, || 2)?;
/// assert_eq!((cache.get("a")?, b), (Some(1), 2));
/// let tasks = AsyncInMemoryCache::new(cache.clone()); // for async code, the same cache
/// # }
/// # Ok::<(), CacheError>(())
/// ```
pub mod prelude {
    pub use cache_core::{AsyncCache, AsyncCacheExt, Cache, CacheError, CacheExt, Ttl};

    #[cfg(feature = "memory")]
    #[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
    pub use cache_memory::{AsyncInMemoryCache, InMemoryCache};

    #[cfg(all(feature = "file", feature = "tokio"))]
    #[cfg_attr(docsrs, doc(cfg(all(feature = "file", feature = "tokio"))))]
    pub use cache_file::AsyncFileCache;
    #[cfg(feature = "file")]
    #[cfg_attr(docsrs, doc(cfg(feature = "file")))]
    pub use cache_file::FileBasedCache;
    #[cfg(all(feature = "redis", feature = "tokio"))]
    #[cfg_attr(docsrs, doc(cfg(all(feature = "redis", feature = "tokio"))))]
    pub use cache_redis::AsyncRedisCache;
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub use cache_redis::RedisCache;
    #[cfg(feature = "tiered")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tiered")))]
    pub use cache_tiered::{AsyncTieredCache, TieredCache};
}
