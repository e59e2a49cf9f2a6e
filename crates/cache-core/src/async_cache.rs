//! [`AsyncCache`]: every operation of [`Cache`](crate::Cache) as a future, for async services.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::{BoxError, CacheError, CacheStats, CounterValue, Ttl};

/// A boxed, `Send` future borrowing for `'a`: what an [`AsyncLoader`] returns, and what a
/// [`CacheFuture`] that has to wait holds.
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

/// The future every [`AsyncCache`] method returns: `.await` it like any other.
///
/// It is one concrete type, so the trait stays object-safe (`Arc<dyn AsyncCache<V>>`), and
/// it is one of three things, none of which the caller needs to tell apart:
/// - **a blocking `get`** ([`CacheFuture::get_from`]): a cache that answers without waiting
///   (the in-memory one) runs its `get` at the first poll and the value comes straight back;
///   nothing is allocated, and awaiting it costs what the blocking call does.
/// - **ready** ([`CacheFuture::ready`]): the backend did the work during the call, without
///   waiting on anything (the in-memory writes), and the future holds the answer; nothing is
///   allocated.
/// - **boxed** ([`CacheFuture::boxed`]): a [`BoxFuture`], for backends that wait on I/O (file,
///   Redis), doing nothing until first polled.
///
/// So an operation may happen during the call or at the first poll: await each future before
/// relying on what it did. Dropping one before it completes may leave a write done or not
/// done, never half done. It is `Send` and `Unpin` (poll it through `&mut` without pinning);
/// like any future, it must not be polled again once it returned its output (it may panic,
/// or run the `get` again).
///
/// ```
/// use cache_core::CacheFuture;
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::sync::Arc;
/// use std::task::{Context, Poll, Wake, Waker};
///
/// struct Nobody;
/// impl Wake for Nobody {
///     fn wake(self: Arc<Self>) {}
/// }
/// let waker = Waker::from(Arc::new(Nobody));
/// let mut cx = Context::from_waker(&waker);
/// let mut ready = CacheFuture::ready(7);
/// assert!(ready.is_ready());
/// assert_eq!(Pin::new(&mut ready).poll(&mut cx), Poll::Ready(7));
///
/// let mut boxed = CacheFuture::boxed(async { 8 });
/// assert!(!boxed.is_ready());
/// assert_eq!(Pin::new(&mut boxed).poll(&mut cx), Poll::Ready(8));
/// ```
#[must_use = "a CacheFuture's result (its error included) is only seen when it is awaited"]
pub struct CacheFuture<'a, T>(Inner<'a, T>);

enum Inner<'a, T> {
    /// The output, until the first poll takes it.
    Ready(Option<T>),
    /// A blocking cache's `get` of a key, run at the first poll.
    Get(&'a (dyn GetNow<T> + 'a), &'a str),
    Boxed(BoxFuture<'a, T>),
}

/// The `get` of a blocking cache, with its output type as the parameter (so that
/// [`CacheFuture`] can hold one without naming the value type).
trait GetNow<T>: Sync {
    fn get_now(&self, key: &str) -> T;
}

impl<V, C: crate::Cache<V> + ?Sized> GetNow<Result<Option<V>, CacheError>> for C {
    fn get_now(&self, key: &str) -> Result<Option<V>, CacheError> {
        self.get(key)
    }
}

impl<'a, T> CacheFuture<'a, T> {
    /// A future already holding its output: no allocation, the first poll returns `value`.
    ///
    /// ```
    /// let f = cache_core::CacheFuture::ready(Ok::<u8, cache_core::CacheError>(1));
    /// # let _ = f;
    /// ```
    #[inline]
    pub fn ready(value: T) -> Self {
        CacheFuture(Inner::Ready(Some(value)))
    }

    /// `future`, boxed (one allocation): for an operation that has to wait.
    ///
    /// ```
    /// let f = cache_core::CacheFuture::boxed(async { 2 + 2 });
    /// # let _ = f;
    /// ```
    pub fn boxed(future: impl Future<Output = T> + Send + 'a) -> Self {
        CacheFuture(Inner::Boxed(Box::pin(future)))
    }

    /// Whether this future holds its output already (built by [`CacheFuture::ready`] and
    /// not polled yet).
    ///
    /// ```
    /// assert!(cache_core::CacheFuture::ready(()).is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        matches!(self.0, Inner::Ready(Some(_)))
    }
}

const POLLED_AFTER_OUTPUT: &str = "a CacheFuture polled after it returned its output";

