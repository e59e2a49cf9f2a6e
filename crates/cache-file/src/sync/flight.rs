//! The lead of a single flight across processes that a blocking `get_or_load` runs: wait
//! for the key's flight lock (tried without blocking, sleeping in between, so that a lease
//! that ends is seen), then the protocol's steps (`crate::common::flight`) with this cache's
//! read of the entry.

use cache_core::codec::Codec;
use cache_core::{Cache, CacheError, Loader, Ttl};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cache::FileBasedCache;
use cache_core::flight::Backoff;

use crate::common::flight::{land, take_over, try_lead, Polled};

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
    let read = || cache.read_value::<V>(key);
    let mut backoff = Backoff::new();
    let mut tried = None;
    let lock = loop {
        match try_lead(inner, key, tried.take(), read)? {
            Polled::Held(lock) => break lock,
            Polled::Ended(result) => return result,
            Polled::Wait(Some(file)) => {
                tried = Some(file);
                std::thread::sleep(backoff.next_pause());
            }
            Polled::Wait(None) => {}
        }
    };
    if let Some(v) = take_over(inner, key, &lock, read)? {
        return Ok(v);
    }
    let result = loader
        .load()
        .map_err(|e| CacheError::loader(key, e))
        .and_then(|v| Cache::<V>::set(cache, key, v.clone(), ttl).map(|_| v));
    land(inner, key, lock, &result);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::flight::EXTENSION;
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
