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
//!   to 1 ms; a zero TTL deletes the key (Redis refuses `PX 0`); a TTL beyond 146 million
//!   years means no expiry. Redis expires entries itself, so `expirations` stays 0.
//! - **Connections** come from an r2d2 pool, with a manager that bounds connecting and sets
//!   read and write timeouts on each connection, and without r2d2's ping on every checkout
//!   (it halves throughput). A connection that failed with an I/O error or a timeout is
//!   dropped rather than reused. An operation that failed because its connection was dropped
//!   or refused (a pooled connection gone stale when the server restarted) is tried once
//!   more on a fresh connection; a timeout is not retried.
//! - **Cluster**: the same API from a list of nodes. Batches are split so that no command
//!   spans two slots (no CROSSSLOT): `get_many` and `set_many` pipeline single-key commands
//!   (one round trip per node), `delete_many` sends one `UNLINK` per slot. `clear`,
//!   `delete_pattern` and [`RedisCache::count`] scan every primary.
//! - **Single flight**: `get_or_insert_with` runs its loader once per key across threads and
//!   processes sharing the prefix, through a lock key with a bounded lease (see
//!   [`RedisConfig::single_flight`] and [`RedisConfig::flight_lease`]).
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
//! ([`CacheError::is_timeout`], [`CacheError::is_unavailable`], [`CacheError::is_auth`]),
//! with the `redis` error as its cause ([`RedisFailure`]), naming the operation and the server,
//! when the server is down, hung or unreachable: within the pool wait when no connection can
//! be had, else within the connect plus read or write timeouts (on a cluster, per try). A
//! retried delete whose first reply was lost may report the entry it removed as absent.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// This crate's README, compiled (and run, unless marked `no_run`) as doctests, so that its
/// crates.io page never lies.
#[cfg(all(doctest, feature = "cluster"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(feature = "tokio")]
mod aio;
mod blocking;
mod config;
mod connection;
mod proto;

// The modules' old paths, until the imports name the new ones.
#[cfg(all(feature = "tokio", feature = "cluster"))]
use aio::route as async_route;
#[cfg(feature = "tokio")]
use aio::{cache as async_cache, coalesce, link as async_link};
use blocking::hot;
use proto::{failure, flight, keys, ops, value};

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cache_core::codec::{self, Codec, Encoding, Postcard};
use cache_core::flight::{hit_or_lead, FlightGroup};
use cache_core::{AtomicStats, Cache, CacheError, CacheStats, Loader, Pattern, Ttl};
use r2d2::ManageConnection;
use redis::RedisResult;
use serde::de::DeserializeOwned;
use serde::Serialize;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use async_cache::AsyncRedisCache;
pub use config::{RedisConfig, RedisTopology, SentinelTopology, TlsCertificates};
pub use failure::RedisFailure;

/// The `MATCH` pattern that `delete_pattern(pattern)` sends Redis on a cache whose key prefix
/// is `prefix`: the prefix and the pattern's literal characters escaped, `?` widened to `*`
/// (Redis matches bytes, the contract's `?` is one character). It selects a superset of the
/// keys to delete; the keys Redis returns are then filtered with [`Pattern`], so every
/// backend deletes the same keys. Public so that it can be checked (fuzzed) on its own.
///
/// ```
/// assert_eq!(cache_redis::match_pattern("app[1]:", "user:caf?"), b"app\\[1\\]:user:caf*");
/// ```
pub fn match_pattern(prefix: &str, pattern: &str) -> Vec<u8> {
    keys::KeySpace::new(prefix, codec::DEFAULT_VERSION).match_superset(pattern)
}

#[cfg(test)]
use config::redact;

use blocking::link::{Batch, Link, Manager, Tracked};
use connection::{Connector, Timeouts};
use keys::{Expiry, KeySpace};
use proto::command::Command;
use proto::keys::keyed;

/// A cache on Redis or Redis Cluster, for values of any serde type. Cheap to clone: clones
/// share the pool and the counters.
///
/// Build it with [`RedisCache::open`] (a URL) or [`RedisCache::new`] (a [`RedisConfig`]);
/// use it through the [`Cache`] trait. The methods that do not depend on the value type are
/// also inherent, so they need no type annotation.
///
/// ```no_run
/// use cache_core::{Cache, Ttl};
/// use cache_redis::RedisCache;
///
/// let cache = RedisCache::open("redis://127.0.0.1:6379/")?;
/// cache.set("n", 42u64, Ttl::Never)?;
/// assert_eq!(Cache::<u64>::get(&cache, "n")?, Some(42));
/// assert!(cache.exists("n")?);
/// assert_eq!(cache.stats().hits, 1);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[derive(Clone)]
pub struct RedisCache<C = Postcard> {
    inner: Arc<Inner>,
    /// The codec and compression of values (see [`RedisConfig::codec`]).
    encoding: Encoding<C>,
}