impl<'a, V> CacheFuture<'a, Result<Option<V>, CacheError>> {
    /// The [`get`](crate::Cache::get) of a blocking cache that answers without waiting (the
    /// in-memory one), run at the first poll: no allocation, and the value is returned
    /// straight from `cache.get(key)`, so awaiting it costs about what the blocking call
    /// does.
    ///
    /// ```
    /// use cache_core::{Cache, CacheError, CacheFuture};
    ///
    /// // What an `AsyncCache::get` of a cache that never waits on I/O can return.
    /// fn get<'a, C: Cache<u8>>(cache: &'a C, key: &'a str) -> CacheFuture<'a, Result<Option<u8>, CacheError>> {
    ///     CacheFuture::get_from(cache, key)
    /// }
    /// ```
    pub fn get_from<C: crate::Cache<V>>(cache: &'a C, key: &'a str) -> Self {
        CacheFuture(Inner::Get(cache, key))
    }
}

impl<'a, T> From<BoxFuture<'a, T>> for CacheFuture<'a, T> {
    /// A future that is boxed already, without boxing it again.
    ///
    /// ```
    /// use cache_core::{BoxFuture, CacheFuture};
    /// let boxed: BoxFuture<'_, u8> = Box::pin(async { 1 });
    /// let f: CacheFuture<'_, u8> = boxed.into();
    /// # let _ = f;
    /// ```
    fn from(future: BoxFuture<'a, T>) -> Self {
        CacheFuture(Inner::Boxed(future))
    }
}

impl<T> Future for CacheFuture<'_, T> {
    type Output = T;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        match &mut this.0 {
            Inner::Ready(value) => Poll::Ready(value.take().expect(POLLED_AFTER_OUTPUT)),
            // The output is written once, straight into the poll's result.
            Inner::Get(cache, key) => Poll::Ready(cache.get_now(key)),
            Inner::Boxed(future) => future.as_mut().poll(cx),
        }
    }
}

// The output is moved out, never pinned; the boxed future is pinned on the heap.
impl<T> Unpin for CacheFuture<'_, T> {}

