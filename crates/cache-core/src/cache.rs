use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use crate::{CacheError, CacheStats, CounterValue, Ttl};

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

    /// Stores `value` under `key` only if no live entry exists there, atomically: of several
    /// concurrent `add`s of one key (from any thread, or any process sharing the file
    /// directory or Redis prefix) exactly one returns `true`, and a concurrent `set` is never
    /// overwritten by an `add` that saw the key absent. An expired entry counts as absent.
    ///
    /// Counts one set when it stores; when a live entry exists it is a peek (nothing
    /// counted, recency unchanged). A zero TTL stores nothing but still returns `true` when
    /// no live entry existed, as `set` does.
    ///
    /// ```
    /// use cache_core::{Cache, CacheError, Ttl};
    ///
    /// fn claim(cache: &dyn Cache<String>, job: &str, worker: &str) -> Result<bool, CacheError> {
    ///     cache.add(&format!("lock:{job}"), worker.to_owned(), Ttl::Default)
    /// }
    /// ```
    fn add(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError>;

    /// Adds `delta` to the counter under `key` atomically and returns the new count. An
    /// absent (or expired) key starts at 0 and takes the cache's default TTL; an existing
    /// counter keeps its TTL. Counters are `i64` ([`CounterValue`]): `get` on the same cache
    /// reads one back as an `i64`.
    ///
    /// # Errors
    /// [`CacheError::CounterOverflow`] if the count would leave the range of `i64`, and
    /// [`CacheError::NotACounter`] if the live entry is not an `i64` (another type written by
    /// `set` on a serializing backend); either way the entry is unchanged.
    ///
    /// Counts one set when it writes (an error counts nothing); no hit or miss. Refreshes
    /// recency like `set`.
    ///
    /// ```
    /// use cache_core::{Cache, CacheError};
    ///
    /// fn count_visit(cache: &dyn Cache<i64>, page: &str) -> Result<i64, CacheError> {
    ///     cache.incr(&format!("visits:{page}"), 1)
    /// }
    /// ```
    fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue;

    /// Subtracts `delta` from the counter under `key`: [`Cache::incr`] with `-delta` (so
    /// `i64::MIN` is an overflow).
    ///
    /// ```
    /// use cache_core::{Cache, CacheError};
    ///
    /// fn release(cache: &dyn Cache<i64>, pool: &str) -> Result<i64, CacheError> {
    ///     cache.decr(&format!("in-use:{pool}"), 1)
    /// }
    /// ```
    fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        match delta.checked_neg() {
            Some(up) => self.incr(key, up),
            None => Err(CacheError::counter_overflow(key, delta)),
        }
    }

    /// Replaces the TTL of the live entry under `key` (counted from now) and leaves its value
    /// unchanged; `true` iff a live entry was there. A zero TTL removes the entry (still
    /// `true`, counted as nothing, as a zero-TTL `set` counts no delete).
    ///
    /// Counts nothing; marks the entry as used (recency) on LRU backends.
    ///
    /// ```
    /// use cache_core::{Cache, CacheError, Ttl};
    /// use std::time::Duration;
    ///
    /// fn keep_alive(cache: &dyn Cache<String>, session: &str) -> Result<bool, CacheError> {
    ///     cache.touch(session, Ttl::After(Duration::from_secs(1800)))
    /// }
    /// ```
    fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError>;

    /// The time the live entry under `key` has left: `None` if there is no live entry,
    /// `Some(None)` if it never expires. A peek, like `exists`: counts no hit or miss and
    /// leaves recency unchanged.
    ///
    /// ```
    /// use cache_core::{Cache, CacheError};
    ///
    /// fn expires_soon(cache: &dyn Cache<String>, key: &str) -> Result<bool, CacheError> {
    ///     Ok(matches!(cache.ttl(key)?, Some(Some(left)) if left.as_secs() < 10))
    /// }
    /// ```
    fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError>;

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
            fn add(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
                (**self).add(key, value, ttl)
            }
            fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
            where
                V: CounterValue,
            {
                (**self).incr(key, delta)
            }
            fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
            where
                V: CounterValue,
            {
                (**self).decr(key, delta)
            }
            fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
                (**self).touch(key, ttl)
            }
            fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
                (**self).ttl(key)
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
