//! Single flight: the pieces backends build `get_or_load` from, so that a loader runs once per
//! key however many callers miss at the same time, and the callers that waited share its
//! value or its error.
//!
//! - [`Flight`]: one load in progress that other threads wait on (blocking, [`Flight::wait`])
//!   or tasks await ([`Flight::landing`], no thread parked, no runtime needed), and how it
//!   ended ([`Landing`]).
//! - [`FlightGroup`]: the flights of one cache instance, by key, for backends without a lock
//!   of their own to register them under (the in-memory cache registers its flights under
//!   its shard locks instead). Threads ([`FlightGroup::run`]) and tasks
//!   ([`FlightGroup::run_async`]) of one instance share its flights: a task may wait for a
//!   thread's load and the other way round. A task that leads and is cancelled (its future
//!   dropped) abandons its flight, and one waiter leads the next.
//! - [`Backoff`]: the pauses of a caller polling another process's lock (file and Redis,
//!   blocking and async).
//! - [`RemoteLoaderError`]: a loader error that another process reported, by its message.
//! - [`load_unshared`] and [`load_unshared_async`]: `get`, load, `set`, with no single flight
//!   (what `single_flight(false)` and the provided [`Cache::get_or_load`] and
//!   [`AsyncCache::get_or_load`](crate::AsyncCache::get_or_load) do).
//! - [`hit_or_lead`] and [`hit_or_lead_async`]: the `get_or_load` of the file and Redis
//!   backends in one piece (unshared when single flight is off, else a hit returns, else
//!   lead or join the flight), each backend supplying only how to read and how to lead.
//!
//! Backends shared by processes (file, Redis) lead a flight in two steps: one caller per
//! key and instance leads ([`FlightGroup::lead_or_read`], or
//! [`FlightGroup::lead_or_read_async`] for their async caches), and that leader then takes
//! the key's lock across processes, which the backend owns (a lock file, a lock key). Only
//! one thread or task per process waits on that lock; the others wait in the group.
//!
//! ```
//! use cache_core::flight::FlightGroup;
//!
//! let group = FlightGroup::<u32>::new();
//! // One caller leads the flight of "k"; callers arriving meanwhile would wait for its result.
//! let v = group.run("k", || Ok(42))?;
//! assert_eq!(v, 42);
//! # Ok::<(), cache_core::CacheError>(())
//! ```

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::{AsyncLoader, BoxError, Cache, CacheError, Loader, Ttl};

/// How a flight ended.
///
/// ```
/// use cache_core::flight::Landing;
/// let l: Landing<u8> = Landing::Value(1);
/// assert!(matches!(l, Landing::Value(1)));
/// ```
#[non_exhaustive]
pub enum Landing<V> {
    /// The loader produced this value (and the leader stored it).
    Value(V),
    /// The loader failed with this error; the waiters return it.
    Failed(Arc<dyn Error + Send + Sync>),
    /// The leader gave up without a loader result (it panicked, or failed before or after
    /// the loader, as when reading or storing failed): the waiters start over, and one of
    /// them leads the next flight.
    Abandoned,
}

impl<V: Clone> Clone for Landing<V> {
    fn clone(&self) -> Self {
        match self {
            Landing::Value(v) => Landing::Value(v.clone()),
            Landing::Failed(e) => Landing::Failed(Arc::clone(e)),
            Landing::Abandoned => Landing::Abandoned,
        }
    }
}

impl<V> fmt::Debug for Landing<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Landing::Value(_) => f.write_str("Value(..)"),
            Landing::Failed(e) => write!(f, "Failed({e})"),
            Landing::Abandoned => f.write_str("Abandoned"),
        }
    }
}

/// One load in progress: the thread or task that runs it [`finish`](Flight::finish)es it,
/// the threads that found it running [`wait`](Flight::wait) for how it ended, and the tasks
/// await its [`landing`](Flight::landing).
///
/// ```
/// use cache_core::flight::{Flight, Landing};
/// use std::sync::Arc;
///
/// let flight = Arc::new(Flight::<String>::new());
/// let waiter = {
///     let flight = Arc::clone(&flight);
///     std::thread::spawn(move || flight.wait())
/// };
/// flight.finish(Landing::Value("loaded".to_string()));
/// assert!(matches!(waiter.join().unwrap(), Landing::Value(v) if v == "loaded"));
/// ```
pub struct Flight<V> {
    state: Mutex<FlightState<V>>,
    finished: Condvar,
}

