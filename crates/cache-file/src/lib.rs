//! `FileBasedCache`: a crash-safe cache on the local file system, shared by threads and by
//! processes, implementing [`cache_core::Cache`] for every serde type.
//!
//! ```
//! use cache_file::FileBasedCache;
//! use cache_core::{Cache, Ttl};
//! use std::time::Duration;
//!
//! let dir = tempfile::tempdir()?;
//! let cache = FileBasedCache::new(dir.path().join("cache"), Some(Duration::from_secs(60)))?;
//! cache.set("user:1", "alice".to_string(), Ttl::Default)?;
//! assert_eq!(cache.get("user:1")?, Some("alice".to_string()));
//! // One directory serves every value type; reading as another type is a miss.
//! assert_eq!(Cache::<u64>::get(&cache, "user:1")?, None);
//! // Operations that involve no value need no type: `delete`, `clear`, `exists`,
//! // `delete_pattern` and `stats` are inherent methods too.
//! assert!(cache.exists("user:1")?);
//! assert_eq!(cache.delete_pattern("user:*")?, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//! - **One file per entry**, named by the MD5 of its key, in one of 256 fan-out
//!   subdirectories chosen by the first byte of the MD5 (`ab/ab12...`).
//! - **Format** (version 2): a 48-byte header (magic, version, name length, written-at
//!   time, TTL, payload length, payload CRC-32, header CRC-32), then the key's stored name
//!   (the key, plus `0xFF` and the cache's version for versions other than 1), then the
//!   value as the cache's codec stores it ([`FileBasedCacheBuilder::codec`], optionally
//!   compressed: [`cache_core::codec::Encoding`]). See the crate README for the byte offsets.
//! - **Versions**: the file of a key is named by the MD5 of its stored name, so each version
//!   of a key has a file of its own, and reads compare the whole name
//!   ([`FileBasedCacheBuilder::version`]).
//! - **Writes** go to a temporary file in the instance's own directory under `tmp/` (locked
//!   for the instance's lifetime, so cleanups tell live instances from dead ones) and are
//!   renamed into place, so a reader opens either the old file or the new one;
//!   `durable(true)` adds `fsync`s.
//! - **Reads** open one file, check the header checksum, compare the stored key (an MD5
//!   collision is a miss), check the payload checksum, then decode. A corrupt file is a miss,
//!   counted in [`FileBasedCache::corruptions`] and removed.
//! - **Removal is conditional**: an expired or corrupt file is moved aside and deleted only if
//!   it is still the file that was read; a newer file a concurrent writer renamed into place
//!   is put back.
//! - **Atomic operations across processes**: `incr` and `touch` hold the entry's lock file
//!   (`ab/<md5>.lock`, an `flock` the kernel drops if the holder dies; the holder removes the
//!   file as it lets go) across their read and write; `add` creates the entry with `link()`,
//!   which fails if a file is there, so it never overwrites a concurrent `set`, and holds the
//!   lock against concurrent `add`s. `set` takes no lock: a `set` landing inside an `incr`
//!   or `touch` of the same key may be overwritten by it.
//! - **No symlink in the cache directory is ever followed**, even one swapped in while the
//!   cache is open: every file is reached through directory descriptors the instance holds,
//!   with `*at` calls of one name each, and directories are opened with `openat2`
//!   (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`) or, where the kernel lacks it, a checked
//!   `O_NOFOLLOW` walk. Files and directories are created private (0600 / 0700).
//! - **A directory removed under a running cache** is recreated by its next write (and by
//!   `clear`); reads of it miss meanwhile.
//! - **Single flight**: `get_or_insert_with` runs its loader once per key across threads and
//!   processes; a per-key lock file beside the entry (`ab/<md5>.flight`), held with `flock`
//!   while the loader runs, makes the other processes wait (see
//!   [`FileBasedCacheBuilder::single_flight`]).
//!
//! # Platforms
//! Unix only (Linux, macOS, the BSDs): the crate relies on `rename` over an existing file,
//! `flock`, `O_NOFOLLOW` and directory file descriptors, and fails to build elsewhere with
//! a `compile_error!` that says so. Windows is not supported (its rename-over and locking
//! differ enough to need a port of their own).
#![forbid(unsafe_code)]

#[cfg(not(unix))]
compile_error!(
    "cache-file supports Unix only (Linux, macOS, the BSDs): it relies on rename over an \
     existing file, flock, O_NOFOLLOW and directory file descriptors"
);

/// This crate's README, compiled (and run, unless marked `no_run`) as doctests, so that its
/// crates.io page never lies.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(feature = "tokio")]
#[path = "future/cache.rs"]
mod async_cache;
#[path = "common/dir/mod.rs"]
mod dir;
#[path = "common/flight.rs"]
mod flight;
#[path = "common/entry/format.rs"]
mod format;
#[path = "common/bounds/index.rs"]
mod index;
#[path = "common/keylock.rs"]
mod keylock;
#[path = "common/ops.rs"]
mod ops;
#[path = "common/sweep.rs"]
mod sweep;
#[path = "common/bounds/usage.rs"]
mod usage;
#[path = "common/entry/verified.rs"]
mod verified;

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::codec::{self, Codec, Encoding, Postcard};
use cache_core::flight::{hit_or_lead, FlightGroup};
use cache_core::Loader;
use cache_core::{
    AtomicStats, Cache, CacheError, CacheStats, Pattern, SharedClock, SystemClock, Timestamp, Ttl,
};
use md5::{Digest, Md5};
use serde::de::DeserializeOwned;
use serde::Serialize;

use dir::{CacheDir, EntryId, FileId, Opened, Replaced};
use format::{EntryHeader, HEADER_LEN};
use index::Bounds;
use sweep::Hand;
use usage::Usage;
use verified::{Reading, Verified};

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use async_cache::AsyncFileCache;
pub use dir::TMP_DIR;
pub use usage::USAGE_FILE;

