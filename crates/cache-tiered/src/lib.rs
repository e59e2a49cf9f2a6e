//! A near cache: process memory in front of a shared cache (files, Redis, any
//! [`Cache<V>`](cache_core::Cache) or [`AsyncCache<V>`](cache_core::AsyncCache)), kept true
//! across processes.
//!
//! - [`TieredCache`] (blocking) and [`AsyncTieredCache`] put an
//!   [`InMemoryCache`](cache_memory::InMemoryCache) (any policy, its own bound) in front of a
//!   far tier, and are caches themselves: they pass the conformance suite unchanged.
//! - How the near tier stays true is chosen by name when it is built
//!   ([`TieredCacheBuilder`]): the far tier's invalidations (Redis), its entry stamps
//!   (files), or nothing, for a far tier no one else writes.
//! - `CONTRACT.md` (in the crate) states the guarantees: a process reads its own writes at
//!   once; another process's write is seen within the invalidation delay (invalidated) or
//!   the max staleness (stamped); reads of a key never go back in time within a process.
//!
//! ```
//! use cache_core::Cache;
//! use cache_memory::InMemoryCache;
//! use cache_tiered::TieredCache;
//! use std::time::Duration;
//!
//! let far = InMemoryCache::<String>::new(100_000, None)?;
//! let cache = TieredCache::builder(far)
//!     .near_max_size(1_000)
//!     .build_without_coherence_no_other_writers()?;
//! cache.set("greeting", "hello".to_string(), Duration::from_secs(60))?;
//! assert_eq!(cache.get("greeting")?.as_deref(), Some("hello")); // a near hit
//! assert_eq!(cache.tier_stats().near_hits_served, 1);
//! # Ok::<(), cache_core::CacheError>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// This crate's README, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod blocking;
mod core;
mod future;
mod settings;

pub use blocking::{TieredCache, TieredCacheBuilder};
pub use core::TierStats;
pub use future::{AsyncTieredCache, AsyncTieredCacheBuilder};
pub use settings::DEFAULT_NEAR_MAX_SIZE;
