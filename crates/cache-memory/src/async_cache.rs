//! `AsyncInMemoryCache`, the async face of an `InMemoryCache`: no operation waits on I/O (a short shard lock), so none
//! allocates a future: `get` is [`CacheFuture::get_from`] (the blocking `get`, run at the
//! first poll, as fast as calling it), the other operations run during the call and return
//! a ready [`CacheFuture`]; `get_or_load` has a single flight that parks no thread.
//!
//! The async `get_or_load` shares the blocking one's flights (in the shards, under the shard
//! locks): a blocking and an async call of one key run one loader, whichever came first
//! leads, and the other waits for it, a thread parked, a task awaiting
//! ([`cache_core::flight::Flight`] serves both). The hit path and the decision to wait or to
//! lead happen during the call, under one shard lock; the loader runs, or the wait happens,
//! when the returned future is awaited.
//!
//! A flight ends in one of three ways: the value (waiters return a clone of it), the loader's
//! error (waiters return the same `Arc` in their [`CacheError::Loader`]), or abandoned, when
//! the loading future was dropped before it finished (the task was cancelled or timed out) or
//! the loader panicked: the waiters wake, and the first to take the shard lock leads the next
//! flight while the others wait for it.

use std::fmt;
use std::time::Duration;

use cache_core::flight::landed;
use cache_core::observe::Op;
use cache_core::{
    AsyncCache, AsyncLoader, Cache, CacheError, CacheFuture, CacheStats, CounterValue, Ttl,
};

use crate::key::Probe;
use crate::{InMemoryCache, Inner, Step};

/// An [`InMemoryCache`] as an [`AsyncCache`]: a handle on the same cache (same entries,
/// counters, flights and removal listener as the `InMemoryCache` it was made from, and as
/// every clone of either), for async code. Make one with [`AsyncInMemoryCache::new`] (or
/// `From`); [`blocking`](AsyncInMemoryCache::blocking) gives the blocking handle back, for
/// the operations that have no async form (`len`, `purge_expired`, ...).
///
/// Each operation takes the same short shard lock as the blocking one and allocates no
/// future (`get` runs at the first poll, the others during the call and return a ready
/// [`CacheFuture`]); it never blocks a runtime's worker for long and needs no runtime.
///
/// `get_or_load` is single flight, shared with the blocking `get_or_load`: callers that miss
/// while a load of the same key runs, blocking or async, wait for its outcome (a task awaits,
/// no thread is parked). A hit returns a ready future; after a miss the future is boxed.
///
/// It implements only [`AsyncCache`] (and `InMemoryCache` only [`Cache`]), so both traits
/// can be in scope at once; `set`, `add`, `touch` and `set_many` also take any
/// `impl Into<Ttl>` (see [Passing a TTL](cache_core#passing-a-ttl)).
///
/// ```
/// use cache_core::{AsyncCache, AsyncCacheExt, Ttl};
/// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     struct Unpark(std::thread::Thread);
/// #     impl std::task::Wake for Unpark { fn wake(self: Arc<Self>) { self.0.unpark() } }
/// #     let waker = Arc::new(Unpark(std::thread::current())).into();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } std::thread::park(); }
/// # }
/// let blocking = InMemoryCache::new(1_000, None)?;
/// let cache = AsyncInMemoryCache::new(blocking.clone());
/// block_on(async {
///     cache.set("a", "1".to_string(), Duration::from_secs(60)).await?;
///     assert_eq!(cache.get("a").await?.as_deref(), Some("1"));
///     let b = cache.get_or_insert_with("b", Ttl::Never, || async { "2".to_string() }).await?;
///     assert_eq!(b, "2");
///     Ok::<(), cache_core::CacheError>(())
/// })?;
/// assert_eq!(blocking.len(), 2); // the same cache
///
/// // Any backend, through the trait:
/// let shared: Arc<dyn AsyncCache<String>> = Arc::new(cache);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
pub struct AsyncInMemoryCache<V> {
    cache: InMemoryCache<V>,
}