/// The bound of a cache built without one: 1 GiB of entry files (see
/// [`FileBasedCacheBuilder::unbounded`]).
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// A cache of serde values in a directory, safe to share between threads and between
/// processes. Clones are handles on the same instance (same counters).
///
/// # Bounds
/// A cache is bounded by [`DEFAULT_MAX_BYTES`] (1 GiB of entry files) unless the builder
/// sets `max_entries` / `max_bytes` or opts out with `unbounded()`. The bounds are the
/// directory's, shared by every process that uses it: the entries and bytes they hold are
/// kept in `DIR/usage` (one slot per fan-out directory, updated under an `flock`; each
/// instance writes its changes out every 64 writes, and at every write once the directory
/// may be over a bound), so two processes bounded to 100 entries hold about 100 between
/// them. A write that takes the directory over a bound removes expired entries, then the
/// least recently used, among the entries this instance knows: those it wrote or read, and
/// those the recount at open found (oldest file first, as the least recently used). What a
/// process cannot see: reads in other processes (their recency), and entries other
/// processes wrote after its open, which it never chooses; they are bounded by the writers.
/// [`CacheStats::entries`] is the directory's count (`None` for an unbounded cache, which
/// keeps no counts). Each flush and the recount at open set the file right after killed
/// processes or hand removals; between them it may be off by the writes of a process that
/// died before it wrote them out.
///
/// # Expired entries
/// Each write removes a few expired entries of the directory (any process's), found by a
/// moving hand over the fan-out directories where the accounting says something expired;
/// a cache whose entries do not expire pays nothing for it (see
/// [`FileBasedCacheBuilder::sweep_on_write`]). [`FileBasedCache::purge_expired`] removes
/// every expired entry at once.
///
/// # Opening
/// Opening never scans the directory: the recount runs in a background thread
/// ([`FileBasedCache::wait_for_recount`] waits for it); until it is done the accounting is
/// what the file says.
///
/// ```
/// use cache_file::FileBasedCache;
/// use cache_core::{Cache, Ttl};
///
/// let dir = tempfile::tempdir()?;
/// let cache = FileBasedCache::new(dir.path(), None)?;
/// cache.set("answer", 42u32, Ttl::Never)?;
/// // Another instance (or process) on the same directory sees the entry.
/// let again = FileBasedCache::new(dir.path(), None)?;
/// assert_eq!(again.get("answer")?, Some(42u32));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FileBasedCache<C = Postcard> {
    inner: Arc<Inner>,
    /// The codec and compression of values (see [`FileBasedCacheBuilder::codec`]).
    encoding: Encoding<C>,
}

impl<C: Clone> Clone for FileBasedCache<C> {
    fn clone(&self) -> Self {
        self.inner.handles.fetch_add(1, Ordering::Relaxed);
        FileBasedCache {
            inner: Arc::clone(&self.inner),
            encoding: self.encoding.clone(),
        }
    }
}

impl<C> Drop for FileBasedCache<C> {
    fn drop(&mut self) {
        // The last handle: the background recount stops, so that the instance is gone
        // (its temporary directory removed, its accounting written) when this returns.
        if self.inner.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.stop.store(true, Ordering::Relaxed);
            self.inner.wait_for_recount();
        }
    }
}

struct Inner {
    dir: CacheDir,
    default_ttl: Option<Duration>,
    clock: SharedClock,
    stats: AtomicStats,
    corruptions: AtomicU64,
    bounds: Option<Bounds>,
    /// Entries of other versions are invisible (see [`FileBasedCacheBuilder::version`]).
    version: u32,
    single_flight: bool,
    /// This instance's `get_or_insert_with` loads in progress, by key (see `flight.rs`).
    flights: FlightGroup<()>,
    /// The accounting shared by every process on the directory.
    usage: Usage,
    /// [`CacheDir::renewals`] when `usage`'s file was opened.
    usage_gen: AtomicU64,
    /// The sweep of expired entries, a little on each write.
    hand: std::sync::Mutex<Hand>,
    /// Whether writes sweep.
    sweeps: bool,
    /// Handles (clones of `FileBasedCache`) alive; the recount thread is not one.
    handles: std::sync::atomic::AtomicUsize,
    /// Tells the recount thread to stop.
    stop: std::sync::atomic::AtomicBool,
    /// The background recount started at open.
    recount: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Large entry files verified whole, not checksummed again while unchanged.
    verified: Verified,
}

impl Inner {
    fn wait_for_recount(&self) {
        let handle = self
            .recount
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // This instance's changes not yet written out: other processes count on them.
        let _ = self.usage.flush();
    }
}

impl<C: Codec> fmt::Debug for FileBasedCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileBasedCache")
            .field("dir", &self.inner.dir.root())
            .field("default_ttl", &self.inner.default_ttl)
            .field("bounds", &self.inner.bounds)
            .field("version", &self.inner.version)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

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
}

impl<C: Codec> FileBasedCacheBuilder<C> {
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
    /// killed mid-load blocks no one (a waiter then loads). There is no lease: a loader
    /// that hangs holds its key until it returns or its process dies. A loader's error
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
            flights: FlightGroup::new(),
            verified: Verified::default(),
        });
        sweep::start_recount(&inner);
        Ok(FileBasedCache {
            inner,
            encoding: self.encoding,
        })
    }
}

/// A key as error messages show it: quoted, and cut short when long.
fn key_ctx(key: &str) -> String {
    const MAX: usize = 64;
    if key.len() <= MAX {
        return format!("{key:?}");
    }
    let mut end = MAX;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &key[..end], key.len())
}

/// How many times a read tries an entry replaced under it before it gives up.
const LOOKUP_TRIES: usize = 8;

/// What one try of a read of an entry gave.
enum Looked<T> {
    Done(T),
    /// The file read was replaced under the reader: read the entry again.
    Again,
}

/// Runs `once` until it is done, at most [`LOOKUP_TRIES`] times (a file replaced under the
/// reader, perhaps written again as another entry, see `dir::Pool`, is read again); then
/// `gave_up`.
fn read_again<T>(gave_up: T, mut once: impl FnMut() -> io::Result<Looked<T>>) -> io::Result<T> {
    for _ in 0..LOOKUP_TRIES {
        if let Looked::Done(done) = once()? {
            return Ok(done);
        }
    }
    Ok(gave_up)
}

/// The fixed header and key of an entry file, read without its payload.
struct Head {
    header: EntryHeader,
    key: Vec<u8>,
}

/// What reading a file as an entry gave.
enum Verdict<T> {
    Ok(T),
    Corrupt,
}

