//! `EntryStamps` for the file caches: a near cache in front of one serves a copy only while
//! the entry's file is the one the copy was read from (see `common/dir/stamp.rs`).

use cache_core::near::{EntryStamps, Stamp};
use cache_core::CacheError;

use super::cache::FileBasedCache;

impl<C> FileBasedCache<C> {
    /// The stamp of `key`'s entry file: one `stat` of its path.
    pub(crate) fn entry_stamp(&self, key: &str) -> Result<Option<Stamp>, CacheError> {
        let id = self.inner.entry_id(key);
        self.inner
            .dir
            .stamp(&id)
            .map(|s| s.map(Stamp::new))
            .map_err(|e| self.inner.io_err("stamping", key, &id, e))
    }
}

/// The identity of `key`'s entry file (device, inode, size, change and modification times,
/// from one `stat` of its path): every write of the entry, by any process, gives it a new
/// stamp (each write is a new file, or a kept one written again with a modification time of
/// its own); `None` when no file is there.
///
/// ```
/// use cache_core::near::EntryStamps;
/// use cache_file::FileBasedCache;
///
/// let dir = tempfile::tempdir()?;
/// let cache = FileBasedCache::new(dir.path(), None)?;
/// assert_eq!(cache.stamp("k")?, None);
/// cache.set("k", 1u32, None)?;
/// let first = cache.stamp("k")?;
/// cache.set("k", 1u32, None)?; // the same value again: a new file all the same
/// assert!(first.is_some() && cache.stamp("k")? != first);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<C: Send + Sync> EntryStamps for FileBasedCache<C> {
    fn stamp(&self, key: &str) -> Result<Option<Stamp>, CacheError> {
        self.entry_stamp(key)
    }
}
