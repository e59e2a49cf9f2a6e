//! `InMemoryCache`: a sharded, thread-safe LRU cache with per-entry TTL, implementing
//! [`cache_core::Cache`]; [`AsyncInMemoryCache`], its async face, implementing
//! [`cache_core::AsyncCache`]. Both are cheap clonable handles: every clone, blocking or
//! async, is the same cache.
//!
//! ```
//! use cache_memory::{AsyncInMemoryCache, InMemoryCache};
//! use cache_core::{Cache, Ttl};
//! use std::time::Duration;
//!
//! let cache = InMemoryCache::new(10_000, Some(Duration::from_secs(60)))?;
//! cache.set("user:1", "alice".to_string(), Ttl::Default)?;
//! cache.set("user:2", "bob".to_string(), Duration::from_secs(5))?;
//! assert_eq!(cache.get("user:1")?.as_deref(), Some("alice"));
//! assert_eq!(cache.delete_pattern("user:*")?, 2);
//!
//! // For async code, the same cache:
//! let for_tasks = AsyncInMemoryCache::new(cache.clone());
//! # Ok::<(), cache_core::CacheError>(())
//! ```
//!
//! # Design
//! Keys hash to one of a power-of-two number of shards, each behind its own read-write lock.
//! A shard is an exact LRU list threaded through a slab of entries (a dense `Vec`, linked by
//! `u32` indices) plus a [`hashbrown::HashTable`] of slab indices, its own counters (kept
//! under that lock, or atomic where a read lock counts them, so exact) and an index of the entries that carry a TTL ordered by
//! expiry time, so that a full shard drops expired entries before it evicts a live one
//! without scanning. The capacity `max_size` is split exactly between the shards; caches of
//! fewer than [`MIN_ENTRIES_PER_SHARD`] × 2 entries have a single shard and hence an exact
//! LRU order, larger ones an LRU order per shard.
//!
//! A key is hashed once per operation; the hash picks the shard and is stored in the entry,
//! so the table never hashes a key again (not when it grows, not when it evicts). Keys of up
//! to 22 bytes are stored inline in the entry, without an allocation of their own. An entry
//! is one contiguous record (hash, key, value, expiry, links), and a full shard reuses the
//! evicted entry's slot in place: a hit touches the table and one record (plus its two list
//! neighbours), and a steady-state insert allocates nothing for short keys.
//!
//! Every operation takes its shard's write lock, except `get` and the hit of
//! `get_or_insert_with` under [`Policy::TinyLfu`]: its hits relink nothing (they count
//! themselves in the entry's tag, atomically), so they run under the read lock, beside the
//! shard's other readers; a miss counts itself there too, and an expired entry found there
//! is removed under the write lock. An exact LRU moves the entry on every hit, so its gets
//! take the write lock.
#![forbid(unsafe_code)]

/// This crate's README, compiled (and run, unless marked `no_run`) as doctests, so that its
/// crates.io page never lies.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod async_cache;
mod flight;
mod key;
mod policy;
mod shard;

pub use async_cache::AsyncInMemoryCache;
pub use policy::Policy;

use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use cache_core::{
    Cache, CacheError, CacheStats, CounterChange, CounterValue, MonotonicClock, Pattern,
    RemovalCause, SharedClock, Timestamp, Ttl,
};

use cache_core::flight::{landed, Landing};
use cache_core::observe::{ObserveOptions, Observer, Op};
use cache_core::{BoxError, Loader};
use flight::Flight;
use key::Probe;
use shard::{CounterFault, Removed, Shard, Shared, Weigher};

/// A removal listener: called with each removed entry's key, value and cause.
type Listener<V> = Arc<dyn Fn(&str, &V, RemovalCause) + Send + Sync>;

/// Shards are only split while each keeps at least this many entries, so small caches keep an
/// exact LRU order.
pub const MIN_ENTRIES_PER_SHARD: usize = 512;