struct Inner {
    /// The r2d2 pool, with the connection the last call gave back kept for the next call
    /// (see `hot.rs`).
    pool: hot::HotSlot,
    /// The pool's manager, for the fresh connection of a retry (r2d2 does not lend its own).
    manager: Manager,
    keys: KeySpace,
    prefix: String,
    cluster: bool,
    default_ttl: Option<Duration>,
    scan_count: u32,
    stats: AtomicStats,
    /// "redis host:port" or "redis cluster host:port,...", for error messages.
    server: String,
    single_flight: bool,
    flight_lease: Duration,
    /// This instance's `get_or_insert_with` loads in progress, by key (see `flight.rs`).
    flights: FlightGroup<()>,
}

impl<C: Codec> fmt::Debug for RedisCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache")
            .field("server", &self.inner.server)
            .field("key_prefix", &self.inner.prefix)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A cache on the server at `url` (`redis://[user:password@]host[:port][/db]`), with the
    /// defaults of [`RedisConfig::new`].
    ///
    /// # Errors
    /// [`CacheError::Config`] for a malformed URL; [`CacheError::Backend`] when the server
    /// cannot be reached within the connect timeout.
    ///
    /// ```
    /// let err = cache_redis::RedisCache::open("not a url").unwrap_err();
    /// assert!(matches!(err, cache_core::CacheError::Config { .. }), "{err}");
    /// ```
    pub fn open(url: &str) -> Result<Self, CacheError> {
        Self::new(RedisConfig::new(url))
    }
}

impl<C: Codec> RedisCache<C> {
    /// A cache as `config` says. Connects and sends `PING` once before returning, so that an
    /// unreachable server or a refused login is an error here.
    ///
    /// # Errors
    /// [`CacheError::Config`] for a malformed URL or unusable settings (a zero pool size,
    /// timeout or default TTL); [`CacheError::Backend`] when the server cannot be reached or refuses the
    /// login.
    ///
    /// ```
    /// use cache_redis::{RedisCache, RedisConfig};
    /// let err = RedisCache::new(RedisConfig::new("redis://127.0.0.1/").pool_size(0)).unwrap_err();
    /// assert!(err.to_string().contains("pool_size"), "{err}");
    /// ```
    pub fn new(config: RedisConfig<C>) -> Result<Self, CacheError> {
        validate(&config)?;
        let timeouts = Timeouts::of(&config);
        let (connector, server) = Connector::from_config(&config)?;
        let cluster = connector.is_cluster();
        let manager = Manager {
            connector,
            timeouts,
        };
        // One connection and a PING now, so that an unreachable server or a refused login
        // fails here, at once and with its cause (r2d2 would retry until its wait runs out
        // and keep only a message).
        manager
            .connect()
            .and_then(|mut conn| manager.is_valid(&mut conn))
            .map_err(|e| failure::backend(format!("connecting to {server}"), e))?;
        let pool = r2d2::Pool::builder()
            .max_size(config.pool_size)
            .min_idle(config.min_idle)
            .idle_timeout(config.idle_timeout)
            .max_lifetime(config.max_lifetime)
            .connection_timeout(config.pool_timeout)
            .test_on_check_out(false)
            .build_unchecked(manager.clone());
        Ok(RedisCache {
            inner: Arc::new(Inner {
                pool: hot::HotSlot::new(pool),
                manager,
                keys: KeySpace::new(&config.key_prefix, config.version),
                prefix: config.key_prefix,
                cluster,
                default_ttl: config.default_ttl,
                scan_count: config.scan_count,
                stats: AtomicStats::default(),
                server,
                single_flight: config.single_flight,
                flight_lease: config.flight_lease,
                flights: FlightGroup::new(),
            }),
            encoding: Encoding::new(config.codec).with_threshold(config.compress_above),
        })
    }

