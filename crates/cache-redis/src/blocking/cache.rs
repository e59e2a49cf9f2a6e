//! `RedisCache`: the blocking cache. Every operation goes through `run` (or, for `incr`,
//! `decr` and `add`, `run_unrepeatable`): a pooled connection (the kept one of `hot.rs`
//! first), one retry on a fresh connection when it was dropped or refused (for the
//! unrepeatable ones, only if the command cannot have run), errors naming the server, the
//! operation and the key.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::codec::{Codec, Encoding, Postcard};
use cache_core::flight::{hit_or_lead, FlightGroup};
use cache_core::observe::{Observer, Op};
use cache_core::{AtomicStats, Cache, CacheError, CacheStats, CounterChange, Loader, Pattern, Ttl};
use r2d2::ManageConnection;
use redis::{RedisResult, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::hot::HotSlot;
use super::link::{Batch, Link, Manager, Tracked};
use crate::config::{validate, RedisConfig};
use crate::connection::{speaks_tls, Connector, Timeouts};
use crate::proto::failure::{self, short, Resend};
use crate::proto::keys::{keyed, Expiry, KeySpace};
use crate::proto::ops::{add_cmd, counted, incr_call, refused, set_cmd, time_left, touch_call};
use crate::proto::value;
use crate::tracking::Tracking;

/// A cache on Redis or Redis Cluster, for values of any serde type. Cheap to clone: clones
/// share the pool and the counters.
///
/// Every call returns within [`RedisConfig::call_timeout`] (the longest of the connect,
/// read and write timeouts) plus [`CALL_MARGIN`](crate::CALL_MARGIN), its one retry on a
/// fresh connection included, once it has a pooled connection: when every one is busy, the
/// wait for one (`pool_timeout`) comes first.
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
    pub(super) inner: Arc<Inner>,
    /// The codec and compression of values (see [`RedisConfig::codec`]).
    pub(super) encoding: Encoding<C>,
}

/// The gauges, in the order `publish_metrics` gives them.
const POOL_GAUGES: [&str; 4] = [
    "cache_loads_in_flight",
    "cache_pool_connections",
    "cache_pool_connections_idle",
    "cache_pool_connections_in_use",
];

pub(super) struct Inner {
    /// The r2d2 pool, with the connection the last call gave back kept for the next call
    /// (see `hot.rs`).
    pool: HotSlot,
    /// The pool's manager, for the fresh connection of a retry (r2d2 does not lend its own).
    manager: Manager,
    pub(super) keys: KeySpace,
    pub(super) prefix: String,
    cluster: bool,
    default_ttl: Option<Duration>,
    scan_count: u32,
    /// The largest value sent, encoded (`RedisConfig::max_value_bytes`).
    max_value: usize,
    stats: AtomicStats,
    /// "redis host:port" or "redis cluster host:port,...", for error messages.
    server: String,
    single_flight: bool,
    pub(super) flight_lease: Duration,
    /// This instance's `get_or_insert_with` loads in progress, by key (see `flight.rs`).
    flights: FlightGroup<()>,
    /// Where the invalidation listeners of `subscribe` connect (see `near.rs`).
    pub(super) tracking: Arc<Tracking>,
    /// Metrics and spans (`cache_core::observe`).
    pub(super) observe: Observer,
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
        let observe = Observer::new("redis", &config.observe, &POOL_GAUGES)?;
        let timeouts = Timeouts::of(&config);
        let (connector, server) = Connector::from_config(&config)?;
        let cluster = connector.is_cluster();
        let tracking = Arc::new(Tracking::new(&config, &connector, &server)?);
        let manager = Manager {
            connector,
            timeouts,
        };
        // One connection and a PING now, so that an unreachable server or a refused login
        // fails here, at once and with its cause (r2d2 would retry until its wait runs out
        // and keep only a message).
        // Connecting and the PING are one call, within its bound.
        let start = Instant::now();
        manager
            .connect()
            .and_then(|mut conn| {
                let left = timeouts.call.saturating_sub(start.elapsed());
                conn.link.limit_reads(left.max(Duration::from_millis(1)))?;
                manager.is_valid(&mut conn)
            })
            .map_err(|e| {
                let context = format!("connecting to {server}");
                // A plain URL on a TLS port: the server resets the connection. Told apart
                // from an outage by asking the port, with what is left of the call.
                let left = timeouts.call.saturating_sub(start.elapsed());
                match manager.connector.plain_address() {
                    Some(addr) if e.is_connection_dropped() && speaks_tls(&addr, left) => {
                        failure::plain_on_tls(context, e)
                    }
                    _ => failure::backend(context, e),
                }
            })?;
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
                pool: HotSlot::new(pool),
                manager,
                keys: KeySpace::new(&config.key_prefix, config.version),
                prefix: config.key_prefix,
                cluster,
                default_ttl: config.default_ttl,
                scan_count: config.scan_count,
                max_value: config.max_value_bytes,
                stats: AtomicStats::default(),
                server,
                single_flight: config.single_flight,
                flight_lease: config.flight_lease,
                flights: FlightGroup::new(),
                tracking,
                observe,
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

