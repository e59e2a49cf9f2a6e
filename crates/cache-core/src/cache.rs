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
/// where it can do better (one round trip, no stampede). The get-or-compute methods with a
/// `FnOnce` loader are on [`CacheExt`], implemented for every cache (`dyn Cache` too); the
/// trait itself has their object-safe form, [`Cache::get_or_load`].
///
/// What each method returns and counts is spelled out in the [crate docs](crate).
///
/// ```
/// use cache_core::{Cache, CacheError, CacheExt, Ttl};
/// use std::time::Duration;
///
/// fn session_token(cache: &dyn Cache<String>, user: &str) -> Result<String, CacheError> {
///     let key = format!("token:{user}");
///     cache.get_or_insert_with(&key, Ttl::After(Duration::from_secs(300)), || {
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
    ///
    /// Through the trait (`dyn Cache`, generic code) the TTL is a [`Ttl`]. On the concrete
    /// caches `set`, `add`, `touch` and `set_many` also take any `impl Into<Ttl>` (a
    /// `Duration`, an `Option<Duration>`), by inherent methods of the same names; see
    /// [Passing a TTL](crate#passing-a-ttl).
    ///
    /// ```
    /// use cache_core::{Cache, CacheError, Ttl};
    /// use std::time::Duration;
    ///
    /// fn remember(cache: &dyn Cache<String>, key: &str) -> Result<bool, CacheError> {
    ///     cache.set(key, "value".to_owned(), Ttl::After(Duration::from_secs(60)))?;
    ///     cache.set(key, "value".to_owned(), Duration::from_secs(60).into())
    /// }
    /// ```
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

    /// Subtracts `delta` from the counter under `key`: the count becomes `count - delta`, and
    /// an overflow of `i64` is an error, as for [`Cache::incr`]. `decr(key, i64::MIN)` fits
    /// for a negative count (`-1 - i64::MIN` is `i64::MAX`).
    ///
    /// The provided body is [`Cache::incr`] with `-delta`, which cannot express `i64::MIN`
    /// and reports it as an overflow; every backend of this workspace overrides it with a
    /// subtraction ([`CounterChange::Sub`](crate::CounterChange)), and the conformance case
    /// `decr_by_i64_min` checks a backend for it.
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

    /// The object-safe form of [`CacheExt::get_or_insert_with`] and
    /// [`CacheExt::try_get_or_insert_with`], which most code calls instead: the live value
    /// under `key`, or else the value `loader` produces, stored with `ttl` and returned. A
    /// loader error is returned as [`CacheError::Loader`] and nothing is stored.
    ///
    /// A backend overrides this method to run the loader once per key however many
    /// callers miss at the same time (*single flight*, see the [crate docs](crate)). This
    /// provided form does not: it is a `get`, then the loader, then a `set`.
    ///
    /// Counting: one hit or one miss (the first look), plus one set when the loaded value
    /// is stored. A caller that waits for another caller's load and receives its value or
    /// its error counts only its miss.
    ///
    /// ```
    /// use cache_core::{Cache, Loader, Ttl};
    ///
    /// fn cached_len(cache: &dyn Cache<usize>, text: String) -> Result<usize, cache_core::CacheError> {
    ///     // `text` moves into the loader: it is called at most once.
    ///     let mut slot = Some(move || Ok::<_, std::io::Error>(text.len()));
    ///     cache.get_or_load("len", Ttl::Never, Loader::new(&mut slot))
    /// }
    /// ```
    fn get_or_load(&self, key: &str, ttl: Ttl, loader: Loader<'_, V>) -> Result<V, CacheError>
    where
        V: Clone,
    {
        crate::flight::load_unshared(self, key, ttl, loader)
    }
}

/// The error a loader returns.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// A loader, called at most once: the object-safe handle on a `FnOnce` that
/// [`Cache::get_or_load`] takes. It borrows an `Option` holding the closure, so building one
/// allocates nothing; [`Loader::load`] takes the closure out and calls it.
///
/// ```
/// use cache_core::Loader;
///
/// let name = String::from("alice");
/// let mut slot = Some(move || Ok::<_, std::fmt::Error>(name)); // `name` is moved, not cloned
/// let loader: Loader<'_, String> = Loader::new(&mut slot);
/// assert_eq!(loader.load().unwrap(), "alice");
/// assert!(slot.is_none(), "the closure was taken");
/// ```
pub struct Loader<'a, V> {
    slot: &'a mut dyn LoadOnce<V>,
}

/// A closure in an `Option`, taken out by the first call.
trait LoadOnce<V> {
    fn load_once(&mut self) -> Option<Result<V, BoxError>>;
}

impl<V, E, F> LoadOnce<V> for Option<F>
where
    F: FnOnce() -> Result<V, E>,
    E: Into<BoxError>,
{
    fn load_once(&mut self) -> Option<Result<V, BoxError>> {
        self.take().map(|f| f().map_err(Into::into))
    }
}

