//! [`TieredCache`]: the blocking near cache.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use cache_core::near::{EntryStamps, Invalidations, Stamp, Subscription};
use cache_core::{Cache, CacheError, CacheStats, CounterValue, Loader, Ttl};

use crate::core::{Core, Fetched, Sink, Ticket, TierStats};
use crate::settings::{near_setters, Chosen, NearSettings};

/// How a stamped tiered cache reads its far tier's stamps.
pub(crate) type StampFn<F> = fn(&F, &str) -> Result<Option<Stamp>, CacheError>;

/// A near cache: an [`InMemoryCache`](cache_memory::InMemoryCache) in front of any blocking
/// cache `F` (the far tier: files, Redis, anything implementing [`Cache<V>`]), itself a
/// [`Cache<V>`].
///
/// Reads are served from process memory while the near copy is known true (see the
/// builder's `build_*` methods for how that is known); a near miss reads the far tier once
/// per key for all the threads that miss together, and fills the near tier for no longer
/// than the far entry has left. Writes go to the far tier first, then drop (or, with
/// private coherence, replace) the near copy. The guarantees are in the crate's
/// `CONTRACT.md`.
///
/// A clone is the same cache (same near tier, same far tier handle).
///
/// ```
/// use cache_core::Cache;
/// use cache_memory::InMemoryCache;
/// use cache_tiered::TieredCache;
/// use std::time::Duration;
///
/// // A far tier nobody else writes (here, another in-memory cache): no coherence needed.
/// let far = InMemoryCache::<String>::new(100_000, None)?;
/// let cache = TieredCache::builder(far)
///     .near_max_size(1_000)
///     .build_without_coherence_no_other_writers()?;
/// cache.set("user:1", "alice".to_string(), Duration::from_secs(60))?;
/// assert_eq!(cache.get("user:1")?.as_deref(), Some("alice"));
/// # Ok::<(), cache_core::CacheError>(())
/// ```
pub struct TieredCache<V, F> {
    pub(crate) inner: Arc<Parts<V, F>>,
}

/// What every handle of one tiered cache shares.
pub(crate) struct Parts<V, F> {
    pub(crate) core: Arc<Core<V>>,
    pub(crate) far: F,
    pub(crate) stamp: Option<StampFn<F>>,
    /// Dropped with the last handle: the far tier then stops delivering.
    pub(crate) _subscription: Option<Subscription>,
}

impl<V, F> Clone for TieredCache<V, F> {
    fn clone(&self) -> Self {
        TieredCache {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<V, F> std::fmt::Debug for TieredCache<V, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredCache")
            .field("coherence", &self.inner.core.coherence)
            .finish_non_exhaustive()
    }
}

/// Settings for a [`TieredCache`]; start from [`TieredCache::builder`], end with one of the
/// three `build_*` methods, which choose how the near tier stays true:
///
/// - [`build_invalidated`](Self::build_invalidated): the far tier reports changes
///   ([`Invalidations`]: the Redis caches). A write anywhere drops the copies within the
///   invalidation delay; while the channel is down, the near tier is empty and bypassed.
/// - [`build_stamped`](Self::build_stamped): the far tier can tell cheaply whether an entry
///   is the one a copy was read from ([`EntryStamps`]: the file caches). Every near hit
///   checks (one `stat` for files), or, with [`max_staleness`](Self::max_staleness), once
///   per that duration.
/// - [`build_without_coherence_no_other_writers`](Self::build_without_coherence_no_other_writers):
///   nothing checks; only for a far tier no other process (and no other handle) writes.
///
/// ```
/// use cache_memory::{InMemoryCache, Policy};
/// use cache_tiered::TieredCache;
/// use std::time::Duration;
///
/// let far = InMemoryCache::<u64>::new(1_000, None)?;
/// let cache = TieredCache::builder(far)
///     .near_max_size(100)
///     .near_policy(Policy::TinyLfu)
///     .near_max_ttl(Duration::from_secs(30))
///     .build_without_coherence_no_other_writers()?;
/// # Ok::<(), cache_core::CacheError>(())
/// ```
pub struct TieredCacheBuilder<V, F> {
    far: F,
    settings: NearSettings,
    _values: PhantomData<fn() -> V>,
}

impl<V, F> std::fmt::Debug for TieredCacheBuilder<V, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredCacheBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<V, F> TieredCache<V, F> {
    /// A builder of a tiered cache in front of `far`.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn builder(far: F) -> TieredCacheBuilder<V, F> {
        TieredCacheBuilder {
            far,
            settings: NearSettings::default(),
            _values: PhantomData,
        }
    }

