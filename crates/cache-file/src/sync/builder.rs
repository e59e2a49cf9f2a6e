//! [`FileBasedCacheBuilder`]: the settings of a cache, and `build`, which opens the
//! directory and puts the shared `Inner` together.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use cache_core::codec::{self, Codec, Encoding, Postcard};
use cache_core::flight::FlightGroup;
use cache_core::observe::{ObserveOptions, Observer};
use cache_core::{AtomicStats, CacheError, SharedClock, SystemClock, Ttl};

use super::cache::FileBasedCache;
use crate::common::bounds::{Bounds, Hand, Usage, USAGE_FILE};
use crate::common::dir::CacheDir;
use crate::common::entry::Verified;
use crate::common::inner::Inner;
use crate::common::sweep;

/// The bound of a cache built without one: 1 GiB of entry files (see
/// [`FileBasedCacheBuilder::unbounded`]).
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// A flight's lease unless the builder sets another
/// ([`FileBasedCacheBuilder::flight_lease`]).
const DEFAULT_FLIGHT_LEASE: Duration = Duration::from_secs(30);

/// Settings for a [`FileBasedCache`]; start from [`FileBasedCache::builder`].
///
/// ```
/// use cache_file::FileBasedCache;
/// use cache_core::MockClock;
/// use std::time::Duration;
///
/// let dir = tempfile::tempdir()?;
/// let cache = FileBasedCache::builder(dir.path())
///     .default_ttl(Duration::from_secs(30))
///     .clock(MockClock::new().shared())
///     .durable(true)
///     .max_entries(10_000)
///     .max_bytes(64 << 20)
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FileBasedCacheBuilder<C = Postcard> {
    dir: PathBuf,
    default_ttl: Option<Duration>,
    clock: Option<SharedClock>,
    durable: bool,
    max_entries: Option<u64>,
    max_bytes: Option<u64>,
    unbounded: bool,
    sweep_on_write: bool,
    version: u32,
    encoding: Encoding<C>,
    single_flight: bool,
    flight_lease: Duration,
    observe: ObserveOptions,
}