    /// The key prefix of this cache.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// assert_eq!(cache.key_prefix(), "cache:");
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// A snapshot of this cache's counters (shared by its clones). `expirations` is always 0
    /// and `entries` is `None`: see [`RedisCache::count`].
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// assert_eq!(cache.stats().hit_rate(), 0.0);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot(None)
    }

    /// Removes `key`; `true` iff a live entry was removed.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// assert!(!cache.delete("absent")?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let cmd = keyed("UNLINK", &self.inner.keys, key);
        let removed: u64 = self.run("UNLINK", Some(key), |l| l.query(&cmd))?;
        self.inner.stats.add_deletes(removed);
        Ok(removed > 0)
    }

    /// Whether a live entry exists under `key`; counts no hit or miss.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// assert!(!cache.exists("absent")?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn exists(&self, key: &str) -> Result<bool, CacheError> {
        let cmd = keyed("EXISTS", &self.inner.keys, key);
        let n: u64 = self.run("EXISTS", Some(key), |l| l.query(&cmd))?;
        Ok(n > 0)
    }

    /// Removes every entry under this cache's prefix (on every primary of a cluster), and
    /// nothing else. Counters are kept.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// cache.clear()?;
    /// assert_eq!(cache.count()?, 0);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn clear(&self) -> Result<(), CacheError> {
        let pattern = self.inner.keys.match_all();
        let count = self.inner.scan_count;
        self.run("clear (SCAN, UNLINK)", None, |l| {
            l.scan(&pattern, count, &mut |l, page| l.unlink(&page).map(drop))
        })
    }

    /// Removes every live entry whose key matches the glob `pattern` ([`Pattern`]) and
    /// returns how many were removed.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// let removed = cache.delete_pattern("user:*:caf?")?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        // A literal pattern scans too: its key may have entries under other versions.
        let glob = Pattern::new(pattern);
        let inner = &*self.inner;
        let superset = inner.keys.match_superset(pattern);
        let mut removed = 0;
        let result = self.run("delete_pattern (SCAN, UNLINK)", Some(pattern), |l| {
            l.scan(&superset, inner.scan_count, &mut |l, mut page| {
                page.retain(|k| inner.keys.cache_key(k).is_some_and(|k| glob.matches(k)));
                removed += l.unlink(&page)?;
                Ok(())
            })
        });
        // What was removed before a failure is counted too.
        inner.stats.add_deletes(removed);
        result.map(|()| removed)
    }

    /// [`RedisCache::delete`] for several keys, in one round trip (one per node on a
    /// cluster); returns how many live entries were removed.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// assert_eq!(cache.delete_many(&["a", "b"])?, 0);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn delete_many(&self, keys: &[&str]) -> Result<u64, CacheError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let rks: Vec<Vec<u8>> = keys.iter().map(|k| self.inner.keys.redis_key(k)).collect();
        let removed = self.run("UNLINK (batch)", None, |l| l.unlink(&rks))?;
        self.inner.stats.add_deletes(removed);
        Ok(removed)
    }

    /// How many keys this cache holds now: a `SCAN` of the prefix on every primary, so it
    /// costs a pass over the whole keyspace. Entries that expired but that Redis has not
    /// removed yet may be included.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// println!("{} entries", cache.count()?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn count(&self) -> Result<u64, CacheError> {
        let pattern = self.inner.keys.match_all();
        let count = self.inner.scan_count;
        let mut seen = HashSet::new();
        self.run("count (SCAN)", None, |l| {
            l.scan(&pattern, count, &mut |_, page| {
                seen.extend(page);
                Ok(())
            })
        })?;
        Ok(seen.len() as u64)
    }

    fn get_value<V: DeserializeOwned + 'static>(&self, key: &str) -> Result<Option<V>, CacheError> {
        let cmd = keyed("GET", &self.inner.keys, key);
        let bytes: Option<Vec<u8>> = self.run("GET", Some(key), |l| l.query(&cmd))?;
        let value = bytes.and_then(|b| value::decode(&self.encoding, b));
        self.count_read(value.is_some());
        Ok(value)
    }

    fn set_value<V: Serialize + DeserializeOwned + 'static>(
        &self,
        key: &str,
        value: &V,
        ttl: Ttl,
    ) -> Result<bool, CacheError> {
        let cmd = match Expiry::of(ttl.resolve(self.inner.default_ttl)) {
            Expiry::Gone => keyed("UNLINK", &self.inner.keys, key),
            expiry => set_cmd(&self.inner.keys, &self.encoding, key, value, expiry)?,
        };
        self.run("SET", Some(key), |l| l.query::<()>(&cmd))?;
        self.inner.stats.set();
        Ok(true)
    }

    fn get_values<V: DeserializeOwned + 'static>(
        &self,
        keys: &[&str],
    ) -> Result<Vec<Option<V>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rks: Vec<Vec<u8>> = keys.iter().map(|k| self.inner.keys.redis_key(k)).collect();
        let found = self.run("MGET", None, |l| l.get_many(&rks))?;
        let values: Vec<Option<V>> = found
            .into_iter()
            .map(|b| b.and_then(|b| value::decode(&self.encoding, b)))
            .collect();
        let hits = values.iter().filter(|v| v.is_some()).count() as u64;
        self.inner.stats.add_hits(hits);
        self.inner.stats.add_misses(values.len() as u64 - hits);
        Ok(values)
    }

    fn set_values<V: Serialize + DeserializeOwned + 'static>(
        &self,
        entries: &[(&str, V)],
        ttl: Ttl,
    ) -> Result<(), CacheError> {
        if entries.is_empty() {
            return Ok(());
        }
        let expiry = Expiry::of(ttl.resolve(self.inner.default_ttl));
        if expiry == Expiry::Gone {
            let rks: Vec<Vec<u8>> = entries
                .iter()
                .map(|(k, _)| self.inner.keys.redis_key(k))
                .collect();
            self.run("UNLINK (zero-TTL batch)", None, |l| l.unlink(&rks))?;
        } else {
            let mut batch = Batch::new(self.inner.cluster, entries.len());
            for (k, v) in entries {
                batch.add(set_cmd(&self.inner.keys, &self.encoding, k, v, expiry)?.into_cmd());
            }
            self.run("SET (pipeline)", None, |l| l.run::<()>(&batch).map(drop))?;
        }
        self.inner.stats.add_sets(entries.len() as u64);
        Ok(())
    }

    #[inline]
    fn count_read(&self, hit: bool) {
        if hit {
            self.inner.stats.hit();
        } else {
            self.inner.stats.miss();
        }
    }

    /// Runs `f` on a pooled connection; if it fails because the connection was dropped or
    /// refused, once more on a fresh one. Errors name the operation, the key and the server.
    fn run<T>(
        &self,
        op: &str,
        key: Option<&str>,
        mut f: impl FnMut(&mut Link) -> RedisResult<T>,
    ) -> Result<T, CacheError> {
        let inner = &*self.inner;
        let context = || match key {
            Some(k) => format!("{op} of key {:?} on {}", short(k), inner.server),
            None => format!("{op} on {}", inner.server),
        };
        let mut conn = inner
            .pool
            .checkout()
            .map_err(|e| failure::pool(context(), e))?;
        let first = attempt(&mut conn, &mut f);
        inner.pool.give_back(&inner.manager, conn);
        match first {
            Ok(v) => Ok(v),
            Err(e) if failure::worth_retrying(&e) => inner
                .manager
                .connect()
                .and_then(|mut fresh| attempt(&mut fresh, &mut f))
                .map_err(|e| failure::backend(context(), e)),
            Err(e) => Err(failure::backend(context(), e)),
        }
    }
}

