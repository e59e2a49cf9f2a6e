use std::fmt;
use std::time::Duration;

use cache_core::codec::{self, Codec, Postcard};

/// Where a [`RedisCache`](crate::RedisCache) keeps its entries.
///
/// ```
/// use cache_redis::RedisTopology;
///
/// let single = RedisTopology::Standalone("redis://127.0.0.1:6379/0".into());
/// let cluster = RedisTopology::Cluster(vec![
///     "redis://cache-node-1:7000".into(),
///     "redis://cache-node-2:7000".into(),
/// ]);
/// assert_ne!(single, cluster);
/// // Debug output hides passwords:
/// let secret = RedisTopology::Standalone("redis://user:hunter2@127.0.0.1/".into());
/// assert!(!format!("{secret:?}").contains("hunter2"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTopology {
    /// One server, by URL: `redis://[user:password@]host[:port][/db]`, or
    /// `redis+unix:///path/to/socket`.
    Standalone(String),
    /// A Redis Cluster, by the URLs of some of its nodes; one reachable node is enough to
    /// discover the others. Needs the `cluster` feature: without it,
    /// [`RedisCache::new`](crate::RedisCache::new) refuses this topology with a
    /// configuration error.
    Cluster(Vec<String>),
}

/// Everything a [`RedisCache`](crate::RedisCache) is built from. Start from
/// [`RedisConfig::new`] (one server) or [`RedisConfig::cluster`], then change what you need,
/// either through the chainable setters or the public fields.
///
/// Defaults: key prefix `"cache:"`, no default TTL, a pool of 16 connections (r2d2's
/// default of keeping them all open; idle ones closed after 10 minutes, every one replaced
/// after 30), connect, read and write timeouts of 1 s, a 2 s wait for a pooled connection,
/// one cluster retry, and `SCAN ... COUNT 1000`.
///
/// ```
/// use cache_redis::RedisConfig;
/// use std::time::Duration;
///
/// let config = RedisConfig::new("redis://127.0.0.1:6379/0")
///     .key_prefix("sessions:")
///     .default_ttl(Duration::from_secs(600))
///     .pool_size(8)
///     .read_timeout(Duration::from_millis(250));
/// assert_eq!(config.key_prefix, "sessions:");
/// assert_eq!(config.pool_size, 8);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig<C = Postcard> {
    /// The server or cluster.
    pub topology: RedisTopology,
    /// Prepended to every key, so that several caches share one Redis: `clear()` and
    /// `delete_pattern` only ever touch keys under this prefix. End it with a separator
    /// (`"app:"`), so that no other cache's prefix starts with it. It is not a hash tag:
    /// the keys of one cache spread over every primary of a cluster.
    pub key_prefix: String,
    /// The TTL of `Ttl::Default`; `None` means never expire. Zero is refused by
    /// [`RedisCache::new`](crate::RedisCache::new).
    pub default_ttl: Option<Duration>,
    /// The most connections the pool opens (for a cluster, connection sets: each holds one
    /// connection per node). At least 1.
    pub pool_size: u32,
    /// How many idle connections the pool keeps open; `None` keeps `pool_size`.
    pub min_idle: Option<u32>,
    /// Idle connections above `min_idle` are closed after this long; `None` never.
    pub idle_timeout: Option<Duration>,
    /// Connections are replaced after this long; `None` never.
    pub max_lifetime: Option<Duration>,
    /// Bounds opening one connection: TCP connect plus the handshake (AUTH, SELECT).
    pub connect_timeout: Duration,
    /// Bounds each wait for the server's reply.
    pub read_timeout: Duration,
    /// Bounds each write of a request.
    pub write_timeout: Duration,
    /// Bounds the wait for a pooled connection, when all are busy or none can be opened.
    pub pool_timeout: Duration,
    /// How often the cluster client retries a command (after a MOVED or ASK redirect, a
    /// reconnect, or a `TRYAGAIN`), with waits of 10 to 100 ms. Each try is bounded by the
    /// timeouts above, so a cluster operation fails within `cluster_retries + 1` of them.
    pub cluster_retries: u32,
    /// The `COUNT` hint of the `SCAN`s behind `clear`, `delete_pattern` and `count`.
    pub scan_count: u32,
    /// The cache's version (default [`DEFAULT_VERSION`](codec::DEFAULT_VERSION), 1): entries
    /// of other versions are invisible. The key of a version other than 1 is the prefix, the
    /// key, `0xFF` and the version in decimal (`cache:user:1\xff2`); version 1 keys are the
    /// prefix and the key, so other clients use them as they are. `clear`, `delete_pattern`
    /// and `count` act on every version under the prefix.
    pub version: u32,
    /// Values whose encoded size is over this many bytes are stored lz4-compressed (when
    /// that is smaller); `None` (the default): never. Compressed values are marked, so every
    /// instance reads them whatever its own setting.
    pub compress_above: Option<usize>,
    /// How values become bytes: [`Postcard`] by default (see [`RedisConfig::codec`]).
    pub codec: C,
    /// Whether `get_or_insert_with` runs the loader once per key across the threads of
    /// this cache and every process (and instance) sharing its key prefix that miss
    /// together, the others waiting for its value or its error. Default: `true`. With
    /// `false`, every caller that misses runs the loader.
    ///
    /// Processes meet on a lock key, `<prefix>\xFFflight:<key>` (`SET NX PX` semantics,
    /// released by a compare-and-delete script), which waiters poll (2 ms, doubling up to
    /// 50 ms). A loader's error reaches waiting processes as a
    /// [`RemoteLoaderError`](cache_core::flight::RemoteLoaderError) with its message: the
    /// holder swaps its lock for a failure marker that the waiters of that flight read and
    /// any later call overwrites. `clear` removes lock keys too.
    pub single_flight: bool,
    /// How long a flight's lock lasts (at least 1 ms; default 30 s): a holder that dies
    /// mid-load blocks the others at most this long. A lease that runs out while its holder
    /// is still loading lets one waiter take over and load too: the loader then runs twice,
    /// both values are stored (the last wins), and the first holder's release is dropped.
    /// Make it longer than the slowest load.
    pub flight_lease: Duration,
}

