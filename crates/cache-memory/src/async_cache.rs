//! `AsyncCache` for `InMemoryCache`: every operation runs inline (a short shard lock, never
//! a wait on I/O), and `get_or_load` has an async single flight that parks no thread.
//!
//! The flights live in one table beside the shards, locked briefly (table, then shard; never
//! the other way round). Whether a key is cached and whether a load of it is running are
//! decided under the table lock, and a loader stores its value and leaves the table under the
//! same lock, so no miss can slip between a finished load and its stored value.
//!
//! A flight ends in one of three ways: the value (waiters return a clone of it), the loader's
//! error (waiters return the same `Arc` in their [`CacheError::Loader`], as the blocking
//! flights do), or abandoned, when the loading
//! future was dropped before it finished (the task was cancelled or timed out): the waiters
//! wake, and the first to take the table lock loads with its own loader while the others
//! wait for it.

use std::collections::HashMap;
use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use cache_core::flight::{landed, Landing};
use cache_core::{
    AsyncCache, AsyncLoader, Cache, CacheError, CacheFuture, CacheStats, CounterValue, Ttl,
};

use crate::InMemoryCache;

/// The loads in progress, by key.
pub(crate) struct Flights<V> {
    table: Mutex<HashMap<Box<str>, Arc<Flight<V>>>>,
}

impl<V> Flights<V> {
    pub(crate) fn new() -> Self {
        Flights {
            table: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, Arc<Flight<V>>>> {
        crate::lock(&self.table)
    }
}

/// One load in progress: its outcome once known, and the wakers of the tasks awaiting it.
struct Flight<V> {
    state: Mutex<FlightState<V>>,
}

struct FlightState<V> {
    outcome: Option<Landing<V>>,
    /// One slot per waiter (`None` once that waiter went away).
    wakers: Vec<Option<Waker>>,
}

impl<V> Flight<V> {
    fn new() -> Self {
        Flight {
            state: Mutex::new(FlightState {
                outcome: None,
                wakers: Vec::new(),
            }),
        }
    }

    fn finish(&self, outcome: Landing<V>) {
        let wakers = {
            let mut state = crate::lock(&self.state);
            state.outcome = Some(outcome);
            std::mem::take(&mut state.wakers)
        };
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }
}

/// A waiter: resolves to the flight's outcome.
struct Wait<'f, V> {
    flight: &'f Flight<V>,
    slot: Option<usize>,
}

impl<V: Clone> Future for Wait<'_, V> {
    type Output = Landing<V>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Landing<V>> {
        let mut state = crate::lock(&self.flight.state);
        if let Some(landing) = &state.outcome {
            return Poll::Ready(landing.clone());
        }
        match self.slot {
            Some(i) => match &mut state.wakers[i] {
                Some(w) if w.will_wake(cx.waker()) => {}
                other => *other = Some(cx.waker().clone()),
            },
            None => {
                state.wakers.push(Some(cx.waker().clone()));
                let i = state.wakers.len() - 1;
                drop(state);
                self.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl<V> Drop for Wait<'_, V> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            if let Some(w) = crate::lock(&self.flight.state).wakers.get_mut(i) {
                *w = None;
            }
        }
    }
}

/// Ends a flight as abandoned unless the load completed, so that waiters never wait on a
/// loading future that was dropped (or panicked).
struct LoadGuard<'a, V> {
    flights: &'a Flights<V>,
    key: &'a str,
    flight: Arc<Flight<V>>,
    done: bool,
}

impl<V> LoadGuard<'_, V> {
    /// Removes the flight from the table (if it is still this one); `and_then` runs under the
    /// table lock.
    fn leave(&self, and_then: impl FnOnce()) {
        let mut table = self.flights.lock();
        and_then();
        if table
            .get(self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            table.remove(self.key);
        }
    }
}

impl<V> Drop for LoadGuard<'_, V> {
    fn drop(&mut self) {
        if !self.done {
            self.leave(|| {});
            self.flight.finish(Landing::Abandoned);
        }
    }
}