    /// The far tier.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// assert_eq!(cache.far().capacity(), 10);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn far(&self) -> &F {
        &self.inner.far
    }
}

impl<V: Clone + Send + Sync + 'static, F: Cache<V>> TieredCacheBuilder<V, F> {
    near_setters!();

    /// Builds a near cache kept true by the far tier's invalidations: subscribes to them now
    /// (an error if the channel cannot be set up). See the builder's docs.
    ///
    /// ```
    /// use cache_core::near::{InvalidationSink, Invalidations, Subscription};
    /// use cache_core::{Cache, CacheError};
    /// use cache_memory::InMemoryCache;
    /// use cache_tiered::TieredCache;
    /// use std::sync::Arc;
    ///
    /// /// A far tier that only says it is connected (a real one reports every change).
    /// struct Far<V>(InMemoryCache<V>);
    /// impl<V> Invalidations for Far<V> {
    ///     fn subscribe(&self, sink: Arc<dyn InvalidationSink>) -> Result<Subscription, CacheError> {
    ///         sink.connected(true);
    ///         Ok(Subscription::new(()))
    ///     }
    /// }
    /// # use cache_core::{CacheStats, CounterValue, Ttl};
    /// # use std::time::Duration;
    /// # impl<V: Clone + Send + Sync + 'static> Cache<V> for Far<V> {
    /// #     fn get(&self, k: &str) -> Result<Option<V>, CacheError> { self.0.get(k) }
    /// #     fn set(&self, k: &str, v: V, t: Ttl) -> Result<bool, CacheError> { Cache::set(&self.0, k, v, t) }
    /// #     fn delete(&self, k: &str) -> Result<bool, CacheError> { self.0.delete(k) }
    /// #     fn clear(&self) -> Result<(), CacheError> { self.0.clear() }
    /// #     fn exists(&self, k: &str) -> Result<bool, CacheError> { self.0.exists(k) }
    /// #     fn delete_pattern(&self, p: &str) -> Result<u64, CacheError> { self.0.delete_pattern(p) }
    /// #     fn stats(&self) -> CacheStats { self.0.stats() }
    /// #     fn add(&self, k: &str, v: V, t: Ttl) -> Result<bool, CacheError> { Cache::add(&self.0, k, v, t) }
    /// #     fn incr(&self, k: &str, d: i64) -> Result<i64, CacheError> where V: CounterValue { self.0.incr(k, d) }
    /// #     fn touch(&self, k: &str, t: Ttl) -> Result<bool, CacheError> { Cache::touch(&self.0, k, t) }
    /// #     fn ttl(&self, k: &str) -> Result<Option<Option<Duration>>, CacheError> { self.0.ttl(k) }
    /// # }
    /// let cache = TieredCache::builder(Far(InMemoryCache::<u8>::new(100, None)?)).build_invalidated()?;
    /// cache.set("k", 1, None)?;
    /// assert_eq!(cache.get("k")?, Some(1));
    /// # Ok::<(), CacheError>(())
    /// ```
    pub fn build_invalidated(self) -> Result<TieredCache<V, F>, CacheError>
    where
        F: Invalidations,
    {
        let core = self.settings.core::<V>(Chosen::Invalidated)?;
        let subscription = self.far.subscribe(Arc::new(Sink(Arc::clone(&core))))?;
        Ok(TieredCache {
            inner: Arc::new(Parts {
                core,
                far: self.far,
                stamp: None,
                _subscription: Some(subscription),
            }),
        })
    }

    /// Builds a near cache kept true by the far tier's entry stamps: every near hit checks
    /// that the entry is still the one its copy was read from, or, with
    /// [`max_staleness`](Self::max_staleness), once per that duration. See the builder's
    /// docs.
    ///
    /// ```no_run
    /// use cache_file::FileBasedCache;
    /// use cache_tiered::TieredCache;
    /// use std::time::Duration;
    ///
    /// let far = FileBasedCache::new("/var/cache/myapp", None)?;
    /// let cache = TieredCache::<String, _>::builder(far)
    ///     .max_staleness(Duration::from_millis(100))
    ///     .build_stamped()?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn build_stamped(self) -> Result<TieredCache<V, F>, CacheError>
    where
        F: EntryStamps,
    {
        let core = self.settings.core::<V>(Chosen::Stamped)?;
        Ok(TieredCache {
            inner: Arc::new(Parts {
                core,
                far: self.far,
                stamp: Some(<F as EntryStamps>::stamp),
                _subscription: None,
            }),
        })
    }

    /// Builds a near cache that checks nothing: a near copy is served until this process
    /// writes the key or it expires. Right only when no other process, and no other handle
    /// on the far tier, ever writes it (a far tier private to this tiered cache); otherwise
    /// reads are stale for as long as copies live. This process's writes keep their value as
    /// the near copy.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn build_without_coherence_no_other_writers(self) -> Result<TieredCache<V, F>, CacheError> {
        let core = self.settings.core::<V>(Chosen::Private)?;
        Ok(TieredCache {
            inner: Arc::new(Parts {
                core,
                far: self.far,
                stamp: None,
                _subscription: None,
            }),
        })
    }
}

