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
//! assert_eq!(Cache::<String>::delete_pattern(&cache, "user:*")?, 1);
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
//! - **Symlinks planted in the cache directory are not followed**: entry files are opened
//!   with `O_NOFOLLOW`, scans never descend into links, and a link in place of `tmp/` or of a
//!   fan-out directory is removed at open (the README gives the one limit). Files and
//!   directories are created private (0600 / 0700).
//! - **Single flight**: `get_or_insert_with` runs its loader once per key across threads and
//!   processes; a per-key lock file beside the entry (`ab/<md5>.flight`), held with `flock`
//!   while the loader runs, makes the other processes wait (see
//!   [`FileBasedCacheBuilder::single_flight`]).
#![forbid(unsafe_code)]

/// This crate's README, compiled (and run, unless marked `no_run`) as doctests, so that its
/// crates.io page never lies.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod dir;
mod flight;
mod format;
mod index;
mod keylock;
mod ops;

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::codec::{self, Codec, Encoding, Postcard};
use cache_core::flight::{load_unshared, FlightGroup};
use cache_core::Loader;
use cache_core::{
    AtomicStats, Cache, CacheError, CacheStats, Pattern, SharedClock, SystemClock, Timestamp, Ttl,
};
use md5::{Digest, Md5};
use serde::de::DeserializeOwned;
use serde::Serialize;

use dir::{open_entry, open_quick, CacheDir, EntryId, FileId, Opened};
use format::{EntryHeader, HEADER_LEN};
use index::Bounds;

pub use dir::TMP_DIR;

/// A cache of serde values in a directory, safe to share between threads and between
/// processes. Clones are handles on the same instance (same counters).
///
/// Without bounds, [`CacheStats::entries`] is `None` (counting would need a directory scan).
/// With `max_entries` or `max_bytes`, the instance keeps an index of the entries it knows
/// (those on disk when it opened, those it wrote or read since), evicts the least recently
/// used of them after expired ones, and reports their number; entries other processes write
/// meanwhile are not counted until this instance reads them, so with several writers the
/// bound is approximate.
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
#[derive(Clone)]
pub struct FileBasedCache<C = Postcard> {
    inner: Arc<Inner>,
    /// The codec and compression of values (see [`FileBasedCacheBuilder::codec`]).
    encoding: Encoding<C>,
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

    /// At most this many entries (at least 1); see [`FileBasedCache`] for how the bound is
    /// kept. Default: unbounded.
    pub fn max_entries(mut self, max_entries: u64) -> Self {
        self.max_entries = Some(max_entries);
        self
    }

