//! The value operations of [`RedisCache`] as inherent methods, generic over the value type
//! and taking any `impl Into<Ttl>` (a `Duration`, an `Option<Duration>`, a `Ttl`): the
//! methods a program calls on a `RedisCache` resolve here whatever traits it imports, and
//! forward to the [`Cache`] implementation (see cache-core's "Passing a TTL").

use cache_core::codec::Codec;
use cache_core::{Cache, CacheError, Ttl};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cache::RedisCache;

impl<C: Codec> RedisCache<C> {
    /// [`Cache::get`]: the live value under `key`, read as a `V`.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// let name: Option<String> = cache.get("user:1")?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn get<V>(&self, key: &str) -> Result<Option<V>, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Cache::<V>::get(self, key)
    }

    /// [`Cache::set`], with any TTL that converts: a `Duration`, an `Option<Duration>` or a
    /// [`Ttl`].
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// cache.set("user:1", "alice".to_string(), Duration::from_secs(60))?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn set<V>(&self, key: &str, value: V, ttl: impl Into<Ttl>) -> Result<bool, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Cache::<V>::set(self, key, value, ttl.into())
    }

    /// [`Cache::add`]: stores `value` only if no live entry is under `key`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// let first = cache.add("lock:job", 1u8, Duration::from_secs(30))?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn add<V>(&self, key: &str, value: V, ttl: impl Into<Ttl>) -> Result<bool, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Cache::<V>::add(self, key, value, ttl.into())
    }

    /// [`Cache::get_many`]: the live values under `keys`, in order, in one round trip per
    /// node.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// let found: Vec<Option<u32>> = cache.get_many(&["a", "b"])?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn get_many<V>(&self, keys: &[&str]) -> Result<Vec<Option<V>>, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Cache::<V>::get_many(self, keys)
    }

    /// [`Cache::set_many`], with any TTL that converts.
    ///
    /// ```no_run
    /// use cache_core::Ttl;
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// cache.set_many(vec![("a", 1u32), ("b", 2)], Ttl::Never)?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn set_many<V>(
        &self,
        entries: Vec<(&str, V)>,
        ttl: impl Into<Ttl>,
    ) -> Result<(), CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Cache::<V>::set_many(self, entries, ttl.into())
    }
}