/// The in-memory cache as an [`AsyncCache`]: each operation runs when its future is first
/// polled, under the same short shard lock as the blocking call, so it never blocks a
/// runtime's worker for long and needs no runtime. `get_or_load` is single flight: tasks
/// that miss while a load of the same key runs await its outcome (no thread is parked).
///
/// Blocking and async single flights are separate: a blocking `get_or_insert_with` and an
/// async one of the same key at the same time may each run their loader once.
///
/// ```
/// use cache_core::{AsyncCache, AsyncCacheExt, Ttl};
/// use cache_memory::InMemoryCache;
/// use std::sync::Arc;
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     struct Unpark(std::thread::Thread);
/// #     impl std::task::Wake for Unpark { fn wake(self: Arc<Self>) { self.0.unpark() } }
/// #     let waker = Arc::new(Unpark(std::thread::current())).into();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } std::thread::park(); }
/// # }
/// let cache: Arc<dyn AsyncCache<String>> = Arc::new(InMemoryCache::new(1_000, None)?);
/// block_on(async {
///     cache.set("a", "1".to_string(), Ttl::Never).await?;
///     assert_eq!(cache.get("a").await?.as_deref(), Some("1"));
///     let b = cache.get_or_insert_with("b", Ttl::Never, || async { "2".to_string() }).await?;
///     assert_eq!(b, "2");
///     Ok::<(), cache_core::CacheError>(())
/// })?;
/// # Ok::<(), cache_core::CacheError>(())
/// ```
impl<V: Clone + Send + Sync + 'static> AsyncCache<V> for InMemoryCache<V> {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<Option<V>, CacheError>> {
        CacheFuture::boxed(async move { Cache::get(self, key) })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(async move { Cache::set(self, key, value, ttl) })
    }

    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(async move { Cache::delete(self, key) })
    }

    fn clear(&self) -> CacheFuture<'_, Result<(), CacheError>> {
        CacheFuture::boxed(async move { Cache::clear(self) })
    }

    fn exists<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(async move { Cache::exists(self, key) })
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> CacheFuture<'a, Result<u64, CacheError>> {
        CacheFuture::boxed(async move { Cache::delete_pattern(self, pattern) })
    }

    fn stats(&self) -> CacheStats {
        Cache::stats(self)
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(async move { Cache::add(self, key, value, ttl) })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        CacheFuture::boxed(async move { Cache::incr(self, key, delta) })
    }

    fn touch<'a>(&'a self, key: &'a str, ttl: Ttl) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(async move { Cache::touch(self, key, ttl) })
    }

    fn ttl<'a>(
        &'a self,
        key: &'a str,
    ) -> CacheFuture<'a, Result<Option<Option<Duration>>, CacheError>> {
        CacheFuture::boxed(async move { Cache::ttl(self, key) })
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
    ) -> CacheFuture<'a, Result<Vec<Option<V>>, CacheError>> {
        CacheFuture::boxed(async move { Cache::get_many(self, keys) })
    }

    fn set_many<'a>(
        &'a self,
        entries: Vec<(&'a str, V)>,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<(), CacheError>>
    where
        V: 'a,
    {
        CacheFuture::boxed(async move { Cache::set_many(self, entries, ttl) })
    }

    fn delete_many<'a>(&'a self, keys: &'a [&'a str]) -> CacheFuture<'a, Result<u64, CacheError>> {
        CacheFuture::boxed(async move { Cache::delete_many(self, keys) })
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
        CacheFuture::boxed(async move {
            if self.single_flight {
                return self.load_once(key, ttl, loader).await;
            }
            // `single_flight(false)`: each call loads on its own, as the blocking one does.
            cache_core::flight::load_unshared_async(self, key, ttl, loader).await
        })
    }
}

impl<V: Clone + Send + Sync + 'static> InMemoryCache<V> {
    async fn load_once(
        &self,
        key: &str,
        ttl: Ttl,
        loader: AsyncLoader<'_, V>,
    ) -> Result<V, CacheError> {
        loop {
            // A hit takes no lock but its shard's.
            if let Some(v) = Cache::get(self, key)? {
                return Ok(v);
            }
            let running = {
                let mut table = self.async_flights.lock();
                match table.get(key) {
                    Some(flight) => Err(Arc::clone(flight)),
                    // A load that ended since our miss has stored its value: a peek finds it
                    // without counting a second miss (a hit is counted when it is read).
                    None if Cache::exists(self, key)? => continue,
                    None => {
                        let flight = Arc::new(Flight::new());
                        table.insert(key.into(), Arc::clone(&flight));
                        Ok(flight)
                    }
                }
            };
            let flight = match running {
                Err(flight) => {
                    let wait = Wait {
                        flight: &flight,
                        slot: None,
                    };
                    match landed(key, wait.await) {
                        Some(result) => return result,
                        // The loading task went away: start over, perhaps as the loader.
                        None => continue,
                    }
                }
                Ok(flight) => flight,
            };
            let mut guard = LoadGuard {
                flights: &self.async_flights,
                key,
                flight,
                done: false,
            };
            let result = loader().await;
            guard.done = true;
            return match result {
                Ok(value) => {
                    let mut stored = Ok(true);
                    guard.leave(|| stored = Cache::set(self, key, value.clone(), ttl));
                    match stored {
                        Ok(_) => guard.flight.finish(Landing::Value(value.clone())),
                        Err(_) => guard.flight.finish(Landing::Abandoned),
                    }
                    stored.map(|_| value)
                }
                Err(source) => {
                    guard.leave(|| {});
                    let source: Arc<dyn Error + Send + Sync> = Arc::from(source);
                    guard.flight.finish(Landing::Failed(Arc::clone(&source)));
                    Err(CacheError::loader(key, source))
                }
            };
        }
    }
}