impl<C: Codec> FileBasedCacheBuilder<C> {
    /// The cache's name: the `cache` label of its metrics and field of its spans (features
    /// `metrics` and `tracing`; see [`cache_core::observe`]). Default: `file`. An empty
    /// name is an error at [`build`](Self::build).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::builder(dir.path()).name("pages").build()?;
    /// assert_eq!(cache.name(), "pages");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.observe = self.observe.name(name);
        self
    }

    /// Whether each operation's span records its key (feature `tracing`). Default: no, as
    /// keys can hold personal data.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::builder(dir.path()).trace_keys(true).build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trace_keys(mut self, yes: bool) -> Self {
        self.observe = self.observe.trace_keys(yes);
        self
    }

    /// How values are stored: [`Postcard`] (the default: compact, type-checked by the
    /// structure of the type), [`Json`](codec::Json) (text any language reads),
    /// [`Raw`](codec::Raw) (the exact bytes of strings and byte values), or a [`Codec`] of
    /// your own. Every instance and process sharing a directory should use the same codec
    /// (a value another codec wrote is a miss, or for `Raw` its bytes).
    ///
    /// ```
    /// use cache_core::{codec::Json, Cache, Ttl};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::builder(dir.path()).codec(Json).build()?;
    /// cache.set("k", vec![1u32, 2], Ttl::Never)?;
    /// let file = std::fs::read(cache.entry_path("k"))?;
    /// assert!(file.ends_with(b"[1,2]"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn codec<D: Codec>(self, codec: D) -> FileBasedCacheBuilder<D> {
        let FileBasedCacheBuilder {
            dir,
            default_ttl,
            clock,
            durable,
            max_entries,
            max_bytes,
            unbounded,
            sweep_on_write,
            version,
            encoding,
            single_flight,
            flight_lease,
            observe,
        } = self;
        FileBasedCacheBuilder {
            dir,
            default_ttl,
            clock,
            durable,
            max_entries,
            max_bytes,
            unbounded,
            sweep_on_write,
            version,
            single_flight,
            flight_lease,
            observe,
            encoding: Encoding::new(codec).with_threshold(encoding.compression_threshold()),
        }
    }

    /// The cache's version (Django's `VERSION`; default
    /// [`DEFAULT_VERSION`](codec::DEFAULT_VERSION), 1): entries written under another version
    /// are invisible to this instance (`get` misses, `exists` is `false`, `delete` and `set`
    /// leave them alone), so a deploy that changes a value type can start from a clean cache
    /// without a flush. `clear`, `delete_pattern` and `purge_expired` act on the entries of
    /// every version in the directory.
    ///
    /// ```
    /// use cache_core::{Cache, Ttl};
    /// use cache_file::FileBasedCache;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let v1 = FileBasedCache::builder(dir.path()).build()?;
    /// let v2 = FileBasedCache::builder(dir.path()).version(2).build()?;
    /// v1.set("k", 1u8, Ttl::Never)?;
    /// assert_eq!(Cache::<u8>::get(&v2, "k")?, None);
    /// v2.set("k", 2u8, Ttl::Never)?;
    /// assert_eq!(Cache::<u8>::get(&v1, "k")?, Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Compresses values (lz4) whose encoded size is over `bytes`, when that makes them
    /// smaller. Default: no compression. A compressed value is marked, so every instance
    /// reads it whatever its own setting.
    ///
    /// ```
    /// use cache_core::{Cache, Ttl};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::builder(dir.path()).compress_above(4096).build()?;
    /// cache.set("k", "ab".repeat(100_000), Ttl::Never)?;
    /// assert!(std::fs::metadata(cache.entry_path("k"))?.len() < 10_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compress_above(mut self, bytes: usize) -> Self {
        self.encoding = self.encoding.compress_above(bytes);
        self
    }

    /// The TTL of entries written with [`Ttl::Default`]: a `Duration`, `Some(duration)` or
    /// `None` (never expire, the default). Zero is an error at [`build`](Self::build).
    ///
    /// ```
    /// use cache_file::FileBasedCache;
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir()?;
    /// let hour = FileBasedCache::builder(dir.path()).default_ttl(Duration::from_secs(3600)).build()?;
    /// let never = FileBasedCache::builder(dir.path()).default_ttl(None).build()?;
    /// assert!(FileBasedCache::builder(dir.path()).default_ttl(Duration::ZERO).build().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn default_ttl(mut self, ttl: impl Into<Option<Duration>>) -> Self {
        self.default_ttl = ttl.into();
        self
    }

    /// The clock written-at times are read from and expiry is measured against. Default:
    /// [`SystemClock`], the wall clock, since other processes read the same times.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Whether each write is flushed to disk (`fsync` of the file before the rename and of
    /// its directory after), so that an entry survives a power loss. Default: `false`, which
    /// is crash-safe against killed processes but not against a lost page cache.
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// At most this many entries in the directory (at least 1), across every process that
    /// uses it; see [`FileBasedCache`] for how the bound is kept. Default: no entry bound
    /// (only the default byte bound, [`DEFAULT_MAX_BYTES`]).
    pub fn max_entries(mut self, max_entries: u64) -> Self {
        self.max_entries = Some(max_entries);
        self
    }

    /// At most this many bytes of entry files in the directory (headers and keys included;
    /// at least 1), across every process that uses it. Default: [`DEFAULT_MAX_BYTES`]
    /// (1 GiB) when no bound is set.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = Some(max_bytes);
        self
    }

    /// Whether `get_or_insert_with` runs the loader once per key across the threads (and,
    /// through `AsyncFileCache` (feature `tokio`), the tasks) of this instance and
    /// every process (and instance) on the same directory that miss together, the others
    /// waiting for its value or its error. Default: `true`.
    ///
    /// Processes meet on a lock file per key, `ab/<md5 of the key>.flight`, held with `flock`
    /// while the loader runs: the kernel releases it when its holder dies, so a process
    /// killed mid-load blocks no one (a waiter then loads). A loader that hangs holds its
    /// key for its lease at most ([`FileBasedCacheBuilder::flight_lease`]). A loader's error
    /// reaches waiting processes as a
    /// [`RemoteLoaderError`](cache_core::flight::RemoteLoaderError) with its message, written
    /// into the lock file just before it is unlinked and unlocked. With `false`, every
    /// caller that misses runs the loader.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::builder(dir.path()).single_flight(false).build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn single_flight(mut self, single_flight: bool) -> Self {
        self.single_flight = single_flight;
        self
    }

    /// How long a flight's lock lasts (at least 1 ms; default 30 s, as Redis's
    /// `flight_lease`): the holder writes the end of its lease (on the cache's clock) into
    /// the lock file when it takes it, and a waiter in any process that finds the lease
    /// over while the holder still holds the lock (a loader that hangs) takes the lock
    /// over and loads too. The lease is not renewed while the loader runs: a loader slower
    /// than its lease runs twice, both values are stored (the last one wins), and the first
    /// holder's end (its failure record, its removal of the lock file) is dropped, since
    /// the lock is no longer its own. Make it longer than the slowest load. The lease is
    /// the holder's setting: each process reads the one the holder wrote. Waiters poll the
    /// lock (2 ms, doubling up to 50 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::builder(dir.path())
    ///     .flight_lease(Duration::from_secs(5))
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flight_lease(mut self, lease: Duration) -> Self {
        self.flight_lease = lease.max(Duration::from_millis(1));
        self
    }

    /// No bound at all: without one, a cache is bounded by [`DEFAULT_MAX_BYTES`]; this opts
    /// out (and overrides `max_entries` and `max_bytes`). Expired entries are still swept
    /// as the cache writes.
    ///
    /// ```
    /// use cache_core::Cache;
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::builder(dir.path()).unbounded().build()?;
    /// assert_eq!(cache.stats().entries, None);
    /// let bounded = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// assert_eq!(bounded.max_bytes(), Some(cache_file::DEFAULT_MAX_BYTES));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unbounded(mut self) -> Self {
        self.unbounded = true;
        self
    }

    /// Whether each write removes a few expired entries of the directory (any process's),
    /// found by a moving hand over the fan-out directories where the shared accounting says
    /// something has expired, so that a cache that writes short-lived entries stays near its
    /// live size. Entries removed so are not counted as expirations (a `set` counts none).
    /// Default: `true`; off, expired entries go when touched or by
    /// [`FileBasedCache::purge_expired`].
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::builder(dir.path())
    ///     .sweep_on_write(false)
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sweep_on_write(mut self, sweep: bool) -> Self {
        self.sweep_on_write = sweep;
        self
    }

    /// Creates the directory (and its parents) if missing, checks that it is usable, removes
    /// the temporary files of dead writers, and (when bounded) indexes the entries present.
    pub fn build(self) -> Result<FileBasedCache<C>, CacheError> {
        let default_ttl = Ttl::check_default("FileBasedCache", self.default_ttl)?;
        let observe = Observer::new(
            "file",
            &self.observe,
            &["cache_loads_in_flight", "cache_bytes"],
        )?;
        if self.max_entries == Some(0) {
            return Err(CacheError::config(
                "FileBasedCache max_entries must be at least 1",
            ));
        }
        if self.max_bytes == Some(0) {
            return Err(CacheError::config(
                "FileBasedCache max_bytes must be at least 1",
            ));
        }
        if let Ok(m) = std::fs::metadata(&self.dir) {
            if !m.is_dir() {
                return Err(CacheError::config(format!(
                    "the cache directory {} exists and is not a directory",
                    self.dir.display()
                )));
            }
        }
        let dir = CacheDir::open(self.dir.clone(), self.durable).map_err(|e| {
            CacheError::io(
                format!("opening the cache directory {}", self.dir.display()),
                e,
            )
        })?;
        let max_bytes = match (self.max_entries, self.max_bytes) {
            (None, None) => Some(DEFAULT_MAX_BYTES),
            (_, b) => b,
        };
        let open_err = |e| {
            CacheError::io(
                format!("opening the accounting file of {}", self.dir.display()),
                e,
            )
        };
        let usage =
            Usage::new(dir.open_root_file(USAGE_FILE).map_err(open_err)?).map_err(open_err)?;
        let inner = Arc::new(Inner {
            usage_gen: AtomicU64::new(dir.renewals()),
            dir,
            default_ttl,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            stats: AtomicStats::default(),
            corruptions: AtomicU64::new(0),
            bounds: (!self.unbounded).then(|| Bounds::new(self.max_entries, max_bytes)),
            usage,
            hand: std::sync::Mutex::new(Hand::default()),
            sweeps: self.sweep_on_write,
            handles: std::sync::atomic::AtomicUsize::new(1),
            stop: std::sync::atomic::AtomicBool::new(false),
            recount: std::sync::Mutex::new(None),
            version: self.version,
            single_flight: self.single_flight,
            flight_lease: self.flight_lease,
            flights: FlightGroup::new(),
            verified: Verified::default(),
            key_locks: Default::default(),
            observe,
        });
        sweep::start_recount(&inner);
        Ok(FileBasedCache {
            inner,
            encoding: self.encoding,
        })
    }
}

