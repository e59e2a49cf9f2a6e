//! [`AsyncCache`]: every operation of [`Cache`](crate::Cache) as a future, for async services.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::{BoxError, CacheError, CacheStats, CounterValue, Ttl};

/// The future every [`AsyncCache`] method returns: boxed, `Send`, borrowing the cache and its
/// arguments for `'a`.
///
/// Boxing keeps the trait object-safe (`Arc<dyn AsyncCache<V>>`) on every supported Rust,
/// and costs one allocation per call.
///
/// ```
/// use cache_core::BoxFuture;
///
/// fn answer<'a>(question: &'a str) -> BoxFuture<'a, usize> {
///     Box::pin(async move { question.len() })
/// }
/// # let _ = answer("why?");
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The loader [`AsyncCache::get_or_load`] takes: called at most once, and only by the call
/// that loads (a call that waits for another one's load never calls its own).
///
/// [`AsyncCacheExt::get_or_insert_with`] builds one from any `async` closure.
///
/// ```
/// use cache_core::AsyncLoader;
///
/// let loader: AsyncLoader<'_, u32> = Box::new(|| Box::pin(async { Ok(42) }));
/// # let _ = loader;
/// ```
pub type AsyncLoader<'a, V> = Box<dyn FnOnce() -> BoxFuture<'a, Result<V, BoxError>> + Send + 'a>;

/// [`Cache`](crate::Cache), asynchronous: the same operations with the same behaviour,
/// counting and errors (see the [crate docs](crate)), each returning a [`BoxFuture`].
///
/// - Object-safe: hold an `Arc<dyn AsyncCache<V>>` and switch backends without edits.
/// - Runtime-neutral: this crate depends on no runtime. The in-memory backend runs every
///   operation inline (a short lock, never a wait on I/O) and its single flight awaits
///   without parking a thread; the file and Redis backends run on tokio behind their `tokio`
///   feature.
/// - Lazy: nothing happens until the future is first polled; dropping a future before it
///   completes may leave a write done or not done, never half done.
/// - [`AsyncCache::stats`] is synchronous: every backend keeps its counters in memory.
///
/// The loader helpers that take closures are in [`AsyncCacheExt`], implemented for every
/// `AsyncCache` (generic methods would make this trait not object-safe).
///
/// A backend implements the single-key methods; the batch methods and
/// [`AsyncCache::get_or_load`] have provided implementations that a backend overrides where
/// it can do better (one round trip, single flight).
///
/// ```
/// use cache_core::{AsyncCache, AsyncCacheExt, CacheError, Ttl};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// async fn profile(cache: Arc<dyn AsyncCache<String>>, user: &str) -> Result<String, CacheError> {
///     let key = format!("profile:{user}");
///     cache
///         .get_or_insert_with(&key, Ttl::After(Duration::from_secs(60)), || async move {
///             format!("profile of {user}") // e.g. a database query, awaited
///         })
///         .await
/// }
/// ```
pub trait AsyncCache<V: Send>: Send + Sync {
    /// [`Cache::get`](crate::Cache::get), asynchronously.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<V>, CacheError>>;

    /// [`Cache::set`](crate::Cache::set), asynchronously.
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> BoxFuture<'a, Result<bool, CacheError>>;

    /// [`Cache::delete`](crate::Cache::delete), asynchronously.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, CacheError>>;

    /// [`Cache::clear`](crate::Cache::clear), asynchronously.
    fn clear(&self) -> BoxFuture<'_, Result<(), CacheError>>;

    /// [`Cache::exists`](crate::Cache::exists), asynchronously.
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, CacheError>>;

    /// [`Cache::delete_pattern`](crate::Cache::delete_pattern), asynchronously.
    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64, CacheError>>;

    /// [`Cache::stats`](crate::Cache::stats): a snapshot of this instance's counters, kept in
    /// memory by every backend, so not a future.
    fn stats(&self) -> CacheStats;

    /// [`Cache::add`](crate::Cache::add), asynchronously: stores only if no live entry exists.
    fn add<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> BoxFuture<'a, Result<bool, CacheError>>;

    /// [`Cache::incr`](crate::Cache::incr), asynchronously: on caches of `i64`
    /// ([`CounterValue`]).
    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue;