impl fmt::Debug for RedisTopology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisTopology::Standalone(url) => {
                f.debug_tuple("Standalone").field(&redact(url)).finish()
            }
            RedisTopology::Cluster(nodes) => f
                .debug_tuple("Cluster")
                .field(&nodes.iter().map(|n| redact(n)).collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// `url` without its user and password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, $name: $ty) -> Self {
            self.$name = $name;
            self
        }
    };
}

impl RedisConfig {
    /// The defaults, for one server at `url`.
    ///
    /// ```
    /// let config = cache_redis::RedisConfig::new("redis://user:secret@127.0.0.1:6379/2");
    /// assert_eq!(config.key_prefix, "cache:");
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_topology(RedisTopology::Standalone(url.into()))
    }

    /// The defaults, for a cluster reached through `nodes` (with the `cluster` feature).
    ///
    /// ```
    /// let config = cache_redis::RedisConfig::cluster(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]);
    /// assert!(matches!(config.topology, cache_redis::RedisTopology::Cluster(ref n) if n.len() == 2));
    /// ```
    #[cfg(feature = "cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
    pub fn cluster<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> Self {
        Self::with_topology(RedisTopology::Cluster(
            nodes.into_iter().map(Into::into).collect(),
        ))
    }

    fn with_topology(topology: RedisTopology) -> Self {
        RedisConfig {
            topology,
            key_prefix: "cache:".to_owned(),
            default_ttl: None,
            pool_size: 16,
            min_idle: None,
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(1),
            pool_timeout: Duration::from_secs(2),
            cluster_retries: 1,
            scan_count: 1000,
            version: codec::DEFAULT_VERSION,
            compress_above: None,
            codec: Postcard,
            single_flight: true,
            flight_lease: Duration::from_secs(30),
        }
    }
}