impl<'a, V> Loader<'a, V> {
    /// A loader that takes the closure out of `slot` when it runs.
    ///
    /// ```
    /// let mut slot = Some(|| Ok::<u8, std::io::Error>(7));
    /// let loader = cache_core::Loader::new(&mut slot);
    /// assert_eq!(loader.load().unwrap(), 7);
    /// ```
    pub fn new<F, E>(slot: &'a mut Option<F>) -> Self
    where
        F: FnOnce() -> Result<V, E> + 'a,
        E: Into<BoxError> + 'a,
        V: 'a,
    {
        Loader { slot }
    }

    /// Runs the loader. An empty slot (the closure was already taken) is an error, not a
    /// panic.
    ///
    /// ```
    /// let mut slot: Option<fn() -> Result<u8, std::io::Error>> = None;
    /// assert!(cache_core::Loader::new(&mut slot).load().is_err());
    /// ```
    pub fn load(self) -> Result<V, BoxError> {
        self.slot
            .load_once()
            .unwrap_or_else(|| Err("the loader was already taken".into()))
    }
}

impl<V> std::fmt::Debug for Loader<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader").finish_non_exhaustive()
    }
}

/// The get-or-compute methods of every [`Cache`], `dyn Cache` included, with a `FnOnce`
/// loader: what it captures can be moved into the value, never cloned. Implemented for every
/// cache; bring it into scope (`use cache_core::CacheExt`) to call its methods.
///
/// Both forward to [`Cache::get_or_load`], the trait's object-safe form, which is where a
/// backend implements single flight. On a hit they cost what `get` costs: the loader is
/// wrapped on the stack, nothing is allocated or locked beyond the `get`.
///
/// ```
/// use cache_core::{Cache, CacheError, CacheExt, Ttl};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// fn session_token(cache: &Arc<dyn Cache<String>>, user: String) -> Result<String, CacheError> {
///     let key = format!("token:{user}");
///     cache.get_or_insert_with(&key, Ttl::After(Duration::from_secs(300)), move || {
///         format!("fresh-token-for-{user}") // `user` moved in
///     })
/// }
/// ```
pub trait CacheExt<V>: Cache<V> {
    /// The live value under `key`, or else the value `init` computes, stored with `ttl` (any
    /// `impl Into<Ttl>`: a [`Ttl`], a `Duration`, an `Option<Duration>`) and returned. On a
    /// single-flight backend (all of this project's, by default) `init` runs
    /// once per key however many threads, and for the file and Redis backends processes,
    /// miss at the same time; the others wait and receive its value.
    ///
    /// ```
    /// use cache_core::{Cache, CacheExt, Ttl};
    /// use std::time::Duration;
    /// fn cached(cache: &dyn Cache<Vec<u8>>, bytes: Vec<u8>) -> Result<Vec<u8>, cache_core::CacheError> {
    ///     let first = cache.get_or_insert_with("k", Ttl::Never, move || bytes)?;
    ///     // A `Duration` does too, even through `dyn Cache`: this method is generic.
    ///     cache.get_or_insert_with("k2", Duration::from_secs(60), || first)
    /// }
    /// ```
    fn get_or_insert_with<F>(
        &self,
        key: &str,
        ttl: impl Into<Ttl>,
        init: F,
    ) -> Result<V, CacheError>
    where
        F: FnOnce() -> V,
        V: Clone,
    {
        let mut slot = Some(move || Ok::<V, std::convert::Infallible>(init()));
        self.get_or_load(key, ttl.into(), Loader::new(&mut slot))
    }

    /// Like [`CacheExt::get_or_insert_with`] with a fallible loader. An error is returned as
    /// [`CacheError::Loader`] (its source shared, behind an `Arc`) and nothing is stored.
    /// On a single-flight backend, every caller that was waiting for that load gets the
    /// same error rather than running the loader again; the next call after it runs the
    /// loader anew.
    ///
    /// ```
    /// use cache_core::{Cache, CacheError, CacheExt, Ttl};
    /// fn user(cache: &dyn Cache<String>, id: u32) -> Result<String, CacheError> {
    ///     cache.try_get_or_insert_with(&format!("user:{id}"), Ttl::Default, || {
    ///         if id == 0 { Err("no user 0") } else { Ok(format!("user-{id}")) }
    ///     })
    /// }
    /// ```
    fn try_get_or_insert_with<F, E>(
        &self,
        key: &str,
        ttl: impl Into<Ttl>,
        init: F,
    ) -> Result<V, CacheError>
    where
        F: FnOnce() -> Result<V, E>,
        E: Into<BoxError>,
        V: Clone,
    {
        let mut slot = Some(init);
        self.get_or_load(key, ttl.into(), Loader::new(&mut slot))
    }
}

impl<V, C: Cache<V> + ?Sized> CacheExt<V> for C {}

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
            fn get_or_load(
                &self,
                key: &str,
                ttl: Ttl,
                loader: Loader<'_, V>,
            ) -> Result<V, CacheError>
            where
                V: Clone,
            {
                (**self).get_or_load(key, ttl, loader)
            }
        }
    };
}

forward_cache!(Arc);
forward_cache!(Box);