/// Reads the header and key of `file` (of length `len`), not the payload.
fn read_head(file: &File, len: u64) -> io::Result<Verdict<Head>> {
    // One read covers the header and any key up to 4 KiB.
    let first = len.min((HEADER_LEN + 4096) as u64) as usize;
    let mut buf = vec![0u8; first];
    if let Err(e) = file.read_exact_at(&mut buf, 0) {
        return short_read(e);
    }
    let header = match EntryHeader::parse(&buf, len) {
        Ok(h) => h,
        Err(_) => return Ok(Verdict::Corrupt),
    };
    let key_end = header.payload_offset();
    if key_end > buf.len() {
        let have = buf.len();
        buf.resize(key_end, 0);
        if let Err(e) = file.read_exact_at(&mut buf[have..], have as u64) {
            return short_read(e);
        }
    }
    if header.check_key(&buf, &buf[HEADER_LEN..key_end]).is_err() {
        return Ok(Verdict::Corrupt);
    }
    buf.truncate(key_end);
    buf.drain(..HEADER_LEN);
    Ok(Verdict::Ok(Head { header, key: buf }))
}

/// A file that ends before its header says it does is corrupt; other errors are errors.
fn short_read<T>(e: io::Error) -> io::Result<Verdict<T>> {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Ok(Verdict::Corrupt)
    } else {
        Err(e)
    }
}

/// Bytes read at once before asking a file its size: an entry this small (the common case,
/// 4 KiB values included) costs one `open`, one `read` and one `close`.
const QUICK_READ: usize = 16 << 10;

/// What the first `read` of an entry file gave.
enum First {
    /// A short read: the whole file, if it is a regular file.
    Whole(Vec<u8>),
    /// `QUICK_READ` bytes, then stale bytes of an earlier read: there may be more.
    Part(Vec<u8>),
    /// The read failed (a directory, a FIFO opened non-blocking, ...).
    Failed,
}

/// Up to `QUICK_READ` bytes from the start of `file`, read into a per-thread buffer zeroed
/// once and copied out (copying what was read costs less than zeroing a fresh buffer).
/// A short read of a regular file is its end; where that does not hold, the entry fails
/// verification and is read again the careful way.
fn read_first(file: &mut File) -> First {
    let mut out = spare_buffer();
    let first = QUICK
        .try_with(|q| {
            let mut q = q.borrow_mut();
            if q.len() < QUICK_READ {
                q.resize(QUICK_READ, 0);
            }
            match file.read(&mut q[..]) {
                Ok(n) if n < QUICK_READ => {
                    out.clear();
                    out.extend_from_slice(&q[..n]);
                    Some(true)
                }
                Ok(_) => {
                    // Grown (zeroed) only past what earlier reads initialized; the rest of
                    // its stale bytes are overwritten by `read_rest` before anyone reads.
                    if out.len() < QUICK_READ {
                        out.resize(QUICK_READ, 0);
                    }
                    out[..QUICK_READ].copy_from_slice(&q[..]);
                    Some(false)
                }
                Err(_) => None,
            }
        })
        .ok()
        .flatten();
    match first {
        Some(true) => First::Whole(out),
        Some(false) => First::Part(out),
        None => {
            recycle(out);
            First::Failed
        }
    }
}

/// Where a payload that ends in a run of value bytes has that run: given the start of the
/// payload and its length, the bytes before the run ([`Encoding::byte_run_start`]).
type Split<'a> = &'a dyn Fn(&[u8], u64) -> Option<usize>;

/// The rest of a file whose first `QUICK_READ` bytes start `bytes`, up to the size `fstat`
/// gave, read from where the first read stopped: when `split` finds a run of value bytes,
/// into a buffer of the run's size of its own ([`read_run`]), else into the buffer an
/// earlier read of an entry this size left initialized (so that reading large entries
/// neither zeroes a buffer nor reads a byte twice).
///
/// The payload of a file this instance verified before, unchanged since, is not checksummed
/// again (`reading`, see `verified.rs`).
fn read_rest(
    file: &File,
    reading: Reading<'_>,
    mut bytes: Vec<u8>,
    split: Split<'_>,
) -> io::Result<Verdict<Live>> {
    let meta = reading.meta;
    let size = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    if !meta.is_file() || size < QUICK_READ || size == usize::MAX {
        recycle(bytes);
        return Ok(Verdict::Corrupt);
    }
    if let Some(at) = run_start(&bytes[..QUICK_READ], size, split) {
        return read_run(file, reading, size, bytes, at);
    }
    if bytes.len() < size {
        bytes.resize(size, 0);
    } else {
        bytes.truncate(size);
    }
    let mut file = file;
    if let Err(e) = file.read_exact(&mut bytes[QUICK_READ..]) {
        recycle(bytes);
        return short_read(e);
    }
    Ok(verify_entry_read(bytes, Some(reading)))
}

/// Where the run of value bytes of a `size`-byte file whose first bytes are `first` starts
/// in the file, if `split` finds one that starts within `first`.
fn run_start(first: &[u8], size: usize, split: Split<'_>) -> Option<usize> {
    let header = EntryHeader::parse(first, size as u64).ok()?;
    let at = header.payload_offset();
    let start = at + split(first.get(at..)?, header.payload_len)?;
    (start <= first.len()).then_some(start)
}

/// Reads the rest of a `size`-byte file whose first `QUICK_READ` bytes are `first` (the
/// file's position right after them), the run of value bytes that starts at `at` going into
/// a buffer of its own, of the run's exact size and never zeroed: a byte value takes it as
/// it is ([`codec::bytes_into`]), as `std::fs::read` hands over its buffer.
fn read_run(
    file: &File,
    reading: Reading<'_>,
    size: usize,
    mut first: Vec<u8>,
    at: usize,
) -> io::Result<Verdict<Live>> {
    let want = size - at;
    let mut run = Vec::with_capacity(want);
    run.extend_from_slice(&first[at..QUICK_READ]);
    first.truncate(at);
    while run.len() < want {
        match rustix::io::read(file, rustix::buffer::spare_capacity(&mut run)) {
            Ok(0) => break,
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                recycle(first);
                return Err(e.into());
            }
        }
    }
    let Ok(header) = EntryHeader::parse(&first, size as u64) else {
        recycle(first);
        return Ok(Verdict::Corrupt);
    };
    let p = header.payload_offset();
    if run.len() != want
        || header.check_key(&first, &first[HEADER_LEN..p]).is_err()
        || !reading.payload_ok(&header, &[&first[p..], &run])
    {
        recycle(first);
        return Ok(Verdict::Corrupt);
    }
    Ok(Verdict::Ok(Live {
        bytes: first,
        header,
        run: Some(run),
    }))
}