/// A sharded, thread-safe, in-memory LRU cache of `V` values with per-entry TTL.
///
/// `get` and `set` refresh an entry's recency, `exists` does not. When a new key is stored
/// into a full shard, its expired entries are dropped first (counted as expirations), then
/// its least recently used entry (counted as an eviction).
///
/// ```
/// use cache_memory::InMemoryCache;
/// use cache_core::{Cache, Ttl};
///
/// let cache = InMemoryCache::new(2, None)?;
/// cache.set("a", 1, Ttl::Never)?;
/// cache.set("b", 2, Ttl::Never)?;
/// cache.get("a")?;                 // "a" is now the most recently used
/// cache.set("c", 3, Ttl::Never)?;  // evicts "b"
/// assert_eq!(cache.get("b")?, None);
/// assert_eq!(cache.stats().evictions, 1);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
///
/// # A handle
///
/// An `InMemoryCache` is a cheap handle, like the file and Redis caches: `clone` copies a
/// pointer, and every clone is the same cache (same entries, counters, flights and removal
/// listener), so hand clones to threads and tasks instead of wrapping it in an `Arc`. The
/// entries are dropped with the last handle. [`AsyncInMemoryCache`] is its async face (a
/// handle on the same cache), and implements [`AsyncCache`](cache_core::AsyncCache); this
/// type implements only [`Cache`], so that both traits can be in scope at once.
///
/// `set`, `add`, `touch` and `set_many` take any `impl Into<Ttl>` (a [`Ttl`], a `Duration`,
/// an `Option<Duration>`; through `dyn Cache<V>`, a `Ttl`): see
/// [Passing a TTL](cache_core#passing-a-ttl).
///
/// ```
/// use cache_memory::InMemoryCache;
/// use cache_core::Cache;
/// use std::time::Duration;
///
/// let cache = InMemoryCache::new(100, None)?;
/// let handle = cache.clone();
/// std::thread::spawn(move || handle.set("k", 1u32, Duration::from_secs(60)))
///     .join()
///     .unwrap()?;
/// assert_eq!(cache.get("k")?, Some(1));
/// # Ok::<(), cache_core::CacheError>(())
/// ```
///
/// # Counters beside values
///
/// `incr` and `decr` need a cache whose values are counters ([`CounterValue`]: `i64`). To
/// keep counters beside other values, either build a second cache, an `InMemoryCache<i64>`
/// (a handle like this one, so keep both in your state and clone them freely), or give one
/// cache an enum value type that implements `CounterValue`: `incr` then works on the keys
/// that hold counts and fails with [`CacheError::NotACounter`] on the others.
///
/// ```
/// use cache_memory::InMemoryCache;
/// use cache_core::{Cache, CacheError, CounterValue, Ttl};
///
/// #[derive(Clone, Debug, PartialEq)]
/// enum Value {
///     Count(i64),
///     Text(String),
/// }
///
/// impl CounterValue for Value {
///     fn from_counter(n: i64) -> Self {
///         Value::Count(n)
///     }
///     fn to_counter(&self) -> Option<i64> {
///         match self {
///             Value::Count(n) => Some(*n),
///             Value::Text(_) => None,
///         }
///     }
/// }
///
/// let cache = InMemoryCache::<Value>::new(1_000, None)?;
/// cache.set("name", Value::Text("alice".into()), Ttl::Never)?;
/// assert_eq!(cache.incr("visits", 1)?, 1);
/// assert_eq!(cache.incr("visits", 2)?, 3);
/// assert_eq!(cache.get("visits")?, Some(Value::Count(3)));
/// assert!(matches!(cache.incr("name", 1), Err(CacheError::NotACounter { .. })));
///
/// // Or two caches, side by side:
/// let texts = InMemoryCache::<String>::new(1_000, None)?;
/// let counts = InMemoryCache::<i64>::new(1_000, None)?;
/// texts.set("name", "alice".to_string(), Ttl::Never)?;
/// assert_eq!(counts.incr("visits", 1)?, 1);
/// # Ok::<(), CacheError>(())
/// ```
pub struct InMemoryCache<V> {
    inner: Arc<Inner<V>>,
}

/// The cache every handle on it shares.
struct Inner<V> {
    shards: Box<[Padded<RwLock<Shard<V>>>]>,
    shard_mask: u64,
    hasher: hashbrown::DefaultHashBuilder,
    default_ttl: Option<Duration>,
    clock: SharedClock,
    max_size: usize,
    single_flight: bool,
    policy: Policy,
    max_weight: Option<u64>,
    listener: Option<Listener<V>>,
    observe: Observer,
}

/// Keeps each shard's lock on its own cache lines, so two threads on two shards do not
/// contend through false sharing.
#[repr(align(128))]
struct Padded<T>(T);

/// Settings for an [`InMemoryCache`]; start from [`InMemoryCache::builder`].
///
/// There is no `version` (the file and Redis builders have one): an in-memory cache is never
/// shared and dies with its process, so it can never hold an entry of another version (see
/// the crate docs of `cache-core`). Nor a codec: values are kept as they are.
///
/// ```
/// use cache_memory::InMemoryCache;
/// use cache_core::MockClock;
/// use std::time::Duration;
///
/// let clock = MockClock::new();
/// let cache: InMemoryCache<String> = InMemoryCache::builder()
///     .max_size(1_000)
///     .default_ttl(Duration::from_secs(30))
///     .clock(clock.shared())
///     .shards(1)
///     .build()?;
/// assert_eq!(cache.capacity(), 1_000);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
pub struct InMemoryCacheBuilder<V> {
    max_size: usize,
    default_ttl: Option<Duration>,
    clock: Option<SharedClock>,
    shards: Option<usize>,
    single_flight: bool,
    policy: Policy,
    weigher: Option<Weigher<V>>,
    max_weight: Option<u64>,
    listener: Option<Listener<V>>,
    observe: ObserveOptions,
    _values: PhantomData<fn() -> V>,
}

impl<V> std::fmt::Debug for InMemoryCacheBuilder<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryCacheBuilder")
            .field("max_size", &self.max_size)
            .field("default_ttl", &self.default_ttl)
            .field("clock", &self.clock)
            .field("shards", &self.shards)
            .field("single_flight", &self.single_flight)
            .field("policy", &self.policy)
            .field("weigher", &self.weigher.is_some())
            .field("max_weight", &self.max_weight)
            .field("on_removal", &self.listener.is_some())
            .field("observe", &self.observe)
            .finish()
    }
}