    /// The cache's name ([`RedisConfig::name`]; default `redis`).
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// assert_eq!(cache.name(), "redis");
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn name(&self) -> &str {
        self.inner.observe.cache_name()
    }

    /// Copies this instance's [`stats`](Self::stats) into the `metrics` recorder installed
    /// when the cache was made (`cache_hits_total` ...) with `cache_loads_in_flight` (this
    /// instance's) and the pool's gauges
    /// (`cache_pool_connections`, `cache_pool_connections_idle`,
    /// `cache_pool_connections_in_use`); call it before each scrape (see
    /// [`cache_core::observe`]). Sends nothing to Redis. Does nothing without the `metrics`
    /// feature or a recorder.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// cache.publish_metrics();
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn publish_metrics(&self) {
        if !self.inner.observe.metrics_recorded() {
            return;
        }
        let (open, idle) = self.inner.pool.connections();
        let loads = self.inner.flights.in_flight() as f64;
        let [open, idle, in_use] = [open, idle, open.saturating_sub(idle)].map(f64::from);
        let gauges = [loads, open, idle, in_use];
        self.inner.observe.publish(&self.stats(), &gauges);
    }

    /// Removes `key`; `true` iff a live entry was removed.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// assert!(!cache.delete("absent")?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let op = self.inner.observe.op(Op::Delete, key);
        op.done(self.delete_unobserved(key))
    }

    fn delete_unobserved(&self, key: &str) -> Result<bool, CacheError> {
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
        let op = self.inner.observe.op(Op::Exists, key);
        op.done(self.exists_unobserved(key))
    }

    fn exists_unobserved(&self, key: &str) -> Result<bool, CacheError> {
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
        let op = self.inner.observe.op(Op::Clear, "");
        op.done(self.clear_unobserved())
    }

    fn clear_unobserved(&self) -> Result<(), CacheError> {
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
        let op = self.inner.observe.op(Op::DeletePattern, pattern);
        op.done(self.delete_pattern_unobserved(pattern))
    }

    fn delete_pattern_unobserved(&self, pattern: &str) -> Result<u64, CacheError> {
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
        let op = self.inner.observe.op(Op::DeleteMany, "");
        op.done(self.delete_many_unobserved(keys))
    }

    fn delete_many_unobserved(&self, keys: &[&str]) -> Result<u64, CacheError> {
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
            expiry => set_cmd(
                &self.inner.keys,
                &self.encoding,
                key,
                value,
                expiry,
                self.inner.max_value,
            )?,
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
                batch.add(
                    set_cmd(
                        &self.inner.keys,
                        &self.encoding,
                        k,
                        v,
                        expiry,
                        self.inner.max_value,
                    )?
                    .into_cmd(),
                );
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

    /// Runs `f`, whose commands are harmless to run twice (`GET`, `SET`, `UNLINK`...), on a
    /// pooled connection; if it fails because the connection was dropped or refused, once
    /// more on a fresh one. Errors name the operation, the key and the server.
    pub(super) fn run<T>(
        &self,
        op: &str,
        key: Option<&str>,
        f: impl FnMut(&mut Link) -> RedisResult<T>,
    ) -> Result<T, CacheError> {
        self.run_as(Resend::Always, op, key, f)
    }

    /// [`RedisCache::run`] for a command that must not run twice (`INCRBY`, `SET NX`): sent
    /// again only if it cannot have run (its write failed, or the server refused it);
    /// otherwise the error says that its outcome is unknown ([`Resend::IfNotRun`]).
    pub(super) fn run_unrepeatable<T>(
        &self,
        op: &str,
        key: Option<&str>,
        f: impl FnMut(&mut Link) -> RedisResult<T>,
    ) -> Result<T, CacheError> {
        self.run_as(Resend::IfNotRun, op, key, f)
    }

    fn run_as<T>(
        &self,
        resend: Resend,
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
        // The call's bound starts once it has a connection (the pool's wait is its own).
        let start = Instant::now();
        let first = attempt(&mut conn, &mut f);
        let sent = conn.link.may_have_sent();
        inner.pool.give_back(&inner.manager, conn);
        let timeouts = inner.manager.timeouts;
        match first {
            Ok(v) => Ok(v),
            // The retry gets what is left of the call, so the two end within its bound.
            Err(e) if resend.again(&e, sent) => match timeouts.call.checked_sub(start.elapsed()) {
                Some(left) if !left.is_zero() => {
                    inner.observe.detail(
                        "retry",
                        &format_args!("{op} again on a new connection to {}: {e}", inner.server),
                    );
                    let mut fresh = inner
                        .manager
                        .connect_with(timeouts.within(left))
                        .map_err(|e| failure::backend(context(), e))?;
                    attempt(&mut fresh, &mut f)
                        .map_err(|e| resend.error(context(), e, fresh.link.may_have_sent()))
                }
                _ => Err(resend.error(context(), e, sent)),
            },
            Err(e) => Err(resend.error(context(), e, sent)),
        }
    }
}

