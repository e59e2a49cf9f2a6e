//! `AsyncRedisCache`: the Redis cache for async code, on tokio.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::codec::{Codec, Encoding, Postcard};
use cache_core::flight::{hit_or_lead_async, FlightGroup};
use cache_core::observe::{AsyncOpGuard, Observer, Op};
use cache_core::{
    AsyncCache, AsyncLoader, AtomicStats, CacheError, CacheFuture, CacheStats, CounterChange,
    CounterValue, Pattern, Ttl,
};
use redis::{RedisResult, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::link::{within, AsyncLink, Links, Scan};
use crate::config::{validate, RedisConfig};
use crate::connection::{speaks_tls, Connector, Timeouts};
use crate::proto::failure::{self, short, Resend};
use crate::proto::keys::keyed;
use crate::proto::keys::{Expiry, KeySpace};
use crate::proto::ops::{add_cmd, counted, incr_call, refused, set_cmd, time_left, touch_call};
use crate::proto::value;
use crate::tracking::Tracking;

/// A cache on Redis or Redis Cluster for async code (tokio), for values of any serde type:
/// the same keys, values, commands, counting and errors as [`RedisCache`](crate::RedisCache)
/// (the two read each other's entries), without blocking a runtime worker.
///
/// - **One multiplexed connection** per instance (clones share it): every task's commands
///   go out on it at once and pipeline, so there is no pool to size. While it is busy, the
///   commands of concurrent tasks are gathered and sent together (one write, one pipeline),
///   each task getting its own reply. redis's connection
///   manager reconnects when it drops (a server restart); an operation that failed because
///   the connection was dropped or refused, or because its server was demoted to a replica
///   (`READONLY`), is tried once more, on the new connection, if running it twice is
///   harmless; `incr`, `decr` and `add` only after a refusal (a refused connection,
///   `READONLY`): the multiplexed connection does not tell a failed write from a lost
///   reply, so after another failure they return an error that says they may or may not
///   have run ([`CacheError::is_outcome_unknown`](cache_core::CacheError::is_outcome_unknown)).
///   A timeout is not retried.
/// - **Settings**: of [`RedisConfig`], the timeouts apply: `connect_timeout` bounds opening
///   a connection, `read_timeout` is redis's response timeout (each request fails within
///   it), and every call, its retry, a reconnection and a sentinel lookup included, ends
///   within [`RedisConfig::call_timeout`] (the longest of the three timeouts) plus
///   [`CALL_MARGIN`](crate::CALL_MARGIN), so a frozen server makes calls fail in time
///   (a timeout) while the runtime goes on, and a server that is down fails them at once
///   (unavailable: the connection manager makes one attempt per reconnection, no series
///   of its own).
///   `cluster_retries`, the key prefix, TTL, codec, version, compression and scan count
///   apply as in `RedisCache`. The pool settings (`pool_size`, `min_idle`, `idle_timeout`,
///   `max_lifetime`, `pool_timeout`) are ignored: the multiplexed connection replaces the
///   pool (no connection to wait for, none idle to close), so that one configuration can
///   build both caches.
/// - **Cluster** (with the `cluster` feature): single-key commands go straight to the
///   primary of their slot, on one multiplexed connection per primary (the slot map is
///   read at start, and again after a redirection or a failed connection); the rest goes
///   through redis's async cluster client: batches are split per slot and sent at once;
///   `clear` and `delete_pattern` scan every primary; the client follows the cluster's own
///   failovers (a promoted replica), and so does the slot map after it.
/// - **TLS and Sentinel**: connects through the same connector as `RedisCache`
///   (`rediss://` and certificates with `tls-rustls`, sentinels). Through sentinels, the
///   cache **follows a failover** as `RedisCache` does: when the primary's connection
///   fails (dropped, refused, or `READONLY` from a demoted primary), the sentinels are
///   asked again (asynchronously: no worker blocks; the answer and the new connection each
///   within the bound of a request), a connection to the primary they name replaces the
///   old one, and the operation is tried once more on it. One task asks at a
///   time: the tasks that failed meanwhile wait for its answer and share it, so a wave of
///   failures asks the sentinels once. While the sentinels still name the dead primary
///   (before the promotion), operations fail with the original error, and the next failure
///   asks again. After a timeout, the sentinels are asked in the background, for the
///   operations that come next.
/// - **Single flight**: `get_or_insert_with` runs its loader once per key across the tasks
///   of every process on the prefix (blocking `RedisCache`s included): one task per process
///   polls the key's flight lock (the lock key, lease and failure marker of `RedisCache`,
///   with tokio's timer between polls), the others await it. A loader error reaches every
///   waiter of that flight. A leading task that is cancelled releases the lock from a task
///   it spawns (its lease ends it otherwise), so a waiter loads instead.
///   [`RedisConfig::single_flight`]`(false)` makes it `get`, the loader, then `set`.
/// - Must run inside a tokio runtime (with its time driver: `enable_all`).
///
/// ```no_run
/// use cache_core::{AsyncCache, AsyncCacheExt, Ttl};
/// use cache_redis::AsyncRedisCache;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), cache_core::CacheError> {
/// let cache = AsyncRedisCache::open("redis://127.0.0.1:6379/").await?;
/// cache.set("user:1", "alice".to_string(), Ttl::After(Duration::from_secs(60))).await?;
/// let name: Option<String> = cache.get("user:1").await?;
/// let slow = cache
///     .get_or_insert_with("user:2", Ttl::Default, || async { "bob".to_string() })
///     .await?;
/// # Ok(())
/// # }
/// ```
///
/// Values go through the codec, version and compression of its [`RedisConfig`] (`C`,
/// [`Postcard`] by default), `i64`s as decimal strings, as in `RedisCache`.
#[derive(Clone)]
pub struct AsyncRedisCache<C = Postcard> {
    pub(super) inner: Arc<Inner>,
    pub(super) encoding: Encoding<C>,
}

pub(super) struct Inner {
    pub(super) links: Links,
    pub(super) keys: KeySpace,
    pub(super) prefix: String,
    default_ttl: Option<std::time::Duration>,
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
    /// [`RedisConfig::call_timeout`]: the bound of each call, its retry included.
    call_timeout: Duration,
    /// Where the invalidation listeners of `subscribe` connect (see `near.rs`).
    pub(super) tracking: Arc<Tracking>,
    /// Metrics and spans (`cache_core::observe`).
    pub(super) observe: Observer,
}

impl<C: Codec> fmt::Debug for AsyncRedisCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncRedisCache")
            .field("server", &self.inner.server)
            .field("key_prefix", &self.inner.prefix)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl AsyncRedisCache {
    /// A cache on the server at `url`, with the defaults of [`RedisConfig::new`].
    ///
    /// # Errors
    /// As [`AsyncRedisCache::new`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = cache_redis::AsyncRedisCache::open("not a url").await.unwrap_err();
    /// assert!(matches!(err, cache_core::CacheError::Config { .. }), "{err}");
    /// # }
    /// ```
    pub async fn open(url: &str) -> Result<Self, CacheError> {
        Self::new(RedisConfig::new(url)).await
    }
}

impl<C: Codec> AsyncRedisCache<C> {
    /// A cache as `config` says (its pool settings aside: see [`AsyncRedisCache`]). Connects
    /// (through sentinels: asks them for the primary) and sends `PING` once before
    /// returning, so that an unreachable server or a refused login is an error here.
    ///
    /// # Errors
    /// [`CacheError::Config`] for a malformed URL or unusable settings;
    /// [`CacheError::Backend`] when the server cannot be reached or refuses the login.
    ///
    /// ```
    /// use cache_redis::{AsyncRedisCache, RedisConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = RedisConfig::new("redis://127.0.0.1/").scan_count(0);
    /// let err = AsyncRedisCache::new(config).await.unwrap_err();
    /// assert!(err.to_string().contains("scan_count"), "{err}");
    /// # }
    /// ```
    pub async fn new(config: RedisConfig<C>) -> Result<Self, CacheError> {
        validate(&config)?;
        let observe = Observer::new("redis", &config.observe, &["cache_loads_in_flight"])?;
        let timeouts = Timeouts::of(&config);
        let (connector, server) = Connector::from_config(&config)?;
        let tracking = Arc::new(Tracking::new(&config, &connector, &server)?);
        // Through sentinels, each is asked in turn, each within the call's bound; otherwise
        // connecting and the PING are one call.
        let whole = match connector {
            Connector::Sentinel(_) => None,
            _ => Some(timeouts.call),
        };
        let plain = connector.plain_address();
        let start = std::time::Instant::now();
        let connecting = async {
            let links = Links::open(connector, timeouts).await?;
            links.current().0.query::<()>(&redis::cmd("PING")).await?;
            Ok::<_, redis::RedisError>(links)
        };
        let connected = match whole {
            Some(limit) => within(limit, connecting).await,
            None => connecting.await,
        };
        let links = match connected {
            Ok(links) => links,
            Err(e) => {
                let context = format!("connecting to {server}");
                // A plain URL on a TLS port: the server resets the connection. Told apart
                // from an outage by asking the port (blocking I/O, off the runtime's
                // workers), with what is left of the call.
                let left = timeouts.call.saturating_sub(start.elapsed());
                let tls = match plain.filter(|_| e.is_connection_dropped()) {
                    Some(addr) => tokio::task::spawn_blocking(move || speaks_tls(&addr, left))
                        .await
                        .unwrap_or(false),
                    None => false,
                };
                return Err(if tls {
                    failure::plain_on_tls(context, e)
                } else {
                    failure::backend(context, e)
                });
            }
        };
        #[cfg(feature = "cluster")]
        let links = links
            .route_by_slot(crate::connection::NodeClients::of(&config)?, timeouts)
            .await;
        Ok(AsyncRedisCache {
            inner: Arc::new(Inner {
                links,
                keys: KeySpace::new(&config.key_prefix, config.version),
                prefix: config.key_prefix,
                default_ttl: config.default_ttl,
                scan_count: config.scan_count,
                max_value: config.max_value_bytes,
                stats: AtomicStats::default(),
                server,
                single_flight: config.single_flight,
                flight_lease: config.flight_lease,
                flights: FlightGroup::new(),
                call_timeout: timeouts.call,
                tracking,
                observe,
            }),
            encoding: Encoding::new(config.codec).with_threshold(config.compress_above),
        })
    }

    /// The key prefix of this cache.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// assert_eq!(cache.key_prefix(), "cache:");
    /// # Ok(())
    /// # }
    /// ```
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Whether single-key commands go straight to their slot's primary now (a cluster).
    #[cfg(all(test, feature = "cluster"))]
    pub(super) fn routes_directly(&self) -> bool {
        self.inner.links.current().0.routes_directly()
    }

    /// The slot router of a cluster cache.
    #[cfg(all(test, feature = "cluster"))]
    pub(super) fn inner_router(&self) -> Arc<super::route::SlotRouter> {
        self.inner
            .links
            .current()
            .0
            .router()
            .expect("a cluster cache")
    }

    /// Runs `f` on the link; if it fails because the connection was dropped or refused, or
    /// its server was demoted, once more (on the connection the manager opens meanwhile, or
    /// on the primary the sentinels name now: [`Links::recover`]). The whole of it, retry
    /// and lookup included, ends within the call's bound
    /// ([`RedisConfig::call_timeout`]; then it is a timeout). Errors name the operation,
    /// the key and the server, as the blocking cache's do.
    ///
    /// For commands that are harmless to run twice (`GET`, `SET`, `UNLINK`...); see
    /// [`AsyncRedisCache::run_unrepeatable`] for the others.
    pub(super) async fn run<T, F, Fut>(
        &self,
        op: &str,
        key: Option<&str>,
        f: F,
    ) -> Result<T, CacheError>
    where
        F: Fn(AsyncLink) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.run_as(Resend::Always, op, key, f).await
    }

    /// [`AsyncRedisCache::run`] for a command that must not run twice (`INCRBY`, `SET NX`):
    /// sent again only if it cannot have run ([`Resend::IfNotRun`]). The multiplexed
    /// connection does not tell a failed write from a lost reply, so only a refused
    /// connection or a refusal of the server is sent again; after any other failure of the
    /// connection the error says that the outcome is unknown.
    pub(super) async fn run_unrepeatable<T, F, Fut>(
        &self,
        op: &str,
        key: Option<&str>,
        f: F,
    ) -> Result<T, CacheError>
    where
        F: Fn(AsyncLink) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.run_as(Resend::IfNotRun, op, key, f).await
    }

    async fn run_as<T, F, Fut>(
        &self,
        resend: Resend,
        op: &str,
        key: Option<&str>,
        f: F,
    ) -> Result<T, CacheError>
    where
        F: Fn(AsyncLink) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let inner = &*self.inner;
        let attempts = async {
            let (current, ticket) = inner.links.current();
            // `recover` first: it looks a followed primary up again even when the command
            // is not sent again, for the calls that come next.
            match f(current).await {
                Err(e) => {
                    let recovered = inner.links.recover(ticket, &e).await;
                    if recovered && inner.links.follows_primary() {
                        inner.observe.notice(
                            "primary looked up again",
                            &format_args!("{} after: {e}", inner.server),
                        );
                    }
                    if !(recovered && resend.again(&e, true)) {
                        return Err(e);
                    }
                    inner.observe.detail(
                        "retry",
                        &format_args!("{op} again on {}: {e}", inner.server),
                    );
                    f(inner.links.current().0).await
                }
                ok => ok,
            }
        };
        let result = within(inner.call_timeout, attempts).await;
        result.map_err(|e| {
            let context = match key {
                Some(k) => format!("{op} of key {:?} on {}", short(k), inner.server),
                None => format!("{op} on {}", inner.server),
            };
            resend.error(context, e, true)
        })
    }

    async fn get_value<V: DeserializeOwned + 'static>(
        &self,
        key: &str,
    ) -> Result<Option<V>, CacheError> {
        let cmd = keyed("GET", &self.inner.keys, key);
        let bytes: Option<Vec<u8>> = self.run("GET", Some(key), |l| l.query(&cmd)).await?;
        let value = bytes.and_then(|b| value::decode(&self.encoding, b));
        if value.is_some() {
            self.inner.stats.hit();
        } else {
            self.inner.stats.miss();
        }
        Ok(value)
    }

    async fn set_value<V: Serialize + DeserializeOwned + 'static>(
        &self,
        key: &str,
        value: V,
        ttl: Ttl,
    ) -> Result<bool, CacheError> {
        let cmd = match Expiry::of(ttl.resolve(self.inner.default_ttl)) {
            Expiry::Gone => keyed("UNLINK", &self.inner.keys, key),
            expiry => set_cmd(
                &self.inner.keys,
                &self.encoding,
                key,
                &value,
                expiry,
                self.inner.max_value,
            )?,
        };
        self.run("SET", Some(key), |l| l.query::<()>(&cmd)).await?;
        self.inner.stats.set();
        Ok(true)
    }

    async fn delete_key(&self, key: &str) -> Result<bool, CacheError> {
        let cmd = keyed("UNLINK", &self.inner.keys, key);
        let removed: u64 = self.run("UNLINK", Some(key), |l| l.query(&cmd)).await?;
        self.inner.stats.add_deletes(removed);
        Ok(removed > 0)
    }

    async fn exists_key(&self, key: &str) -> Result<bool, CacheError> {
        let cmd = keyed("EXISTS", &self.inner.keys, key);
        let n: u64 = self.run("EXISTS", Some(key), |l| l.query(&cmd)).await?;
        Ok(n > 0)
    }

    async fn clear_all(&self) -> Result<(), CacheError> {
        let pattern = &self.inner.keys.match_all()[..];
        let count = self.inner.scan_count;
        self.run("clear (SCAN, UNLINK)", None, |l| async move {
            let mut scan = Scan::new(pattern, count);
            while let Some(page) = scan.next_page(&l).await? {
                l.clone().unlink(&page).await?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_matching(&self, pattern: &str) -> Result<u64, CacheError> {
        let glob = Pattern::new(pattern);
        if glob.is_literal() {
            return Ok(u64::from(self.delete_key(pattern).await?));
        }
        let inner = &*self.inner;
        let superset = &inner.keys.match_superset(pattern)[..];
        let (glob, removed) = (&glob, &AtomicU64::new(0));
        let result = self
            .run(
                "delete_pattern (SCAN, UNLINK)",
                Some(pattern),
                |l| async move {
                    let mut scan = Scan::new(superset, inner.scan_count);
                    while let Some(mut page) = scan.next_page(&l).await? {
                        page.retain(|k| inner.keys.cache_key(k).is_some_and(|k| glob.matches(k)));
                        removed.fetch_add(l.clone().unlink(&page).await?, Ordering::Relaxed);
                    }
                    Ok(())
                },
            )
            .await;
        // What was removed before a failure is counted too.
        let removed = removed.load(Ordering::Relaxed);
        inner.stats.add_deletes(removed);
        result.map(|()| removed)
    }

    async fn get_values<V: DeserializeOwned + 'static>(
        &self,
        keys: &[&str],
    ) -> Result<Vec<Option<V>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rks: Vec<Vec<u8>> = keys.iter().map(|k| self.inner.keys.redis_key(k)).collect();
        let found = self.run("MGET", None, |l| l.get_many(&rks)).await?;
        let values: Vec<Option<V>> = found
            .into_iter()
            .map(|b| b.and_then(|b| value::decode(&self.encoding, b)))
            .collect();
        let hits = values.iter().filter(|v| v.is_some()).count() as u64;
        self.inner.stats.add_hits(hits);
        self.inner.stats.add_misses(values.len() as u64 - hits);
        Ok(values)
    }

    async fn set_values<V: Serialize + DeserializeOwned + 'static>(
        &self,
        entries: Vec<(&str, V)>,
        ttl: Ttl,
    ) -> Result<(), CacheError> {
        if entries.is_empty() {
            return Ok(());
        }
        let expiry = Expiry::of(ttl.resolve(self.inner.default_ttl));
        let rks: Vec<Vec<u8>> = entries
            .iter()
            .map(|(k, _)| self.inner.keys.redis_key(k))
            .collect();
        if expiry == Expiry::Gone {
            self.run("UNLINK (zero-TTL batch)", None, |l| l.unlink(&rks))
                .await?;
        } else {
            let mut cmds = Vec::with_capacity(entries.len());
            for (k, v) in &entries {
                cmds.push(
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
            let (cmds, rks) = (&cmds, &rks);
            self.run("SET (pipeline)", None, |l| async move {
                l.batch::<()>(cmds.clone(), rks).await.map(drop)
            })
            .await?;
        }
        self.inner.stats.add_sets(entries.len() as u64);
        Ok(())
    }

    async fn delete_keys(&self, keys: &[&str]) -> Result<u64, CacheError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let rks: Vec<Vec<u8>> = keys.iter().map(|k| self.inner.keys.redis_key(k)).collect();
        let removed = self.run("UNLINK (batch)", None, |l| l.unlink(&rks)).await?;
        self.inner.stats.add_deletes(removed);
        Ok(removed)
    }
}

impl<C: Codec> AsyncRedisCache<C> {
    async fn add_value<V: Serialize + DeserializeOwned + 'static>(
        &self,
        key: &str,
        value: V,
        ttl: Ttl,
    ) -> Result<bool, CacheError> {
        let stored = match Expiry::of(ttl.resolve(self.inner.default_ttl)) {
            // Nothing to store: `true` iff nothing live was there, as for any `add`.
            Expiry::Gone => !self.exists_key(key).await?,
            expiry => {
                let set = set_cmd(
                    &self.inner.keys,
                    &self.encoding,
                    key,
                    &value,
                    expiry,
                    self.inner.max_value,
                )?;
                let cmd = add_cmd(set);
                let reply: Value = self
                    .run_unrepeatable("SET NX", Some(key), |l| l.query(&cmd))
                    .await?;
                reply != Value::Nil
            }
        };
        if stored {
            self.inner.stats.set();
        }
        Ok(stored)
    }

    /// [`RedisCache::incr`](crate::RedisCache::incr), asynchronously: the same command or
    /// script, the same errors.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// let visits = cache.incr("visits", 1).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        let op = self.inner.observe.op_async(Op::Incr, key);
        op.done_of(self.change_counter(key, CounterChange::Add(delta)))
            .await
    }

    /// [`RedisCache::decr`](crate::RedisCache::decr), asynchronously: `count - delta`.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// let left = cache.decr("stock", 1).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        let op = self.inner.observe.op_async(Op::Decr, key);
        op.done_of(self.change_counter(key, CounterChange::Sub(delta)))
            .await
    }

    /// `incr` and `decr`: one `INCRBY` or script ([`incr_call`]).
    async fn change_counter(&self, key: &str, change: CounterChange) -> Result<i64, CacheError> {
        let call = incr_call(&self.inner.keys, key, change, self.inner.default_ttl);
        let call = &call;
        let reply = self
            .run_unrepeatable(call.op, Some(key), |l| async move {
                refused(l.call::<Value>(call).await)
            })
            .await?;
        let count = counted(reply, key, change.added(), &self.inner.server)?;
        self.inner.stats.set();
        Ok(count)
    }

    /// [`RedisCache::touch`](crate::RedisCache::touch), asynchronously.
    ///
    /// ```no_run
    /// use cache_core::Ttl;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// let extended = cache.touch("session:1", Ttl::Never).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn touch(&self, key: &str, ttl: impl Into<Ttl>) -> Result<bool, CacheError> {
        let op = self.inner.observe.op_async(Op::Touch, key);
        op.done_of(self.touch_unobserved(key, ttl.into())).await
    }

    async fn touch_unobserved(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        let expiry = Expiry::of(ttl.resolve(self.inner.default_ttl));
        let call = &touch_call(&self.inner.keys, key, expiry);
        let n: u64 = self.run(call.op, Some(key), |l| l.call(call)).await?;
        Ok(n > 0)
    }

    /// [`RedisCache::ttl`](crate::RedisCache::ttl), asynchronously: `PTTL`.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// let left = cache.ttl("session:1").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        let op = self.inner.observe.op_async(Op::Ttl, key);
        op.done_of(self.ttl_unobserved(key)).await
    }

    async fn ttl_unobserved(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        let cmd = keyed("PTTL", &self.inner.keys, key);
        let ms: i64 = self.run("PTTL", Some(key), |l| l.query(&cmd)).await?;
        Ok(time_left(ms))
    }
}