impl<V> InMemoryCacheBuilder<V> {
    /// The cache's name: the `cache` label of its metrics and field of its spans (features
    /// `metrics` and `tracing`; see [`cache_core::observe`]). Default: `memory`. An empty
    /// name is an error at [`build`](Self::build).
    ///
    /// ```
    /// let cache = cache_memory::InMemoryCache::<u8>::builder().name("sessions").build()?;
    /// assert_eq!(cache.name(), "sessions");
    /// assert!(cache_memory::InMemoryCache::<u8>::builder().name("").build().is_err());
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.observe = self.observe.name(name);
        self
    }

    /// Whether each operation's span records its key (feature `tracing`). Default: no, as
    /// keys can hold personal data.
    ///
    /// ```
    /// let cache = cache_memory::InMemoryCache::<u8>::builder().trace_keys(true).build()?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn trace_keys(mut self, yes: bool) -> Self {
        self.observe = self.observe.trace_keys(yes);
        self
    }

    /// The maximum number of entries (at least 1, and at most 4,294,967,294 per shard).
    /// Default: 10,000.
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// The TTL of entries written with [`Ttl::Default`]: a `Duration`, `Some(duration)` or
    /// `None` (never expire, the default). Zero is an error at [`build`](Self::build).
    ///
    /// ```
    /// use cache_memory::InMemoryCache;
    /// use std::time::Duration;
    /// let minute = InMemoryCache::<u8>::builder().default_ttl(Duration::from_secs(60)).build()?;
    /// let never = InMemoryCache::<u8>::builder().default_ttl(None).build()?;
    /// assert!(InMemoryCache::<u8>::builder().default_ttl(Duration::ZERO).build().is_err());
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn default_ttl(mut self, ttl: impl Into<Option<Duration>>) -> Self {
        self.default_ttl = ttl.into();
        self
    }

    /// The clock expiry is measured against. Default: a [`MonotonicClock`].
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The number of shards, rounded down to a power of two and limited so that each shard
    /// holds at least [`MIN_ENTRIES_PER_SHARD`] entries. Default: 32 per CPU, at most 256.
    /// One shard gives an exact global LRU order.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// Whether `get_or_insert_with` runs the loader once per key when many callers miss at
    /// the same time (threads and tasks, through `InMemoryCache` and `AsyncInMemoryCache`
    /// alike), the others
    /// waiting for its value or its error. Default: `true`. With
    /// `false`, every caller that misses runs the loader (and the last to store wins).
    ///
    /// ```
    /// let cache = cache_memory::InMemoryCache::<u8>::builder().single_flight(false).build()?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn single_flight(mut self, single_flight: bool) -> Self {
        self.single_flight = single_flight;
        self
    }

    /// The eviction policy of every shard. Default: [`Policy::Lru`].
    ///
    /// ```
    /// use cache_memory::{InMemoryCache, Policy};
    /// let cache = InMemoryCache::<u64>::builder().policy(Policy::TinyLfu).build()?;
    /// assert_eq!(cache.policy(), Policy::TinyLfu);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Bounds the cache by the total weight of its entries as `weigher` measures them
    /// (bytes, for example), with [`max_weight`](Self::max_weight), on top of `max_size`
    /// (raise `max_size` when entries are small). The weigher runs under the shard's lock on
    /// every `set`; it must be fast and give the same weight for the same entry.
    ///
    /// ```
    /// use cache_memory::InMemoryCache;
    /// use cache_core::{Cache, Ttl};
    ///
    /// let cache = InMemoryCache::<String>::builder()
    ///     .max_size(1_000)
    ///     .weigher(|key, value: &String| (key.len() + value.len()) as u32)
    ///     .max_weight(10)
    ///     .build()?;
    /// cache.set("a", "1234".into(), Ttl::Never)?; // weight 5
    /// cache.set("b", "1234".into(), Ttl::Never)?; // weight 5: 10 in all
    /// cache.set("c", "1".into(), Ttl::Never)?;    // weight 2: evicts "a"
    /// assert_eq!(cache.get("a")?, None);
    /// assert_eq!(cache.weight(), Some(7));
    /// // Heavier than the whole bound: not stored.
    /// assert!(!cache.set("d", "0123456789".into(), Ttl::Never)?);
    /// assert_eq!(cache.get("d")?, None);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn weigher(mut self, weigher: impl Fn(&str, &V) -> u32 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Arc::new(weigher));
        self
    }

    /// The bound on the total weight of the entries (needs a [`weigher`](Self::weigher)).
    /// Like `max_size`, it is split evenly between the shards: an entry heavier than its
    /// shard's share (`max_weight / shard_count()`) is not stored (`set` returns `false` and
    /// the key's older value is gone). Use `.shards(1)` for one exact bound. A bound of 0, or
    /// smaller than the shard count, is a configuration error at `build` (some shard could
    /// store nothing).
    ///
    /// ```
    /// use cache_memory::InMemoryCache;
    /// let zero = InMemoryCache::<String>::builder().weigher(|_, v| v.len() as u32).max_weight(0);
    /// assert!(zero.build().is_err());
    /// ```
    pub fn max_weight(mut self, max_weight: u64) -> Self {
        self.max_weight = Some(max_weight);
        self
    }

    /// Calls `listener` with the key, the value and the [`RemovalCause`] of every entry that
    /// leaves the cache: evicted, expired (found expired, purged, or overwritten after it
    /// expired), replaced by a `set`, deleted, or cleared. It runs after the shard's lock is
    /// released, on the thread whose operation removed the entry (or, rarely, on the next
    /// one to use that shard), once per removal; the
    /// counts by cause equal the [`CacheStats`] counters (`evictions`, `expirations`,
    /// `deletes`). A listener that panics makes that operation panic; the cache stays
    /// consistent, and the rest of that operation's removals go unreported.
    ///
    /// ```
    /// use cache_memory::InMemoryCache;
    /// use cache_core::{Cache, RemovalCause, Ttl};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let heard = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&heard);
    /// let cache = InMemoryCache::builder()
    ///     .max_size(1)
    ///     .on_removal(move |key, value: &u32, cause| {
    ///         log.lock().unwrap().push((key.to_owned(), *value, cause));
    ///     })
    ///     .build()?;
    /// cache.set("a", 1, Ttl::Never)?;
    /// cache.set("a", 2, Ttl::Never)?; // replaces 1
    /// cache.set("b", 3, Ttl::Never)?; // evicts "a"
    /// cache.delete("b")?;
    /// assert_eq!(
    ///     *heard.lock().unwrap(),
    ///     [
    ///         ("a".to_owned(), 1, RemovalCause::Replaced),
    ///         ("a".to_owned(), 2, RemovalCause::Evicted),
    ///         ("b".to_owned(), 3, RemovalCause::Deleted),
    ///     ]
    /// );
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn on_removal(
        mut self,
        listener: impl Fn(&str, &V, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Builds the cache; a zero `max_size`, shard count or default TTL is an error.
    pub fn build(self) -> Result<InMemoryCache<V>, CacheError> {
        let default_ttl = Ttl::check_default("InMemoryCache", self.default_ttl)?;
        let observe = Observer::new("memory", &self.observe, &["cache_weight"])?;
        if self.max_size == 0 {
            return Err(CacheError::config(
                "InMemoryCache max_size must be at least 1",
            ));
        }
        let wanted = match self.shards {
            Some(0) => return Err(CacheError::config("InMemoryCache needs at least one shard")),
            Some(n) => n,
            None => {
                let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
                // Many shards, because a hit on an entry already at the head of its shard's
                // list writes nothing to the list: with more shards the hottest keys are more
                // often there (Zipf get-or-set at 2 threads: +15% over 8 per CPU).
                (cpus * 32).min(256)
            }
        };
        let by_size = (self.max_size / MIN_ENTRIES_PER_SHARD).max(1);
        let count = prev_power_of_two(wanted.min(by_size));
        if self.max_size / count >= shard::MAX_SHARD_CAPACITY {
            return Err(CacheError::config(format!(
                "InMemoryCache max_size {} is too large for {count} shards (at most {} entries each)",
                self.max_size,
                shard::MAX_SHARD_CAPACITY
            )));
        }
        let weighing = match (&self.weigher, self.max_weight) {
            (Some(_), Some(0)) => {
                return Err(CacheError::config(
                    "InMemoryCache max_weight must be at least 1 (0 would store nothing)",
                ))
            }
            (Some(_), Some(max)) if max < count as u64 => {
                return Err(CacheError::config(format!(
                    "InMemoryCache max_weight {max} is split between {count} shards, which \
                     leaves some a share of 0 (storing nothing): give at least {count}, or \
                     fewer shards (.shards(1) for one exact bound)"
                )))
            }
            (Some(w), Some(max)) => Some((w, max)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(CacheError::config(
                    "InMemoryCache weigher needs a max_weight",
                ))
            }
            (None, Some(_)) => {
                return Err(CacheError::config(
                    "InMemoryCache max_weight needs a weigher",
                ))
            }
        };
        let window = shard::SharedWindow::new(self.max_size);
        let shards = (0..count)
            .map(|i| {
                let cap = self.max_size / count + usize::from(i < self.max_size % count);
                let mut shard = Shard::new(cap).with_policy(self.policy, &window);
                if let Some((weigher, max)) = weighing {
                    let n = count as u64;
                    let share = max / n + u64::from((i as u64) < max % n);
                    shard = shard.with_weigher(Arc::clone(weigher), share);
                }
                if self.listener.is_some() {
                    shard = shard.listen();
                }
                Padded(RwLock::new(shard))
            })
            .collect();
        let inner = Inner {
            shards,
            shard_mask: (count - 1) as u64,
            hasher: hashbrown::DefaultHashBuilder::default(),
            default_ttl,
            clock: self
                .clock
                .unwrap_or_else(|| Arc::new(MonotonicClock::new())),
            max_size: self.max_size,
            single_flight: self.single_flight,
            policy: self.policy,
            max_weight: self.max_weight,
            listener: self.listener,
            observe,
        };
        Ok(InMemoryCache {
            inner: Arc::new(inner),
        })
    }
}

fn prev_power_of_two(n: usize) -> usize {
    debug_assert!(n > 0);
    1 << (usize::BITS - 1 - n.leading_zeros())
}

impl<V> InMemoryCache<V> {
    /// A cache of at most `max_size` entries whose [`Ttl::Default`] is `default_ttl`: a
    /// `Duration`, `Some(duration)` or `None` (never expire); zero is an error.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache = cache_memory::InMemoryCache::<u64>::new(100, None)?;
    /// assert_eq!(cache.capacity(), 100);
    /// let minute = cache_memory::InMemoryCache::<u64>::new(100, Duration::from_secs(60))?;
    /// assert!(cache_memory::InMemoryCache::<u64>::new(0, None).is_err());
    /// assert!(cache_memory::InMemoryCache::<u64>::new(100, Duration::ZERO).is_err());
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn new(
        max_size: usize,
        default_ttl: impl Into<Option<Duration>>,
    ) -> Result<Self, CacheError> {
        Self::builder()
            .max_size(max_size)
            .default_ttl(default_ttl)
            .build()
    }

    /// A builder for the less common settings (clock, shard count).
    ///
    /// ```
    /// let cache = cache_memory::InMemoryCache::<u64>::builder().max_size(8).build()?;
    /// assert_eq!(cache.capacity(), 8);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn builder() -> InMemoryCacheBuilder<V> {
        InMemoryCacheBuilder {
            max_size: 10_000,
            default_ttl: None,
            clock: None,
            shards: None,
            single_flight: true,
            policy: Policy::Lru,
            weigher: None,
            max_weight: None,
            observe: ObserveOptions::default(),
            listener: None,
            _values: PhantomData,
        }
    }

    /// The maximum number of entries.
    ///
    /// ```
    /// assert_eq!(cache_memory::InMemoryCache::<u8>::new(5, None)?.capacity(), 5);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.inner.max_size
    }

    /// The eviction policy.
    ///
    /// ```
    /// use cache_memory::{InMemoryCache, Policy};
    /// assert_eq!(InMemoryCache::<u8>::new(5, None)?.policy(), Policy::Lru);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn policy(&self) -> Policy {
        self.inner.policy
    }

    /// The total weight of the stored entries (expired ones not yet removed included), with
    /// a [weigher](InMemoryCacheBuilder::weigher); `None` without one.
    ///
    /// ```
    /// use cache_core::{Cache, Ttl};
    /// let cache = cache_memory::InMemoryCache::<Vec<u8>>::builder()
    ///     .weigher(|_, v| v.len() as u32)
    ///     .max_weight(1 << 20)
    ///     .build()?;
    /// cache.set("k", vec![0; 100], Ttl::Never)?;
    /// assert_eq!(cache.weight(), Some(100));
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn weight(&self) -> Option<u64> {
        self.inner.max_weight?;
        Some(self.inner.shards.iter().map(|s| lock(&s.0).weight()).sum())
    }

    /// The cache's name (builder's [`name`](InMemoryCacheBuilder::name); default `memory`).
    ///
    /// ```
    /// assert_eq!(cache_memory::InMemoryCache::<u8>::new(5, None)?.name(), "memory");
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn name(&self) -> &str {
        self.inner.observe.cache_name()
    }

    /// Copies the counters of [`stats`](Cache::stats) into the `metrics` recorder installed
    /// when the cache was built (`cache_hits_total` ..., and the gauges `cache_entries` and,
    /// with a weigher, `cache_weight`); call it before each scrape (see
    /// [`cache_core::observe`]). It walks every shard: it costs what `stats` costs. Does
    /// nothing without the `metrics` feature or a recorder.
    ///
    /// ```
    /// let cache = cache_memory::InMemoryCache::<u8>::new(5, None)?;
    /// cache.publish_metrics();
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn publish_metrics(&self)
    where
        V: Clone + Send + Sync + 'static,
    {
        if !self.inner.observe.metrics_recorded() {
            return;
        }
        let weight = self.weight().map_or(0.0, |w| w as f64);
        self.inner.observe.publish(&self.inner.stats(), &[weight]);
    }

    /// The number of shards the keys are spread over.
    ///
    /// ```
    /// assert_eq!(cache_memory::InMemoryCache::<u8>::new(5, None)?.shard_count(), 1);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn shard_count(&self) -> usize {
        self.inner.shards.len()
    }

    /// The number of entries stored, expired ones not yet removed included.
    ///
    /// ```
    /// use cache_core::{Cache, Ttl};
    /// let cache = cache_memory::InMemoryCache::new(5, None)?;
    /// cache.set("k", 1u8, Ttl::Never)?;
    /// assert_eq!(cache.len(), 1);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(&s.0).len()).sum()
    }

    /// Whether no entry is stored.
    ///
    /// ```
    /// assert!(cache_memory::InMemoryCache::<u8>::new(5, None)?.is_empty());
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every expired entry now (counted as expirations) and returns how many.
    /// Never needed for correctness; it only frees memory early.
    ///
    /// ```
    /// use cache_core::{Cache, MockClock, Ttl};
    /// use std::time::Duration;
    /// let clock = MockClock::new();
    /// let cache = cache_memory::InMemoryCache::builder().clock(clock.shared()).build()?;
    /// cache.set("k", 1u8, Ttl::After(Duration::from_secs(1)))?;
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(cache.purge_expired(), 1);
    /// assert!(cache.is_empty());
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn purge_expired(&self) -> u64 {
        let inner = &*self.inner;
        let now = inner.clock.now();
        inner
            .shards
            .iter()
            .map(|s| {
                let mut shard = lock(&s.0);
                let purged = shard.purge_expired(now);
                inner.notify(shard);
                purged
            })
            .sum()
    }
}

