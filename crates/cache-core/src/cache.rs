use std::error::Error;
use std::sync::Arc;

use crate::{CacheError, CacheStats, Ttl};

/// The interface every backend implements: a map from `&str` keys to values of type `V`
/// with per-entry expiry, shared between threads.
///
/// The trait is object-safe, so code can hold a `Box<dyn Cache<V>>` or `Arc<dyn Cache<V>>`
/// and switch backends without edits. The batch methods and the get-or-compute helpers have
/// provided implementations in terms of the single-key methods; a backend overrides them
/// where it can do better (one round trip, no stampede).
///
/// What each method returns and counts is spelled out in the [crate docs](crate).
///
/// ```
/// use cache_core::{Cache, CacheError, Ttl};
/// use std::time::Duration;
///
/// fn session_token(cache: &dyn Cache<String>, user: &str) -> Result<String, CacheError> {
///     let key = format!("token:{user}");
///     cache.get_or_insert_with(&key, Ttl::After(Duration::from_secs(300)), &mut || {
///         format!("fresh-token-for-{user}")
///     })
/// }
/// ```
pub trait Cache<V>: Send + Sync {
    /// The live value under `key`, or `None`. A hit refreshes the entry's recency on LRU
    /// backends; a value that cannot be decoded as `V` is a miss.
    fn get(&self, key: &str) -> Result<Option<V>, CacheError>;

    /// Stores `value` under `key`, replacing both the value and the TTL of an existing entry.
    /// Returns `true` once stored (a zero TTL stores nothing, removes the old value and still
    /// returns `true`).
    fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError>;

    /// Removes `key`; `true` iff a live entry was removed.
    fn delete(&self, key: &str) -> Result<bool, CacheError>;

    /// Removes every entry of this cache (and nothing else). Counters are kept.
    fn clear(&self) -> Result<(), CacheError>;

    /// Whether a live entry exists under `key`: a peek that counts no hit or miss and leaves
    /// recency unchanged.
    fn exists(&self, key: &str) -> Result<bool, CacheError>;

    /// Removes every live entry whose key matches the glob `pattern` (see
    /// [`Pattern`](crate::Pattern)) and returns how many were removed.
    fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError>;

    /// A snapshot of this instance's counters.
    fn stats(&self) -> CacheStats;

    /// Same as [`Cache::stats`], under the name some users know it by.
    fn get_stats(&self) -> CacheStats {
        self.stats()
    }

    /// [`Cache::get`] for several keys, answers in the order of `keys`.
    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<V>>, CacheError> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// [`Cache::set`] for several entries with one TTL. Later duplicates of a key win.
    fn set_many(&self, entries: Vec<(&str, V)>, ttl: Ttl) -> Result<(), CacheError> {
        for (k, v) in entries {
            self.set(k, v, ttl)?;
        }
        Ok(())
    }

    /// [`Cache::delete`] for several keys; returns how many live entries were removed.
    fn delete_many(&self, keys: &[&str]) -> Result<u64, CacheError> {
        let mut removed = 0;
        for k in keys {
            removed += u64::from(self.delete(k)?);
        }
        Ok(removed)
    }

    /// The live value under `key`, or else the value `init` computes, stored with `ttl` and
    /// returned. Backends that can (the in-memory one) run `init` once per key even when many
    /// threads miss at the same time.
    fn get_or_insert_with(
        &self,
        key: &str,
        ttl: Ttl,
        init: &mut dyn FnMut() -> V,
    ) -> Result<V, CacheError>
    where
        V: Clone,
    {
        self.try_get_or_insert_with(key, ttl, &mut || Ok(init()))
    }

    /// Like [`Cache::get_or_insert_with`] with a fallible loader: a loader error is returned
    /// as [`CacheError::Loader`] and nothing is stored.
    fn try_get_or_insert_with(
        &self,
        key: &str,
        ttl: Ttl,
        init: &mut dyn FnMut() -> Result<V, Box<dyn Error + Send + Sync>>,
    ) -> Result<V, CacheError>
    where
        V: Clone,
    {
        if let Some(v) = self.get(key)? {
            return Ok(v);
        }
        let value = init().map_err(|source| CacheError::Loader {
            key: key.to_owned(),
            source,
        })?;
        self.set(key, value.clone(), ttl)?;
        Ok(value)
    }
}

macro_rules! forward_cache {
    ($ptr:ident) => {
        /// Forwards every method to the shared cache, so `Arc<InMemoryCache<V>>` and
        /// `Box<dyn Cache<V>>` are caches too.
        impl<V, C: Cache<V> + ?Sized> Cache<V> for $ptr<C> {
            fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
                (**self).get(key)
            }
            fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
                (**self).set(key, value, ttl)
            }
            fn delete(&self, key: &str) -> Result<bool, CacheError> {
                (**self).delete(key)
            }
            fn clear(&self) -> Result<(), CacheError> {
                (**self).clear()
            }
            fn exists(&self, key: &str) -> Result<bool, CacheError> {
                (**self).exists(key)
            }
            fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
                (**self).delete_pattern(pattern)
            }
            fn stats(&self) -> CacheStats {
                (**self).stats()
            }
            fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<V>>, CacheError> {
                (**self).get_many(keys)
            }
            fn set_many(&self, entries: Vec<(&str, V)>, ttl: Ttl) -> Result<(), CacheError> {
                (**self).set_many(entries, ttl)
            }
            fn delete_many(&self, keys: &[&str]) -> Result<u64, CacheError> {
                (**self).delete_many(keys)
            }
            fn try_get_or_insert_with(
                &self,
                key: &str,
                ttl: Ttl,
                init: &mut dyn FnMut() -> Result<V, Box<dyn Error + Send + Sync>>,
            ) -> Result<V, CacheError>
            where
                V: Clone,
            {
                (**self).try_get_or_insert_with(key, ttl, init)
            }
        }
    };
}

forward_cache!(Arc);
forward_cache!(Box);