/// Read buffers up to this size are kept, one per thread, for the next read.
const KEEP_BUFFER: usize = 8 << 20;

thread_local! {
    /// The calling thread's spare read buffer. Reusing it spares a large entry's read the
    /// allocator's fresh pages (a page fault per 4 KiB: reading 1 MiB entries ran 4x slower
    /// when the allocator handed out new pages for every read).
    static SPARE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };

    /// The calling thread's buffer for first reads, `QUICK_READ` bytes once used.
    static QUICK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The thread's spare buffer as it was left: stale bytes of an earlier read, to be
/// overwritten before anything reads them.
fn spare_buffer() -> Vec<u8> {
    SPARE
        .try_with(|s| std::mem::take(&mut *s.borrow_mut()))
        .unwrap_or_default()
}

/// A zeroed buffer of `len` bytes, the thread's spare one if it has one.
fn take_buffer(len: usize) -> Vec<u8> {
    let mut buf = spare_buffer();
    buf.clear();
    buf.resize(len, 0);
    buf
}

/// Keeps `buf` as the thread's spare read buffer, unless it is too large to keep around.
fn recycle(buf: Vec<u8>) {
    if buf.capacity() <= KEEP_BUFFER {
        let _ = SPARE.try_with(|s| {
            let mut spare = s.borrow_mut();
            if buf.capacity() > spare.capacity() {
                *spare = buf;
            }
        });
    }
}

/// The careful read: the file's type and size from `fstat`, then all of it.
fn read_whole(file: &File, meta: &std::fs::Metadata) -> io::Result<Verdict<Live>> {
    if !meta.is_file() {
        return Ok(Verdict::Corrupt);
    }
    let Ok(size) = usize::try_from(meta.len()) else {
        return Ok(Verdict::Corrupt);
    };
    let mut bytes = take_buffer(size);
    if let Err(e) = file.read_exact_at(&mut bytes, 0) {
        recycle(bytes);
        return short_read(e);
    }
    Ok(verify_entry(bytes))
}

/// Checks a whole entry file image: header, key checksum, payload checksum.
fn verify_entry(bytes: Vec<u8>) -> Verdict<Live> {
    verify_entry_read(bytes, None)
}

/// [`verify_entry`], the payload of a file `reading` knows verified before not checksummed
/// again.
fn verify_entry_read(bytes: Vec<u8>, reading: Option<Reading<'_>>) -> Verdict<Live> {
    let Ok(header) = EntryHeader::parse(&bytes, bytes.len() as u64) else {
        return Verdict::Corrupt;
    };
    let at = header.payload_offset();
    let payload_ok = |payload: &[u8]| match reading {
        Some(r) => r.payload_ok(&header, &[payload]),
        None => header.check_payload(payload).is_ok(),
    };
    if header.check_key(&bytes, &bytes[HEADER_LEN..at]).is_err() || !payload_ok(&bytes[at..]) {
        return Verdict::Corrupt;
    }
    Verdict::Ok(Live {
        bytes,
        header,
        run: None,
    })
}

/// A live entry read in full: the file's bytes and where the payload starts; or, when the
/// payload ends in a run of value bytes read into a buffer of its own, the bytes before the
/// run and the run.
struct Live {
    bytes: Vec<u8>,
    header: EntryHeader,
    run: Option<Vec<u8>>,
}

impl Live {
    /// The entry file's size.
    fn file_len(&self) -> u64 {
        (self.bytes.len() + self.run.as_ref().map_or(0, Vec::len)) as u64
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.bytes));
    }
}

/// What a grabbed (moved aside) entry turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taken {
    Absent,
    Live,
    Expired,
    Corrupt,
    /// Another key's entry (an MD5 collision): put back.
    Other,
}