impl<V> Inner<V> {
    /// Releases `shard` and tells the removal listener, if any, what the operation just
    /// made under that lock removed.
    #[inline]
    fn notify(&self, mut shard: RwLockWriteGuard<'_, Shard<V>>) {
        let Some(listener) = &self.listener else {
            return;
        };
        let removed = shard.take_removed();
        drop(shard);
        self.tell(listener, removed);
    }

    /// `incr` and `decr`: `change` applied under the shard's lock.
    fn change_counter(&self, key: &str, change: CounterChange) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        let (expires, now) = self.expiry(Ttl::Default);
        let probe = self.probe(key);
        let mut shard = self.shard(probe);
        let count = shard.add_to_counter(probe, change, expires, now, &*self.clock);
        self.notify(shard);
        count.map_err(|fault| match fault {
            CounterFault::NotACounter => CacheError::not_a_counter(key),
            CounterFault::Overflow => CacheError::counter_overflow(key, change.added()),
        })
    }

    fn tell(&self, listener: &Listener<V>, removed: impl IntoIterator<Item = Removed<V>>) {
        for r in removed {
            listener(r.key(), &r.value, r.cause);
        }
    }

    /// The key with its hash, computed once: it picks the shard (bits 32 and up) and the
    /// slot in the shard's table (the low bits, and the top seven as the table's tag).
    #[inline]
    fn probe<'k>(&self, key: &'k str) -> Probe<'k> {
        Probe {
            hash: self.hasher.hash_one(key),
            key,
        }
    }

    #[inline]
    fn shard(&self, key: Probe<'_>) -> RwLockWriteGuard<'_, Shard<V>> {
        let index = (key.hash >> 32) & self.shard_mask;
        lock(&self.shards[index as usize].0)
    }

    /// The key's shard under its read lock, shared with other readers.
    #[inline]
    fn shard_shared(&self, key: Probe<'_>) -> RwLockReadGuard<'_, Shard<V>> {
        let index = (key.hash >> 32) & self.shard_mask;
        let lock = &self.shards[index as usize].0;
        lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[inline]
    fn expiry(&self, ttl: Ttl) -> (Timestamp, Option<Timestamp>) {
        match ttl.resolve(self.default_ttl) {
            None => (Timestamp::MAX, None),
            Some(d) => {
                let now = self.clock.now();
                (now.expiry(Some(d)), Some(now))
            }
        }
    }
}

/// Write-locks a shard, ignoring poison: every critical section leaves its shard consistent
/// before it can run user code that might panic (`V::clone`, `V::drop`).
#[inline]
fn lock<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<V> Clone for InMemoryCache<V> {
    /// Another handle on the same cache (a reference count increment).
    ///
    /// ```
    /// use cache_core::{Cache, Ttl};
    /// let cache = cache_memory::InMemoryCache::new(10, None)?;
    /// let other = cache.clone();
    /// other.set("k", 1u8, Ttl::Never)?;
    /// assert_eq!(cache.get("k")?, Some(1));
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    fn clone(&self) -> Self {
        InMemoryCache {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// The trait methods that take a TTL, taking any `impl Into<Ttl>`: named like them, these
/// are found first (see [Passing a TTL](cache_core#passing-a-ttl)); each forwards to
/// [`Cache`]'s.
impl<V: Clone + Send + Sync + 'static> InMemoryCache<V> {
    /// [`Cache::set`] with any `impl Into<Ttl>`: a [`Ttl`], a `Duration` or an
    /// `Option<Duration>` (`None`: never expires).
    ///
    /// ```
    /// use cache_core::Ttl;
    /// use std::time::Duration;
    /// let cache = cache_memory::InMemoryCache::new(10, None)?;
    /// assert!(cache.set("a", 1u8, Duration::from_secs(60))?);
    /// assert!(cache.set("b", 2u8, None)?);
    /// assert!(cache.set("c", 3u8, Ttl::Default)?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn set(&self, key: &str, value: V, ttl: impl Into<Ttl>) -> Result<bool, CacheError> {
        Cache::set(self, key, value, ttl.into())
    }

    /// [`Cache::add`] with any `impl Into<Ttl>`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache = cache_memory::InMemoryCache::new(10, None)?;
    /// assert!(cache.add("lock", 1u8, Duration::from_secs(30))?);
    /// assert!(!cache.add("lock", 2u8, Duration::from_secs(30))?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn add(&self, key: &str, value: V, ttl: impl Into<Ttl>) -> Result<bool, CacheError> {
        Cache::add(self, key, value, ttl.into())
    }

    /// [`Cache::touch`] with any `impl Into<Ttl>`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache = cache_memory::InMemoryCache::new(10, None)?;
    /// cache.set("session", 1u8, Duration::from_secs(60))?;
    /// assert!(cache.touch("session", Duration::from_secs(1800))?);
    /// assert!(!cache.touch("gone", Duration::from_secs(1800))?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn touch(&self, key: &str, ttl: impl Into<Ttl>) -> Result<bool, CacheError> {
        Cache::touch(self, key, ttl.into())
    }

    /// [`Cache::set_many`] with any `impl Into<Ttl>`.
    ///
    /// ```
    /// use cache_core::Cache;
    /// use std::time::Duration;
    /// let cache = cache_memory::InMemoryCache::new(10, None)?;
    /// cache.set_many(vec![("a", 1u8), ("b", 2)], Duration::from_secs(60))?;
    /// assert_eq!(cache.get_many(&["a", "b"])?, [Some(1), Some(2)]);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn set_many(&self, entries: Vec<(&str, V)>, ttl: impl Into<Ttl>) -> Result<(), CacheError> {
        Cache::set_many(self, entries, ttl.into())
    }
}