impl<C: Codec> RedisConfig<C> {
    /// How values are stored: [`Postcard`] (the default: compact, type-checked by the
    /// structure of the type), [`Json`](codec::Json) (JSON text: `redis-cli` and other
    /// languages read and write it), [`Raw`](codec::Raw) (the exact bytes of strings and byte
    /// values, so anything any client `SET` reads back), or a [`Codec`] of your own. Every
    /// program sharing a prefix should use the same codec.
    ///
    /// ```
    /// use cache_core::codec::Json;
    /// let config = cache_redis::RedisConfig::new("redis://127.0.0.1/").codec(Json);
    /// assert_eq!(config.codec, Json);
    /// ```
    pub fn codec<D: Codec>(self, codec: D) -> RedisConfig<D> {
        let RedisConfig {
            topology,
            key_prefix,
            default_ttl,
            pool_size,
            min_idle,
            idle_timeout,
            max_lifetime,
            connect_timeout,
            read_timeout,
            write_timeout,
            pool_timeout,
            cluster_retries,
            scan_count,
            version,
            compress_above,
            codec: _,
            single_flight,
            flight_lease,
        } = self;
        RedisConfig {
            topology,
            key_prefix,
            default_ttl,
            pool_size,
            min_idle,
            idle_timeout,
            max_lifetime,
            connect_timeout,
            read_timeout,
            write_timeout,
            pool_timeout,
            cluster_retries,
            scan_count,
            version,
            compress_above,
            codec,
            single_flight,
            flight_lease,
        }
    }

    /// Sets [`RedisConfig::version`].
    ///
    /// ```
    /// assert_eq!(cache_redis::RedisConfig::new("redis://127.0.0.1/").version(3).version, 3);
    /// ```
    #[must_use]
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Sets [`RedisConfig::compress_above`].
    ///
    /// ```
    /// let c = cache_redis::RedisConfig::new("redis://127.0.0.1/").compress_above(4096);
    /// assert_eq!(c.compress_above, Some(4096));
    /// ```
    #[must_use]
    pub fn compress_above(mut self, bytes: usize) -> Self {
        self.compress_above = Some(bytes);
        self
    }