struct FlightState<V> {
    landing: Option<Landing<V>>,
    /// The wakers of the tasks awaiting the landing, one slot per [`Arrival`] (`None` once
    /// it went away or was woken).
    wakers: Vec<Option<Waker>>,
}

impl<V> Default for Flight<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> fmt::Debug for Flight<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flight")
            .field("landing", &lock(&self.state).landing)
            .finish()
    }
}

/// Locks a mutex, ignoring poison: no critical section here runs user code.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<V> Flight<V> {
    /// A flight in progress.
    ///
    /// ```
    /// let flight = cache_core::flight::Flight::<u8>::new();
    /// flight.finish(cache_core::flight::Landing::Abandoned);
    /// ```
    pub fn new() -> Self {
        Flight {
            state: Mutex::new(FlightState {
                landing: None,
                wakers: Vec::new(),
            }),
            finished: Condvar::new(),
        }
    }

    /// Ends the flight and wakes its waiters, threads and tasks. Only the first call counts.
    ///
    /// ```
    /// use cache_core::flight::{Flight, Landing};
    /// let flight = Flight::new();
    /// flight.finish(Landing::Value(1u8));
    /// flight.finish(Landing::Value(2u8)); // ignored
    /// assert!(matches!(flight.wait(), Landing::Value(1)));
    /// ```
    pub fn finish(&self, landing: Landing<V>) {
        let mut state = lock(&self.state);
        if state.landing.is_none() {
            state.landing = Some(landing);
        }
        let wakers = std::mem::take(&mut state.wakers);
        drop(state);
        self.finished.notify_all();
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }
}

impl<V: Clone> Flight<V> {
    /// Blocks until the flight ends and returns how it ended.
    ///
    /// ```
    /// use cache_core::flight::{Flight, Landing};
    /// let flight = Flight::<u8>::new();
    /// flight.finish(Landing::Failed(std::sync::Arc::new(std::fmt::Error)));
    /// assert!(matches!(flight.wait(), Landing::Failed(_)));
    /// ```
    pub fn wait(&self) -> Landing<V> {
        let mut state = lock(&self.state);
        loop {
            if let Some(l) = &state.landing {
                return l.clone();
            }
            state = self
                .finished
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// How the flight ended, as a future: for tasks, which must not block their thread.
    /// It needs no runtime (it registers its task's waker, which [`Flight::finish`] wakes).
    ///
    /// ```
    /// use cache_core::flight::{Flight, Landing};
    /// use std::future::Future;
    /// use std::sync::Arc;
    /// use std::task::{Context, Poll, Wake, Waker};
    ///
    /// struct Nobody;
    /// impl Wake for Nobody {
    ///     fn wake(self: Arc<Self>) {}
    /// }
    /// let waker = Waker::from(Arc::new(Nobody));
    /// let flight = Flight::<u8>::new();
    /// let mut arrival = std::pin::pin!(flight.landing());
    /// let mut cx = Context::from_waker(&waker);
    /// assert!(arrival.as_mut().poll(&mut cx).is_pending());
    /// flight.finish(Landing::Value(5));
    /// assert!(matches!(arrival.poll(&mut cx), Poll::Ready(Landing::Value(5))));
    /// ```
    pub fn landing(&self) -> Arrival<'_, V> {
        Arrival {
            flight: self,
            slot: None,
        }
    }
}

/// The future of [`Flight::landing`]: resolves to how the flight ended.
///
/// ```
/// let flight = cache_core::flight::Flight::<u8>::new();
/// let arrival: cache_core::flight::Arrival<'_, u8> = flight.landing();
/// # drop(arrival);
/// ```
pub struct Arrival<'f, V> {
    flight: &'f Flight<V>,
    /// This waiter's slot in the flight's wakers, once it registered.
    slot: Option<usize>,
}

impl<V> fmt::Debug for Arrival<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arrival")
            .field("flight", self.flight)
            .finish()
    }
}