impl<V: Clone + Send + Sync + 'static> Cache<V> for InMemoryCache<V> {
    #[inline]
    fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        let op = self.inner.observe.op(Op::Get, key);
        op.found(self.inner.get(key))
    }

    #[inline]
    fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        let op = self.inner.observe.op(Op::Set, key);
        op.done(self.inner.set(key, value, ttl))
    }

    fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let op = self.inner.observe.op(Op::Delete, key);
        op.done(self.inner.delete(key))
    }

    fn clear(&self) -> Result<(), CacheError> {
        let op = self.inner.observe.op(Op::Clear, "");
        op.done(self.inner.clear())
    }

    fn exists(&self, key: &str) -> Result<bool, CacheError> {
        let op = self.inner.observe.op(Op::Exists, key);
        op.done(self.inner.exists(key))
    }

    fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        let op = self.inner.observe.op(Op::DeletePattern, pattern);
        op.done(self.inner.delete_pattern(pattern))
    }

    fn stats(&self) -> CacheStats {
        self.inner.stats()
    }

    fn add(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        let op = self.inner.observe.op(Op::Add, key);
        op.done(self.inner.add(key, value, ttl))
    }

    fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        let op = self.inner.observe.op(Op::Incr, key);
        op.done(self.inner.change_counter(key, CounterChange::Add(delta)))
    }

    fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        let op = self.inner.observe.op(Op::Decr, key);
        op.done(self.inner.change_counter(key, CounterChange::Sub(delta)))
    }

    fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        let op = self.inner.observe.op(Op::Touch, key);
        op.done(self.inner.touch(key, ttl))
    }

    fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        let op = self.inner.observe.op(Op::Ttl, key);
        op.done(self.inner.ttl(key))
    }

    #[inline]
    fn get_or_load(&self, key: &str, ttl: Ttl, loader: Loader<'_, V>) -> Result<V, CacheError> {
        let op = self.inner.observe.op(Op::GetOrLoad, key);
        op.loaded(
            &self.inner.observe,
            self.inner.get_or_load(key, ttl, loader),
        )
    }
}