impl Inner {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The name `key` is stored under in this cache's version: the key itself for the
    /// default version (so its file is where it always was), else key, `0xFF`, version.
    fn name<'k>(&self, key: &'k str) -> std::borrow::Cow<'k, [u8]> {
        codec::versioned_name(key, self.version)
    }

    /// The MD5 of the key's name in this cache's version: its entry's id.
    fn entry_id(&self, key: &str) -> EntryId {
        Md5::digest(&*self.name(key)).into()
    }

    fn io_err(&self, what: &str, key: &str, id: &EntryId, e: io::Error) -> CacheError {
        CacheError::io(
            format!(
                "{what} the entry of key {} at {}",
                key_ctx(key),
                self.dir.entry_path(id).display()
            ),
            e,
        )
    }

    /// Removes a corrupt file if it is still the one that was read, and counts it: `true`
    /// if it did. A small file is read again once moved aside, and put back if it verifies
    /// then: a reader may have read it while a writer wrote it again, in place, as a file
    /// kept for reuse (`dir::Pool`), then put it back in place, a newer entry of the same key.
    fn drop_corrupt(&self, file: FileId, id: &EntryId) -> io::Result<bool> {
        let removed = self.dir.remove_if_same_and(id, file, |g| {
            self.recheck_if_small(g, |f, m| Ok(matches!(read_whole(f, m)?, Verdict::Corrupt)))
        })?;
        if removed {
            self.corruptions.fetch_add(1, Ordering::Relaxed);
            self.forget(id, file.len);
        }
        Ok(removed)
    }

    /// Removes the entry `id` if it is still the file `file` that was read, with the header
    /// `header` that was read: a small file may have been written again in place, as a file
    /// kept for reuse (`dir::Pool`), and put back as a newer entry of the same key since.
    fn remove_if_unchanged(
        &self,
        id: &EntryId,
        file: FileId,
        header: &EntryHeader,
    ) -> io::Result<bool> {
        self.dir.remove_if_same_and(id, file, |g| {
            self.recheck_if_small(g, |f, m| {
                Ok(matches!(read_head(f, m.len())?, Verdict::Ok(h) if h.header == *header))
            })
        })
    }

    /// Whether the grabbed file `g` (moved aside by `remove_if_same_and`) is still to be
    /// removed: `check` decides for a small file, which may have been written again in
    /// place as a file kept for reuse (`dir::Pool`) and put back since it was read; any
    /// other file is the one that was read.
    fn recheck_if_small(
        &self,
        g: &dir::Grabbed,
        check: impl FnOnce(&File, &std::fs::Metadata) -> io::Result<bool>,
    ) -> io::Result<bool> {
        match self.dir.open_grabbed(g)? {
            Opened::File(f, m) if m.len() <= dir::REUSED_MAX => check(&f, &m),
            _ => Ok(true),
        }
    }

    /// Removes an expired file if it is still the one that was read, and counts it.
    fn drop_expired(&self, file: FileId, id: &EntryId, header: &EntryHeader) -> io::Result<()> {
        if self.remove_if_unchanged(id, file, header)? {
            self.stats.expiration();
            self.forget(id, file.len);
        }
        Ok(())
    }

    /// Notes the removal of the entry `id`, a file of `len` bytes.
    fn forget(&self, id: &EntryId, len: u64) {
        if let Some(b) = &self.bounds {
            b.forget(id);
            // Only bounded instances keep the counts: an unbounded one does not learn what
            // its writes replace (a plain rename), so it leaves counts to the others.
            self.usage.record(id[0], -1, -(len as i64), u64::MAX);
        }
    }

    /// The live entry of `key`, read whole and verified; expired and corrupt files on the way
    /// are removed and counted.
    fn lookup(&self, key: &str, id: &EntryId) -> io::Result<Option<Live>> {
        self.lookup_split(key, id, &|_, _| None)
    }

    /// [`Inner::lookup`], reading a large entry's run of value bytes (where `split` finds
    /// one) into a buffer of its own.
    ///
    /// A file that fails its checks, or holds another key, while the entry's path names
    /// another file by now was replaced under the reader, and perhaps written again as
    /// another entry (`dir::Pool`): the entry is read again, a few times at most.
    fn lookup_split(&self, key: &str, id: &EntryId, split: Split<'_>) -> io::Result<Option<Live>> {
        read_again(None, || self.lookup_once(key, id, split))
    }

    /// One try of [`Inner::lookup_split`].
    fn lookup_once(
        &self,
        key: &str,
        id: &EntryId,
        split: Split<'_>,
    ) -> io::Result<Looked<Option<Live>>> {
        let mut file = match self.dir.open_quick(id)? {
            None => return Ok(Looked::Done(None)),
            Some(Err(link)) => {
                self.drop_corrupt(link, id)?;
                return Ok(Looked::Done(None));
            }
            Some(Ok(f)) => f,
        };
        let mut meta = None;
        let mut verdict = match read_first(&mut file) {
            First::Whole(bytes) => verify_entry(bytes),
            First::Part(bytes) => {
                let m = file.metadata()?;
                let reading = Reading {
                    verified: &self.verified,
                    id: *id,
                    meta: &m,
                };
                let v = read_rest(&file, reading, bytes, split)?;
                meta = Some(m);
                v
            }
            First::Failed => Verdict::Corrupt,
        };
        if let (Verdict::Corrupt, None) = (&verdict, &meta) {
            let m = file.metadata()?;
            verdict = read_whole(&file, &m)?;
            meta = Some(m);
        }
        // Which file this was matters only to remove it. `file` stays open until then: while
        // it is, its inode number cannot be reused by a newer file, which would otherwise
        // pass for the one that was read.
        let file_id = |file: &File, meta: Option<std::fs::Metadata>| -> io::Result<FileId> {
            match meta {
                Some(m) => Ok(FileId::of(&m)),
                None => Ok(FileId::of(&file.metadata()?)),
            }
        };
        match verdict {
            Verdict::Corrupt => {
                let fid = file_id(&file, meta)?;
                let removed = self.drop_corrupt(fid, id)?;
                drop(file);
                // Not removed: replaced under us (or gone), or no longer corrupt.
                Ok(if removed {
                    Looked::Done(None)
                } else {
                    Looked::Again
                })
            }
            Verdict::Ok(live) => {
                if live.bytes[HEADER_LEN..live.header.payload_offset()] != *self.name(key) {
                    // Another key (or version) with the same MD5, or a file replaced and
                    // written again as another key's entry since it was opened.
                    let fid = file_id(&file, meta)?;
                    return Ok(if self.dir.names_file(id, fid)? {
                        Looked::Done(None)
                    } else {
                        Looked::Again
                    });
                }
                if !live.header.expires_at().is_live_at(self.now()) {
                    let fid = file_id(&file, meta)?;
                    self.drop_expired(fid, id, &live.header)?;
                    drop(file);
                    return Ok(Looked::Done(None));
                }
                Ok(Looked::Done(Some(live)))
            }
        }
    }

    /// Moves the entry at `path` aside, tells what it was, and deletes it (or, if it is another
    /// key's, puts it back). `key` `None` takes any entry at `path`. Counts a corrupt file;
    /// an expired one is left to the caller to count.
    fn take(&self, key: Option<&str>, id: &EntryId) -> io::Result<Taken> {
        let Some(grabbed) = self.dir.grab(id)? else {
            return Ok(Taken::Absent);
        };
        let len;
        let mut kept_meta = None;
        let taken = match self.dir.open_grabbed(&grabbed)? {
            Opened::Absent => return Ok(Taken::Absent),
            Opened::NotAFile(fid, _) => {
                len = fid.len;
                Taken::Corrupt
            }
            Opened::File(f, m) => {
                len = m.len();
                let taken = match read_head(&f, len)? {
                    Verdict::Corrupt => Taken::Corrupt,
                    Verdict::Ok(head) if key.is_some_and(|k| *self.name(k) != head.key) => {
                        Taken::Other
                    }
                    Verdict::Ok(head) if !head.header.expires_at().is_live_at(self.now()) => {
                        Taken::Expired
                    }
                    Verdict::Ok(_) => Taken::Live,
                };
                kept_meta = Some(m);
                taken
            }
        };
        if taken == Taken::Other {
            self.dir.restore(&grabbed, id)?;
            return Ok(taken);
        }
        match &kept_meta {
            Some(m) if taken != Taken::Corrupt => self.dir.discard_or_keep(&grabbed, m)?,
            _ => self.dir.discard(&grabbed)?,
        }
        self.forget(id, len);
        // An expired entry is the caller's to count: a `set` never counts one.
        if taken == Taken::Corrupt {
            self.corruptions.fetch_add(1, Ordering::Relaxed);
        }
        Ok(taken)
    }

    /// Stores the value that `encode` appends to a buffer; `encode` may leave a run of bytes
    /// at the payload's end out and return it, to be written from where it is
    /// ([`format::encode_entry_split`]).
    fn set_bytes<'r>(
        &self,
        key: &str,
        ttl: Ttl,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<Option<&'r [u8]>, CacheError>,
    ) -> Result<bool, CacheError> {
        let now = self.now();
        let ttl = ttl.resolve(self.default_ttl);
        let id = self.entry_id(key);
        let expires = now.expiry(ttl);
        if !expires.is_live_at(now) {
            // A zero TTL stores nothing and removes the old value.
            self.take(Some(key), &id)
                .map_err(|e| self.io_err("removing", key, &id, e))?;
            self.stats.set();
            return Ok(true);
        }
        let mut buf = Vec::with_capacity(HEADER_LEN + key.len() + 64);
        let run = format::encode_entry_split(&mut buf, key, &self.name(key), now, ttl, encode)?;
        // The old entry is not read: a set never counts an expiration.
        let gate = self.usage.gate();
        let replaced = self
            .write_entry(&id, &[&buf, run], None)
            .map_err(|e| self.io_err("writing", key, &id, e))?;
        self.stats.set();
        let len = (buf.len() + run.len()) as u64;
        self.written(id, len, expires, replaced, gate, now)?;
        Ok(true)
    }

    /// Writes `buf` as the entry `id`; a bounded instance learns what it replaced (`known`:
    /// the old file's size if the caller read it, else the size this instance last saw,
    /// which spares reading the old file's; another process's rewrite meanwhile is set
    /// right by the next recount).
    fn write_entry(&self, id: &EntryId, buf: &[&[u8]], known: Option<u64>) -> io::Result<Replaced> {
        match &self.bounds {
            Some(b) => self
                .dir
                .write_counted(id, buf, known.or_else(|| b.known_size(id))),
            None => self
                .dir
                .write_atomically(id, buf)
                .map(|()| Replaced::Unknown),
        }
    }

    /// After a write of `len` bytes that replaced `replaced`: records it in the accounting
    /// (then lets the recount `gate` go), makes room if the directory is over a bound, and
    /// takes a step of the sweep.
    fn written(
        &self,
        id: EntryId,
        len: u64,
        expires: Timestamp,
        replaced: Replaced,
        gate: std::sync::RwLockReadGuard<'_, ()>,
        now: Timestamp,
    ) -> Result<(), CacheError> {
        let (entries, bytes) = match replaced {
            Replaced::Nothing => (1, len as i64),
            Replaced::Old(old) => (0, len as i64 - old as i64),
            Replaced::Unknown => (0, 0),
        };
        let (entries, bytes) = if self.bounds.is_some() {
            (entries, bytes)
        } else {
            (0, 0)
        };
        let due = self.usage.record(id[0], entries, bytes, expires.as_nanos());
        drop(gate);
        if let Some(bounds) = &self.bounds {
            bounds.touch(id, len, expires);
            let (e, b) = self.usage.estimate();
            let over = bounds.excess(e, b) != (0, 0);
            if due || over {
                let t = self
                    .flush_usage()
                    .map_err(|e| self.scan_err("accounting", e))?;
                let (e, b) = bounds.excess(t.entries, t.bytes);
                if (e, b) != (0, 0) {
                    self.cull(bounds, now, &id, e, b)?;
                }
            }
        } else if due {
            self.flush_usage()
                .map_err(|e| self.scan_err("accounting", e))?;
        }
        if self.sweeps {
            self.sweep_step(now)
                .map_err(|e| self.scan_err("sweeping", e))?;
        }
        Ok(())
    }

    /// Writes this instance's accounting out and reads the directory's, in the accounting
    /// file of the directory as it is now (made again if it was removed).
    fn flush_usage(&self) -> io::Result<usage::Totals> {
        let gen = self.dir.renewals();
        if self.usage_gen.swap(gen, Ordering::Relaxed) != gen {
            self.usage
                .replace_file(self.dir.open_root_file(USAGE_FILE)?);
        }
        let t = self.usage.flush()?;
        if self.usage_gen.load(Ordering::Relaxed) != self.dir.renewals() {
            return self.flush_usage();
        }
        Ok(t)
    }

    /// Removes what the bounds say must go to make room, the directory being `entries` and
    /// `bytes` over them; then writes the accounting out.
    fn cull(
        &self,
        bounds: &Bounds,
        now: Timestamp,
        keep: &EntryId,
        entries: u64,
        bytes: u64,
    ) -> Result<(), CacheError> {
        for (id, _why) in bounds.cull_excess(now, keep, entries, bytes) {
            let taken = self.take(None, &id).map_err(|e| {
                let path = self.dir.entry_path(&id);
                CacheError::io(format!("evicting the entry at {}", path.display()), e)
            })?;
            // What was on disk decides the count, not why the index chose it: another
            // instance may have rewritten an entry this one saw expire.
            match taken {
                Taken::Live => self.stats.eviction(),
                Taken::Expired => self.stats.expiration(),
                _ => {}
            }
        }
        self.flush_usage()
            .map_err(|e| self.scan_err("accounting", e))?;
        Ok(())
    }

    fn scan_err(&self, what: &str, e: io::Error) -> CacheError {
        CacheError::io(
            format!("{what} the cache directory {}", self.dir.root().display()),
            e,
        )
    }

    /// The header and key of the entry `id` (never its payload), with the file's id and
    /// the open file (which keeps its inode number from being reused while it is held);
    /// `None` if absent or corrupt (a corrupt file is removed and counted).
    fn read_entry_head(&self, id: &EntryId) -> io::Result<Option<(FileId, Head, File)>> {
        let (f, m) = match self.dir.open_entry(id)? {
            Opened::Absent => return Ok(None),
            Opened::NotAFile(fid, _open) => {
                self.drop_corrupt(fid, id)?;
                return Ok(None);
            }
            Opened::File(f, m) => (f, m),
        };
        let fid = FileId::of(&m);
        match read_head(&f, m.len())? {
            Verdict::Ok(head) => Ok(Some((fid, head, f))),
            Verdict::Corrupt => {
                self.drop_corrupt(fid, id)?;
                Ok(None)
            }
        }
    }

    /// Reads every entry's header (never a payload) and removes those `doomed` picks, if
    /// still the file that was read, plus any corrupt file. Counts as the callers' contract
    /// says: live removals are returned, expired ones counted as expirations.
    fn sweep(
        &self,
        what: &str,
        mut doomed: impl FnMut(&str) -> bool,
        live_too: bool,
    ) -> Result<(u64, u64), CacheError> {
        let now = self.now();
        let (mut live, mut expired) = (0, 0);
        self.dir
            .scan(|id| -> io::Result<()> {
                let Some((fid, head, _open)) = self.read_entry_head(&id)? else {
                    return Ok(());
                };
                // Every version's entries: the name's key, whatever its version.
                let Some((key, _version)) = codec::split_versioned_name(&head.key) else {
                    return self.drop_corrupt(fid, &id).map(|_| ());
                };
                let is_live = head.header.expires_at().is_live_at(now);
                if (is_live && !live_too) || !doomed(key) {
                    return Ok(());
                }
                if self.remove_if_unchanged(&id, fid, &head.header)? {
                    self.forget(&id, fid.len);
                    if is_live {
                        live += 1;
                    } else {
                        expired += 1;
                        self.stats.expiration();
                    }
                }
                Ok(())
            })
            .map_err(|e| self.scan_err(what, e))?;
        Ok((live, expired))
    }
}

