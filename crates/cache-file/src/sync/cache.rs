//! [`FileBasedCache`]: the handle, its inherent operations (those that need no value type)
//! and the read of a value, each a call into the shared `Inner`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use cache_core::codec::{self, Codec, Encoding, Postcard};
use cache_core::{CacheError, CacheStats, Pattern};
use serde::de::DeserializeOwned;

use crate::common::bounds::Bounds;
use crate::common::inner::Inner;
use crate::common::read::drop::Taken;
use cache_core::observe::Op;

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
///
/// [`DEFAULT_MAX_BYTES`]: crate::DEFAULT_MAX_BYTES
/// [`FileBasedCacheBuilder::sweep_on_write`]: crate::FileBasedCacheBuilder::sweep_on_write
pub struct FileBasedCache<C = Postcard> {
    pub(crate) inner: Arc<Inner>,
    /// The codec and compression of values (see
    /// [`FileBasedCacheBuilder::codec`](crate::FileBasedCacheBuilder::codec)).
    pub(crate) encoding: Encoding<C>,
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
    /// [`Cache::delete`](cache_core::Cache::delete), without naming a value type.
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
        let op = self.inner.observe.op(Op::Delete, key);
        op.done(self.delete_unobserved(key))
    }

    fn delete_unobserved(&self, key: &str) -> Result<bool, CacheError> {
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
    /// as [`Cache::clear`](cache_core::Cache::clear).
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
        let op = self.inner.observe.op(Op::Clear, "");
        op.done(self.clear_unobserved())
    }

    fn clear_unobserved(&self) -> Result<(), CacheError> {
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
    /// counted. The same as [`Cache::exists`](cache_core::Cache::exists).
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
        let op = self.inner.observe.op(Op::Exists, key);
        op.done(self.exists_unobserved(key))
    }

    fn exists_unobserved(&self, key: &str) -> Result<bool, CacheError> {
        let inner = &*self.inner;
        let id = inner.entry_id(key);
        let live = inner
            .lookup(key, &id)
            .map_err(|e| inner.io_err("reading", key, &id, e))?;
        Ok(live.is_some())
    }

    /// Removes the live entries whose key matches the glob `pattern` (see
    /// [`cache_core::Pattern`]) and returns how many. The same as
    /// [`Cache::delete_pattern`](cache_core::Cache::delete_pattern).
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
        let op = self.inner.observe.op(Op::DeletePattern, pattern);
        op.done(self.delete_pattern_unobserved(pattern))
    }

    fn delete_pattern_unobserved(&self, pattern: &str) -> Result<u64, CacheError> {
        let inner = &*self.inner;
        let p = Pattern::new(pattern);
        // A literal pattern sweeps too: its key may have entries under other versions.
        let (live, _) = inner.sweep("deleting by pattern in", |k| p.matches(k), true)?;
        inner.stats.add_deletes(live);
        Ok(live)
    }

    /// The cache's name (the builder's [`name`](crate::FileBasedCacheBuilder::name); default
    /// `file`).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// assert_eq!(cache_file::FileBasedCache::new(dir.path(), None)?.name(), "file");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        self.inner.observe.cache_name()
    }

    /// Copies this instance's [`stats`](Self::stats) into the `metrics` recorder installed
    /// when the cache was built (`cache_hits_total` ..., `cache_entries`,
    /// `cache_loads_in_flight` (this instance's), and for a bounded cache `cache_bytes`, the directory's, as every process accounted for them); call it
    /// before each scrape (see [`cache_core::observe`]). It writes out this instance's
    /// accounting, as [`directory_usage`](Self::directory_usage) does. Does nothing without
    /// the `metrics` feature or a recorder.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.publish_metrics()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish_metrics(&self) -> Result<(), CacheError> {
        if !self.inner.observe.metrics_recorded() {
            return Ok(());
        }
        let loads = self.inner.flights.in_flight() as f64;
        let gauges = match self.inner.bounds {
            Some(_) => vec![loads, self.directory_usage()?.1 as f64],
            None => vec![loads],
        };
        self.inner.observe.publish(&self.stats(), &gauges);
        Ok(())
    }

    /// This instance's counters. The same as [`Cache::stats`](cache_core::Cache::stats).
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
    ///
    /// [`DEFAULT_MAX_BYTES`]: crate::DEFAULT_MAX_BYTES
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