/// The operations of [`Cache`], on the shared state; the handles' trait methods forward here.
impl<V: Clone + Send + Sync + 'static> Inner<V> {
    #[inline]
    fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        let key = self.probe(key);
        if self.policy != Policy::Lru {
            // TinyLFU: a hit or a miss under the read lock, beside other readers.
            match self
                .shard_shared(key)
                .lookup_shared(key, &*self.clock, true)
            {
                Shared::Hit(v) => return Ok(Some(v)),
                Shared::Absent => return Ok(None),
                Shared::Exclusive => {}
            }
        }
        let mut shard = self.shard(key);
        let value = shard.lookup(key, &*self.clock);
        self.notify(shard);
        Ok(value)
    }

    fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        let (expires, now) = self.expiry(ttl);
        let key = self.probe(key);
        let mut shard = self.shard(key);
        let stored = shard.insert(key, value, expires, now, &*self.clock);
        self.notify(shard);
        Ok(stored)
    }

    fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let key = self.probe(key);
        let mut shard = self.shard(key);
        let removed = shard.remove(key, &*self.clock);
        self.notify(shard);
        Ok(removed)
    }

    fn clear(&self) -> Result<(), CacheError> {
        for s in self.shards.iter() {
            // Drop the old entries outside the lock: V::drop may be slow.
            let old = lock(&s.0).take_all();
            match &self.listener {
                Some(listener) => self.tell(listener, old.into_removed()),
                None => drop(old),
            }
        }
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, CacheError> {
        let key = self.probe(key);
        let mut shard = self.shard(key);
        let live = shard.peek_live(key, &*self.clock);
        self.notify(shard);
        Ok(live)
    }

    fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        let pattern = Pattern::new(pattern);
        if pattern.is_literal() {
            return self.delete(pattern.as_str()).map(u64::from);
        }
        let now = self.clock.now();
        Ok(self
            .shards
            .iter()
            .map(|s| {
                let mut shard = lock(&s.0);
                let removed = shard.remove_matching(&pattern, now);
                self.notify(shard);
                removed
            })
            .sum())
    }

    fn stats(&self) -> CacheStats {
        let mut total = CacheStats::default();
        total.entries = Some(0);
        for s in self.shards.iter() {
            lock(&s.0).add_stats_to(&mut total);
        }
        total
    }

    fn add(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        let (expires, now) = self.expiry(ttl);
        let key = self.probe(key);
        let mut shard = self.shard(key);
        let stored = shard.add(key, value, expires, now, &*self.clock);
        self.notify(shard);
        Ok(stored)
    }

    fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        let (expires, now) = self.expiry(ttl);
        let key = self.probe(key);
        let mut shard = self.shard(key);
        let live = shard.retime(key, expires, now, &*self.clock);
        self.notify(shard);
        Ok(live)
    }

    fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        let key = self.probe(key);
        let mut shard = self.shard(key);
        let left = shard.time_left(key, &*self.clock);
        self.notify(shard);
        Ok(left)
    }

    fn get_or_load(&self, key: &str, ttl: Ttl, loader: Loader<'_, V>) -> Result<V, CacheError> {
        // The hit path is `get`'s: one lookup under the shard lock. Everything else is out
        // of line, so that it adds no work (not even a larger stack frame) to a hit.
        let probe = self.probe(key);
        if let Some(v) = self.shared_hit(probe) {
            return Ok(v);
        }
        let mut shard = self.shard(probe);
        if let Some(v) = shard.lookup(probe, &*self.clock) {
            self.notify(shard);
            return Ok(v);
        }
        self.load_after_miss(shard, probe, ttl, loader)
    }
}