    /// At most this many bytes of entry files (headers and keys included; at least 1).
    /// Default: unbounded.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = Some(max_bytes);
        self
    }

    /// Whether `get_or_insert_with` runs the loader once per key across the threads of this
    /// instance and every process (and instance) on the same directory that miss together,
    /// the others waiting for its value or its error. Default: `true`.
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
        let bounded = self.max_entries.is_some() || self.max_bytes.is_some();
        let inner = Inner {
            dir,
            default_ttl,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            stats: AtomicStats::default(),
            corruptions: AtomicU64::new(0),
            bounds: bounded.then(|| Bounds::new(self.max_entries, self.max_bytes)),
            version: self.version,
            single_flight: self.single_flight,
            flights: FlightGroup::new(),
        };
        if inner.bounds.is_some() {
            inner.load_index()?;
        }
        Ok(FileBasedCache {
            inner: Arc::new(inner),
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

/// Bytes read at once before asking a file its size: an entry this small (the common case)
/// costs one `open`, one `read` and one `close`.
const QUICK_READ: usize = 4096;

/// The whole of a small file in one `read`; `None` when it may be larger or the read failed
/// (the caller then asks `fstat`). A short read of a regular file is its end; where that
/// does not hold, the entry fails verification and is read again the careful way.
fn read_small(file: &mut File) -> Option<Vec<u8>> {
    let mut buf = take_buffer(QUICK_READ);
    match file.read(&mut buf) {
        Ok(n) if n < QUICK_READ => {
            buf.truncate(n);
            Some(buf)
        }
        _ => {
            recycle(buf);
            None
        }
    }
}

/// Read buffers up to this size are kept, one per thread, for the next read.
const KEEP_BUFFER: usize = 8 << 20;

thread_local! {
    /// The calling thread's spare read buffer. Reusing it spares a large entry's read the
    /// allocator's fresh pages (a page fault per 4 KiB: reading 1 MiB entries ran 4x slower
    /// when the allocator handed out new pages for every read).
    static SPARE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A zeroed buffer of `len` bytes, the thread's spare one if it has one.
fn take_buffer(len: usize) -> Vec<u8> {
    let mut buf = SPARE
        .try_with(|s| std::mem::take(&mut *s.borrow_mut()))
        .unwrap_or_default();
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
    let Ok(header) = EntryHeader::parse(&bytes, bytes.len() as u64) else {
        return Verdict::Corrupt;
    };
    let at = header.payload_offset();
    if header.check_key(&bytes, &bytes[HEADER_LEN..at]).is_err()
        || header.check_payload(&bytes[at..]).is_err()
    {
        return Verdict::Corrupt;
    }
    Verdict::Ok(Live { bytes, header })
}

/// A live entry read in full: the file's bytes and where the payload starts.
struct Live {
    bytes: Vec<u8>,
    header: EntryHeader,
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

    fn io_err(&self, what: &str, key: &str, path: &Path, e: io::Error) -> CacheError {
        CacheError::io(
            format!(
                "{what} the entry of key {} at {}",
                key_ctx(key),
                path.display()
            ),
            e,
        )
    }

    /// Removes a corrupt file if it is still the one that was read, and counts it.
    fn drop_corrupt(&self, path: &Path, file: FileId, id: &EntryId) -> io::Result<()> {
        if self.dir.remove_if_same(path, file)? {
            self.corruptions.fetch_add(1, Ordering::Relaxed);
            self.forget(id);
        }
        Ok(())
    }

    /// Removes an expired file if it is still the one that was read, and counts it.
    fn drop_expired(&self, path: &Path, file: FileId, id: &EntryId) -> io::Result<()> {
        if self.dir.remove_if_same(path, file)? {
            self.stats.expiration();
            self.forget(id);
        }
        Ok(())
    }

    fn forget(&self, id: &EntryId) {
        if let Some(b) = &self.bounds {
            b.forget(id);
        }
    }

    /// The live entry of `key`, read whole and verified; expired and corrupt files on the way
    /// are removed and counted.
    fn lookup(&self, key: &str, id: &EntryId, path: &Path) -> io::Result<Option<Live>> {
        let mut file = match open_quick(path)? {
            None => return Ok(None),
            Some(Err(link)) => {
                self.drop_corrupt(path, link, id)?;
                return Ok(None);
            }
            Some(Ok(f)) => f,
        };
        let mut meta = None;
        let mut verdict = read_small(&mut file).map_or(Verdict::Corrupt, verify_entry);
        if let Verdict::Corrupt = verdict {
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
                self.drop_corrupt(path, fid, id)?;
                drop(file);
                Ok(None)
            }
            Verdict::Ok(live) => {
                if live.bytes[HEADER_LEN..live.header.payload_offset()] != *self.name(key) {
                    return Ok(None); // another key (or version) with the same MD5
                }
                if !live.header.expires_at().is_live_at(self.now()) {
                    let fid = file_id(&file, meta)?;
                    self.drop_expired(path, fid, id)?;
                    drop(file);
                    return Ok(None);
                }
                Ok(Some(live))
            }
        }
    }

    /// Moves the entry at `path` aside, tells what it was, and deletes it (or, if it is another
    /// key's, puts it back). `key` `None` takes any entry at `path`.
    fn take(&self, key: Option<&str>, id: &EntryId, path: &Path) -> io::Result<Taken> {
        let Some(grabbed) = self.dir.grab(path)? else {
            return Ok(Taken::Absent);
        };
        let taken = match open_entry(&grabbed)? {
            Opened::Absent => return Ok(Taken::Absent),
            Opened::NotAFile(..) => Taken::Corrupt,
            Opened::File(f, m) => match read_head(&f, m.len())? {
                Verdict::Corrupt => Taken::Corrupt,
                Verdict::Ok(head) if key.is_some_and(|k| *self.name(k) != head.key) => Taken::Other,
                Verdict::Ok(head) if !head.header.expires_at().is_live_at(self.now()) => {
                    Taken::Expired
                }
                Verdict::Ok(_) => Taken::Live,
            },
        };
        if taken == Taken::Other {
            self.dir.restore(&grabbed, path)?;
            return Ok(taken);
        }
        self.dir.discard(&grabbed)?;
        self.forget(id);
        match taken {
            Taken::Expired => self.stats.expiration(),
            Taken::Corrupt => {
                self.corruptions.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        Ok(taken)
    }

    /// The header of the entry of `key` at `path`, if there is one (no payload read).
    fn peek(&self, key: &str, path: &Path) -> io::Result<Option<EntryHeader>> {
        let Some(Ok(mut file)) = open_quick(path)? else {
            return Ok(None);
        };
        if let Some(bytes) = read_small(&mut file) {
            let header = EntryHeader::parse(&bytes, bytes.len() as u64)
                .ok()
                .filter(|h| {
                    let stored = &bytes[HEADER_LEN..h.payload_offset()];
                    *stored == *self.name(key) && h.check_key(&bytes, stored).is_ok()
                });
            recycle(bytes);
            return Ok(header);
        }
        let m = file.metadata()?;
        match read_head(&file, m.len())? {
            Verdict::Ok(head) if m.is_file() && head.key == *self.name(key) => {
                Ok(Some(head.header))
            }
            _ => Ok(None),
        }
    }

    fn set_bytes(
        &self,
        key: &str,
        ttl: Ttl,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), CacheError>,
    ) -> Result<bool, CacheError> {
        let now = self.now();
        let ttl = ttl.resolve(self.default_ttl);
        let id = self.entry_id(key);
        let path = self.dir.entry_path(&id);
        let expires = now.expiry(ttl);
        if !expires.is_live_at(now) {
            // A zero TTL stores nothing and removes the old value.
            self.take(Some(key), &id, &path)
                .map_err(|e| self.io_err("removing", key, &path, e))?;
            self.stats.set();
            return Ok(true);
        }
        let mut buf = Vec::with_capacity(HEADER_LEN + key.len() + 64);
        format::encode_entry(&mut buf, key, &self.name(key), now, ttl, encode)?;
        let old = self
            .peek(key, &path)
            .map_err(|e| self.io_err("reading", key, &path, e))?;
        self.dir
            .write_atomically(&path, &buf)
            .map_err(|e| self.io_err("writing", key, &path, e))?;
        if old.is_some_and(|h| !h.expires_at().is_live_at(now)) {
            self.stats.expiration();
        }
        self.stats.set();
        if let Some(bounds) = &self.bounds {
            bounds.touch(id, buf.len() as u64, expires);
            self.cull(bounds, now, &id)?;
        }
        Ok(true)
    }

    /// Removes what the bounds say must go to make room.
    fn cull(&self, bounds: &Bounds, now: Timestamp, keep: &EntryId) -> Result<(), CacheError> {
        for (id, _why) in bounds.cull(now, keep) {
            let path = self.dir.entry_path(&id);
            let taken = self.take(None, &id, &path).map_err(|e| {
                CacheError::io(format!("evicting the entry at {}", path.display()), e)
            })?;
            // What was on disk decides the count, not why the index chose it: another
            // instance may have rewritten an entry this one saw expire.
            if taken == Taken::Live {
                self.stats.eviction();
            }
        }
        Ok(())
    }

    /// Indexes the entries present, oldest file first, for the bounds.
    fn load_index(&self) -> Result<(), CacheError> {
        let Some(bounds) = &self.bounds else {
            return Ok(());
        };
        let mut found = Vec::new();
        self.dir
            .scan(|path, id| -> io::Result<()> {
                if let Opened::File(f, m) = open_entry(&path)? {
                    if let Verdict::Ok(head) = read_head(&f, m.len())? {
                        let mtime = m.modified().unwrap_or(std::time::UNIX_EPOCH);
                        found.push((mtime, id, m.len(), head.header.expires_at()));
                    }
                }
                Ok(())
            })
            .map_err(|e| self.scan_err("indexing", e))?;
        found.sort_by_key(|f| f.0);
        for (_, id, bytes, expires) in found {
            bounds.touch(id, bytes, expires);
        }
        Ok(())
    }

    fn scan_err(&self, what: &str, e: io::Error) -> CacheError {
        CacheError::io(
            format!("{what} the cache directory {}", self.dir.root().display()),
            e,
        )
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
            .scan(|path, id| -> io::Result<()> {
                let (f, m) = match open_entry(&path)? {
                    Opened::Absent => return Ok(()),
                    Opened::NotAFile(fid, _open) => return self.drop_corrupt(&path, fid, &id),
                    Opened::File(f, m) => (f, m),
                };
                let fid = FileId::of(&m);
                let head = match read_head(&f, m.len())? {
                    Verdict::Ok(head) => head,
                    Verdict::Corrupt => return self.drop_corrupt(&path, fid, &id),
                };
                // Every version's entries: the name's key, whatever its version.
                let Some((key, _version)) = codec::split_versioned_name(&head.key) else {
                    return self.drop_corrupt(&path, fid, &id);
                };
                let is_live = head.header.expires_at().is_live_at(now);
                if (is_live && !live_too) || !doomed(key) {
                    return Ok(());
                }
                if self.dir.remove_if_same(&path, fid)? {
                    self.forget(&id);
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
    /// assert_eq!(Cache::<u8>::stats(&cache).expirations, 1);
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

    fn entries(&self) -> Option<u64> {
        self.inner.bounds.as_ref().map(Bounds::len)
    }
}

impl<V: Serialize + DeserializeOwned + Send + Sync + 'static, C: Codec> Cache<V>
    for FileBasedCache<C>
{
    fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        let inner = &*self.inner;
        let id = inner.entry_id(key);
        let path = inner.dir.entry_path(&id);
        let live = inner
            .lookup(key, &id, &path)
            .map_err(|e| inner.io_err("reading", key, &path, e))?;
        let value = live.and_then(|live| {
            let v = self
                .encoding
                .decode::<V>(&live.bytes[live.header.payload_offset()..])?;
            if let Some(b) = &inner.bounds {
                b.touch(id, live.bytes.len() as u64, live.header.expires_at());
            }
            Some(v)
        });
        match value {
            Some(_) => inner.stats.hit(),
            None => inner.stats.miss(),
        }
        Ok(value)
    }

    fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        self.inner
            .set_bytes(key, ttl, |buf| self.encoding.encode_into(buf, key, &value))
    }

    fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let inner = &*self.inner;
        let id = inner.entry_id(key);
        let path = inner.dir.entry_path(&id);
        let taken = inner
            .take(Some(key), &id, &path)
            .map_err(|e| inner.io_err("deleting", key, &path, e))?;
        if taken == Taken::Live {
            inner.stats.delete();
        }
        Ok(taken == Taken::Live)
    }

    fn clear(&self) -> Result<(), CacheError> {
        let inner = &*self.inner;
        inner
            .dir
            .scan(|path, _| dir::remove_any(&path))
            .map_err(|e| inner.scan_err("clearing", e))?;
        if let Some(b) = &inner.bounds {
            b.clear();
        }
        inner
            .dir
            .remove_dead_temps()
            .map_err(|e| inner.scan_err("cleaning temporary files of", e))?;
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, CacheError> {
        let inner = &*self.inner;
        let id = inner.entry_id(key);
        let path = inner.dir.entry_path(&id);
        let live = inner
            .lookup(key, &id, &path)
            .map_err(|e| inner.io_err("reading", key, &path, e))?;
        Ok(live.is_some())
    }

    fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        let inner = &*self.inner;
        let p = Pattern::new(pattern);
        // A literal pattern sweeps too: its key may have entries under other versions.
        let (live, _) = inner.sweep("deleting by pattern in", |k| p.matches(k), true)?;
        inner.stats.add_deletes(live);
        Ok(live)
    }

    fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot(self.entries())
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
        if !self.inner.single_flight {
            return load_unshared(self, key, ttl, loader);
        }
        // A hit costs what `get` costs; single flight is paid on a miss only.
        if let Some(v) = Cache::<V>::get(self, key)? {
            return Ok(v);
        }
        flight::load(self, key, ttl, loader)
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
