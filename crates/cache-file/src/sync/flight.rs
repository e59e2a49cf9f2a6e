//! The lead of a single flight across processes that a blocking `get_or_load` runs: wait
//! for the key's flight lock (blocking in the kernel while another process loads), then
//! the protocol's steps (`crate::common::flight`) with this cache's read of the entry.

use cache_core::codec::Codec;
use cache_core::{Cache, CacheError, Loader, Ttl};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cache::FileBasedCache;
use crate::common::flight::{ended, io_err, land, take_over, EXTENSION};
use crate::common::keylock::{Acquired, KeyLock};

/// The cross-process part of a flight this thread leads (the `lead` of
/// [`hit_or_lead`](cache_core::flight::hit_or_lead)): wait for the key's flight lock, then
/// return what the flight before stored or failed with, or load and store.
pub(crate) fn across_processes<V, C: Codec>(
    cache: &FileBasedCache<C>,
    key: &str,
    ttl: Ttl,
    loader: Loader<'_, V>,
) -> Result<V, CacheError>
where
    V: Serialize + DeserializeOwned + Send + Sync + Clone + 'static,
{
    let inner = &*cache.inner;
    let id = inner.entry_id(key);
    let read = || cache.read_value::<V>(key);
    let lock = match KeyLock::acquire_at(&inner.dir, &id, EXTENSION, |f| ended(read, key, f)) {
        Ok(Acquired::Held(lock)) => lock,
        Ok(Acquired::Ended(result)) => return result,
        Err(e) => return Err(io_err(inner, key, "locking", e)),
    };
    if let Some(v) = take_over(inner, key, &lock, read)? {
        return Ok(v);
    }
    let result = loader
        .load()
        .map_err(|e| CacheError::loader(key, e))
        .and_then(|v| Cache::<V>::set(cache, key, v.clone(), ttl).map(|_| v));
    land(key, lock, &result);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_core::CacheExt;

    /// A symlink planted under a flight lock's name is removed, never followed; the lock
    /// file is gone once the flight is over.
    #[test]
    fn a_planted_symlink_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileBasedCache::new(dir.path().join("c"), None).unwrap();
        let lock = cache.entry_path("k").with_extension(EXTENSION);
        std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"precious").unwrap();
        std::os::unix::fs::symlink(&target, &lock).unwrap();
        let v = cache.get_or_insert_with("k", Ttl::Never, || 7u32).unwrap();
        assert_eq!(v, 7);
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        assert!(
            std::fs::symlink_metadata(&lock).is_err(),
            "no lock file is left"
        );
    }
}