impl<V: Clone> Future for Arrival<'_, V> {
    type Output = Landing<V>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Landing<V>> {
        let mut state = lock(&self.flight.state);
        if let Some(landing) = &state.landing {
            return Poll::Ready(landing.clone());
        }
        match self.slot {
            // `finish` empties the list; a slot beyond it is this waiter's no more.
            Some(i) if i < state.wakers.len() => match &mut state.wakers[i] {
                Some(w) if w.will_wake(cx.waker()) => {}
                other => *other = Some(cx.waker().clone()),
            },
            _ => {
                state.wakers.push(Some(cx.waker().clone()));
                let i = state.wakers.len() - 1;
                drop(state);
                self.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl<V> Drop for Arrival<'_, V> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            if let Some(w) = lock(&self.flight.state).wakers.get_mut(i) {
                *w = None;
            }
        }
    }
}

/// What a waiter returns for a landing: the value, the shared error, or `None` to start over.
///
/// ```
/// use cache_core::flight::{landed, Landing};
/// assert_eq!(landed("k", Landing::Value(3u8)).unwrap().unwrap(), 3);
/// assert!(landed::<u8>("k", Landing::Abandoned).is_none());
/// ```
pub fn landed<V>(key: &str, landing: Landing<V>) -> Option<Result<V, CacheError>> {
    match landing {
        Landing::Value(v) => Some(Ok(v)),
        Landing::Failed(source) => Some(Err(CacheError::Loader {
            key: key.to_owned(),
            source,
        })),
        Landing::Abandoned => None,
    }
}

/// How a leader's result ends its flight for the waiters: a value is shared, a loader error
/// is shared, any other error (reading or storing failed) abandons the flight.
///
/// ```
/// use cache_core::{flight::{landing_of, Landing}, CacheError};
/// assert!(matches!(landing_of(&Ok::<u8, CacheError>(1)), Landing::Value(1)));
/// let io = CacheError::io("x", std::io::ErrorKind::Other.into());
/// assert!(matches!(landing_of::<u8>(&Err(io)), Landing::Abandoned));
/// ```
pub fn landing_of<V: Clone>(result: &Result<V, CacheError>) -> Landing<V> {
    match result {
        Ok(v) => Landing::Value(v.clone()),
        Err(CacheError::Loader { source, .. }) => Landing::Failed(Arc::clone(source)),
        Err(_) => Landing::Abandoned,
    }
}

/// The flights in progress of one cache instance, by key: [`FlightGroup::run`] lets one
/// caller per key lead and makes the others wait for its result.
///
/// ```
/// use cache_core::flight::FlightGroup;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let group = FlightGroup::<String>::new();
/// let runs = AtomicUsize::new(0);
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             group.run("k", || {
///                 runs.fetch_add(1, Ordering::SeqCst);
///                 Ok("v".to_string())
///             })
///         });
///     }
/// });
/// // Each run led a flight of its own or shared one: never more runs than callers.
/// assert!(runs.load(Ordering::SeqCst) <= 4);
/// ```
pub struct FlightGroup<V> {
    flights: Mutex<HashMap<Box<str>, Arc<Flight<V>>>>,
}

impl<V> Default for FlightGroup<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> fmt::Debug for FlightGroup<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlightGroup")
            .field("in_flight", &lock(&self.flights).len())
            .finish()
    }
}

