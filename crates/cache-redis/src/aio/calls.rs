//! The operations of [`AsyncRedisCache`] as inherent `async` methods: generic over the value
//! type where they carry one, taking any `impl Into<Ttl>`, and naming no value type where
//! they carry none (`delete`, `exists`, ...: through [`AsyncCache`] alone, implemented for
//! every value type, such a call could not tell which implementation it meant). A program's
//! calls on an `AsyncRedisCache` resolve here whatever traits it imports, and forward to
//! the [`AsyncCache`] implementation (see cache-core's "Passing a TTL").

use cache_core::codec::Codec;
use cache_core::{AsyncCache, CacheError, CacheStats, Ttl};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cache::AsyncRedisCache;

/// What the operations without a value run through: any value type's implementation does
/// the same for them.
type NoValue = ();

impl<C: Codec> AsyncRedisCache<C> {
    /// [`AsyncCache::get`]: the live value under `key`, read as a `V`.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// let name: Option<String> = cache.get("user:1").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get<V>(&self, key: &str) -> Result<Option<V>, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        AsyncCache::<V>::get(self, key).await
    }

    /// [`AsyncCache::set`], with any TTL that converts: a `Duration`, an `Option<Duration>`
    /// or a [`Ttl`].
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// cache.set("user:1", "alice".to_string(), Duration::from_secs(60)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set<V>(&self, key: &str, value: V, ttl: impl Into<Ttl>) -> Result<bool, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        AsyncCache::<V>::set(self, key, value, ttl.into()).await
    }

    /// [`AsyncCache::add`]: stores `value` only if no live entry is under `key`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// let first = cache.add("lock:job", 1u8, Duration::from_secs(30)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn add<V>(&self, key: &str, value: V, ttl: impl Into<Ttl>) -> Result<bool, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        AsyncCache::<V>::add(self, key, value, ttl.into()).await
    }

    /// [`AsyncCache::get_many`]: the live values under `keys`, in order.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// let found: Vec<Option<u32>> = cache.get_many(&["a", "b"]).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_many<V>(&self, keys: &[&str]) -> Result<Vec<Option<V>>, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        AsyncCache::<V>::get_many(self, keys).await
    }

    /// [`AsyncCache::set_many`], with any TTL that converts.
    ///
    /// ```no_run
    /// use cache_core::Ttl;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// cache.set_many(vec![("a", 1u32), ("b", 2)], Ttl::Never).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_many<V>(
        &self,
        entries: Vec<(&str, V)>,
        ttl: impl Into<Ttl>,
    ) -> Result<(), CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        AsyncCache::<V>::set_many(self, entries, ttl.into()).await
    }

    /// [`AsyncCache::delete`]: `true` iff a live entry was there.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// let was_there = cache.delete("user:1").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        AsyncCache::<NoValue>::delete(self, key).await
    }

    /// [`AsyncCache::exists`]: whether a live entry (of this cache's version) is under `key`.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// let there = cache.exists("user:1").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn exists(&self, key: &str) -> Result<bool, CacheError> {
        AsyncCache::<NoValue>::exists(self, key).await
    }

    /// [`AsyncCache::clear`]: removes every key under this cache's prefix.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// cache.clear().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn clear(&self) -> Result<(), CacheError> {
        AsyncCache::<NoValue>::clear(self).await
    }

    /// [`AsyncCache::delete_pattern`]: removes the live entries whose keys match the glob
    /// `pattern`; how many.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// let removed = cache.delete_pattern("session:*").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        AsyncCache::<NoValue>::delete_pattern(self, pattern).await
    }

    /// [`AsyncCache::delete_many`]: how many of `keys` had a live entry.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// let removed = cache.delete_many(&["a", "b"]).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_many(&self, keys: &[&str]) -> Result<u64, CacheError> {
        AsyncCache::<NoValue>::delete_many(self, keys).await
    }

    /// [`AsyncCache::stats`]: this instance's counters.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_redis::AsyncRedisCache::open("redis://127.0.0.1/").await?;
    /// println!("{:?}", cache.stats());
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> CacheStats {
        AsyncCache::<NoValue>::stats(self)
    }
}