impl<V> AsyncInMemoryCache<V> {
    /// The async face of `cache` (a handle on the same cache).
    ///
    /// ```
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let cache = AsyncInMemoryCache::new(InMemoryCache::<u32>::new(100, None)?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn new(cache: InMemoryCache<V>) -> Self {
        AsyncInMemoryCache { cache }
    }

    /// The blocking cache this one is a face of, for the operations that have no async form
    /// (`len`, `purge_expired`, `capacity`, ...) and for blocking code; clone it for a
    /// handle of its own.
    ///
    /// ```
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let cache = AsyncInMemoryCache::new(InMemoryCache::<u32>::new(100, None)?);
    /// assert_eq!(cache.blocking().capacity(), 100);
    /// assert!(cache.blocking().is_empty());
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn blocking(&self) -> &InMemoryCache<V> {
        &self.cache
    }
}

impl<V> Clone for AsyncInMemoryCache<V> {
    /// Another handle on the same cache.
    ///
    /// ```
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let cache = AsyncInMemoryCache::new(InMemoryCache::<u32>::new(100, None)?);
    /// let other = cache.clone();
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    fn clone(&self) -> Self {
        AsyncInMemoryCache {
            cache: self.cache.clone(),
        }
    }
}

impl<V> From<InMemoryCache<V>> for AsyncInMemoryCache<V> {
    /// [`AsyncInMemoryCache::new`].
    fn from(cache: InMemoryCache<V>) -> Self {
        AsyncInMemoryCache::new(cache)
    }
}

impl<V> fmt::Debug for AsyncInMemoryCache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncInMemoryCache")
            .field(&self.cache)
            .finish()
    }
}

/// The trait methods that take a TTL, taking any `impl Into<Ttl>`: named like them, these
/// are found first (see [Passing a TTL](cache_core#passing-a-ttl)); each forwards to
/// [`AsyncCache`]'s.
impl<V: Clone + Send + Sync + 'static> AsyncInMemoryCache<V> {
    /// [`AsyncCache::set`] with any `impl Into<Ttl>`: a [`Ttl`], a `Duration` or an
    /// `Option<Duration>` (`None`: never expires).
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use std::time::Duration;
    /// let cache = cache_memory::AsyncInMemoryCache::new(cache_memory::InMemoryCache::new(10, None)?);
    /// assert!(cache.set("a", 1u8, Duration::from_secs(60)).await?);
    /// assert!(cache.set("b", 2u8, None).await?);
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn set<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: impl Into<Ttl>,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        AsyncCache::set(self, key, value, ttl.into())
    }

    /// [`AsyncCache::add`] with any `impl Into<Ttl>`.
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use std::time::Duration;
    /// let cache = cache_memory::AsyncInMemoryCache::new(cache_memory::InMemoryCache::new(10, None)?);
    /// assert!(cache.add("lock", 1u8, Duration::from_secs(30)).await?);
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn add<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: impl Into<Ttl>,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        AsyncCache::add(self, key, value, ttl.into())
    }

    /// [`AsyncCache::touch`] with any `impl Into<Ttl>`.
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use std::time::Duration;
    /// let cache = cache_memory::AsyncInMemoryCache::<u8>::new(cache_memory::InMemoryCache::new(10, None)?);
    /// assert!(!cache.touch("gone", Duration::from_secs(30)).await?);
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn touch<'a>(
        &'a self,
        key: &'a str,
        ttl: impl Into<Ttl>,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        AsyncCache::touch(self, key, ttl.into())
    }

    /// [`AsyncCache::set_many`] with any `impl Into<Ttl>`.
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use std::time::Duration;
    /// let cache = cache_memory::AsyncInMemoryCache::new(cache_memory::InMemoryCache::new(10, None)?);
    /// cache.set_many(vec![("a", 1u8), ("b", 2)], Duration::from_secs(60)).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn set_many<'a>(
        &'a self,
        entries: Vec<(&'a str, V)>,
        ttl: impl Into<Ttl>,
    ) -> CacheFuture<'a, Result<(), CacheError>> {
        AsyncCache::set_many(self, entries, ttl.into())
    }
}