impl<V> FlightGroup<V> {
    /// An empty group.
    ///
    /// ```
    /// let group = cache_core::flight::FlightGroup::<u8>::new();
    /// ```
    pub fn new() -> Self {
        FlightGroup {
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// How many flights are in progress (the `cache_loads_in_flight` gauge).
    ///
    /// ```
    /// assert_eq!(cache_core::flight::FlightGroup::<u8>::new().in_flight(), 0);
    /// ```
    pub fn in_flight(&self) -> usize {
        lock(&self.flights).len()
    }
}

impl<V: Clone> FlightGroup<V> {
    /// Runs `lead` as the flight of `key`, unless another caller's flight of `key` is in
    /// progress: then waits for it and returns its value or its loader error (shared).
    /// When that flight is abandoned (its leader panicked, or failed other than in the
    /// loader), the waiters start over and one of them leads. `lead` runs with no lock
    /// held; the flight ends (it leaves the group) before its waiters wake, so a call that
    /// starts after it leads a new one.
    ///
    /// ```
    /// use cache_core::{flight::FlightGroup, CacheError};
    /// let group = FlightGroup::<u8>::new();
    /// let err = group.run("k", || Err(CacheError::loader("k", Box::<dyn std::error::Error + Send + Sync>::from("down"))));
    /// assert!(err.is_err());
    /// assert_eq!(group.run("k", || Ok(1))?, 1, "the next call runs anew");
    /// # Ok::<(), CacheError>(())
    /// ```
    pub fn run(
        &self,
        key: &str,
        lead: impl FnOnce() -> Result<V, CacheError>,
    ) -> Result<V, CacheError> {
        loop {
            let (flight, leader) = self.join(key);
            if !leader {
                match landed(key, flight.wait()) {
                    Some(result) => return result,
                    None => continue,
                }
            }
            let mut guard = Leading {
                group: self,
                key,
                flight,
                landed: false,
            };
            let result = lead();
            guard.land(landing_of(&result));
            return result;
        }
    }

    /// [`FlightGroup::run`] for tasks: `lead` is awaited as the flight of `key`, unless a
    /// flight of `key` is in progress (led by a task or a thread of this instance): then its
    /// landing is awaited, with no thread parked and no runtime needed. If the leading task
    /// is cancelled (this future dropped while `lead` runs), its flight is abandoned: its
    /// waiters start over and one of them leads.
    ///
    /// ```
    /// use cache_core::{flight::FlightGroup, CacheError};
    /// async fn answer(group: &FlightGroup<u32>) -> Result<u32, CacheError> {
    ///     group.run_async("k", || async { Ok(42) }).await
    /// }
    /// ```
    pub async fn run_async<F, Fut>(&self, key: &str, lead: F) -> Result<V, CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, CacheError>>,
    {
        let mut lead = Some(lead);
        loop {
            let (flight, leader) = self.join(key);
            if !leader {
                match landed(key, flight.landing().await) {
                    Some(result) => return result,
                    None => continue,
                }
            }
            let mut guard = Leading {
                group: self,
                key,
                flight,
                landed: false,
            };
            let Some(lead) = lead.take() else {
                // Unreachable: a caller leads once, and leading ends its call.
                return Err(CacheError::loader(
                    key,
                    BoxError::from("the loader was already taken"),
                ));
            };
            let result = lead().await;
            guard.land(landing_of(&result));
            return result;
        }
    }

    /// The flight of `key` in progress, or a new one this caller leads (`true`).
    fn join(&self, key: &str) -> (Arc<Flight<V>>, bool) {
        let mut flights = lock(&self.flights);
        match flights.get(key) {
            Some(f) => (Arc::clone(f), false),
            None => {
                let f = Arc::new(Flight::new());
                flights.insert(key.into(), Arc::clone(&f));
                (f, true)
            }
        }
    }
}

impl FlightGroup<()> {
    /// Single flight for a backend that stores values serialized (one instance, many value
    /// types): the waiters of a flight do not receive the leader's value but `read` the entry
    /// it stored. The caller has already missed `key`.
    ///
    /// One caller per key runs `lead` with the loader; `lead` stores the value and returns
    /// it (or the loader's error, which the waiters share). A waiter whose `read` finds
    /// nothing (the value was stored with a zero TTL, removed meanwhile, or is of another
    /// type) leads a flight of its own.
    ///
    /// ```
    /// use cache_core::{flight::FlightGroup, CacheError, Loader};
    /// use std::sync::Mutex;
    ///
    /// let stored = Mutex::new(None::<String>);
    /// let group = FlightGroup::new();
    /// let mut slot = Some(|| Ok::<_, CacheError>("v".to_string()));
    /// let v = group.lead_or_read(
    ///     "k",
    ///     Loader::new(&mut slot),
    ///     || Ok(stored.lock().unwrap().clone()),
    ///     |loader| {
    ///         let v = loader.load().map_err(|e| CacheError::loader("k", e))?;
    ///         *stored.lock().unwrap() = Some(v.clone());
    ///         Ok(v)
    ///     },
    /// )?;
    /// assert_eq!(v, "v");
    /// # Ok::<(), CacheError>(())
    /// ```
    pub fn lead_or_read<'l, V>(
        &self,
        key: &str,
        loader: Loader<'l, V>,
        mut read: impl FnMut() -> Result<Option<V>, CacheError>,
        lead: impl FnOnce(Loader<'l, V>) -> Result<V, CacheError>,
    ) -> Result<V, CacheError> {
        let mut leading = Some((lead, loader));
        loop {
            let mut led = None;
            self.run(key, || {
                // Only the first lead runs: leading ends this call.
                let Some((lead, loader)) = leading.take() else {
                    return Err(CacheError::loader(
                        key,
                        BoxError::from("the loader was already taken"),
                    ));
                };
                led = Some(lead(loader)?);
                Ok(())
            })?;
            if let Some(v) = led {
                return Ok(v);
            }
            if let Some(v) = read()? {
                return Ok(v);
            }
        }
    }

    /// [`FlightGroup::lead_or_read`] for async caches: one task (or thread) per key leads,
    /// awaiting `lead` with the async loader; the tasks that waited `read` the entry it
    /// stored, or share its loader error. A leader cancelled mid-flight abandons it: one
    /// waiter leads with its own loader. The caller has already missed `key`.
    ///
    /// ```
    /// use cache_core::{flight::FlightGroup, AsyncLoader, CacheError};
    /// use std::sync::Mutex;
    ///
    /// async fn load(group: &FlightGroup<()>, stored: &Mutex<Option<u32>>) -> Result<u32, CacheError> {
    ///     let loader: AsyncLoader<'_, u32> = Box::new(|| Box::pin(async { Ok(7) }));
    ///     group
    ///         .lead_or_read_async(
    ///             "k",
    ///             loader,
    ///             || async { Ok(*stored.lock().unwrap()) },
    ///             |loader| async move {
    ///                 let v = loader().await.map_err(|e| CacheError::loader("k", e))?;
    ///                 *stored.lock().unwrap() = Some(v);
    ///                 Ok(v)
    ///             },
    ///         )
    ///         .await
    /// }
    /// ```
    pub async fn lead_or_read_async<'l, V, R, RFut, L, LFut>(
        &self,
        key: &str,
        loader: AsyncLoader<'l, V>,
        mut read: R,
        lead: L,
    ) -> Result<V, CacheError>
    where
        R: FnMut() -> RFut,
        RFut: Future<Output = Result<Option<V>, CacheError>>,
        L: FnOnce(AsyncLoader<'l, V>) -> LFut,
        LFut: Future<Output = Result<V, CacheError>>,
    {
        let mut leading = Some((lead, loader));
        loop {
            let mut led = None;
            let (slot, leading) = (&mut led, &mut leading);
            self.run_async(key, || async move {
                // Only the first lead runs: leading ends this call.
                let Some((lead, loader)) = leading.take() else {
                    return Err(CacheError::loader(
                        key,
                        BoxError::from("the loader was already taken"),
                    ));
                };
                *slot = Some(lead(loader).await?);
                Ok(())
            })
            .await?;
            if let Some(v) = led {
                return Ok(v);
            }
            if let Some(v) = read().await? {
                return Ok(v);
            }
        }
    }
}

/// The leader's hold on its flight: it ends the flight as [`Landing::Abandoned`] if the
/// leader unwinds, so that waiters never wait forever.
struct Leading<'a, V> {
    group: &'a FlightGroup<V>,
    key: &'a str,
    flight: Arc<Flight<V>>,
    landed: bool,
}

impl<V> Leading<'_, V> {
    fn land(&mut self, landing: Landing<V>) {
        {
            let mut flights = lock(&self.group.flights);
            if flights
                .get(self.key)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
            {
                flights.remove(self.key);
            }
        }
        self.flight.finish(landing);
        self.landed = true;
    }
}