/// Runs `f` on `conn`, marking the connection broken when the error leaves it suspect.
fn attempt<T>(
    conn: &mut Tracked,
    f: &mut impl FnMut(&mut Link) -> RedisResult<T>,
) -> RedisResult<T> {
    conn.link.start();
    let result = f(&mut conn.link);
    if let Err(e) = &result {
        if failure::breaks_connection(e) {
            conn.broken = true;
        }
    }
    result
}

impl<V: Serialize + DeserializeOwned + Send + Sync + 'static, C: Codec> Cache<V> for RedisCache<C> {
    fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        let op = self.inner.observe.op(Op::Get, key);
        op.found(self.get_value(key))
    }

    fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        let op = self.inner.observe.op(Op::Set, key);
        op.done(self.set_value(key, &value, ttl))
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
        let op = self.inner.observe.op(Op::GetMany, "");
        op.done(self.get_values(keys))
    }

    fn set_many(&self, entries: Vec<(&str, V)>, ttl: Ttl) -> Result<(), CacheError> {
        let op = self.inner.observe.op(Op::SetMany, "");
        op.done(self.set_values(&entries, ttl))
    }

    fn delete_many(&self, keys: &[&str]) -> Result<u64, CacheError> {
        RedisCache::delete_many(self, keys)
    }

    fn add(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        let op = self.inner.observe.op(Op::Add, key);
        op.done(self.add_value(key, &value, ttl))
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
        let op = self.inner.observe.op(Op::GetOrLoad, key);
        let loaded = hit_or_lead(
            self,
            self.inner.single_flight.then_some(&self.inner.flights),
            key,
            ttl,
            loader,
            || self.reread(key),
            |loader| self.across_processes(key, ttl, loader),
        );
        op.loaded(&self.inner.observe, loaded)
    }
}