impl<C: Codec> AsyncRedisCache<C> {
    /// The cache's name ([`RedisConfig::name`]; default `redis`).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// assert_eq!(cache.name(), "redis");
    /// # Ok(())
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        self.inner.observe.cache_name()
    }

    /// Copies this instance's counters into the `metrics` recorder installed when the cache
    /// was made (`cache_hits_total` ..., and `cache_loads_in_flight`, this instance's; it has
    /// no pool, so no pool gauges); call it before
    /// each scrape (see [`cache_core::observe`]). Does nothing without the `metrics` feature
    /// or a recorder.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// cache.publish_metrics();
    /// # Ok(())
    /// # }
    /// ```
    pub fn publish_metrics(&self) {
        let loads = self.inner.flights.in_flight() as f64;
        self.inner
            .observe
            .publish(&self.inner.stats.snapshot(None), &[loads]);
    }

    #[inline]
    fn op<'a>(&'a self, op: Op, key: &str) -> AsyncOpGuard<'a> {
        self.inner.observe.op_async(op, key)
    }
}

impl<V, C> AsyncCache<V> for AsyncRedisCache<C>
where
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
    C: Codec,
{
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<Option<V>, CacheError>> {
        CacheFuture::boxed(self.op(Op::Get, key).found_of(self.get_value(key)))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(
            self.op(Op::Set, key)
                .done_of(self.set_value(key, value, ttl)),
        )
    }

    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(self.op(Op::Delete, key).done_of(self.delete_key(key)))
    }

    fn clear(&self) -> CacheFuture<'_, Result<(), CacheError>> {
        CacheFuture::boxed(self.op(Op::Clear, "").done_of(self.clear_all()))
    }

    fn exists<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(self.op(Op::Exists, key).done_of(self.exists_key(key)))
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> CacheFuture<'a, Result<u64, CacheError>> {
        CacheFuture::boxed(
            self.op(Op::DeletePattern, pattern)
                .done_of(self.delete_matching(pattern)),
        )
    }

    fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot(None)
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(
            self.op(Op::Add, key)
                .done_of(self.add_value(key, value, ttl)),
        )
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        CacheFuture::boxed(AsyncRedisCache::incr(self, key, delta))
    }

    fn decr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        CacheFuture::boxed(AsyncRedisCache::decr(self, key, delta))
    }

    fn touch<'a>(&'a self, key: &'a str, ttl: Ttl) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(AsyncRedisCache::touch(self, key, ttl))
    }

    fn ttl<'a>(
        &'a self,
        key: &'a str,
    ) -> CacheFuture<'a, Result<Option<Option<Duration>>, CacheError>> {
        CacheFuture::boxed(AsyncRedisCache::ttl(self, key))
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
    ) -> CacheFuture<'a, Result<Vec<Option<V>>, CacheError>> {
        CacheFuture::boxed(self.op(Op::GetMany, "").done_of(self.get_values(keys)))
    }

    fn set_many<'a>(
        &'a self,
        entries: Vec<(&'a str, V)>,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<(), CacheError>>
    where
        V: 'a,
    {
        CacheFuture::boxed(
            self.op(Op::SetMany, "")
                .done_of(self.set_values(entries, ttl)),
        )
    }

    fn delete_many<'a>(&'a self, keys: &'a [&'a str]) -> CacheFuture<'a, Result<u64, CacheError>> {
        CacheFuture::boxed(self.op(Op::DeleteMany, "").done_of(self.delete_keys(keys)))
    }

    fn get_or_load<'a>(
        &'a self,
        key: &'a str,
        ttl: Ttl,
        loader: AsyncLoader<'a, V>,
    ) -> CacheFuture<'a, Result<V, CacheError>>
    where
        V: Clone + 'a,
    {
        let loading = hit_or_lead_async(
            self,
            self.inner.single_flight.then_some(&self.inner.flights),
            key,
            ttl,
            loader,
            || self.reread(key),
            move |loader| self.across_processes(key, ttl, loader),
        );
        CacheFuture::boxed(
            self.op(Op::GetOrLoad, key)
                .loaded_of(&self.inner.observe, loading),
        )
    }
}