impl<V: Clone + Send + Sync + 'static, F: Cache<V>> TieredCache<V, F> {
    /// The counters of each tier (the combined view is [`Cache::stats`]).
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// cache.set("k", 1, None)?;
    /// cache.get("k")?;
    /// let tiers = cache.tier_stats();
    /// assert_eq!((tiers.near_hits_served, tiers.far.sets), (1, 1));
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn tier_stats(&self) -> TierStats {
        self.inner.core.tier_stats(self.inner.far.stats())
    }

    /// The near copy of `key` if it may be served now (the stamp checked if needed).
    #[inline]
    fn near_hit(&self, key: &str) -> Result<Option<V>, CacheError> {
        let core = &self.inner.core;
        if core.bypassed() {
            return Ok(None);
        }
        let Some(copy) = core.near_copy(key) else {
            return Ok(None);
        };
        if core.trusted(&copy) {
            return Ok(Some(copy.value));
        }
        self.checked(key, copy)
    }

    /// A stamped copy due for a check: served if its entry is unchanged, else read again.
    #[cold]
    #[inline(never)]
    fn stale_or_checked(
        &self,
        key: &str,
        copy: crate::core::Slot<V>,
    ) -> Result<Option<V>, CacheError> {
        match self.checked(key, copy)? {
            Some(v) => Ok(Some(v)),
            None => self.fetch(key),
        }
    }

    /// A stamped copy checked against the far entry's stamp now.
    #[cold]
    fn checked(&self, key: &str, copy: crate::core::Slot<V>) -> Result<Option<V>, CacheError> {
        let (core, far) = (&self.inner.core, &self.inner.far);
        let Some(stamp_of) = self.inner.stamp else {
            return Ok(Some(copy.value));
        };
        let ticket = core.ticket(key);
        let now = core.now();
        let stamp = stamp_of(far, key)?;
        if stamp.is_some() && stamp == copy.stamp() {
            if matches!(
                core.coherence,
                crate::core::Coherence::Stamped {
                    max_staleness: Some(_)
                }
            ) {
                core.rechecked(
                    key,
                    &ticket,
                    copy.stamp().unwrap_or(Stamp::new([0; 4])),
                    now,
                );
            }
            return Ok(Some(copy.value));
        }
        core.unserved();
        core.drop_key(key, false);
        Ok(None)
    }

    /// Reads `key` from the far tier and fills the near tier (the lead of a flight).
    fn read_far(&self, key: &str) -> Result<Fetched<V>, CacheError> {
        let (core, far) = (&self.inner.core, &self.inner.far);
        let ticket = core.ticket(key);
        let before = match self.inner.stamp {
            Some(stamp_of) => stamp_of(far, key)?,
            None => None,
        };
        let value = far.get(key)?;
        if let Some(v) = &value {
            self.fill_after(key, &ticket, before, v)?;
        }
        Ok(Fetched { value, ticket })
    }

    /// Fills the near tier with `v`, just read from the far tier under `ticket` (and
    /// `before`, the entry's stamp before the read, when stamped).
    fn fill_after(
        &self,
        key: &str,
        ticket: &Ticket,
        before: Option<Stamp>,
        v: &V,
    ) -> Result<(), CacheError> {
        let (core, far) = (&self.inner.core, &self.inner.far);
        let measured = core.now();
        let Some(left) = far.ttl(key)? else {
            return Ok(()); // gone meanwhile
        };
        let stamp = match self.inner.stamp {
            Some(stamp_of) => {
                let after = stamp_of(far, key)?;
                if before.is_none() || after != before {
                    return Ok(()); // replaced while it was read: no fill
                }
                after
            }
            None => None,
        };
        core.fill(key, ticket, v.clone(), left, measured, stamp);
        Ok(())
    }

    /// A near miss: one far read per key for all the threads that miss together.
    fn fetch(&self, key: &str) -> Result<Option<V>, CacheError> {
        let core = &self.inner.core;
        let start = core.ticket(key);
        loop {
            let mut led = false;
            let got = match core.flights.run(key, || {
                led = true;
                self.read_far(key)
            }) {
                Ok(got) => got,
                // The loader error of a `get_or_insert_with` this read joined: not its own.
                Err(CacheError::Loader { .. }) if !led => continue,
                Err(e) => return Err(e),
            };
            if led {
                return Ok(got.value);
            }
            // The flight's read started before a change this caller may have seen: the
            // caller reads again rather than go back in time.
            if got.ticket.covers(&start) {
                core.joined(got.value.is_some());
                return Ok(got.value);
            }
        }
    }

    /// Drops the near copy of `key` after a write of it (the far write done or failed).
    fn wrote<T>(&self, key: &str, result: Result<T, CacheError>) -> Result<T, CacheError> {
        self.inner.core.drop_key(key, true);
        result
    }

    /// [`Cache::get`], callable without importing the trait.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// let _ = cache.get("a")?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        Cache::get(self, key)
    }

    /// [`Cache::get_many`], callable without importing the trait.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// let _ = cache.get_many(&["a", "b"])?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<V>>, CacheError> {
        Cache::get_many(self, keys)
    }

    /// [`Cache::delete`], callable without importing the trait.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// let _ = cache.delete("a")?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn delete(&self, key: &str) -> Result<bool, CacheError> {
        Cache::delete(self, key)
    }

    /// [`Cache::delete_many`], callable without importing the trait.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// let _ = cache.delete_many(&["a", "b"])?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn delete_many(&self, keys: &[&str]) -> Result<u64, CacheError> {
        Cache::delete_many(self, keys)
    }

    /// [`Cache::exists`], callable without importing the trait.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// let _ = cache.exists("a")?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn exists(&self, key: &str) -> Result<bool, CacheError> {
        Cache::exists(self, key)
    }

    /// [`Cache::clear`], callable without importing the trait.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// let _ = cache.clear()?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn clear(&self) -> Result<(), CacheError> {
        Cache::clear(self)
    }

    /// [`Cache::delete_pattern`], callable without importing the trait.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// let _ = cache.delete_pattern("a*")?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        Cache::delete_pattern(self, pattern)
    }

    /// [`Cache::ttl`], callable without importing the trait.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// let _ = cache.ttl("a")?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        Cache::ttl(self, key)
    }

    /// [`Cache::stats`], callable without importing the trait.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// let _ = cache.stats();
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn stats(&self) -> CacheStats {
        Cache::stats(self)
    }

    /// [`Cache::incr`], callable without importing the trait (caches of `i64`).
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<i64>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// assert_eq!(cache.incr("n", 2)?, 2);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        Cache::incr(self, key, delta)
    }

    /// [`Cache::decr`], callable without importing the trait (caches of `i64`).
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// let far = cache_memory::InMemoryCache::<i64>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// assert_eq!(cache.decr("n", 2)?, -2);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        Cache::decr(self, key, delta)
    }

    /// [`Cache::set`] with any `impl Into<Ttl>` (a `Duration`, an `Option<Duration>`).
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// use std::time::Duration;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// assert!(cache.set("a", 1, Duration::from_secs(60))?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn set(&self, key: &str, value: V, ttl: impl Into<Ttl>) -> Result<bool, CacheError> {
        Cache::set(self, key, value, ttl.into())
    }

    /// [`Cache::add`] with any `impl Into<Ttl>`.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// use std::time::Duration;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// assert!(cache.add("lock", 1, Duration::from_secs(30))?);
    /// assert!(!cache.add("lock", 2, Duration::from_secs(30))?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn add(&self, key: &str, value: V, ttl: impl Into<Ttl>) -> Result<bool, CacheError> {
        Cache::add(self, key, value, ttl.into())
    }

    /// [`Cache::touch`] with any `impl Into<Ttl>`.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// use std::time::Duration;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// cache.set("s", 1, Duration::from_secs(60))?;
    /// assert!(cache.touch("s", Duration::from_secs(1800))?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn touch(&self, key: &str, ttl: impl Into<Ttl>) -> Result<bool, CacheError> {
        Cache::touch(self, key, ttl.into())
    }

    /// [`Cache::set_many`] with any `impl Into<Ttl>`.
    ///
    /// ```
    /// use cache_tiered::TieredCache;
    /// use std::time::Duration;
    /// let far = cache_memory::InMemoryCache::<u8>::new(10, None)?;
    /// let cache = TieredCache::builder(far).build_without_coherence_no_other_writers()?;
    /// cache.set_many(vec![("a", 1), ("b", 2)], Duration::from_secs(60))?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn set_many(&self, entries: Vec<(&str, V)>, ttl: impl Into<Ttl>) -> Result<(), CacheError> {
        Cache::set_many(self, entries, ttl.into())
    }
}

