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

/// The operations as people write them: inherent methods named like the [`AsyncCache`]
/// methods, found first (see [Passing a TTL](cache_core#passing-a-ttl)), so that a TTL is any
/// `impl Into<Ttl>` and a call names no value type the operation does not involve
/// (`cache.delete("k").await`: `AsyncFileCache` is an `AsyncCache<V>` for every `V`).
impl<C: Codec> AsyncFileCache<C> {
    /// [`AsyncCache::get`]: the live value of `key`, decoded as `V`.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// cache.set("k", "v".to_string(), Duration::from_secs(60)).await?;
    /// let v: Option<String> = cache.get("k").await?;
    /// assert_eq!(v.as_deref(), Some("v"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn get<'a, V>(&'a self, key: &'a str) -> CacheFuture<'a, Result<Option<V>, CacheError>>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        AsyncCache::<V>::get(self, key)
    }

    /// [`AsyncCache::set`] with any `impl Into<Ttl>`: a [`Ttl`], a `Duration` or an
    /// `Option<Duration>` (`None`: never expires).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// assert!(cache.set("a", 1u8, Duration::from_secs(60)).await?);
    /// assert!(cache.set("b", 2u8, None).await?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set<'a, V>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: impl Into<Ttl>,
    ) -> CacheFuture<'a, Result<bool, CacheError>>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        AsyncCache::set(self, key, value, ttl.into())
    }

    /// [`AsyncCache::add`] with any `impl Into<Ttl>`: stores the value only if no live
    /// entry of `key` exists (atomically across processes).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// assert!(cache.add("lock", 1u8, Duration::from_secs(30)).await?);
    /// assert!(!cache.add("lock", 2u8, Duration::from_secs(30)).await?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn add<'a, V>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: impl Into<Ttl>,
    ) -> CacheFuture<'a, Result<bool, CacheError>>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        AsyncCache::add(self, key, value, ttl.into())
    }

    /// [`AsyncCache::set_many`] with any `impl Into<Ttl>`.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// cache.set_many(vec![("a", 1u8), ("b", 2u8)], Duration::from_secs(60)).await?;
    /// assert!(cache.exists("b").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_many<'a, V>(
        &'a self,
        entries: Vec<(&'a str, V)>,
        ttl: impl Into<Ttl>,
    ) -> CacheFuture<'a, Result<(), CacheError>>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        AsyncCache::set_many(self, entries, ttl.into())
    }

    /// [`AsyncCache::get_many`]: the live values of `keys`, in order, decoded as `V`.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// cache.set("a", 1u8, Duration::from_secs(60)).await?;
    /// let got: Vec<Option<u8>> = cache.get_many(&["a", "b"]).await?;
    /// assert_eq!(got, vec![Some(1), None]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_many<'a, V>(
        &'a self,
        keys: &'a [&'a str],
    ) -> CacheFuture<'a, Result<Vec<Option<V>>, CacheError>>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        AsyncCache::<V>::get_many(self, keys)
    }

    /// [`AsyncCache::touch`] without naming a value type, with any `impl Into<Ttl>`: a new
    /// TTL for the live entry, counted from now.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// cache.set("k", 1u8, None).await?;
    /// assert!(cache.touch("k", Duration::from_secs(60)).await?);
    /// assert!(!cache.touch("absent", None).await?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn touch<'a>(
        &'a self,
        key: &'a str,
        ttl: impl Into<Ttl>,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        let (key, ttl) = (key.to_owned(), ttl.into());
        self.run(move |c| c.touch(&key, ttl))
    }

    /// [`AsyncCache::delete`] without naming a value type; `true` iff a live entry was
    /// removed.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// cache.set("k", 1u8, Duration::from_secs(60)).await?;
    /// assert!(cache.delete("k").await?);
    /// assert!(!cache.delete("k").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| c.delete(&key))
    }

    /// [`AsyncCache::exists`] without naming a value type: whether a live entry of `key`
    /// exists (no hit or miss counted).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// cache.set("k", 1u8, Duration::from_secs(60)).await?;
    /// assert!(cache.exists("k").await?);
    /// assert!(!cache.exists("other").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn exists<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| c.exists(&key))
    }

    /// [`AsyncCache::delete_many`] without naming a value type; how many live entries were
    /// removed.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// cache.set("a", 1u8, Duration::from_secs(60)).await?;
    /// assert_eq!(cache.delete_many(&["a", "b"]).await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete_many<'a>(
        &'a self,
        keys: &'a [&'a str],
    ) -> CacheFuture<'a, Result<u64, CacheError>> {
        let keys = owned(keys);
        self.run(move |c| c.delete_many(&borrowed(&keys)))
    }

    /// [`AsyncCache::delete_pattern`] without naming a value type: removes the live entries
    /// whose key matches the glob `pattern` and returns how many.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// cache.set("user:1", 1u8, Duration::from_secs(60)).await?;
    /// cache.set("team:1", 2u8, Duration::from_secs(60)).await?;
    /// assert_eq!(cache.delete_pattern("user:*").await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete_pattern<'a>(
        &'a self,
        pattern: &'a str,
    ) -> CacheFuture<'a, Result<u64, CacheError>> {
        let pattern = pattern.to_owned();
        self.run(move |c| c.delete_pattern(&pattern))
    }

    /// [`AsyncCache::clear`] without naming a value type: removes every entry of the
    /// directory.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// cache.set("k", 1u8, Duration::from_secs(60)).await?;
    /// cache.clear().await?;
    /// assert!(!cache.exists("k").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn clear(&self) -> CacheFuture<'_, Result<(), CacheError>> {
        self.run(move |c| c.clear())
    }

    /// [`AsyncCache::incr`] without naming a value type: adds `delta` to the `i64` counter
    /// under `key` (0 if absent) and returns the new count, atomically across processes.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// assert_eq!(cache.incr("visits", 1).await?, 1);
    /// assert_eq!(cache.incr("visits", 2).await?, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn incr<'a>(
        &'a self,
        key: &'a str,
        delta: i64,
    ) -> CacheFuture<'a, Result<i64, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| c.incr(&key, delta))
    }

    /// [`AsyncCache::decr`] without naming a value type.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// assert_eq!(cache.decr("stock", 2).await?, -2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn decr<'a>(
        &'a self,
        key: &'a str,
        delta: i64,
    ) -> CacheFuture<'a, Result<i64, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| c.decr(&key, delta))
    }

    /// [`AsyncCache::ttl`] without naming a value type: the time the live entry has left
    /// (`Some(None)`: it never expires; `None`: no live entry).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// cache.set("k", 1u8, None).await?;
    /// assert_eq!(cache.ttl("k").await?, Some(None));
    /// assert_eq!(cache.ttl("absent").await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn ttl<'a>(
        &'a self,
        key: &'a str,
    ) -> CacheFuture<'a, Result<Option<Option<Duration>>, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| c.ttl(&key))
    }

    /// [`AsyncCache::stats`] without naming a value type: this instance's counters.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cache = cache_file::AsyncFileCache::new(cache_file::FileBasedCache::new(dir.path(), None)?);
    /// cache.set("k", 1u8, Duration::from_secs(60)).await?;
    /// assert_eq!(cache.stats().sets, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
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
        self.run(move |c| Cache::<V>::get(&c, &key))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| Cache::set(&c, &key, value, ttl))
    }

    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        AsyncFileCache::delete(self, key)
    }

    fn clear(&self) -> CacheFuture<'_, Result<(), CacheError>> {
        AsyncFileCache::clear(self)
    }

    fn exists<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        AsyncFileCache::exists(self, key)
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> CacheFuture<'a, Result<u64, CacheError>> {
        AsyncFileCache::delete_pattern(self, pattern)
    }

    fn stats(&self) -> CacheStats {
        AsyncFileCache::stats(self)
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        let key = key.to_owned();
        self.run(move |c| Cache::add(&c, &key, value, ttl))
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        AsyncFileCache::incr(self, key, delta)
    }

    fn decr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        AsyncFileCache::decr(self, key, delta)
    }

    fn touch<'a>(&'a self, key: &'a str, ttl: Ttl) -> CacheFuture<'a, Result<bool, CacheError>> {
        AsyncFileCache::touch(self, key, ttl)
    }

    fn ttl<'a>(
        &'a self,
        key: &'a str,
    ) -> CacheFuture<'a, Result<Option<Option<Duration>>, CacheError>> {
        AsyncFileCache::ttl(self, key)
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
    ) -> CacheFuture<'a, Result<Vec<Option<V>>, CacheError>> {
        let keys = owned(keys);
        self.run(move |c| Cache::<V>::get_many(&c, &borrowed(&keys)))
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
        self.run(move |c| {
            Cache::set_many(&c, borrowed(&keys).into_iter().zip(values).collect(), ttl)
        })
    }

    fn delete_many<'a>(&'a self, keys: &'a [&'a str]) -> CacheFuture<'a, Result<u64, CacheError>> {
        AsyncFileCache::delete_many(self, keys)
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

/// [`FileBasedCache`]'s stamps (one `stat` of the entry's path, on the calling thread: a
/// near cache checks them where it serves a copy, without a trip to the blocking pool).
///
/// ```
/// use cache_core::near::EntryStamps;
/// use cache_file::{AsyncFileCache, FileBasedCache};
///
/// let dir = tempfile::tempdir()?;
/// let cache = AsyncFileCache::new(FileBasedCache::new(dir.path(), None)?);
/// assert_eq!(cache.stamp("k")?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<C: Send + Sync> cache_core::near::EntryStamps for AsyncFileCache<C> {
    fn stamp(&self, key: &str) -> Result<Option<cache_core::near::Stamp>, CacheError> {
        self.cache.entry_stamp(key)
    }
}