impl<V> Drop for Leading<'_, V> {
    fn drop(&mut self) {
        if !self.landed {
            self.land(Landing::Abandoned);
        }
    }
}

/// The pauses of a caller that polls a lock another process holds (the Redis flight's lock
/// key, the file flight's lock file for async callers): 2 ms, doubling up to 50 ms, and
/// from 2 ms again when the lock changed hands. Blocking callers sleep them, async ones
/// await a timer: one schedule for both.
///
/// ```
/// use cache_core::flight::Backoff;
/// use std::time::Duration;
///
/// let mut backoff = Backoff::new();
/// assert_eq!(backoff.next_pause(), Duration::from_millis(2));
/// assert_eq!(backoff.next_pause(), Duration::from_millis(4));
/// for _ in 0..10 {
///     assert!(backoff.next_pause() <= Backoff::MAX);
/// }
/// backoff.reset();
/// assert_eq!(backoff.next_pause(), Backoff::FIRST);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// The first pause.
    pub const FIRST: Duration = Duration::from_millis(2);
    /// The longest pause.
    pub const MAX: Duration = Duration::from_millis(50);

    /// A schedule that starts at [`Backoff::FIRST`].
    ///
    /// ```
    /// let backoff = cache_core::flight::Backoff::new();
    /// ```
    pub fn new() -> Self {
        Backoff { next: Self::FIRST }
    }

    /// The pause to take now; the next one is twice as long, up to [`Backoff::MAX`].
    ///
    /// ```
    /// let mut backoff = cache_core::flight::Backoff::new();
    /// assert!(backoff.next_pause() < backoff.next_pause());
    /// ```
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (pause * 2).min(Self::MAX);
        pause
    }

    /// Starts over from [`Backoff::FIRST`] (the lock changed hands: a new holder may be quick).
    ///
    /// ```
    /// let mut backoff = cache_core::flight::Backoff::new();
    /// backoff.next_pause();
    /// backoff.reset();
    /// assert_eq!(backoff.next_pause(), cache_core::flight::Backoff::FIRST);
    /// ```
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// The error of a loader that ran in another process (or, for a shared server, on another
/// machine), known only by its message: what the waiters of that flight in other processes
/// receive as the source of [`CacheError::Loader`].
///
/// ```
/// use cache_core::flight::RemoteLoaderError;
/// let e = RemoteLoaderError::new("database down");
/// assert_eq!(e.to_string(), "database down");
/// assert_eq!(e.message(), "database down");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteLoaderError {
    message: String,
}