/// Runs `f` on `conn`, marking the connection broken when the error leaves it suspect.
fn attempt<T>(
    conn: &mut Tracked,
    f: &mut impl FnMut(&mut Link) -> RedisResult<T>,
) -> RedisResult<T> {
    let result = f(&mut conn.link);
    if let Err(e) = &result {
        if failure::breaks_connection(e) {
            conn.broken = true;
        }
    }
    result
}

/// `SET key value [PX ms]` of `value` under `key`, encoded by `encoding`; a plain `SET` also
/// clears an older TTL.
fn set_cmd<C: Codec, V: Serialize + DeserializeOwned + 'static>(
    keys: &KeySpace,
    encoding: &Encoding<C>,
    key: &str,
    value: &V,
    expiry: Expiry,
) -> Result<Command, CacheError> {
    // The key, a small value, "PX", up to 20 digits, "NX".
    let mut cmd = Command::new("SET", 5, keys.key_len(key) + 64 + 24);
    keys.write_key(&mut cmd, key);
    value::write_arg(&mut cmd, encoding, key, value)?;
    if let Expiry::Millis(ms) = expiry {
        cmd.arg("PX").arg(ms);
    }
    Ok(cmd)
}

fn validate<C>(config: &RedisConfig<C>) -> Result<(), CacheError> {
    if config.pool_size == 0 {
        return Err(CacheError::config("pool_size must be at least 1"));
    }
    if config.min_idle.is_some_and(|n| n > config.pool_size) {
        return Err(CacheError::config("min_idle must not exceed pool_size"));
    }
    if config.scan_count == 0 {
        return Err(CacheError::config("scan_count must be at least 1"));
    }
    Ttl::check_default("RedisCache", config.default_ttl)?;
    for (name, t) in [
        ("connect_timeout", config.connect_timeout),
        ("read_timeout", config.read_timeout),
        ("write_timeout", config.write_timeout),
        ("pool_timeout", config.pool_timeout),
        ("flight_lease", config.flight_lease),
    ] {
        if t.is_zero() {
            return Err(CacheError::config(format!("{name} must be positive")));
        }
    }
    Ok(())
}

