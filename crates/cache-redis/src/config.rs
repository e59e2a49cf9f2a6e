use std::fmt;
use std::time::Duration;

use cache_core::codec::{self, Codec, Postcard};
use cache_core::observe::ObserveOptions;
use cache_core::{CacheError, Ttl};

/// The default of [`RedisConfig::max_value_bytes`]: 512 MiB, the largest string a Redis
/// server takes by default (its `proto-max-bulk-len`).
///
/// ```
/// assert_eq!(cache_redis::DEFAULT_MAX_VALUE_BYTES, 512 * 1024 * 1024);
/// ```
pub const DEFAULT_MAX_VALUE_BYTES: usize = 512 * 1024 * 1024;

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
    /// One server, by URL: `redis://[user:password@]host[:port][/db]`,
    /// `rediss://...` (TLS, with the `tls-rustls` feature), or `redis+unix:///path/to/socket`.
    Standalone(String),
    /// A Redis Cluster, by the URLs of some of its nodes; one reachable node is enough to
    /// discover the others. `rediss://` URLs reach every node over TLS. Needs the `cluster`
    /// feature: without it, [`RedisCache::new`](crate::RedisCache::new) refuses this
    /// topology with a configuration error.
    Cluster(Vec<String>),
    /// A primary (and its replicas) watched by Redis Sentinel: every new connection asks the
    /// sentinels for the current primary, so the cache follows a failover.
    Sentinel(SentinelTopology),
}

/// The sentinels that watch a primary, and how to log in to that primary.
///
/// The sentinels are given by URL (`redis://[user:password@]host:port`, the login being the
/// sentinels' own); with `rediss://` URLs both the sentinels and the primary are reached
/// over TLS, with the certificates of [`RedisConfig::tls`]. The `redis` crate has no URL
/// form for a sentinel setup (`redis+sentinel://` is not parsed), so there is none here.
///
/// ```
/// use cache_redis::{RedisConfig, SentinelTopology};
///
/// let topology = SentinelTopology::new(["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"], "cache")
///     .primary_login(Some("app"), "hunter2")
///     .primary_db(2);
/// let config = RedisConfig::from_topology(topology.into());
/// assert!(!format!("{config:?}").contains("hunter2"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentinelTopology {
    /// The sentinels' URLs; one that answers is enough.
    pub nodes: Vec<String>,
    /// The name the sentinels know the primary by (`sentinel monitor <name> ...`).
    pub master_name: String,
    /// The user name for the primary (ACL); `None` for the default user.
    pub primary_username: Option<String>,
    /// The password for the primary; `None` when it needs none.
    pub primary_password: Option<String>,
    /// The database number on the primary.
    pub primary_db: i64,
}

impl SentinelTopology {
    /// The sentinels at `nodes` watching the primary named `master_name`; no login, db 0.
    ///
    /// ```
    /// let t = cache_redis::SentinelTopology::new(["redis://127.0.0.1:26379"], "mymaster");
    /// assert_eq!((t.master_name.as_str(), t.primary_db), ("mymaster", 0));
    /// ```
    pub fn new<S: Into<String>>(
        nodes: impl IntoIterator<Item = S>,
        master_name: impl Into<String>,
    ) -> Self {
        SentinelTopology {
            nodes: nodes.into_iter().map(Into::into).collect(),
            master_name: master_name.into(),
            primary_username: None,
            primary_password: None,
            primary_db: 0,
        }
    }

    /// Sets the login for the primary.
    ///
    /// ```
    /// let t = cache_redis::SentinelTopology::new(["redis://127.0.0.1:26379"], "m").primary_login(None, "pw");
    /// assert_eq!(t.primary_password.as_deref(), Some("pw"));
    /// ```
    #[must_use]
    pub fn primary_login(mut self, username: Option<&str>, password: &str) -> Self {
        self.primary_username = username.map(str::to_owned);
        self.primary_password = Some(password.to_owned());
        self
    }

    /// Sets the database number on the primary.
    ///
    /// ```
    /// assert_eq!(cache_redis::SentinelTopology::new(["redis://127.0.0.1:26379"], "m").primary_db(3).primary_db, 3);
    /// ```
    #[must_use]
    pub fn primary_db(mut self, db: i64) -> Self {
        self.primary_db = db;
        self
    }
}

impl From<SentinelTopology> for RedisTopology {
    fn from(t: SentinelTopology) -> Self {
        RedisTopology::Sentinel(t)
    }
}

