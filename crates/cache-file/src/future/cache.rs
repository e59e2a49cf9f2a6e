//! [`AsyncFileCache`]: the file cache for async code, each operation a call of the shared
//! blocking [`FileBasedCache`] on tokio's blocking thread pool.

use std::fmt;
use std::time::Duration;

use cache_core::codec::{Codec, Postcard};
use cache_core::flight::hit_or_lead_async;
use cache_core::{
    AsyncCache, AsyncLoader, Cache, CacheError, CacheFuture, CacheStats, CounterValue, Ttl,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::blocking::blocking;
use super::flight;
use crate::sync::FileBasedCache;

/// A [`FileBasedCache`] as an [`AsyncCache`]: every operation runs the blocking one on
/// tokio's blocking thread pool ([`tokio::task::spawn_blocking`](https://docs.rs/tokio/1/tokio/task/fn.spawn_blocking.html)), so file I/O never blocks
/// a runtime worker. Same directory, same entries, same counters as the `FileBasedCache` it
/// wraps (and as every clone of it).
///
/// Its futures must be polled inside a tokio runtime, with its time driver (`enable_all`;
/// a task waiting for another process's load awaits tokio's timer). An operation starts when its future is
/// first polled and then runs to the end even if the future is dropped (a blocking call
/// cannot be interrupted), so a dropped `set` may still store its value.
///
/// `get_or_insert_with` is single flight, as on the blocking cache: the loader runs once per
/// key across the tasks and threads of every process on the directory (blocking
/// `FileBasedCache`s included; they meet on the same `ab/<md5>.flight` lock file). In a
/// process, one task (or thread) per key leads and the others await it; the leader tries the
/// lock file without blocking and awaits tokio's timer between tries, so no worker waits. A
/// loader error reaches every waiter of the flight; a leading task that is cancelled lets
/// go of the lock, and a waiter loads instead. `single_flight(false)` on the builder makes
/// it `get`, the loader, then `set`.
///
/// ```
/// use cache_core::{AsyncCache, AsyncCacheExt, Ttl};
/// use cache_file::{AsyncFileCache, FileBasedCache};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let cache = AsyncFileCache::new(FileBasedCache::new(dir.path(), None)?);
/// cache.set("answer", 42u32, Ttl::Never).await?;
/// assert_eq!(cache.get("answer").await?, Some(42u32));
/// let loaded = cache.get_or_insert_with("other", Ttl::Never, || async { 7u32 }).await?;
/// assert_eq!(loaded, 7);
/// # Ok(())
/// # }
/// ```
///
/// It takes the codec of the `FileBasedCache` it wraps (`C`, [`Postcard`] by default).
#[derive(Clone)]
pub struct AsyncFileCache<C = Postcard> {
    cache: FileBasedCache<C>,
}

impl<C: Codec> AsyncFileCache<C> {
    /// The async face of `cache` (a handle on the same instance).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// let cache = cache_file::AsyncFileCache::new(cache);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(cache: FileBasedCache<C>) -> Self {
        AsyncFileCache { cache }
    }

    /// The blocking cache this one runs on, for the operations that have no async form
    /// (`purge_expired`, `corruptions`, ...).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// assert_eq!(cache.blocking().corruptions(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn blocking(&self) -> &FileBasedCache<C> {
        &self.cache
    }

    /// Runs `op` on a clone of the blocking cache on the blocking pool.
    fn run<'a, T: Send + 'static>(
        &self,
        op: impl FnOnce(FileBasedCache<C>) -> Result<T, CacheError> + Send + 'static,
    ) -> CacheFuture<'a, Result<T, CacheError>> {
        CacheFuture::boxed(blocking(self.cache.clone(), op))
    }
}

impl<C: Codec> From<FileBasedCache<C>> for AsyncFileCache<C> {
    fn from(cache: FileBasedCache<C>) -> Self {
        AsyncFileCache::new(cache)
    }
}

impl<C: Codec> fmt::Debug for AsyncFileCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncFileCache").field(&self.cache).finish()
    }
}

fn owned(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

fn borrowed(keys: &[String]) -> Vec<&str> {
    keys.iter().map(String::as_str).collect()
}

impl<V, C> AsyncCache<V> for AsyncFileCache<C>
where
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
    C: Codec,
{
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<Option<V>, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| c.get(&key))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| c.set(&key, value, ttl))
    }

    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| Cache::<V>::delete(&c, &key))
    }

    fn clear(&self) -> CacheFuture<'_, Result<(), CacheError>> {
        self.run(move |c| Cache::<V>::clear(&c))
    }

    fn exists<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| Cache::<V>::exists(&c, &key))
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> CacheFuture<'a, Result<u64, CacheError>> {
        let pattern = pattern.to_owned();
        self.run(move |c| Cache::<V>::delete_pattern(&c, &pattern))
    }

    fn stats(&self) -> CacheStats {
        Cache::<V>::stats(&self.cache)
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| c.add(&key, value, ttl))
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        let key = key.to_owned();
        self.run(move |c| Cache::<V>::incr(&c, &key, delta))
    }

    fn decr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        let key = key.to_owned();
        self.run(move |c| Cache::<V>::decr(&c, &key, delta))
    }

    fn touch<'a>(&'a self, key: &'a str, ttl: Ttl) -> CacheFuture<'a, Result<bool, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| Cache::<V>::touch(&c, &key, ttl))
    }

    fn ttl<'a>(
        &'a self,
        key: &'a str,
    ) -> CacheFuture<'a, Result<Option<Option<Duration>>, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| Cache::<V>::ttl(&c, &key))
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
    ) -> CacheFuture<'a, Result<Vec<Option<V>>, CacheError>> {
        let keys = owned(keys);
        self.run(move |c| c.get_many(&borrowed(&keys)))
    }

    fn set_many<'a>(
        &'a self,
        entries: Vec<(&'a str, V)>,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<(), CacheError>>
    where
        V: 'a,
    {
        let (keys, values): (Vec<String>, Vec<V>) =
            entries.into_iter().map(|(k, v)| (k.to_owned(), v)).unzip();
        self.run(move |c| c.set_many(borrowed(&keys).into_iter().zip(values).collect(), ttl))
    }

    fn delete_many<'a>(&'a self, keys: &'a [&'a str]) -> CacheFuture<'a, Result<u64, CacheError>> {
        let keys = owned(keys);
        self.run(move |c| Cache::<V>::delete_many(&c, &borrowed(&keys)))
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
        let inner = &self.cache.inner;
        CacheFuture::boxed(hit_or_lead_async(
            self,
            inner.single_flight.then_some(&inner.flights),
            key,
            ttl,
            loader,
            || {
                let key = key.to_owned();
                blocking(self.cache.clone(), move |c| c.read_value(&key))
            },
            move |loader| flight::across_processes(&self.cache, key, ttl, loader),
        ))
    }
}