    /// [`Cache::decr`](crate::Cache::decr), asynchronously: [`AsyncCache::incr`] with `-delta`
    /// (so `i64::MIN` is an overflow).
    fn decr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        match delta.checked_neg() {
            Some(up) => self.incr(key, up),
            None => Box::pin(std::future::ready(Err(CacheError::counter_overflow(
                key, delta,
            )))),
        }
    }

    /// [`Cache::touch`](crate::Cache::touch), asynchronously: a new TTL for the live entry.
    fn touch<'a>(&'a self, key: &'a str, ttl: Ttl) -> BoxFuture<'a, Result<bool, CacheError>>;

    /// [`Cache::ttl`](crate::Cache::ttl), asynchronously: the time the live entry has left.
    #[allow(clippy::type_complexity)]
    fn ttl<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Option<Duration>>, CacheError>>;

    /// Same as [`AsyncCache::stats`], under the name some users know it by.
    fn get_stats(&self) -> CacheStats {
        self.stats()
    }

    /// [`Cache::get_many`](crate::Cache::get_many), asynchronously.
    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<Option<V>>, CacheError>> {
        Box::pin(async move {
            let mut values = Vec::with_capacity(keys.len());
            for key in keys {
                values.push(self.get(key).await?);
            }
            Ok(values)
        })
    }

    /// [`Cache::set_many`](crate::Cache::set_many), asynchronously.
    fn set_many<'a>(
        &'a self,
        entries: Vec<(&'a str, V)>,
        ttl: Ttl,
    ) -> BoxFuture<'a, Result<(), CacheError>>
    where
        V: 'a,
    {
        Box::pin(async move {
            for (key, value) in entries {
                self.set(key, value, ttl).await?;
            }
            Ok(())
        })
    }

    /// [`Cache::delete_many`](crate::Cache::delete_many), asynchronously.
    fn delete_many<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<u64, CacheError>> {
        Box::pin(async move {
            let mut removed = 0;
            for key in keys {
                removed += u64::from(self.delete(key).await?);
            }
            Ok(removed)
        })
    }

    /// The live value under `key`, or else the value `loader` produces, stored with `ttl` and
    /// returned; a loader error is returned as [`CacheError::Loader`] and nothing is stored.
    /// The object-safe core of [`AsyncCacheExt::get_or_insert_with`] and
    /// [`AsyncCacheExt::try_get_or_insert_with`].
    ///
    /// Every backend of this workspace runs one loader per key even when many tasks miss at
    /// the same time (file and Redis: across processes too, see the [crate docs](crate)):
    /// the others await its value (or its error), and if the loading task is cancelled one
    /// of them loads instead. The provided implementation, for a backend that does not
    /// override it, is `get`, then `loader`, then `set`
    /// ([`load_unshared_async`](crate::flight::load_unshared_async)).
    fn get_or_load<'a>(
        &'a self,
        key: &'a str,
        ttl: Ttl,
        loader: AsyncLoader<'a, V>,
    ) -> BoxFuture<'a, Result<V, CacheError>>
    where
        V: Clone + 'a,
    {
        Box::pin(crate::flight::load_unshared_async(self, key, ttl, loader))
    }
}

/// The closure-taking helpers of [`AsyncCache`], for every `AsyncCache` (trait objects
/// included): bring this trait into scope and call them as methods.
///
/// ```
/// use cache_core::{AsyncCache, AsyncCacheExt, CacheError, Ttl};
///
/// async fn price(cache: &dyn AsyncCache<u64>, item: &str) -> Result<u64, CacheError> {
///     cache
///         .try_get_or_insert_with(item, Ttl::Default, || async move {
///             item.len().checked_mul(100).map(|p| p as u64).ok_or("no price")
///         })
///         .await
/// }
/// ```
pub trait AsyncCacheExt<V: Send>: AsyncCache<V> {
    /// The live value under `key`, or else the value `init` resolves to, stored with `ttl`
    /// and returned (see [`AsyncCache::get_or_load`] for single flight).
    fn get_or_insert_with<'a, F, Fut>(
        &'a self,
        key: &'a str,
        ttl: Ttl,
        init: F,
    ) -> BoxFuture<'a, Result<V, CacheError>>
    where
        V: Clone + 'a,
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = V> + Send + 'a,
    {
        self.get_or_load(
            key,
            ttl,
            Box::new(move || Box::pin(async move { Ok(init().await) })),
        )
    }

    /// Like [`AsyncCacheExt::get_or_insert_with`] with a fallible loader: its error is
    /// returned as [`CacheError::Loader`] and nothing is stored.
    fn try_get_or_insert_with<'a, F, Fut, E>(
        &'a self,
        key: &'a str,
        ttl: Ttl,
        init: F,
    ) -> BoxFuture<'a, Result<V, CacheError>>
    where
        V: Clone + 'a,
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = Result<V, E>> + Send + 'a,
        E: Into<BoxError>,
    {
        self.get_or_load(
            key,
            ttl,
            Box::new(move || Box::pin(async move { init().await.map_err(Into::into) })),
        )
    }
}