impl fmt::Debug for SentinelTopology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentinelTopology")
            .field(
                "nodes",
                &self.nodes.iter().map(|n| redact(n)).collect::<Vec<_>>(),
            )
            .field("master_name", &self.master_name)
            .field("primary_username", &self.primary_username)
            .field(
                "primary_password",
                &self.primary_password.as_ref().map(|_| "***"),
            )
            .field("primary_db", &self.primary_db)
            .finish()
    }
}

/// Certificates for TLS connections (`rediss://` URLs). TLS itself is chosen by the URL's
/// scheme; these say whom to trust and who the client is. PEM bytes, read by the caller
/// (from files, a secret store...).
///
/// - `ca_cert_pem`: the certificate(s) of the authority that signed the server's
///   certificate, trusted instead of the system's roots (for a private CA); `None` trusts
///   the system's roots.
/// - `client_cert_pem` + `client_key_pem`: the client's certificate chain and private key,
///   for servers that require mutual TLS (`tls-auth-clients yes`).
///
/// ```
/// use cache_redis::TlsCertificates;
/// let tls = TlsCertificates::default()
///     .ca_cert(b"-----BEGIN CERTIFICATE-----...".to_vec())
///     .client_cert(b"-----BEGIN CERTIFICATE-----...".to_vec(), b"-----BEGIN PRIVATE KEY-----secret".to_vec());
/// assert!(!format!("{tls:?}").contains("secret"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsCertificates {
    /// PEM certificate(s) of the CA to trust; `None`: the system's roots.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// PEM certificate chain of the client, for mutual TLS.
    pub client_cert_pem: Option<Vec<u8>>,
    /// PEM private key of the client, for mutual TLS.
    pub client_key_pem: Option<Vec<u8>>,
}

impl TlsCertificates {
    /// Trusts the CA certificate(s) in `pem` instead of the system's roots.
    ///
    /// ```
    /// let t = cache_redis::TlsCertificates::default().ca_cert(b"pem".to_vec());
    /// assert!(t.ca_cert_pem.is_some());
    /// ```
    #[must_use]
    pub fn ca_cert(mut self, pem: Vec<u8>) -> Self {
        self.ca_cert_pem = Some(pem);
        self
    }

    /// Presents this certificate chain and key to the server (mutual TLS).
    ///
    /// ```
    /// let t = cache_redis::TlsCertificates::default().client_cert(b"cert".to_vec(), b"key".to_vec());
    /// assert!(t.client_cert_pem.is_some() && t.client_key_pem.is_some());
    /// ```
    #[must_use]
    pub fn client_cert(mut self, cert_pem: Vec<u8>, key_pem: Vec<u8>) -> Self {
        self.client_cert_pem = Some(cert_pem);
        self.client_key_pem = Some(key_pem);
        self
    }

    /// Whether nothing is set (the system's roots, no client certificate).
    ///
    /// ```
    /// assert!(cache_redis::TlsCertificates::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ca_cert_pem.is_none()
            && self.client_cert_pem.is_none()
            && self.client_key_pem.is_none()
    }
}

impl fmt::Debug for TlsCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |v: &Option<Vec<u8>>| if v.is_some() { "<set>" } else { "<none>" };
        f.debug_struct("TlsCertificates")
            .field("ca_cert_pem", &set(&self.ca_cert_pem))
            .field("client_cert_pem", &set(&self.client_cert_pem))
            .field("client_key_pem", &set(&self.client_key_pem))
            .finish()
    }
}