/// At most this many bytes of a loader's message are handed to other processes.
pub const MAX_REMOTE_MESSAGE: usize = 4096;

impl RemoteLoaderError {
    /// What other processes are told of `error`: its `Display`, cut to at most
    /// [`MAX_REMOTE_MESSAGE`] bytes (on a character boundary).
    ///
    /// ```
    /// use cache_core::flight::{RemoteLoaderError, MAX_REMOTE_MESSAGE};
    /// let long = std::io::Error::other("é".repeat(MAX_REMOTE_MESSAGE));
    /// let m = RemoteLoaderError::message_for(&long);
    /// assert!(m.len() <= MAX_REMOTE_MESSAGE && m.chars().all(|c| c == 'é'));
    /// ```
    pub fn message_for(error: &dyn Error) -> String {
        let mut message = error.to_string();
        let mut end = message.len().min(MAX_REMOTE_MESSAGE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message
    }

    /// An error with this message.
    ///
    /// ```
    /// let e = cache_core::flight::RemoteLoaderError::new("x");
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        RemoteLoaderError {
            message: message.into(),
        }
    }

    /// The [`CacheError::Loader`] of `key` with this error as its source: what a waiter in
    /// another process returns.
    ///
    /// ```
    /// let e = cache_core::flight::RemoteLoaderError::new("down").into_loader_error("k");
    /// assert_eq!(format!("{e:#}"), "the loader for key \"k\" failed: down");
    /// ```
    pub fn into_loader_error(self, key: &str) -> CacheError {
        let source: Arc<dyn Error + Send + Sync> = Arc::new(self);
        CacheError::loader(key, source)
    }

