//! The operations that take a value type or a TTL, as inherent methods of
//! [`FileBasedCache`] named like the [`Cache`] methods, so that they are found first (see
//! [Passing a TTL](cache_core#passing-a-ttl)): a TTL is any `impl Into<Ttl>` (a `Duration`,
//! an `Option<Duration>`, a [`Ttl`]), and a call names no value type that the operation
//! does not involve. Each forwards to the [`Cache`] impl (`cache_trait.rs`).

use cache_core::codec::Codec;
use cache_core::{Cache, CacheError, Ttl};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cache::FileBasedCache;

impl<C: Codec> FileBasedCache<C> {
    /// [`Cache::get`]: the live value of `key`, decoded as `V` (a hit or a miss counted).
    ///
    /// ```
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.set("k", "v".to_string(), Duration::from_secs(60))?;
    /// let v: Option<String> = cache.get("k")?;
    /// assert_eq!(v.as_deref(), Some("v"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get<V>(&self, key: &str) -> Result<Option<V>, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Cache::<V>::get(self, key)
    }

    /// [`Cache::set`] with any `impl Into<Ttl>`: a [`Ttl`], a `Duration` or an
    /// `Option<Duration>` (`None`: never expires).
    ///
    /// ```
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// assert!(cache.set("a", 1u8, Duration::from_secs(60))?);
    /// assert!(cache.set("b", 2u8, None)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn set<V>(&self, key: &str, value: V, ttl: impl Into<Ttl>) -> Result<bool, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Cache::set(self, key, value, ttl.into())
    }

    /// [`Cache::add`] with any `impl Into<Ttl>`: stores the value only if no live entry of
    /// `key` exists (atomically across processes); `true` if it did.
    ///
    /// ```
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// assert!(cache.add("lock", 1u8, Duration::from_secs(30))?);
    /// assert!(!cache.add("lock", 2u8, Duration::from_secs(30))?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn add<V>(&self, key: &str, value: V, ttl: impl Into<Ttl>) -> Result<bool, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Cache::add(self, key, value, ttl.into())
    }

    /// [`Cache::set_many`] with any `impl Into<Ttl>`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.set_many(vec![("a", 1u8), ("b", 2u8)], Duration::from_secs(60))?;
    /// assert!(cache.exists("b")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn set_many<V>(
        &self,
        entries: Vec<(&str, V)>,
        ttl: impl Into<Ttl>,
    ) -> Result<(), CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Cache::set_many(self, entries, ttl.into())
    }

    /// [`Cache::get_many`]: the live values of `keys`, in order, decoded as `V`.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.set("a", 1u8, None)?;
    /// let got: Vec<Option<u8>> = cache.get_many(&["a", "b"])?;
    /// assert_eq!(got, vec![Some(1), None]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get_many<V>(&self, keys: &[&str]) -> Result<Vec<Option<V>>, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Cache::<V>::get_many(self, keys)
    }

    /// [`Cache::delete_many`] without naming a value type: removes the entries of `keys`
    /// and returns how many live ones were removed.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.set("a", 1u8, None)?;
    /// assert_eq!(cache.delete_many(&["a", "b"])?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_many(&self, keys: &[&str]) -> Result<u64, CacheError> {
        let mut removed = 0;
        for key in keys {
            removed += u64::from(self.delete(key)?);
        }
        Ok(removed)
    }
}