impl<V: Clone + Send + Sync + 'static> Inner<V> {
    /// A hit under the key's shard's read lock (TinyLFU); `None` counts nothing, and the
    /// caller looks up again under the write lock (which counts the hit or the miss).
    #[inline]
    fn shared_hit(&self, probe: Probe<'_>) -> Option<V> {
        if self.policy == Policy::Lru {
            return None;
        }
        match self
            .shard_shared(probe)
            .lookup_shared(probe, &*self.clock, false)
        {
            Shared::Hit(v) => Some(v),
            Shared::Absent | Shared::Exclusive => None,
        }
    }

    /// `get_or_load` after its lookup missed, with the shard still locked: joins the key's
    /// flight or starts one (under that lock, so two callers never both load), or, without
    /// single flight, loads and stores.
    #[cold]
    #[inline(never)]
    fn load_after_miss(
        &self,
        shard: RwLockWriteGuard<'_, Shard<V>>,
        probe: Probe<'_>,
        ttl: Ttl,
        loader: Loader<'_, V>,
    ) -> Result<V, CacheError> {
        let key = probe.key;
        if !self.single_flight {
            self.notify(shard);
            let value = loader.load().map_err(|e| CacheError::loader(key, e))?;
            self.set(key, value.clone(), ttl)?;
            return Ok(value);
        }
        let mut step = self.join_or_lead(shard, probe);
        loop {
            match step {
                Step::Join(running) => {
                    if let Some(result) = landed(key, running.wait()) {
                        return result;
                    }
                }
                Step::Lead(mut guard) => {
                    let loaded = loader.load();
                    return self.land(probe, ttl, &mut guard, loaded);
                }
            }
            // The leader gave up: start over, perhaps as the leader.
            step = match self.look_again(probe) {
                Ok(v) => return Ok(v),
                Err(step) => step,
            };
        }
    }

    /// After a miss, under the shard lock (released here): the key's flight in progress, to
    /// wait on, or a new one the caller leads. Blocking and async callers share the flights.
    fn join_or_lead<'a>(
        &'a self,
        mut shard: RwLockWriteGuard<'_, Shard<V>>,
        probe: Probe<'a>,
    ) -> Step<'a, V> {
        let step = match shard.flight(probe.key) {
            Some(running) => Step::Join(running),
            None => Step::Lead(FlightGuard {
                cache: self,
                key: probe.key,
                flight: shard.start_flight(probe.key),
                done: false,
            }),
        };
        self.notify(shard);
        step
    }

    /// The lookup again, after a flight was abandoned: the value, or the next step.
    fn look_again<'a>(&'a self, probe: Probe<'a>) -> Result<V, Step<'a, V>> {
        let mut shard = self.shard(probe);
        if let Some(v) = shard.lookup(probe, &*self.clock) {
            self.notify(shard);
            return Ok(v);
        }
        Err(self.join_or_lead(shard, probe))
    }

    /// Ends a flight this caller led with its loader's result: stores the value and ends the
    /// flight (both under the shard lock, so no miss slips between them), with the value or
    /// the (shared) error, for the threads and tasks waiting on it.
    fn land(
        &self,
        probe: Probe<'_>,
        ttl: Ttl,
        guard: &mut FlightGuard<'_, V>,
        loaded: Result<V, BoxError>,
    ) -> Result<V, CacheError> {
        let key = probe.key;
        let (landing, result) = {
            let mut shard = self.shard(probe);
            let ended = match loaded {
                Ok(value) => {
                    let (expires, now) = self.expiry(ttl);
                    shard.insert(probe, value.clone(), expires, now, &*self.clock);
                    (Landing::Value(value.clone()), Ok(value))
                }
                Err(e) => {
                    let source: Arc<dyn std::error::Error + Send + Sync> = Arc::from(e);
                    let err = CacheError::loader(key, Arc::clone(&source));
                    (Landing::Failed(source), Err(err))
                }
            };
            shard.end_flight(key, &guard.flight);
            self.notify(shard);
            ended
        };
        guard.done = true;
        guard.flight.finish(landing);
        result
    }
}

/// What a caller that missed does next: wait for the key's flight in progress, or lead a new
/// one.
pub(crate) enum Step<'a, V: Clone + Send + Sync + 'static> {
    Join(Arc<Flight<V>>),
    Lead(FlightGuard<'a, V>),
}

/// A flight this caller leads: it ends the flight as abandoned unless it landed, so that
/// waiters never wait forever on a loader that panicked or (async) a future that was dropped.
struct FlightGuard<'a, V: Clone + Send + Sync + 'static> {
    cache: &'a Inner<V>,
    key: &'a str,
    flight: Arc<Flight<V>>,
    done: bool,
}

impl<V: Clone + Send + Sync + 'static> Drop for FlightGuard<'_, V> {
    fn drop(&mut self) {
        if !self.done {
            let probe = self.cache.probe(self.key);
            self.cache.shard(probe).end_flight(self.key, &self.flight);
            self.flight.finish(Landing::Abandoned);
        }
    }
}

impl<V> std::fmt::Debug for InMemoryCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("InMemoryCache")
            .field("max_size", &inner.max_size)
            .field("shards", &inner.shards.len())
            .field("default_ttl", &inner.default_ttl)
            .field("policy", &inner.policy)
            .finish_non_exhaustive()
    }
}