impl<C: Codec> FileBasedCache<C> {
    /// The live value of `key`, a large byte value read straight into its own buffer; the
    /// bounds learn that it was used. Counts neither a hit nor a miss.
    pub(crate) fn read_value<V: DeserializeOwned + 'static>(
        &self,
        key: &str,
    ) -> Result<Option<V>, CacheError> {
        let inner = &*self.inner;
        let id = inner.entry_id(key);
        let split = |head: &[u8], len: u64| self.encoding.byte_run_start::<V>(head, len);
        let live = inner
            .lookup_split(key, &id, &split)
            .map_err(|e| inner.io_err("reading", key, &id, e))?;
        Ok(live.and_then(|mut live| {
            let len = live.file_len();
            let v = match live.run.take() {
                Some(run) => codec::bytes_into::<V>(run)?,
                None => self
                    .encoding
                    .decode::<V>(&live.bytes[live.header.payload_offset()..])?,
            };
            if let Some(b) = &inner.bounds {
                b.touch(id, len, live.header.expires_at());
            }
            Some(v)
        }))
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
        }
    }
}

impl<C: Codec> FileBasedCache<C> {
    /// The cache directory.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// assert_eq!(cache.dir(), dir.path());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dir(&self) -> &Path {
        self.inner.dir.root()
    }

    /// The file that holds (or would hold) the entry of `key`: `dir/ab/ab12...`, the MD5 of
    /// the key in hex under the subdirectory of its first byte. For tools and tests; the
    /// cache never reads a file through a symlink, whatever is planted here.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// // MD5("") = d41d8cd98f00b204e9800998ecf8427e
    /// assert_eq!(
    ///     cache.entry_path(""),
    ///     dir.path().join("d4").join("d41d8cd98f00b204e9800998ecf8427e")
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn entry_path(&self, key: &str) -> PathBuf {
        self.inner.dir.entry_path(&self.inner.entry_id(key))
    }

    /// Removes every expired entry (reading headers only) and returns how many; each is
    /// counted as an expiration. Corrupt files found on the way are removed too.
    ///
    /// ```
    /// use cache_file::FileBasedCache;
    /// use cache_core::{Cache, MockClock, Ttl};
    /// use std::time::Duration;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let clock = MockClock::new();
    /// let cache = FileBasedCache::builder(dir.path()).clock(clock.shared()).build()?;
    /// cache.set("short", 1u8, Ttl::After(Duration::from_secs(1)))?;
    /// cache.set("long", 2u8, Ttl::Never)?;
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(cache.purge_expired()?, 1);
    /// assert_eq!(cache.stats().expirations, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn purge_expired(&self) -> Result<u64, CacheError> {
        let (_, expired) = self.inner.sweep("purging", |_| true, false)?;
        Ok(expired)
    }

    /// Corrupt, truncated or foreign files this instance found and removed (each also a miss
    /// when a `get` found it).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// assert_eq!(cache.corruptions(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn corruptions(&self) -> u64 {
        self.inner.corruptions.load(Ordering::Relaxed)
    }

    /// Removes the temporary files of dead instances (as opening and `clear` do) and returns
    /// how many; the temporary files of instances still open, in any process, are left alone.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// assert_eq!(cache.remove_dead_temps()?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove_dead_temps(&self) -> Result<u64, CacheError> {
        self.inner
            .dir
            .remove_dead_temps()
            .map_err(|e| self.inner.scan_err("cleaning temporary files of", e))
    }

    /// Removes the entry of `key`; `true` iff a live entry was removed. The same as
    /// [`Cache::delete`], without naming a value type.
    ///
    /// ```
    /// use cache_core::{Cache, Ttl};
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.set("k", 1u8, Ttl::Never)?;
    /// assert!(cache.delete("k")?);
    /// assert!(!cache.delete("k")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let inner = &*self.inner;
        let id = inner.entry_id(key);
        let taken = inner
            .take(Some(key), &id)
            .map_err(|e| inner.io_err("deleting", key, &id, e))?;
        match taken {
            Taken::Live => inner.stats.delete(),
            Taken::Expired => inner.stats.expiration(),
            _ => {}
        }
        Ok(taken == Taken::Live)
    }

    /// Removes every entry of this cache's directory (and the temporary files of dead
    /// instances, and the files this instance kept for reuse); counters are kept. The same
    /// as [`Cache::clear`].
    ///
    /// ```
    /// use cache_core::{Cache, Ttl};
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.set("k", 1u8, Ttl::Never)?;
    /// cache.clear()?;
    /// assert!(!cache.exists("k")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear(&self) -> Result<(), CacheError> {
        let inner = &*self.inner;
        // A directory removed from under the cache is made again, then cleared.
        inner
            .dir
            .repair()
            .map_err(|e| inner.scan_err("repairing", e))?;
        inner
            .dir
            .scan(|id| inner.dir.remove_entry(&id))
            .map_err(|e| inner.scan_err("clearing", e))?;
        if let Some(b) = &inner.bounds {
            b.clear();
        }
        inner
            .usage
            .reset()
            .map_err(|e| inner.scan_err("accounting", e))?;
        inner
            .dir
            .remove_dead_temps()
            .and_then(|_| inner.dir.drain_pool())
            .map_err(|e| inner.scan_err("cleaning temporary files of", e))?;
        Ok(())
    }

    /// Whether a live entry of `key` exists, whatever its value type: a peek, no hit or miss
    /// counted. The same as [`Cache::exists`].
    ///
    /// ```
    /// use cache_core::{Cache, Ttl};
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.set("k", "v".to_string(), Ttl::Never)?;
    /// assert!(cache.exists("k")?);
    /// assert!(!cache.exists("other")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exists(&self, key: &str) -> Result<bool, CacheError> {
        let inner = &*self.inner;
        let id = inner.entry_id(key);
        let live = inner
            .lookup(key, &id)
            .map_err(|e| inner.io_err("reading", key, &id, e))?;
        Ok(live.is_some())
    }

    /// Removes the live entries whose key matches the glob `pattern` (see
    /// [`cache_core::Pattern`]) and returns how many. The same as [`Cache::delete_pattern`].
    ///
    /// ```
    /// use cache_core::{Cache, Ttl};
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.set("user:1", 1u8, Ttl::Never)?;
    /// cache.set("user:2", 2u8, Ttl::Never)?;
    /// cache.set("team:1", 3u8, Ttl::Never)?;
    /// assert_eq!(cache.delete_pattern("user:*")?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        let inner = &*self.inner;
        let p = Pattern::new(pattern);
        // A literal pattern sweeps too: its key may have entries under other versions.
        let (live, _) = inner.sweep("deleting by pattern in", |k| p.matches(k), true)?;
        inner.stats.add_deletes(live);
        Ok(live)
    }

    /// This instance's counters. The same as [`Cache::stats`].
    ///
    /// ```
    /// use cache_core::{Cache, Ttl};
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.set("k", 1u8, Ttl::Never)?;
    /// assert_eq!(cache.stats().sets, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot(self.entries())
    }

    /// The directory's entries, as the shared accounting last knew them (bounded
    /// instances only: an unbounded one does not keep the counts).
    fn entries(&self) -> Option<u64> {
        self.inner
            .bounds
            .as_ref()
            .map(|_| self.inner.usage.estimate().0)
    }

    /// The byte bound of this cache, if it has one: [`DEFAULT_MAX_BYTES`] unless the
    /// builder set another or none.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::builder(dir.path()).max_entries(5).build()?;
    /// assert_eq!(cache.max_bytes(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_bytes(&self) -> Option<u64> {
        self.inner.bounds.as_ref().and_then(Bounds::max_bytes)
    }

    /// The entries and bytes of entry files in the directory, as every process that uses
    /// it has accounted for them (this instance's changes written out first). Right after
    /// an open, until the background recount is done ([`FileBasedCache::wait_for_recount`]),
    /// this is the accounting file as the processes left it.
    ///
    /// ```
    /// use cache_core::{Cache, Ttl};
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.wait_for_recount();
    /// cache.set("k", 1u8, Ttl::Never)?;
    /// assert_eq!(cache.directory_usage()?.0, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn directory_usage(&self) -> Result<(u64, u64), CacheError> {
        let t = self
            .inner
            .flush_usage()
            .map_err(|e| self.inner.scan_err("accounting", e))?;
        Ok((t.entries, t.bytes))
    }

    /// Waits until the recount of the directory that opening started in the background is
    /// done (opening itself never scans the directory).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.wait_for_recount();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_recount(&self) {
        self.inner.wait_for_recount();
    }
}