impl<V: Clone + Send + Sync + 'static, F: Cache<V>> Cache<V> for TieredCache<V, F> {
    #[inline]
    fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        let core = &self.inner.core;
        if core.bypassed() {
            return self.inner.far.get(key);
        }
        match core.near_copy(key) {
            // The hit: one atomic load (the bypass flag) on top of the near tier's get.
            Some(copy) if copy.mark.is_none() || core.trusted(&copy) => Ok(Some(copy.value)),
            Some(copy) => self.stale_or_checked(key, copy),
            None => self.fetch(key),
        }
    }

    fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        let core = &self.inner.core;
        if !core.installs() {
            let r = self.inner.far.set(key, value, ttl);
            return self.wrote(key, r);
        }
        let ticket = core.ticket(key);
        let began = core.now();
        match self.inner.far.set(key, value.clone(), ttl) {
            Ok(stored) => {
                core.install(key, &ticket, value, ttl, began);
                Ok(stored)
            }
            Err(e) => self.wrote(key, Err(e)),
        }
    }

    fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let r = self.inner.far.delete(key);
        self.wrote(key, r)
    }

    fn clear(&self) -> Result<(), CacheError> {
        let r = self.inner.far.clear();
        self.inner.core.drop_all();
        r
    }

    fn exists(&self, key: &str) -> Result<bool, CacheError> {
        self.inner.far.exists(key)
    }

    fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        let r = self.inner.far.delete_pattern(pattern);
        self.inner.core.drop_matching(pattern);
        r
    }

    fn stats(&self) -> CacheStats {
        self.inner.core.combined(self.inner.far.stats())
    }

    fn add(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        let core = &self.inner.core;
        if !core.installs() {
            let r = self.inner.far.add(key, value, ttl);
            return self.wrote(key, r);
        }
        let ticket = core.ticket(key);
        let began = core.now();
        match self.inner.far.add(key, value.clone(), ttl) {
            Ok(true) => {
                core.install(key, &ticket, value, ttl, began);
                Ok(true)
            }
            r => self.wrote(key, r),
        }
    }

    fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        let r = self.inner.far.incr(key, delta);
        self.wrote(key, r)
    }

    fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        let r = self.inner.far.decr(key, delta);
        self.wrote(key, r)
    }

    fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        let r = self.inner.far.touch(key, ttl);
        self.wrote(key, r)
    }

    fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        self.inner.far.ttl(key)
    }

    fn set_many(&self, entries: Vec<(&str, V)>, ttl: Ttl) -> Result<(), CacheError> {
        let keys: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
        let r = self.inner.far.set_many(entries, ttl);
        for k in keys {
            self.inner.core.drop_key(k, true);
        }
        r
    }

    fn delete_many(&self, keys: &[&str]) -> Result<u64, CacheError> {
        let r = self.inner.far.delete_many(keys);
        for k in keys {
            self.inner.core.drop_key(k, true);
        }
        r
    }

    fn get_or_load(&self, key: &str, ttl: Ttl, loader: Loader<'_, V>) -> Result<V, CacheError> {
        if let Some(v) = self.near_hit(key)? {
            return Ok(v);
        }
        let (core, far) = (&self.inner.core, &self.inner.far);
        if core.bypassed() {
            return far.get_or_load(key, ttl, loader);
        }
        let start = core.ticket(key);
        let mut loader = Some(loader);
        loop {
            let mut led = false;
            let got = core.flights.run(key, || {
                led = true;
                let Some(loader) = loader.take() else {
                    return Err(CacheError::loader(
                        key,
                        cache_core::BoxError::from("the loader was already taken"),
                    ));
                };
                let ticket = core.ticket(key);
                let before = match self.inner.stamp {
                    Some(stamp_of) => stamp_of(far, key)?,
                    None => None,
                };
                let v = far.get_or_load(key, ttl, loader)?;
                self.fill_after(key, &ticket, before, &v)?;
                Ok(Fetched {
                    value: Some(v),
                    ticket,
                })
            });
            let got = match got {
                Ok(got) => got,
                // A plain read's flight never fails with a loader error: this is the
                // error of the loader another caller ran, which this caller shares.
                Err(e) => {
                    if !led {
                        core.joined(false);
                    }
                    return Err(e);
                }
            };
            if led {
                if let Some(v) = got.value {
                    return Ok(v);
                }
                continue;
            }
            if let Some(v) = got.value {
                if got.ticket.covers(&start) {
                    core.joined(false);
                    return Ok(v);
                }
            }
            if loader.is_none() {
                // Unreachable: a caller that led returned above.
                return Err(CacheError::loader(
                    key,
                    cache_core::BoxError::from("the loader was already taken"),
                ));
            }
        }
    }
}