/// Everything a [`RedisCache`](crate::RedisCache) is built from. Start from
/// [`RedisConfig::new`] (one server) or [`RedisConfig::cluster`], then change what you need,
/// either through the chainable setters or the public fields.
/// Or read it from a configuration file: it implements serde's `Deserialize` (TOML, JSON,
/// ...; durations as `"2s"`, `"10m"`), shown at that implementation.
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
    /// connection per node). At least 1. Like every pool setting, ignored by
    /// `AsyncRedisCache`, whose one multiplexed connection replaces the pool.
    pub pool_size: u32,
    /// How many idle connections the pool keeps open; `None` keeps `pool_size`.
    pub min_idle: Option<u32>,
    /// Idle connections above `min_idle` are closed after this long; `None` never. The
    /// connection the last call used is kept for the next one and stays open.
    pub idle_timeout: Option<Duration>,
    /// Connections are replaced after this long; `None` never.
    pub max_lifetime: Option<Duration>,
    /// Bounds opening one connection: TCP connect plus the handshake (AUTH, SELECT).
    pub connect_timeout: Duration,
    /// Bounds each wait for the server's reply.
    pub read_timeout: Duration,
    /// Bounds each write of a request.
    pub write_timeout: Duration,
    /// Bounds the wait for a pooled connection, when all are busy or none can be opened (a
    /// pool setting: `AsyncRedisCache` has no pool to wait for).
    pub pool_timeout: Duration,
    /// How often the cluster client retries a command (after a MOVED or ASK redirect, a
    /// reconnect, or a `TRYAGAIN`), with waits of 10 to 100 ms. Each try is bounded by the
    /// timeouts above, so a cluster operation fails within `cluster_retries + 1` of them
    /// ([`RedisConfig::call_timeout`]).
    pub cluster_retries: u32,
    /// The `COUNT` hint of the `SCAN`s behind `clear`, `delete_pattern` and `count`.
    pub scan_count: u32,
    /// Certificates for `rediss://` connections (all nodes of a cluster, the sentinels and
    /// the primary of a sentinel setup); needs the `tls-rustls` feature.
    pub tls: TlsCertificates,
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
    /// The largest value sent, in bytes once encoded (codec envelope and compression
    /// included): a `set`, `set_many` or `add` of a larger one fails with
    /// [`CacheError::InvalidInput`] naming the limit and the value's size, and sends nothing.
    /// Default [`DEFAULT_MAX_VALUE_BYTES`] (512 MiB): the server's `proto-max-bulk-len`,
    /// which refuses a larger string by closing the connection. Set it to the server's own
    /// when that was changed (`CONFIG GET proto-max-bulk-len`).
    pub max_value_bytes: usize,
    /// How values become bytes: [`Postcard`] by default (see [`RedisConfig::codec`]).
    pub codec: C,
    /// Whether `get_or_insert_with` runs the loader once per key across the threads (or, for
    /// an `AsyncRedisCache`, the tasks) of this cache and every process (and instance,
    /// blocking or async) sharing its key prefix that miss together, the others waiting for
    /// its value or its error. Default: `true`. With `false`, every caller that misses runs
    /// the loader.
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
    /// Make it longer than the slowest load. An `AsyncRedisCache` task that holds the lock
    /// and is cancelled deletes it from a task it spawns; only if that fails does the lease
    /// end it.
    pub flight_lease: Duration,
    /// The cache's name and whether its spans record keys (features `metrics` and
    /// `tracing`; see [`cache_core::observe`]): set with [`RedisConfig::name`] and
    /// [`RedisConfig::trace_keys`]. The default name is `redis`.
    pub observe: ObserveOptions,
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
            RedisTopology::Sentinel(s) => f.debug_tuple("Sentinel").field(s).finish(),
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
        Self::from_topology(RedisTopology::Standalone(url.into()))
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
        Self::from_topology(RedisTopology::Cluster(
            nodes.into_iter().map(Into::into).collect(),
        ))
    }

    /// The defaults, for the primary that the sentinels at `sentinel_nodes` know as
    /// `master_name` (see [`SentinelTopology`] for a login or a database on the primary).
    ///
    /// ```
    /// let config = cache_redis::RedisConfig::sentinel(["redis://127.0.0.1:26379"], "mymaster");
    /// assert!(matches!(config.topology, cache_redis::RedisTopology::Sentinel(ref s) if s.master_name == "mymaster"));
    /// ```
    pub fn sentinel<S: Into<String>>(
        sentinel_nodes: impl IntoIterator<Item = S>,
        master_name: impl Into<String>,
    ) -> Self {
        Self::from_topology(SentinelTopology::new(sentinel_nodes, master_name).into())
    }

    /// The defaults, for any topology.
    ///
    /// ```
    /// use cache_redis::{RedisConfig, RedisTopology};
    /// let config = RedisConfig::from_topology(RedisTopology::Standalone("redis://127.0.0.1/".into()));
    /// assert_eq!(config.pool_size, 16);
    /// ```
    pub fn from_topology(topology: RedisTopology) -> Self {
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
            tls: TlsCertificates::default(),
            version: codec::DEFAULT_VERSION,
            compress_above: None,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            codec: Postcard,
            single_flight: true,
            flight_lease: Duration::from_secs(30),
            observe: ObserveOptions::default(),
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
            tls,
            version,
            compress_above,
            max_value_bytes,
            codec: _,
            single_flight,
            flight_lease,
            observe,
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
            tls,
            version,
            compress_above,
            max_value_bytes,
            codec,
            single_flight,
            flight_lease,
            observe,
        }
    }

    /// The cache's name: the `cache` label of its metrics and field of its spans (features
    /// `metrics` and `tracing`). Default: `redis`. An empty name is refused when the cache
    /// is made.
    ///
    /// ```
    /// let config = cache_redis::RedisConfig::new("redis://127.0.0.1/").name("sessions");
    /// assert_eq!(config.observe.cache_name(), Some("sessions"));
    /// ```
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.observe = self.observe.name(name);
        self
    }

    /// Whether each operation's span records its key (feature `tracing`). Default: no, as
    /// keys can hold personal data.
    ///
    /// ```
    /// let config = cache_redis::RedisConfig::new("redis://127.0.0.1/").trace_keys(true);
    /// assert!(config.observe.keys_traced());
    /// ```
    #[must_use]
    pub fn trace_keys(mut self, yes: bool) -> Self {
        self.observe = self.observe.trace_keys(yes);
        self
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
        /// Sets [`RedisConfig::tls`].
        ///
        /// ```
        /// use cache_redis::{RedisConfig, TlsCertificates};
        /// let c = RedisConfig::new("rediss://127.0.0.1/").tls(TlsCertificates::default().ca_cert(b"pem".to_vec()));
        /// assert!(c.tls.ca_cert_pem.is_some());
        /// ```
        tls: TlsCertificates
    }
    setter! {
        /// Sets [`RedisConfig::max_value_bytes`].
        ///
        /// ```
        /// let c = cache_redis::RedisConfig::new("redis://127.0.0.1/").max_value_bytes(1 << 20);
        /// assert_eq!(c.max_value_bytes, 1 << 20);
        /// ```
        max_value_bytes: usize
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

impl<C> RedisConfig<C> {
    /// The bound of one call (one operation on Redis): the longest of `connect_timeout`,
    /// `read_timeout` and `write_timeout`; on a cluster, that times `cluster_retries + 1`
    /// (each try of the cluster client is bounded by them).
    ///
    /// Every call of an [`AsyncRedisCache`](crate::AsyncRedisCache) and of a
    /// [`RedisCache`](crate::RedisCache) returns within it, its retry on a fresh connection,
    /// a reconnection and a sentinel lookup included, plus [`CALL_MARGIN`] at most (the
    /// time for a thread or task to be scheduled again). Not included: the blocking cache's
    /// wait for a pooled connection when every one is busy (`pool_timeout`), the loader of
    /// `get_or_insert_with` and its wait for another process's flight, and the constructors
    /// of a sentinel cache, which ask each sentinel in turn (each within this bound).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = cache_redis::RedisConfig::new("redis://127.0.0.1/")
    ///     .timeouts(Duration::from_millis(200))
    ///     .read_timeout(Duration::from_millis(500));
    /// assert_eq!(c.call_timeout(), Duration::from_millis(500));
    /// let nodes = cache_redis::RedisTopology::Cluster(vec!["redis://127.0.0.1:7000/".into()]);
    /// let cluster = cache_redis::RedisConfig::from_topology(nodes)
    ///     .timeouts(Duration::from_millis(200))
    ///     .cluster_retries(2);
    /// assert_eq!(cluster.call_timeout(), Duration::from_millis(600));
    /// ```
    pub fn call_timeout(&self) -> Duration {
        let one = self
            .connect_timeout
            .max(self.read_timeout)
            .max(self.write_timeout);
        match self.topology {
            RedisTopology::Cluster(_) => one.saturating_mul(self.cluster_retries.saturating_add(1)),
            _ => one,
        }
    }
}

/// How much longer than [`RedisConfig::call_timeout`] a call may take: the time for a
/// thread or a task to run again once its timer fired (scheduling, not a second timeout).
/// A debug build on a busy machine needs most of it; an idle one, a few milliseconds.
///
/// ```
/// assert_eq!(cache_redis::CALL_MARGIN, std::time::Duration::from_millis(250));
/// ```
pub const CALL_MARGIN: Duration = Duration::from_millis(250);

/// The checks both caches make before connecting: [`CacheError::Config`] for settings no
/// cache works with (a zero pool size, scan count, value limit, timeout or lease, `min_idle` above
/// `pool_size`, a zero default TTL).
pub(crate) fn validate<C>(config: &RedisConfig<C>) -> Result<(), CacheError> {
    if config.pool_size == 0 {
        return Err(CacheError::config("pool_size must be at least 1"));
    }
    if config.min_idle.is_some_and(|n| n > config.pool_size) {
        return Err(CacheError::config("min_idle must not exceed pool_size"));
    }
    if config.scan_count == 0 {
        return Err(CacheError::config("scan_count must be at least 1"));
    }
    if config.max_value_bytes == 0 {
        return Err(CacheError::config("max_value_bytes must be at least 1"));
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
}