impl FileBasedCache {
    /// A cache in `cache_dir` (created with its parents if missing) whose [`Ttl::Default`] is
    /// `default_ttl` (a `Duration`, `Some(duration)` or `None`: never expire). A path that is a
    /// file, or that cannot be created or written, is an error, and so is a zero default TTL.
    ///
    /// ```
    /// use cache_file::FileBasedCache;
    /// let dir = tempfile::tempdir()?;
    /// let cache = FileBasedCache::new(dir.path().join("a/b/c"), None)?;
    /// assert!(dir.path().join("a/b/c").is_dir());
    /// let file = dir.path().join("plain-file");
    /// std::fs::write(&file, b"")?;
    /// assert!(FileBasedCache::new(&file, None).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(
        cache_dir: impl Into<PathBuf>,
        default_ttl: impl Into<Option<Duration>>,
    ) -> Result<Self, CacheError> {
        Self::builder(cache_dir).default_ttl(default_ttl).build()
    }

    /// A builder for the less common settings (clock, durability, bounds).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::builder(dir.path()).max_entries(100).build()?;
    /// assert_eq!(cache.dir(), dir.path());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(cache_dir: impl Into<PathBuf>) -> FileBasedCacheBuilder {
        FileBasedCacheBuilder {
            dir: cache_dir.into(),
            default_ttl: None,
            clock: None,
            durable: false,
            max_entries: None,
            max_bytes: None,
            unbounded: false,
            sweep_on_write: true,
            version: codec::DEFAULT_VERSION,
            encoding: Encoding::default(),
            single_flight: true,
            flight_lease: DEFAULT_FLIGHT_LEASE,
            observe: ObserveOptions::default(),
        }
    }
}