impl<T> fmt::Debug for CacheFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Inner::Ready(Some(_)) => "CacheFuture::Ready",
            Inner::Get(..) => "CacheFuture::Get",
            Inner::Boxed(_) => "CacheFuture::Boxed",
            Inner::Ready(None) => "CacheFuture::Done",
        })
    }
}

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
/// counting and errors (see the [crate docs](crate)), each returning a [`CacheFuture`].
///
/// - Object-safe: hold an `Arc<dyn AsyncCache<V>>` and switch backends without edits.
/// - Runtime-neutral: this crate depends on no runtime. The in-memory backend runs every
///   operation inline (a short lock, never a wait on I/O) and its single flight awaits
///   without parking a thread; the file and Redis backends run on tokio behind their `tokio`
///   feature.
/// - No allocation where none is needed: each method returns a [`CacheFuture`]. The
///   in-memory backend's `get` runs at the first poll and returns its value straight back
///   (as fast as the blocking `get`), its other operations run during the call and hold
///   their answer; the file and Redis backends return a boxed future that starts at its
///   first poll. Await each future before relying on what it did; dropping one before it
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
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<Option<V>, CacheError>>;

    /// [`Cache::set`](crate::Cache::set), asynchronously. The TTL is a [`Ttl`] here; the
    /// concrete async caches also take any `impl Into<Ttl>` (see
    /// [Passing a TTL](crate#passing-a-ttl)).
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>>;

    /// [`Cache::delete`](crate::Cache::delete), asynchronously.
    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>>;

    /// [`Cache::clear`](crate::Cache::clear), asynchronously.
    fn clear(&self) -> CacheFuture<'_, Result<(), CacheError>>;

    /// [`Cache::exists`](crate::Cache::exists), asynchronously.
    fn exists<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>>;

    /// [`Cache::delete_pattern`](crate::Cache::delete_pattern), asynchronously.
    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> CacheFuture<'a, Result<u64, CacheError>>;

    /// [`Cache::stats`](crate::Cache::stats): a snapshot of this instance's counters, kept in
    /// memory by every backend, so not a future.
    fn stats(&self) -> CacheStats;

    /// [`Cache::add`](crate::Cache::add), asynchronously: stores only if no live entry exists.
    fn add<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>>;

    /// [`Cache::incr`](crate::Cache::incr), asynchronously: on caches of `i64`
    /// ([`CounterValue`]).
    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue;

    /// [`Cache::decr`](crate::Cache::decr), asynchronously: `count - delta`. The provided
    /// body is [`AsyncCache::incr`] with `-delta`, which reports `i64::MIN` as an overflow;
    /// this workspace's backends override it with a subtraction.
    fn decr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        match delta.checked_neg() {
            Some(up) => self.incr(key, up),
            None => CacheFuture::ready(Err(CacheError::counter_overflow(key, delta))),
        }
    }

    /// [`Cache::touch`](crate::Cache::touch), asynchronously: a new TTL for the live entry.
    fn touch<'a>(&'a self, key: &'a str, ttl: Ttl) -> CacheFuture<'a, Result<bool, CacheError>>;

    /// [`Cache::ttl`](crate::Cache::ttl), asynchronously: the time the live entry has left.
    #[allow(clippy::type_complexity)]
    fn ttl<'a>(
        &'a self,
        key: &'a str,
    ) -> CacheFuture<'a, Result<Option<Option<Duration>>, CacheError>>;

    /// Same as [`AsyncCache::stats`], under the name some users know it by.
    fn get_stats(&self) -> CacheStats {
        self.stats()
    }

    /// [`Cache::get_many`](crate::Cache::get_many), asynchronously.
    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
    ) -> CacheFuture<'a, Result<Vec<Option<V>>, CacheError>> {
        CacheFuture::boxed(async move {
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
    ) -> CacheFuture<'a, Result<(), CacheError>>
    where
        V: 'a,
    {
        CacheFuture::boxed(async move {
            for (key, value) in entries {
                self.set(key, value, ttl).await?;
            }
            Ok(())
        })
    }

    /// [`Cache::delete_many`](crate::Cache::delete_many), asynchronously.
    fn delete_many<'a>(&'a self, keys: &'a [&'a str]) -> CacheFuture<'a, Result<u64, CacheError>> {
        CacheFuture::boxed(async move {
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
    ) -> CacheFuture<'a, Result<V, CacheError>>
    where
        V: Clone + 'a,
    {
        CacheFuture::boxed(crate::flight::load_unshared_async(self, key, ttl, loader))
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
    /// (any `impl Into<Ttl>`: a [`Ttl`], a `Duration`, an `Option<Duration>`) and returned
    /// (see [`AsyncCache::get_or_load`] for single flight).
    fn get_or_insert_with<'a, F, Fut>(
        &'a self,
        key: &'a str,
        ttl: impl Into<Ttl>,
        init: F,
    ) -> CacheFuture<'a, Result<V, CacheError>>
    where
        V: Clone + 'a,
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = V> + Send + 'a,
    {
        self.get_or_load(
            key,
            ttl.into(),
            Box::new(move || Box::pin(async move { Ok(init().await) })),
        )
    }

    /// Like [`AsyncCacheExt::get_or_insert_with`] with a fallible loader: its error is
    /// returned as [`CacheError::Loader`] and nothing is stored.
    fn try_get_or_insert_with<'a, F, Fut, E>(
        &'a self,
        key: &'a str,
        ttl: impl Into<Ttl>,
        init: F,
    ) -> CacheFuture<'a, Result<V, CacheError>>
    where
        V: Clone + 'a,
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = Result<V, E>> + Send + 'a,
        E: Into<BoxError>,
    {
        self.get_or_load(
            key,
            ttl.into(),
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
            fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<Option<V>, CacheError>> {
                (**self).get(key)
            }
            fn set<'a>(
                &'a self,
                key: &'a str,
                value: V,
                ttl: Ttl,
            ) -> CacheFuture<'a, Result<bool, CacheError>> {
                (**self).set(key, value, ttl)
            }
            fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
                (**self).delete(key)
            }
            fn clear(&self) -> CacheFuture<'_, Result<(), CacheError>> {
                (**self).clear()
            }
            fn exists<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
                (**self).exists(key)
            }
            fn delete_pattern<'a>(
                &'a self,
                pattern: &'a str,
            ) -> CacheFuture<'a, Result<u64, CacheError>> {
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
            ) -> CacheFuture<'a, Result<bool, CacheError>> {
                (**self).add(key, value, ttl)
            }
            fn incr<'a>(
                &'a self,
                key: &'a str,
                delta: i64,
            ) -> CacheFuture<'a, Result<i64, CacheError>>
            where
                V: CounterValue,
            {
                (**self).incr(key, delta)
            }
            fn decr<'a>(
                &'a self,
                key: &'a str,
                delta: i64,
            ) -> CacheFuture<'a, Result<i64, CacheError>>
            where
                V: CounterValue,
            {
                (**self).decr(key, delta)
            }
            fn touch<'a>(
                &'a self,
                key: &'a str,
                ttl: Ttl,
            ) -> CacheFuture<'a, Result<bool, CacheError>> {
                (**self).touch(key, ttl)
            }
            fn ttl<'a>(
                &'a self,
                key: &'a str,
            ) -> CacheFuture<'a, Result<Option<Option<Duration>>, CacheError>> {
                (**self).ttl(key)
            }
            fn get_many<'a>(
                &'a self,
                keys: &'a [&'a str],
            ) -> CacheFuture<'a, Result<Vec<Option<V>>, CacheError>> {
                (**self).get_many(keys)
            }
            fn set_many<'a>(
                &'a self,
                entries: Vec<(&'a str, V)>,
                ttl: Ttl,
            ) -> CacheFuture<'a, Result<(), CacheError>>
            where
                V: 'a,
            {
                (**self).set_many(entries, ttl)
            }
            fn delete_many<'a>(
                &'a self,
                keys: &'a [&'a str],
            ) -> CacheFuture<'a, Result<u64, CacheError>> {
                (**self).delete_many(keys)
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
                (**self).get_or_load(key, ttl, loader)
            }
        }
    };
}

forward_async_cache!(Arc);
forward_async_cache!(Box);