    /// Sets [`RedisConfig::key_prefix`].
    ///
    /// ```
    /// let c = cache_redis::RedisConfig::new("redis://127.0.0.1/").key_prefix("app:");
    /// assert_eq!(c.key_prefix, "app:");
    /// ```
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets [`RedisConfig::default_ttl`]: a `Duration`, `Some(duration)` or `None` (never
    /// expire, the default). Zero is an error at [`RedisCache::new`](crate::RedisCache::new).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = cache_redis::RedisConfig::new("redis://127.0.0.1/").default_ttl(Duration::from_secs(5));
    /// assert_eq!(c.default_ttl, Some(Duration::from_secs(5)));
    /// assert_eq!(c.default_ttl(None).default_ttl, None);
    /// ```
    #[must_use]
    pub fn default_ttl(mut self, ttl: impl Into<Option<Duration>>) -> Self {
        self.default_ttl = ttl.into();
        self
    }

    setter! {
        /// Sets [`RedisConfig::pool_size`].
        ///
        /// ```
        /// assert_eq!(cache_redis::RedisConfig::new("redis://127.0.0.1/").pool_size(4).pool_size, 4);
        /// ```
        pool_size: u32
    }
    setter! {
        /// Sets [`RedisConfig::min_idle`].
        ///
        /// ```
        /// assert_eq!(cache_redis::RedisConfig::new("redis://127.0.0.1/").min_idle(Some(1)).min_idle, Some(1));
        /// ```
        min_idle: Option<u32>
    }
    setter! {
        /// Sets [`RedisConfig::idle_timeout`].
        ///
        /// ```
        /// assert_eq!(cache_redis::RedisConfig::new("redis://127.0.0.1/").idle_timeout(None).idle_timeout, None);
        /// ```
        idle_timeout: Option<Duration>
    }
    setter! {
        /// Sets [`RedisConfig::max_lifetime`].
        ///
        /// ```
        /// assert_eq!(cache_redis::RedisConfig::new("redis://127.0.0.1/").max_lifetime(None).max_lifetime, None);
        /// ```
        max_lifetime: Option<Duration>
    }
    setter! {
        /// Sets [`RedisConfig::connect_timeout`].
        ///
        /// ```
        /// use std::time::Duration;
        /// let c = cache_redis::RedisConfig::new("redis://127.0.0.1/").connect_timeout(Duration::from_millis(200));
        /// assert_eq!(c.connect_timeout, Duration::from_millis(200));
        /// ```
        connect_timeout: Duration
    }
    setter! {
        /// Sets [`RedisConfig::read_timeout`].
        ///
        /// ```
        /// use std::time::Duration;
        /// let c = cache_redis::RedisConfig::new("redis://127.0.0.1/").read_timeout(Duration::from_millis(200));
        /// assert_eq!(c.read_timeout, Duration::from_millis(200));
        /// ```
        read_timeout: Duration
    }
    setter! {
        /// Sets [`RedisConfig::write_timeout`].
        ///
        /// ```
        /// use std::time::Duration;
        /// let c = cache_redis::RedisConfig::new("redis://127.0.0.1/").write_timeout(Duration::from_millis(200));
        /// assert_eq!(c.write_timeout, Duration::from_millis(200));
        /// ```
        write_timeout: Duration
    }
    setter! {
        /// Sets [`RedisConfig::pool_timeout`].
        ///
        /// ```
        /// use std::time::Duration;
        /// let c = cache_redis::RedisConfig::new("redis://127.0.0.1/").pool_timeout(Duration::from_millis(200));
        /// assert_eq!(c.pool_timeout, Duration::from_millis(200));
        /// ```
        pool_timeout: Duration
    }
    setter! {
        /// Sets [`RedisConfig::cluster_retries`].
        ///
        /// ```
        /// assert_eq!(cache_redis::RedisConfig::new("redis://127.0.0.1/").cluster_retries(3).cluster_retries, 3);
        /// ```
        cluster_retries: u32
    }
    setter! {
        /// Sets [`RedisConfig::single_flight`].
        ///
        /// ```
        /// assert!(!cache_redis::RedisConfig::new("redis://127.0.0.1/").single_flight(false).single_flight);
        /// ```
        single_flight: bool
    }
    setter! {
        /// Sets [`RedisConfig::flight_lease`].
        ///
        /// ```
        /// use std::time::Duration;
        /// let c = cache_redis::RedisConfig::new("redis://127.0.0.1/").flight_lease(Duration::from_secs(5));
        /// assert_eq!(c.flight_lease, Duration::from_secs(5));
        /// ```
        flight_lease: Duration
    }
    setter! {
        /// Sets [`RedisConfig::scan_count`].
        ///
        /// ```
        /// assert_eq!(cache_redis::RedisConfig::new("redis://127.0.0.1/").scan_count(100).scan_count, 100);
        /// ```
        scan_count: u32
    }

    /// Sets every timeout at once: connect, read, write and the pool wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = cache_redis::RedisConfig::new("redis://127.0.0.1/").timeouts(Duration::from_millis(300));
    /// assert_eq!((c.connect_timeout, c.pool_timeout), (Duration::from_millis(300), Duration::from_millis(300)));
    /// ```
    #[must_use]
    pub fn timeouts(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self.read_timeout = timeout;
        self.write_timeout = timeout;
        self.pool_timeout = timeout;
        self
    }
}