/// At most 64 characters of `key`, for messages.
fn short(key: &str) -> String {
    match key.char_indices().nth(64) {
        Some((i, _)) => format!("{}...", &key[..i]),
        None => key.to_owned(),
    }
}

impl<V: Serialize + DeserializeOwned + Send + Sync + 'static, C: Codec> Cache<V> for RedisCache<C> {
    fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        self.get_value(key)
    }

    fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        self.set_value(key, &value, ttl)
    }

    fn delete(&self, key: &str) -> Result<bool, CacheError> {
        RedisCache::delete(self, key)
    }

    fn clear(&self) -> Result<(), CacheError> {
        RedisCache::clear(self)
    }

    fn exists(&self, key: &str) -> Result<bool, CacheError> {
        RedisCache::exists(self, key)
    }

    fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        RedisCache::delete_pattern(self, pattern)
    }

    fn stats(&self) -> CacheStats {
        RedisCache::stats(self)
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<V>>, CacheError> {
        self.get_values(keys)
    }

    fn set_many(&self, entries: Vec<(&str, V)>, ttl: Ttl) -> Result<(), CacheError> {
        self.set_values(&entries, ttl)
    }

    fn delete_many(&self, keys: &[&str]) -> Result<u64, CacheError> {
        RedisCache::delete_many(self, keys)
    }

    fn add(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        self.add_value(key, &value, ttl)
    }

    fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        RedisCache::incr(self, key, delta)
    }

    fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        RedisCache::decr(self, key, delta)
    }

    fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        RedisCache::touch(self, key, ttl)
    }

    fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        RedisCache::ttl(self, key)
    }

    fn get_or_load(&self, key: &str, ttl: Ttl, loader: Loader<'_, V>) -> Result<V, CacheError>
    where
        V: Clone,
    {
        hit_or_lead(
            self,
            self.inner.single_flight.then_some(&self.inner.flights),
            key,
            ttl,
            loader,
            || flight::reread(self, key),
            |loader| flight::across_processes(self, key, ttl, loader),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(
            redact("redis://user:secret@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(redact("garbage@"), "garbage@");
    }

    #[test]
    fn long_keys_are_shortened_on_a_char_boundary() {
        assert_eq!(short("abc"), "abc");
        let long = "é".repeat(100);
        assert_eq!(short(&long), format!("{}...", "é".repeat(64)));
    }

    #[cfg(not(feature = "cluster"))]
    #[test]
    fn a_cluster_without_the_cluster_feature_is_a_config_error_naming_it() {
        let config = RedisConfig {
            topology: RedisTopology::Cluster(vec!["redis://127.0.0.1:1".into()]),
            ..RedisConfig::new("redis://127.0.0.1:1/")
        };
        let err = RedisCache::new(config).unwrap_err();
        assert!(matches!(err, CacheError::Config { .. }), "{err}");
        assert!(err.to_string().contains("`cluster` feature"), "{err}");
    }

    #[test]
    fn bad_configurations_are_errors() {
        let base = || RedisConfig::new("redis://127.0.0.1:1/");
        for config in [
            base().pool_size(0),
            base().min_idle(Some(17)),
            base().scan_count(0),
            base().read_timeout(Duration::ZERO),
            RedisConfig::new("no scheme"),
            RedisConfig::new("redis://user:secret@[::1"),
            RedisConfig::new("redis://127.0.0.1:1/").default_ttl(Duration::ZERO),
            RedisConfig {
                topology: RedisTopology::Cluster(Vec::new()),
                ..base()
            },
            RedisConfig {
                topology: RedisTopology::Cluster(vec![
                    "redis://127.0.0.1:1".into(),
                    "nonsense".into(),
                ]),
                ..base()
            },
        ] {
            let err = RedisCache::new(config).unwrap_err();
            assert!(matches!(err, CacheError::Config { .. }), "{err}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }
}