impl<V: Serialize + DeserializeOwned + Send + Sync + 'static, C: Codec> Cache<V>
    for FileBasedCache<C>
{
    fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        let value = self.read_value(key)?;
        match value {
            Some(_) => self.inner.stats.hit(),
            None => self.inner.stats.miss(),
        }
        Ok(value)
    }

    fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        self.inner
            .set_bytes(key, ttl, |buf| self.encoding.encode_parts(buf, key, &value))
    }

    fn delete(&self, key: &str) -> Result<bool, CacheError> {
        FileBasedCache::delete(self, key)
    }

    fn clear(&self) -> Result<(), CacheError> {
        FileBasedCache::clear(self)
    }

    fn exists(&self, key: &str) -> Result<bool, CacheError> {
        FileBasedCache::exists(self, key)
    }

    fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        FileBasedCache::delete_pattern(self, pattern)
    }

    fn stats(&self) -> CacheStats {
        FileBasedCache::stats(self)
    }

    fn add(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        self.inner
            .add_bytes(key, ttl, |buf| self.encoding.encode_into(buf, key, &value))
    }

    fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        FileBasedCache::incr(self, key, delta)
    }

    fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        FileBasedCache::decr(self, key, delta)
    }

    fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        FileBasedCache::touch(self, key, ttl)
    }

    fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        FileBasedCache::ttl(self, key)
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
            || self.read_value(key),
            |loader| flight::across_processes(self, key, ttl, loader),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recycled buffer comes back zeroed at the asked length, never with an earlier
    /// entry's bytes; buffers too large to keep are not kept.
    #[test]
    fn spare_buffers_come_back_zeroed_and_bounded() {
        let mut buf = take_buffer(100);
        buf.fill(0xaa);
        let ptr = buf.as_ptr();
        recycle(buf);
        let again = take_buffer(50);
        assert_eq!(again.as_ptr(), ptr, "the spare buffer was reused");
        assert_eq!(again, vec![0u8; 50]);
        recycle(again);
        let big = take_buffer(KEEP_BUFFER + 1);
        recycle(big);
        assert!(take_buffer(1).capacity() <= KEEP_BUFFER);
    }
}