impl<C: Codec> RedisCache<C> {
    fn add_value<V: Serialize + DeserializeOwned + 'static>(
        &self,
        key: &str,
        value: &V,
        ttl: Ttl,
    ) -> Result<bool, CacheError> {
        let stored = match Expiry::of(ttl.resolve(self.inner.default_ttl)) {
            // Nothing to store: `true` iff nothing live was there, as for any `add`.
            Expiry::Gone => !self.exists(key)?,
            expiry => {
                let set = set_cmd(
                    &self.inner.keys,
                    &self.encoding,
                    key,
                    value,
                    expiry,
                    self.inner.max_value,
                )?;
                let cmd = add_cmd(set);
                let reply: Value = self.run_unrepeatable("SET NX", Some(key), |l| l.query(&cmd))?;
                reply != Value::Nil
            }
        };
        if stored {
            self.inner.stats.set();
        }
        Ok(stored)
    }

    /// [`Cache::incr`] without naming a value type: `INCRBY` on the
    /// key, whose value is a plain decimal integer (what `redis-cli GET` shows). A key it
    /// creates takes the default TTL in the same atomic step (a small Lua script; a plain
    /// `INCRBY` when there is no default TTL); an existing counter keeps its TTL.
    ///
    /// ```no_run
    /// use cache_core::Cache;
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// let n = cache.incr("visits", 1)?;
    /// assert_eq!(Cache::<i64>::get(&cache, "visits")?, Some(n));
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        let op = self.inner.observe.op(Op::Incr, key);
        op.done(self.change_counter(key, CounterChange::Add(delta)))
    }

    /// `incr` and `decr`: one `INCRBY` or script ([`incr_call`]).
    fn change_counter(&self, key: &str, change: CounterChange) -> Result<i64, CacheError> {
        let call = incr_call(&self.inner.keys, key, change, self.inner.default_ttl);
        let reply =
            self.run_unrepeatable(call.op, Some(key), |l| refused(l.call::<Value>(&call)))?;
        let count = counted(reply, key, change.added(), &self.inner.server)?;
        self.inner.stats.set();
        Ok(count)
    }

    /// [`Cache::decr`] without naming a value type.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// let left = cache.decr("stock", 1)?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        let op = self.inner.observe.op(Op::Decr, key);
        op.done(self.change_counter(key, CounterChange::Sub(delta)))
    }

    /// [`Cache::touch`] without naming a value type: `PEXPIRE`,
    /// `PERSIST` (for [`Ttl::Never`]) or, for a zero TTL, `UNLINK`.
    ///
    /// ```no_run
    /// use cache_core::Ttl;
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// let extended = cache.touch("session:1", Ttl::After(std::time::Duration::from_secs(1800)))?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn touch(&self, key: &str, ttl: impl Into<Ttl>) -> Result<bool, CacheError> {
        let op = self.inner.observe.op(Op::Touch, key);
        op.done(self.touch_unobserved(key, ttl.into()))
    }

    fn touch_unobserved(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        let expiry = Expiry::of(ttl.resolve(self.inner.default_ttl));
        let call = touch_call(&self.inner.keys, key, expiry);
        let n: u64 = self.run(call.op, Some(key), |l| l.call(&call))?;
        Ok(n > 0)
    }

    /// [`Cache::ttl`] without naming a value type: `PTTL`.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// if let Some(Some(left)) = cache.ttl("session:1")? {
    ///     println!("{left:?} left");
    /// }
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        let op = self.inner.observe.op(Op::Ttl, key);
        op.done(self.ttl_unobserved(key))
    }

    fn ttl_unobserved(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        let cmd = keyed("PTTL", &self.inner.keys, key);
        let ms: i64 = self.run("PTTL", Some(key), |l| l.query(&cmd))?;
        Ok(time_left(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RedisTopology;

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
