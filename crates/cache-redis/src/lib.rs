//! `RedisCache`: a [`cache_core::Cache`] on Redis or Redis Cluster.
//!
//! ```no_run
//! use cache_core::{Cache, Ttl};
//! use cache_redis::{RedisCache, RedisConfig};
//! use std::time::Duration;
//!
//! // From a URL, with the defaults (key prefix "cache:"):
//! let cache = RedisCache::open("redis://127.0.0.1:6379/0")?;
//! cache.set("user:1", "alice".to_string(), Ttl::After(Duration::from_secs(60)))?;
//! let name: Option<String> = cache.get("user:1")?;
//! assert_eq!(name.as_deref(), Some("alice"));
//! assert_eq!(cache.delete_pattern("user:*")?, 1);
//!
//! // From a config, on a cluster (with the `cluster` feature):
//! # #[cfg(feature = "cluster")] {
//! let sessions = RedisCache::new(
//!     RedisConfig::cluster(["redis://cache-node-1:7000", "redis://cache-node-2:7000"])
//!         .key_prefix("sessions:")
//!         .default_ttl(Duration::from_secs(1800))
//!         .timeouts(Duration::from_millis(500)),
//! )?;
//! sessions.set("abc", vec![1u8, 2, 3], Ttl::Default)?;
//! # }
//! # Ok::<(), cache_core::CacheError>(())
//! ```
//!
//! # Design
//! - **Values** are stored by the cache's codec ([`RedisConfig::codec`]; by default
//!   [`cache_core::codec`] envelopes: a version byte, a structural type tag, then
//!   `postcard`), optionally lz4-compressed ([`RedisConfig::compress_above`]), so one
//!   `RedisCache` stores any serde type, and a value read as another type is a miss.
//! - **Versions** ([`RedisConfig::version`]): a key of a version other than 1 is the prefix,
//!   the key, `0xFF` and the version; `clear`, `delete_pattern` and `count` reach every
//!   version.
//!   `RedisCache` implements `Cache<V>` for every such `V`; the type is fixed at each call
//!   (`let v: Option<User> = cache.get(k)?`, or a `&dyn Cache<User>`). The one exception:
//!   an `i64` is stored as a plain decimal string, the form `INCRBY` works on, so a counter
//!   made by `incr` and an `i64` written by `set` are the same thing, `get::<i64>` reads both
//!   (and envelopes of `i64` written before), and `redis-cli GET` shows the number.
//! - **Atomic operations**, one command or one Lua script each (atomic on a cluster too: one
//!   key each): `add` is `SET ... NX PX`; `incr` is `INCRBY` (a script `EXISTS`, `INCRBY`,
//!   `PEXPIRE` when the cache has a default TTL, so that a new counter gets it and an existing
//!   one keeps its own); `touch` is `PEXPIRE` (`PERSIST` for `Ttl::Never`); `ttl` is `PTTL`.
//!   Scripts go by `EVALSHA`, then `EVAL` on a node that does not know them yet.
//! - **Keys** are the key prefix followed by the key's UTF-8 bytes: any `&str` works, NUL
//!   and newlines included. `clear` and `delete_pattern` touch only keys under the prefix,
//!   found with `SCAN ... MATCH` (never `KEYS`, never `FLUSHDB`) and removed with `UNLINK`.
//!   Glob characters of the prefix are escaped for `MATCH`.
//! - **Patterns**: Redis's `MATCH` works on bytes (its `?` is one byte, not one character)
//!   and gives `[`, `]` and `\` meanings the contract does not. Redis is therefore sent a
//!   superset pattern (literal characters escaped, `?` widened to `*`), and the keys it
//!   returns are filtered with [`cache_core::Pattern`], the matcher of every backend.
//! - **TTL** is native: `SET key value PX ms`, in one command. Sub-millisecond TTLs round up
//!   to 1 ms; a zero TTL deletes the key (Redis refuses `PX 0`); a TTL that reaches past
//!   [`Timestamp::MAX`](cache_core::Timestamp::MAX) (2554) from now means no expiry, as on
//!   every backend. Redis expires entries itself, so `expirations` stays 0.
//! - **Connections** come from an r2d2 pool, with a manager that bounds connecting and sets
//!   read and write timeouts on each connection, and without r2d2's ping on every checkout
//!   (it halves throughput). A connection that failed with an I/O error or a timeout is
//!   dropped rather than reused. An operation that failed because its connection was dropped
//!   or refused (a pooled connection gone stale when the server restarted) is tried once
//!   more on a fresh connection, if running it twice is harmless or it cannot have run
//!   (see [Retries and failures](#retries-and-failures)); a timeout is not retried.
//! - **Cluster**: the same API from a list of nodes. Batches are split so that no command
//!   spans two slots (no CROSSSLOT): `get_many` and `set_many` pipeline single-key commands
//!   (one round trip per node), `delete_many` sends one `UNLINK` per slot. `clear`,
//!   `delete_pattern` and [`RedisCache::count`] scan every primary.
//! - **Single flight**: `get_or_insert_with` runs its loader once per key across threads and
//!   processes sharing the prefix, through a lock key with a bounded lease (see
//!   [`RedisConfig::single_flight`] and [`RedisConfig::flight_lease`]).
//! - **Invalidations** for a near cache: both caches implement
//!   [`cache_core::near::Invalidations`] with Redis's client-side caching in broadcasting
//!   mode (`CLIENT TRACKING ... BCAST PREFIX <key prefix>`, redirected to a listener
//!   connection of its own per server, read by a std thread), followed across restarts,
//!   Sentinel and cluster failovers; see the implementation on [`RedisCache`].
//! - **Statistics** are per instance (shared by clones) and count as the crate docs of
//!   `cache-core` say; `entries` is `None` since counting is a `SCAN`
//!   ([`RedisCache::count`] does it on request).
//!
//! # TLS, Sentinel, failover
//! - **TLS**: `rediss://` URLs (a server, every node of a cluster, sentinels) with the
//!   `tls-rustls` feature (rustls on the `ring` provider, which needs no cmake);
//!   [`RedisConfig::tls`] takes a CA certificate and a client certificate and key (mutual
//!   TLS). Without the feature a `rediss://` URL is a configuration error naming it.
//! - **Sentinel**: [`RedisConfig::sentinel`]; every new pooled connection asks the
//!   sentinels in turn for the current primary (`SENTINEL get-master-addr-by-name`) and
//!   checks that the server named says it is one (`ROLE`), each step within the connect,
//!   read and write timeouts, with no lock held, so a frozen primary holds up no other
//!   thread. A connection to a primary that went away or was demoted (`READONLY`) is
//!   dropped and the operation tried once more on a fresh one, one that timed out is
//!   dropped, so the same instance follows a failover.
//! - **Cluster failover**: a connection that fails is dropped, and a fresh one reads the
//!   slot map again, so after a replica's promotion every slot works through the same
//!   instance.
//!
//! # Retries and failures
//! Every operation fails with [`CacheError::Backend`], of a kind a program can act on
//! ([`CacheError::is_timeout`], [`CacheError::is_unavailable`], [`CacheError::is_auth`],
//! [`CacheError::is_misconfigured`] for a TLS setup that cannot work: an untrusted server
//! certificate, a refused client certificate, a `redis://` URL on a TLS port),
//! with the `redis` error as its cause ([`RedisFailure`]), naming the operation and the server,
//! when the server is down, hung or unreachable: within the pool wait when no connection can
//! be had, else within [`RedisConfig::call_timeout`] (plus [`CALL_MARGIN`]).
//!
//! A command whose connection fails after it was sent may have run, its reply lost. So only
//! operations that are harmless to run twice are sent again whatever happened: reads,
//! `set` and `set_many` (a TTL then counts from the resend), `touch`, the deletes (whose
//! answer is then the resend's: an entry the lost attempt removed is reported absent) and
//! the single-flight lock. `incr`, `decr` and `add` are sent again only when they cannot
//! have run (the write failed, the connection was refused, the server refused them);
//! otherwise they fail with [`CacheError::is_outcome_unknown`], an error naming the
//! operation, key and server that says the command may or may not have run (not
//! [`CacheError::is_unavailable`]: a write that may have happened is not a miss). The async
//! cache cannot tell a failed write from a lost reply: there these three are sent again
//! only after a refusal. On a cluster, the `redis` crate's cluster client also retries a
//! dropped connection itself (`cluster_retries`).
//!
//! [`CacheError::Backend`]: cache_core::CacheError::Backend
//! [`CacheError::is_outcome_unknown`]: cache_core::CacheError::is_outcome_unknown
//! [`CacheError::is_timeout`]: cache_core::CacheError::is_timeout
//! [`CacheError::is_unavailable`]: cache_core::CacheError::is_unavailable
//! [`CacheError::is_auth`]: cache_core::CacheError::is_auth
//! [`CacheError::is_misconfigured`]: cache_core::CacheError::is_misconfigured
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// This crate's README, compiled (and run, unless marked `no_run`) as doctests, so that its
/// crates.io page never lies.
#[cfg(all(doctest, feature = "cluster"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

