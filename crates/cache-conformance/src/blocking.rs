//! The suite on the async API: [`OnRuntime`] is a blocking [`Cache`] over any [`AsyncCache`],
//! so [`conformance_tests!`](crate::conformance_tests) runs every case, and the model, against
//! a backend's async implementation (one suite, one model).
//!
//! Each method drives the async method's future to completion on an [`Executor`]: the calling
//! thread ([`ThreadPark`], no runtime) or a tokio runtime (feature `tokio`).
//!
//! ```
//! use cache_conformance::blocking::OnRuntime;
//! use cache_core::{Cache, Ttl};
//! use cache_memory::{AsyncInMemoryCache, InMemoryCache};
//!
//! // The in-memory cache's *async* API, as a blocking cache.
//! let cache = OnRuntime::new(AsyncInMemoryCache::new(InMemoryCache::<u32>::new(100, None)?));
//! cache.set("a", 1, Ttl::Never)?;
//! assert_eq!(cache.get("a")?, Some(1));
//! # Ok::<(), cache_core::CacheError>(())
//! ```

use std::future::Future;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use std::time::Duration;

use cache_core::{AsyncCache, Cache, CacheError, CacheStats, CounterValue, Loader, Ttl};

/// Runs a future to completion, blocking the calling thread; callable from many threads at
/// once.
///
/// ```
/// use cache_conformance::blocking::{Executor, ThreadPark};
///
/// assert_eq!(ThreadPark.block_on(async { 6 * 7 }), 42);
/// ```
pub trait Executor: Send + Sync {
    /// The future's output, once it completes.
    fn block_on<F: Future>(&self, future: F) -> F::Output;
}

/// An [`Executor`] without a runtime: polls the future on the calling thread and parks the
/// thread until it is woken. Enough for runtime-neutral caches (the in-memory one).
///
/// ```
/// use cache_conformance::blocking::{Executor, ThreadPark};
///
/// let ready = ThreadPark.block_on(std::future::ready("done"));
/// assert_eq!(ready, "done");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadPark;

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl Executor for ThreadPark {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            std::thread::park();
        }
    }
}

/// Runs each future on this runtime (the caller must not be one of its tasks).
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
impl Executor for tokio::runtime::Runtime {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        tokio::runtime::Runtime::block_on(self, future)
    }
}

/// Runs each future on the runtime of this handle (the caller must not be one of its tasks).
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
impl Executor for tokio::runtime::Handle {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        tokio::runtime::Handle::block_on(self, future)
    }
}

/// A blocking [`Cache`] over the [`AsyncCache`] `C`, each call driven on the executor `R`.
///
/// Every method is one line: the async method's future, run to completion. A loader of
/// `get_or_load` (and so `get_or_insert_with`) runs on the calling thread (it need not be `Send`) while the future
/// runs on a helper thread, so single flight is the async implementation's own.
///
/// ```
/// # #[cfg(feature = "tokio")] {
/// use cache_conformance::blocking::OnRuntime;
/// use cache_core::{CacheExt, Ttl};
/// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
///
/// let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
/// let async_cache = AsyncInMemoryCache::new(InMemoryCache::<u32>::new(100, None)?);
/// let cache = OnRuntime::with_executor(async_cache, runtime);
/// assert_eq!(cache.get_or_insert_with("a", Ttl::Never, || 7)?, 7);
/// # }
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[derive(Debug)]
pub struct OnRuntime<C, R = ThreadPark> {
    cache: C,
    executor: R,
}

impl<C> OnRuntime<C> {
    /// `cache`, with each call driven on the calling thread ([`ThreadPark`]).
    ///
    /// ```
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let cache = cache_conformance::blocking::OnRuntime::new(AsyncInMemoryCache::new(
    ///     InMemoryCache::<u8>::new(10, None)?,
    /// ));
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn new(cache: C) -> Self {
        OnRuntime {
            cache,
            executor: ThreadPark,
        }
    }
}

impl<C, R> OnRuntime<C, R> {
    /// `cache`, with each call driven on `executor`.
    ///
    /// ```
    /// use cache_conformance::blocking::{OnRuntime, ThreadPark};
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    ///
    /// let async_cache = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = OnRuntime::with_executor(async_cache, ThreadPark);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn with_executor(cache: C, executor: R) -> Self {
        OnRuntime { cache, executor }
    }

    /// The async cache inside.
    ///
    /// ```
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let cache = cache_conformance::blocking::OnRuntime::new(AsyncInMemoryCache::new(
    ///     InMemoryCache::<u8>::new(10, None)?,
    /// ));
    /// assert_eq!(cache.inner().blocking().capacity(), 10);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn inner(&self) -> &C {
        &self.cache
    }
}

impl<V, C, R> Cache<V> for OnRuntime<C, R>
where
    V: Send,
    C: AsyncCache<V>,
    R: Executor,
{
    fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        self.executor.block_on(self.cache.get(key))
    }
    fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        self.executor.block_on(self.cache.set(key, value, ttl))
    }
    fn delete(&self, key: &str) -> Result<bool, CacheError> {
        self.executor.block_on(self.cache.delete(key))
    }
    fn clear(&self) -> Result<(), CacheError> {
        self.executor.block_on(self.cache.clear())
    }
    fn exists(&self, key: &str) -> Result<bool, CacheError> {
        self.executor.block_on(self.cache.exists(key))
    }
    fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        self.executor.block_on(self.cache.delete_pattern(pattern))
    }
    fn add(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        self.executor.block_on(self.cache.add(key, value, ttl))
    }
    fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        self.executor.block_on(self.cache.incr(key, delta))
    }
    fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        self.executor.block_on(self.cache.decr(key, delta))
    }
    fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        self.executor.block_on(self.cache.touch(key, ttl))
    }
    fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        self.executor.block_on(self.cache.ttl(key))
    }
    fn stats(&self) -> CacheStats {
        self.cache.stats()
    }
    fn get_stats(&self) -> CacheStats {
        self.cache.get_stats()
    }
    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<V>>, CacheError> {
        self.executor.block_on(self.cache.get_many(keys))
    }
    fn set_many(&self, entries: Vec<(&str, V)>, ttl: Ttl) -> Result<(), CacheError> {
        self.executor.block_on(self.cache.set_many(entries, ttl))
    }
    fn delete_many(&self, keys: &[&str]) -> Result<u64, CacheError> {
        self.executor.block_on(self.cache.delete_many(keys))
    }

    fn get_or_load(&self, key: &str, ttl: Ttl, loader: Loader<'_, V>) -> Result<V, CacheError>
    where
        V: Clone,
    {
        std::thread::scope(|s| {
            // The async loader asks this thread to run `loader` and waits for the answer (blocking
            // only the helper thread that drives the future).
            let (ask, asked) = mpsc::channel::<()>();
            let (answer, answered) = mpsc::sync_channel(1);
            let loading = s.spawn(move || {
                self.executor.block_on(self.cache.get_or_load(
                    key,
                    ttl,
                    Box::new(move || {
                        Box::pin(async move {
                            ask.send(()).map_err(|_| "the caller went away")?;
                            answered.recv().map_err(|_| "the loader panicked")?
                        })
                    }),
                ))
            });
            if asked.recv().is_ok() {
                answer
                    .send(loader.load())
                    .expect("the loader waits for its answer");
            }
            loading
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}