impl<V: Send, C: AsyncCache<V> + ?Sized> AsyncCacheExt<V> for C {}

macro_rules! forward_async_cache {
    ($ptr:ident) => {
        /// Forwards every method to the shared cache, so `Arc<InMemoryCache<V>>` and
        /// `Box<dyn AsyncCache<V>>` are async caches too.
        impl<V: Send, C: AsyncCache<V> + ?Sized> AsyncCache<V> for $ptr<C> {
            fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<V>, CacheError>> {
                (**self).get(key)
            }
            fn set<'a>(
                &'a self,
                key: &'a str,
                value: V,
                ttl: Ttl,
            ) -> BoxFuture<'a, Result<bool, CacheError>> {
                (**self).set(key, value, ttl)
            }
            fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, CacheError>> {
                (**self).delete(key)
            }
            fn clear(&self) -> BoxFuture<'_, Result<(), CacheError>> {
                (**self).clear()
            }
            fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, CacheError>> {
                (**self).exists(key)
            }
            fn delete_pattern<'a>(
                &'a self,
                pattern: &'a str,
            ) -> BoxFuture<'a, Result<u64, CacheError>> {
                (**self).delete_pattern(pattern)
            }
            fn stats(&self) -> CacheStats {
                (**self).stats()
            }
            fn add<'a>(
                &'a self,
                key: &'a str,
                value: V,
                ttl: Ttl,
            ) -> BoxFuture<'a, Result<bool, CacheError>> {
                (**self).add(key, value, ttl)
            }
            fn incr<'a>(
                &'a self,
                key: &'a str,
                delta: i64,
            ) -> BoxFuture<'a, Result<i64, CacheError>>
            where
                V: CounterValue,
            {
                (**self).incr(key, delta)
            }
            fn decr<'a>(
                &'a self,
                key: &'a str,
                delta: i64,
            ) -> BoxFuture<'a, Result<i64, CacheError>>
            where
                V: CounterValue,
            {
                (**self).decr(key, delta)
            }
            fn touch<'a>(
                &'a self,
                key: &'a str,
                ttl: Ttl,
            ) -> BoxFuture<'a, Result<bool, CacheError>> {
                (**self).touch(key, ttl)
            }
            fn ttl<'a>(
                &'a self,
                key: &'a str,
            ) -> BoxFuture<'a, Result<Option<Option<Duration>>, CacheError>> {
                (**self).ttl(key)
            }
            fn get_many<'a>(
                &'a self,
                keys: &'a [&'a str],
            ) -> BoxFuture<'a, Result<Vec<Option<V>>, CacheError>> {
                (**self).get_many(keys)
            }
            fn set_many<'a>(
                &'a self,
                entries: Vec<(&'a str, V)>,
                ttl: Ttl,
            ) -> BoxFuture<'a, Result<(), CacheError>>
            where
                V: 'a,
            {
                (**self).set_many(entries, ttl)
            }
            fn delete_many<'a>(
                &'a self,
                keys: &'a [&'a str],
            ) -> BoxFuture<'a, Result<u64, CacheError>> {
                (**self).delete_many(keys)
            }
            fn get_or_load<'a>(
                &'a self,
                key: &'a str,
                ttl: Ttl,
                loader: AsyncLoader<'a, V>,
            ) -> BoxFuture<'a, Result<V, CacheError>>
            where
                V: Clone + 'a,
            {
                (**self).get_or_load(key, ttl, loader)
            }
        }
    };
}

forward_async_cache!(Arc);
forward_async_cache!(Box);