// The layout (ARCHITECTURE.md draws it): the two caches, `blocking` (`RedisCache`) and `aio`
// (`AsyncRedisCache`), are siblings that never use each other; below both, shared,
// `tracking` (the invalidation listeners of `near::Invalidations`, on std threads), then
// `connection` (configurations made into clients, sentinels), then `proto` (sans-I/O: keys,
// values, commands, scripts, the flight lock, errors) and `config`. Dependencies run down.
#[cfg(feature = "tokio")]
mod aio;
mod blocking;
mod config;
mod config_file;
mod connection;
mod proto;
mod tracking;

use cache_core::codec;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use aio::cache::AsyncRedisCache;
pub use blocking::cache::RedisCache;
pub use config::{
    RedisConfig, RedisTopology, SentinelTopology, TlsCertificates, CALL_MARGIN,
    DEFAULT_MAX_VALUE_BYTES,
};
pub use proto::failure::RedisFailure;

/// The `MATCH` pattern that `delete_pattern(pattern)` sends Redis on a cache whose key prefix
/// is `prefix`: the prefix and the pattern's literal characters escaped, `?` widened to `*`
/// (Redis matches bytes, the contract's `?` is one character). It selects a superset of the
/// keys to delete; the keys Redis returns are then filtered with [`Pattern`], so every
/// backend deletes the same keys. Public so that it can be checked (fuzzed) on its own.
///
///
/// [`Pattern`]: cache_core::Pattern
///
/// ```
/// assert_eq!(cache_redis::match_pattern("app[1]:", "user:caf?"), b"app\\[1\\]:user:caf*");
/// ```
pub fn match_pattern(prefix: &str, pattern: &str) -> Vec<u8> {
    proto::keys::KeySpace::new(prefix, codec::DEFAULT_VERSION).match_superset(pattern)
}