impl<V: Clone + Send + Sync + 'static> AsyncCache<V> for AsyncInMemoryCache<V> {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<Option<V>, CacheError>> {
        CacheFuture::get_from(&self.cache, key)
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::ready(Cache::set(&self.cache, key, value, ttl))
    }

    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::ready(Cache::delete(&self.cache, key))
    }

    fn clear(&self) -> CacheFuture<'_, Result<(), CacheError>> {
        CacheFuture::ready(Cache::clear(&self.cache))
    }

    fn exists<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::ready(Cache::exists(&self.cache, key))
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> CacheFuture<'a, Result<u64, CacheError>> {
        CacheFuture::ready(Cache::delete_pattern(&self.cache, pattern))
    }

    fn stats(&self) -> CacheStats {
        Cache::stats(&self.cache)
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::ready(Cache::add(&self.cache, key, value, ttl))
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        CacheFuture::ready(Cache::incr(&self.cache, key, delta))
    }

    fn decr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        CacheFuture::ready(Cache::decr(&self.cache, key, delta))
    }

    fn touch<'a>(&'a self, key: &'a str, ttl: Ttl) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::ready(Cache::touch(&self.cache, key, ttl))
    }

    fn ttl<'a>(
        &'a self,
        key: &'a str,
    ) -> CacheFuture<'a, Result<Option<Option<Duration>>, CacheError>> {
        CacheFuture::ready(Cache::ttl(&self.cache, key))
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
    ) -> CacheFuture<'a, Result<Vec<Option<V>>, CacheError>> {
        CacheFuture::ready(Cache::get_many(&self.cache, keys))
    }

    fn set_many<'a>(
        &'a self,
        entries: Vec<(&'a str, V)>,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<(), CacheError>>
    where
        V: 'a,
    {
        CacheFuture::ready(Cache::set_many(&self.cache, entries, ttl))
    }

    fn delete_many<'a>(&'a self, keys: &'a [&'a str]) -> CacheFuture<'a, Result<u64, CacheError>> {
        CacheFuture::ready(Cache::delete_many(&self.cache, keys))
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
        let inner = &*self.cache.inner;
        let op = inner.observe.op_async(Op::GetOrLoad, key);
        if !inner.single_flight {
            // Each call loads on its own, as the blocking one does.
            return CacheFuture::boxed(async move {
                op.loaded(
                    &inner.observe,
                    cache_core::flight::load_unshared_async(self, key, ttl, loader).await,
                )
            });
        }
        // The hit path is `get`'s; everything else is out of line.
        let probe = inner.probe(key);
        if let Some(v) = inner.shared_hit(probe) {
            return CacheFuture::ready(op.done(Ok(v)));
        }
        let mut shard = inner.shard(probe);
        if let Some(v) = shard.lookup(probe, &*inner.clock) {
            inner.notify(shard);
            return CacheFuture::ready(op.done(Ok(v)));
        }
        let step = inner.join_or_lead(shard, probe);
        CacheFuture::boxed(async move {
            op.loaded(&inner.observe, inner.fly(probe, ttl, step, loader).await)
        })
    }
}

impl<V: Clone + Send + Sync + 'static> Inner<V> {
    /// The async `get_or_load` after its miss: awaits the flight it joined, or runs the
    /// loader of the flight it leads; starts over (perhaps as the leader) when the flight it
    /// waited on was abandoned.
    async fn fly<'a>(
        &'a self,
        probe: Probe<'a>,
        ttl: Ttl,
        mut step: Step<'a, V>,
        loader: AsyncLoader<'a, V>,
    ) -> Result<V, CacheError> {
        loop {
            match step {
                Step::Join(running) => {
                    if let Some(result) = landed(probe.key, running.landing().await) {
                        return result;
                    }
                }
                Step::Lead(mut guard) => {
                    // Dropping this future while the loader runs drops the guard, which
                    // ends the flight as abandoned.
                    let loaded = loader().await;
                    return self.land(probe, ttl, &mut guard, loaded);
                }
            }
            step = match self.look_again(probe) {
                Ok(v) => return Ok(v),
                Err(step) => step,
            };
        }
    }
}