    /// The message of the original error (its `Display`), possibly cut short.
    ///
    /// ```
    /// assert_eq!(cache_core::flight::RemoteLoaderError::new("x").message(), "x");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RemoteLoaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for RemoteLoaderError {}

/// `get`, then the loader, then `set`: get-or-load with no single flight. The provided
/// [`Cache::get_or_load`] is this; backends call it when built with `single_flight(false)`.
///
/// ```
/// use cache_core::{flight::load_unshared, Cache, Loader, Ttl};
/// fn plain(cache: &dyn Cache<u8>) -> Result<u8, cache_core::CacheError> {
///     let mut slot = Some(|| Ok::<u8, std::io::Error>(1));
///     load_unshared(cache, "k", Ttl::Never, Loader::new(&mut slot))
/// }
/// ```
pub fn load_unshared<V: Clone, C: Cache<V> + ?Sized>(
    cache: &C,
    key: &str,
    ttl: Ttl,
    loader: Loader<'_, V>,
) -> Result<V, CacheError> {
    if let Some(v) = cache.get(key)? {
        return Ok(v);
    }
    let value = loader.load().map_err(|e| CacheError::loader(key, e))?;
    cache.set(key, value.clone(), ttl)?;
    Ok(value)
}

/// [`load_unshared`] for an [`AsyncCache`](crate::AsyncCache): `get`, then the async loader,
/// then `set`. The provided [`AsyncCache::get_or_load`](crate::AsyncCache::get_or_load) is
/// this; the backends call it when built with `single_flight(false)`.
///
/// ```
/// use cache_core::{flight::load_unshared_async, AsyncCache, CacheError, Ttl};
/// async fn plain(cache: &dyn AsyncCache<u8>) -> Result<u8, CacheError> {
///     load_unshared_async(cache, "k", Ttl::Never, Box::new(|| Box::pin(async { Ok(1) }))).await
/// }
/// ```
pub async fn load_unshared_async<V, C>(
    cache: &C,
    key: &str,
    ttl: Ttl,
    loader: crate::AsyncLoader<'_, V>,
) -> Result<V, CacheError>
where
    V: Clone + Send,
    C: crate::AsyncCache<V> + ?Sized,
{
    if let Some(v) = cache.get(key).await? {
        return Ok(v);
    }
    let value = loader().await.map_err(|e| CacheError::loader(key, e))?;
    cache.set(key, value.clone(), ttl).await?;
    Ok(value)
}

/// The `get_or_load` of a backend that stores values serialized and leads its flights in a
/// [`FlightGroup<()>`] (file and Redis): the whole policy, so that each backend supplies only
/// how to read and how to lead.
///
/// - `flights` is `None` (the cache was built with `single_flight(false)`): [`load_unshared`].
/// - Otherwise a hit of `cache.get` returns (a hit costs what `get` costs: single flight is
///   paid on a miss only);
/// - and a miss goes to [`FlightGroup::lead_or_read`]: one caller per key and instance runs
///   `lead` with the loader (the backend's part across processes, which stores the value),
///   the others wait and then `read` the entry it stored, without counting a hit or a miss.
///
/// ```
/// use cache_core::flight::{hit_or_lead, FlightGroup};
/// use cache_core::{Cache, CacheError, Loader, Ttl};
///
/// // A backend's override; `flights` is `None` when single flight is off. `peek` is how a
/// // waiter reads what the leader stored: the backend's own read that counts nothing (the
/// // waiter counted its miss already), never `cache.get`, which would count a hit too.
/// fn get_or_load(
///     cache: &dyn Cache<u32>,
///     peek: impl Fn(&str) -> Result<Option<u32>, CacheError>,
///     flights: Option<&FlightGroup<()>>,
///     key: &str,
///     ttl: Ttl,
///     loader: Loader<'_, u32>,
/// ) -> Result<u32, CacheError> {
///     hit_or_lead(cache, flights, key, ttl, loader, || peek(key), |loader| {
///         let v = loader.load().map_err(|e| CacheError::loader(key, e))?;
///         cache.set(key, v, ttl)?;
///         Ok(v)
///     })
/// }
/// ```
pub fn hit_or_lead<'l, V, C>(
    cache: &C,
    flights: Option<&FlightGroup<()>>,
    key: &str,
    ttl: Ttl,
    loader: Loader<'l, V>,
    read: impl FnMut() -> Result<Option<V>, CacheError>,
    lead: impl FnOnce(Loader<'l, V>) -> Result<V, CacheError>,
) -> Result<V, CacheError>
where
    V: Clone,
    C: Cache<V> + ?Sized,
{
    let Some(flights) = flights else {
        return load_unshared(cache, key, ttl, loader);
    };
    if let Some(v) = cache.get(key)? {
        return Ok(v);
    }
    flights.lead_or_read(key, loader, read, lead)
}

/// [`hit_or_lead`] for an [`AsyncCache`](crate::AsyncCache): without `flights`,
/// [`load_unshared_async`]; otherwise a hit of `cache.get` returns, and a miss goes to
/// [`FlightGroup::lead_or_read_async`] (one task or thread per key awaits `lead`, the
/// others `read` what it stored).
///
/// ```
/// use cache_core::flight::{hit_or_lead_async, FlightGroup};
/// use cache_core::{AsyncCache, AsyncLoader, CacheError, Ttl};
///
/// // `peek`: the backend's read that counts nothing, for the waiters (not `cache.get`).
/// async fn get_or_load(
///     cache: &dyn AsyncCache<u32>,
///     peek: impl Fn(&str) -> Result<Option<u32>, CacheError>,
///     flights: Option<&FlightGroup<()>>,
///     key: &str,
///     loader: AsyncLoader<'_, u32>,
/// ) -> Result<u32, CacheError> {
///     let read = || std::future::ready(peek(key));
///     hit_or_lead_async(cache, flights, key, Ttl::Never, loader, read, |loader| async move {
///         let v = loader().await.map_err(|e| CacheError::loader(key, e))?;
///         cache.set(key, v, Ttl::Never).await?;
///         Ok(v)
///     })
///     .await
/// }
/// ```
pub async fn hit_or_lead_async<'l, V, C, R, RFut, L, LFut>(
    cache: &C,
    flights: Option<&FlightGroup<()>>,
    key: &str,
    ttl: Ttl,
    loader: AsyncLoader<'l, V>,
    read: R,
    lead: L,
) -> Result<V, CacheError>
where
    V: Clone + Send,
    C: crate::AsyncCache<V> + ?Sized,
    R: FnMut() -> RFut,
    RFut: Future<Output = Result<Option<V>, CacheError>>,
    L: FnOnce(AsyncLoader<'l, V>) -> LFut,
    LFut: Future<Output = Result<V, CacheError>>,
{
    let Some(flights) = flights else {
        return load_unshared_async(cache, key, ttl, loader).await;
    };
    if let Some(v) = cache.get(key).await? {
        return Ok(v);
    }
    flights.lead_or_read_async(key, loader, read, lead).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::task::Wake;

    /// Drives `future` on this thread, parking it while the future waits.
    fn block_on<F: Future>(future: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }

    /// Polls `future` once.
    fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        struct Nobody;
        impl Wake for Nobody {
            fn wake(self: Arc<Self>) {}
        }
        let waker = Waker::from(Arc::new(Nobody));
        future.poll(&mut Context::from_waker(&waker))
    }

    /// A thread leads; a task awaits its value without loading.
    #[test]
    fn a_task_awaits_the_flight_of_a_thread() {
        let group = FlightGroup::<u32>::new();
        let (started, is_started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let group = &group;
        std::thread::scope(|s| {
            let leader = s.spawn(move || {
                group.run("k", || {
                    started.send(()).unwrap();
                    released.recv().unwrap();
                    Ok(1)
                })
            });
            is_started.recv().unwrap();
            let mut waiter = Box::pin(group.run_async("k", || async { Ok(2) }));
            assert!(poll_once(waiter.as_mut()).is_pending(), "the task waits");
            release.send(()).unwrap();
            assert_eq!(leader.join().unwrap().unwrap(), 1);
            assert_eq!(block_on(waiter).unwrap(), 1, "the task shared the value");
        });
    }

    /// A task that leads and is dropped mid-load abandons its flight: a waiting task then
    /// leads with its own loader, and the group is empty afterwards.
    #[test]
    fn a_dropped_async_leader_abandons_its_flight() {
        let group = FlightGroup::<u32>::new();
        let mut leading = Box::pin(group.run_async("k", std::future::pending));
        assert!(poll_once(leading.as_mut()).is_pending());
        let mut waiter = Box::pin(group.run_async("k", || async { Ok(2) }));
        assert!(poll_once(waiter.as_mut()).is_pending(), "the task waits");
        drop(leading);
        assert_eq!(
            block_on(waiter).unwrap(),
            2,
            "the waiter led the next flight"
        );
        assert_eq!(lock(&group.flights).len(), 0);
    }

    /// A waiting task that goes away leaves no waker behind to be woken.
    #[test]
    fn a_dropped_arrival_forgets_its_waker() {
        let flight = Flight::<u8>::new();
        let mut arrival = Box::pin(flight.landing());
        assert!(poll_once(arrival.as_mut()).is_pending());
        assert_eq!(lock(&flight.state).wakers.iter().flatten().count(), 1);
        drop(arrival);
        assert_eq!(lock(&flight.state).wakers.iter().flatten().count(), 0);
        flight.finish(Landing::Value(1));
        assert!(matches!(block_on(flight.landing()), Landing::Value(1)));
    }
}
