//! The small, stable core that every cache backend implements and every user programs against.
//!
//! - [`Cache`]: the object-safe trait (`get`, `set`, `delete`, `clear`, `exists`,
//!   `delete_pattern`, `stats`, `add`, `incr`/`decr`, `touch`, `ttl`, plus batch and
//!   get-or-compute helpers).
//! - [`AsyncCache`]: the same operations as futures, object-safe and runtime-neutral, with
//!   async loaders through [`AsyncCacheExt`].
//! - [`Ttl`]: per-call expiry (the cache's default, never, or a duration), and [`Timestamp`].
//! - [`Clock`]: where backends that keep their own time read it; [`MockClock`] for tests.
//! - [`CacheStats`]: the counters every backend reports.
//! - [`CacheError`]: what failed and where.
//! - [`Pattern`]: the glob matcher behind `delete_pattern`, the same for every backend.
//! - [`CacheExt`]: `get_or_insert_with` and `try_get_or_insert_with` with a `FnOnce` loader,
//!   for every cache; [`flight`]: the single-flight pieces backends build them from.
//! - [`near`]: what a near cache in front of a shared backend needs from it to stay true
//!   across processes (invalidations, or entry stamps).
//! - [`observe`]: the metrics (feature `metrics`) and tracing (feature `tracing`) every
//!   backend reports through: a guard per operation, the stats as counters, gauges, spans.
//!
//! # The contract, where it needed deciding
//!
//! The behaviour below is what the conformance suite (`cache-conformance`) checks on every
//! backend. It completes the project's contract on the points the contract leaves open.
//!
//! **Expiry.** An entry written at `t` with TTL `d` is live while `now < t + d`. A zero TTL
//! stores nothing: `set` still returns `Ok(true)` and counts a set, and any older value under
//! the key is gone. TTLs too large to represent saturate to "never".
//!
//! **Counting.** Every operation that finds an expired entry removes it, counts one
//! expiration, and then behaves as if the key were absent:
//! - `get`: live → one hit; absent or expired → one miss (undecodable → one miss).
//! - `exists`: no hit or miss, recency unchanged.
//! - `set`: one set, always (a zero TTL included), and never an expiration: a set does not
//!   read the entry it replaces, so an expired entry it overwrites (or removes, with a zero
//!   TTL) goes uncounted. Expired entries of *other* keys that a bounded cache removes to
//!   make room count as expirations (see `evictions`); those a backend sweeps proactively
//!   as it writes (the file backend's sweep) are not counted.
//! - `delete`: `true` and one delete iff a live entry was removed.
//! - `delete_pattern`: returns, and counts as deletes, the live entries it removed.
//! - `clear`: changes no counter; counters are never reset.
//! - the batch methods count as their single-key counterparts, key by key.
//! - `add`: one set when it stores (a zero TTL included, as `set`); nothing when a live entry
//!   was there (a peek: recency unchanged).
//! - `incr` / `decr`: one set when the counter is written, no hit or miss (it reads only to
//!   add); an error (overflow, not a counter) counts nothing. Recency refreshed, as `set`.
//! - `touch`: nothing (no set: the value is not written); recency refreshed on LRU backends.
//!   A zero TTL removes the entry without counting a delete, as a zero-TTL `set` does.
//! - `ttl`: nothing, recency unchanged (a peek, like `exists`).
//! - `evictions`: entries removed to respect a size bound (live ones; expired entries removed
//!   to make room count as expirations).
//! - `get_or_insert_with` / `try_get_or_insert_with`: one hit or one miss (the first look),
//!   plus one set when the loaded value is stored; a caller that waited for another's load
//!   counts only its miss (re-reading the entry after the wait counts nothing).
//!
//! **Single flight.** `get_or_insert_with` runs the loader once per key across the callers
//! that miss together: every thread (and, through [`AsyncCache`], every task) of a process
//! for every backend, and every process sharing the directory (file) or the key prefix
//! (Redis), whether it calls through `Cache` or `AsyncCache`. The others wait and receive its
//! value; async callers await without parking a thread. A task that leads a flight and is
//! cancelled (its future dropped) abandons it like a panicking loader: one waiter loads
//! instead (Redis: the cancelled leader's lock key is deleted by a task it spawns, else its
//! lease ends it). If the loader fails, the callers that waited for it receive the same error
//! ([`CacheError::Loader`], its source one shared `Arc`; in another process a
//! [`flight::RemoteLoaderError`] with the message) instead of running it again; the next
//! call after that flight runs the loader anew. A loader that panics abandons its flight:
//! the panic reaches its own caller only, and the waiters start over (one of them loads).
//! Each backend's builder has `single_flight(false)` to opt out (every caller that misses
//! then runs the loader). Waiting is paid only on a miss: on a hit `get_or_insert_with`
//! costs what `get` costs.
//!
//! **Counters.** `incr` and `decr` work on caches of `i64` ([`CounterValue`]). On the
//! serializing backends a counter is simply the stored form of an `i64`: the file backend
//! keeps the same envelope as `set::<i64>`, and Redis keeps every `i64` (written by `set` or
//! `incr`) as a plain decimal string, the form `INCRBY` works on and `redis-cli GET` shows,
//! which its `get::<i64>` decodes. So `set(k, 5i64)` then `incr(k, 1)` gives 6 everywhere, and
//! a value of any other type under the key makes `incr` fail with
//! [`CacheError::NotACounter`], leaving it unchanged.
//!
//! **Default TTL.** Every backend's constructor, builder and configuration takes its default
//! TTL (the TTL of [`Ttl::Default`] writes) as `impl Into<Option<Duration>>`: a `Duration`,
//! `Some(duration)`, or `None` for "never expire", the same way everywhere. A zero default is
//! a configuration error when the cache is built ([`Ttl::check_default`]), since every
//! `Ttl::Default` write would store nothing; a zero TTL on one write is allowed.
//!
//! Backends whose server expires entries natively (Redis) cannot observe expirations and report
//! `expirations == 0`; `entries` is `None` where counting would not be cheap.
//!
//! **Codecs and versions** (file and Redis; see [`codec`] with the feature `codec`). Each
//! cache stores values through one codec chosen on its builder; with the default one a value
//! read as a type of another serde structure is a miss, and the same structure in another
//! crate or compiler reads back. A cache has a version (default 1): entries of another
//! version are invisible to `get`, `exists`, `delete` and the batch methods, while `clear`,
//! `delete_pattern` (even with a literal pattern) and their counts act on every version of
//! the cache's keys, so that invalidation reaches instances of an older deploy too. The
//! in-memory backend takes no version: it is never shared and dies with its process, so an
//! entry of another version can never be in it, and a setting that could change nothing
//! would only suggest otherwise.
//!
//! **Value types: owned, not borrowed.** A serializing cache (file, Redis) reads a value back
//! as a new one it owns, so its value types are the `DeserializeOwned` ones: `String`, not
//! `&str`; `Vec<u8>`, not `&[u8]`. Storing a `&str` as it stands fails to compile with
//! "implementation of `Deserialize` is not general enough" (a `&'a str` can only be read
//! from bytes that live for `'a`, and a cache's bytes do not outlive the read): store
//! `"text".to_owned()` and read a `String`; the two are the same entry, since `String` and
//! `&str` have one stored form.
//!
//! **Eviction policies and removals.** LRU is the contract's eviction order and every bounded
//! backend's default. A backend may offer other policies as an explicit choice (the memory
//! backend's `Policy::TinyLfu`); under those, a full cache evicts the entry the policy picks
//! (a new entry is still always stored), and the suite's exact-LRU cases do not apply. A backend
//! with a removal listener reports each removal once with a [`RemovalCause`], and the counts by
//! cause equal `evictions`, `expirations` and `deletes`; a value replaced by `set` is
//! `Replaced` (or `Expired`, counted, when it had expired), and a `set` or `touch` with a
//! zero TTL ends the live value as `Replaced`. A weight bound (`max_weight`) is split between
//! shards like `max_size`; a value heavier than its shard's share is not stored (`set`
//! returns `false`), and the key's older value is gone.
//!
//! ```
//! use cache_core::{Cache, CacheStats, Ttl};
//! use std::time::Duration;
//!
//! fn warm(cache: &dyn Cache<String>) -> Result<CacheStats, cache_core::CacheError> {
//!     cache.set("greeting", "hello".to_string(), Ttl::After(Duration::from_secs(60)))?;
//!     assert_eq!(cache.get("greeting")?.as_deref(), Some("hello"));
//!     Ok(cache.stats())
//! }
//! ```
//!
//! # Passing a TTL
//!
//! The traits take a [`Ttl`] wherever a method writes a TTL (`set`, `add`, `touch`,
//! `set_many`, `get_or_load`): a generic parameter would make them not object-safe. The
//! conveniences are where they cost nothing to `dyn Cache`:
//! - [`CacheExt`] and [`AsyncCacheExt`] (`get_or_insert_with`, `try_get_or_insert_with`)
//!   take any `impl Into<Ttl>`, on every cache, `dyn` ones included;
//! - each concrete cache type may have inherent methods named exactly like the trait methods
//!   that take a TTL (`set`, `add`, `touch`, `set_many`), taking `ttl: impl Into<Ttl>` and
//!   forwarding to its trait implementation with `ttl.into()`. Rust resolves an inherent
//!   method before a trait method, so on such a type `cache.set("k", v,
//!   Duration::from_secs(60))` compiles whichever traits are in scope (a glob import
//!   included), while `dyn Cache<V>` and generic code keep the trait's `Ttl`. Through a
//!   smart pointer (`Arc<C>`, `Box<C>`, which implement the traits themselves) the trait
//!   method is found first: write a `Ttl` (`duration.into()`) there. Every backend of this
//!   workspace has these methods on its blocking and its async type (the file and Redis
//!   ones also `get`, `get_many`, `add`: generic over the value, and the operations that
//!   carry no value, which `AsyncCache<V>` for every `V` could not tell apart).
//!
//! What converts: a `Duration` is [`Ttl::After`] it; `Some(duration)` is `Ttl::After` it and
//! `None` is [`Ttl::Never`] (no expiry, as `None` means for a default TTL); [`Ttl::Default`]
//! is written by name.
//!
//! A type that is a blocking cache implements only [`Cache`], and an async cache only
//! [`AsyncCache`] (each backend has one type of each: `InMemoryCache` and
//! `AsyncInMemoryCache`, `FileBasedCache` and `AsyncFileCache`, `RedisCache` and
//! `AsyncRedisCache`), so that with both traits (and both extension traits) in scope a method
//! call is never ambiguous.
//!
//! ```
//! use cache_core::{Cache, CacheExt, Ttl};
//! use std::time::Duration;
//!
//! fn through_the_trait(cache: &dyn Cache<u32>) -> Result<u32, cache_core::CacheError> {
//!     cache.set("a", 1, Ttl::After(Duration::from_secs(60)))?; // a `Ttl`
//!     cache.set("b", 2, Duration::from_secs(60).into())?; // converted by the caller
//!     cache.get_or_insert_with("c", Duration::from_secs(60), || 3) // any `impl Into<Ttl>`
//! }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// This crate's README, compiled (and run, unless marked `no_run`) as doctests, so that its
/// crates.io page never lies.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod async_cache;
mod cache;
mod clock;
#[cfg(feature = "codec")]
#[cfg_attr(docsrs, doc(cfg(feature = "codec")))]
pub mod codec;
mod counter;
mod error;
pub mod flight;
// The runtime of `#[memoize]` (crate `cache-macros`), for its generated code only.
#[doc(hidden)]
#[path = "memo.rs"]
pub mod __memo;
pub mod near;
pub mod observe;
mod pattern;
mod removal;
mod stats;
mod ttl;

pub use async_cache::{AsyncCache, AsyncCacheExt, AsyncLoader, BoxFuture, CacheFuture};
pub use cache::{BoxError, Cache, CacheExt, Loader};
pub use clock::{Clock, MockClock, MonotonicClock, SharedClock, SystemClock};
pub use counter::{CounterChange, CounterValue};
pub use error::{BackendFailure, CacheError};
pub use pattern::Pattern;
pub use removal::RemovalCause;
pub use stats::{AtomicStats, CacheStats};
pub use ttl::{Timestamp, Ttl};
