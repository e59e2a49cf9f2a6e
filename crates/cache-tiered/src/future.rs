//! [`AsyncTieredCache`]: the near cache in front of an async far tier.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use cache_core::near::{EntryStamps, Invalidations, Stamp};
use cache_core::{
    AsyncCache, AsyncLoader, BoxError, CacheError, CacheFuture, CacheStats, CounterValue, Ttl,
};

use crate::blocking::Parts;
use crate::core::{Coherence, Fetched, Sink, Slot, Ticket, TierStats};
use crate::settings::{near_setters, Chosen, NearSettings};

/// [`TieredCache`](crate::TieredCache) in front of an async far tier `F` (any
/// [`AsyncCache<V>`]: `AsyncFileCache`, `AsyncRedisCache`, ...), itself an
/// [`AsyncCache<V>`]. Same behaviour, same builder methods.
///
/// A near hit is answered during the call (the future returned is ready); a stamped copy's
/// check (one `stat` for files) is made during the call too, on the calling thread.
///
/// ```
/// # async fn f() -> Result<(), cache_core::CacheError> {
/// use cache_core::AsyncCache;
/// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
/// use cache_tiered::AsyncTieredCache;
/// use std::time::Duration;
///
/// let far = AsyncInMemoryCache::new(InMemoryCache::<String>::new(10_000, None)?);
/// let cache = AsyncTieredCache::builder(far).build_without_coherence_no_other_writers()?;
/// cache.set("k", "v".to_string(), Duration::from_secs(60)).await?;
/// assert_eq!(cache.get("k").await?.as_deref(), Some("v"));
/// # Ok(())
/// # }
/// ```
pub struct AsyncTieredCache<V, F> {
    inner: Arc<Parts<V, F>>,
}

impl<V, F> Clone for AsyncTieredCache<V, F> {
    fn clone(&self) -> Self {
        AsyncTieredCache {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<V, F> std::fmt::Debug for AsyncTieredCache<V, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncTieredCache")
            .field("coherence", &self.inner.core.coherence)
            .finish_non_exhaustive()
    }
}

/// Settings for an [`AsyncTieredCache`]: the same as
/// [`TieredCacheBuilder`](crate::TieredCacheBuilder)'s, with the same three `build_*`
/// methods choosing the coherence.
///
/// ```
/// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
/// use cache_tiered::AsyncTieredCache;
///
/// let far = AsyncInMemoryCache::new(InMemoryCache::<u64>::new(1_000, None)?);
/// let cache = AsyncTieredCache::builder(far)
///     .near_max_size(100)
///     .build_without_coherence_no_other_writers()?;
/// # Ok::<(), cache_core::CacheError>(())
/// ```
pub struct AsyncTieredCacheBuilder<V, F> {
    far: F,
    settings: NearSettings,
    _values: PhantomData<fn() -> V>,
}

impl<V, F> std::fmt::Debug for AsyncTieredCacheBuilder<V, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncTieredCacheBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<V, F> AsyncTieredCache<V, F> {
    /// A builder of a tiered cache in front of `far`.
    ///
    /// ```
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn builder(far: F) -> AsyncTieredCacheBuilder<V, F> {
        AsyncTieredCacheBuilder {
            far,
            settings: NearSettings::default(),
            _values: PhantomData,
        }
    }

    /// The far tier.
    ///
    /// ```
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// assert_eq!(cache.far().blocking().capacity(), 10);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn far(&self) -> &F {
        &self.inner.far
    }
}

impl<V: Clone + Send + Sync + 'static, F: AsyncCache<V>> AsyncTieredCacheBuilder<V, F> {
    near_setters!();

    /// [`TieredCacheBuilder::build_invalidated`](crate::TieredCacheBuilder::build_invalidated),
    /// for an async far tier.
    ///
    /// ```
    /// use cache_core::near::{InvalidationSink, Invalidations, Subscription};
    /// use cache_core::CacheError;
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// use std::sync::Arc;
    ///
    /// /// Only says it is connected (a real far tier reports every change).
    /// #[derive(Clone)]
    /// struct Far(AsyncInMemoryCache<u8>);
    /// impl Invalidations for Far {
    ///     fn subscribe(&self, sink: Arc<dyn InvalidationSink>) -> Result<Subscription, CacheError> {
    ///         sink.connected(true);
    ///         Ok(Subscription::new(()))
    ///     }
    /// }
    /// fn build<F: cache_core::AsyncCache<u8> + Invalidations>(far: F) -> Result<(), CacheError> {
    ///     let _cache = cache_tiered::AsyncTieredCache::builder(far).build_invalidated()?;
    ///     Ok(())
    /// }
    /// # Ok::<(), CacheError>(())
    /// ```
    pub fn build_invalidated(self) -> Result<AsyncTieredCache<V, F>, CacheError>
    where
        F: Invalidations,
    {
        let core = self.settings.core::<V>(Chosen::Invalidated)?;
        let subscription = self.far.subscribe(Arc::new(Sink(Arc::clone(&core))))?;
        Ok(AsyncTieredCache {
            inner: Arc::new(Parts {
                core,
                far: self.far,
                stamp: None,
                _subscription: Some(subscription),
            }),
        })
    }

    /// [`TieredCacheBuilder::build_stamped`](crate::TieredCacheBuilder::build_stamped), for
    /// an async far tier (the stamp is read on the calling thread: one `stat` for files).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use cache_file::{AsyncFileCache, FileBasedCache};
    /// let far = AsyncFileCache::new(FileBasedCache::new("/var/cache/myapp", None)?);
    /// let cache = cache_tiered::AsyncTieredCache::<String, _>::builder(far).build_stamped()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn build_stamped(self) -> Result<AsyncTieredCache<V, F>, CacheError>
    where
        F: EntryStamps,
    {
        let core = self.settings.core::<V>(Chosen::Stamped)?;
        Ok(AsyncTieredCache {
            inner: Arc::new(Parts {
                core,
                far: self.far,
                stamp: Some(<F as EntryStamps>::stamp),
                _subscription: None,
            }),
        })
    }

    /// [`TieredCacheBuilder::build_without_coherence_no_other_writers`](crate::TieredCacheBuilder::build_without_coherence_no_other_writers):
    /// nothing checks; only for a far tier nobody else writes.
    ///
    /// ```
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn build_without_coherence_no_other_writers(
        self,
    ) -> Result<AsyncTieredCache<V, F>, CacheError> {
        let core = self.settings.core::<V>(Chosen::Private)?;
        Ok(AsyncTieredCache {
            inner: Arc::new(Parts {
                core,
                far: self.far,
                stamp: None,
                _subscription: None,
            }),
        })
    }
}

impl<V: Clone + Send + Sync + 'static, F: AsyncCache<V>> AsyncTieredCache<V, F> {
    /// The counters of each tier (the combined view is [`AsyncCache::stats`]).
    ///
    /// ```
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// assert_eq!(cache.tier_stats().near_hits_served, 0);
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

    #[cold]
    fn checked(&self, key: &str, copy: Slot<V>) -> Result<Option<V>, CacheError> {
        let (core, far) = (&self.inner.core, &self.inner.far);
        let Some(stamp_of) = self.inner.stamp else {
            return Ok(Some(copy.value));
        };
        let ticket = core.ticket(key);
        let now = core.now();
        let stamp = stamp_of(far, key)?;
        if let (Some(s), true) = (stamp, stamp == copy.stamp()) {
            if matches!(
                core.coherence,
                Coherence::Stamped {
                    max_staleness: Some(_)
                }
            ) {
                core.rechecked(key, &ticket, s, now);
            }
            return Ok(Some(copy.value));
        }
        core.unserved();
        core.drop_key(key, false);
        Ok(None)
    }

    async fn fill_after(
        &self,
        key: &str,
        ticket: &Ticket,
        before: Option<Stamp>,
        v: &V,
    ) -> Result<(), CacheError> {
        let (core, far) = (&self.inner.core, &self.inner.far);
        let measured = core.now();
        let Some(left) = far.ttl(key).await? else {
            return Ok(());
        };
        let stamp = match self.inner.stamp {
            Some(stamp_of) => {
                let after = stamp_of(far, key)?;
                if before.is_none() || after != before {
                    return Ok(());
                }
                after
            }
            None => None,
        };
        core.fill(key, ticket, v.clone(), left, measured, stamp);
        Ok(())
    }

    async fn read_far(&self, key: &str) -> Result<Fetched<V>, CacheError> {
        let (core, far) = (&self.inner.core, &self.inner.far);
        let ticket = core.ticket(key);
        let before = match self.inner.stamp {
            Some(stamp_of) => stamp_of(far, key)?,
            None => None,
        };
        let value = far.get(key).await?;
        if let Some(v) = &value {
            self.fill_after(key, &ticket, before, v).await?;
        }
        Ok(Fetched { value, ticket })
    }

    async fn fetch(&self, key: &str) -> Result<Option<V>, CacheError> {
        let core = &self.inner.core;
        let start = core.ticket(key);
        loop {
            let mut led = false;
            let led_ref = &mut led;
            let got = core
                .flights
                .run_async(key, || {
                    *led_ref = true;
                    self.read_far(key)
                })
                .await;
            let got = match got {
                Ok(got) => got,
                Err(CacheError::Loader { .. }) if !led => continue,
                Err(e) => return Err(e),
            };
            if led {
                return Ok(got.value);
            }
            if got.ticket.covers(&start) {
                core.joined(got.value.is_some());
                return Ok(got.value);
            }
        }
    }

    async fn load<'a>(
        &'a self,
        key: &'a str,
        ttl: Ttl,
        loader: AsyncLoader<'a, V>,
    ) -> Result<V, CacheError> {
        let (core, far) = (&self.inner.core, &self.inner.far);
        let start = core.ticket(key);
        let mut loader = Some(loader);
        loop {
            let mut led = false;
            let (led_ref, slot) = (&mut led, &mut loader);
            let got = core
                .flights
                .run_async(key, || async move {
                    *led_ref = true;
                    let Some(loader) = slot.take() else {
                        return Err(CacheError::loader(
                            key,
                            BoxError::from("the loader was already taken"),
                        ));
                    };
                    let ticket = core.ticket(key);
                    let before = match self.inner.stamp {
                        Some(stamp_of) => stamp_of(far, key)?,
                        None => None,
                    };
                    let v = far.get_or_load(key, ttl, loader).await?;
                    self.fill_after(key, &ticket, before, &v).await?;
                    Ok(Fetched {
                        value: Some(v),
                        ticket,
                    })
                })
                .await;
            let got = match got {
                Ok(got) => got,
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
                return Err(CacheError::loader(
                    key,
                    BoxError::from("the loader was already taken"),
                ));
            }
        }
    }

    /// [`AsyncCache::get`], callable without importing the trait.
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// let _ = cache.get("a").await?;
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<Option<V>, CacheError>> {
        AsyncCache::get(self, key)
    }

    /// [`AsyncCache::get_many`], callable without importing the trait.
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// let _ = cache.get_many(&["a", "b"]).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
    ) -> CacheFuture<'a, Result<Vec<Option<V>>, CacheError>> {
        AsyncCache::get_many(self, keys)
    }

    /// [`AsyncCache::delete`], callable without importing the trait.
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// let _ = cache.delete("a").await?;
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        AsyncCache::delete(self, key)
    }

    /// [`AsyncCache::delete_many`], callable without importing the trait.
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// let _ = cache.delete_many(&["a", "b"]).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn delete_many<'a>(
        &'a self,
        keys: &'a [&'a str],
    ) -> CacheFuture<'a, Result<u64, CacheError>> {
        AsyncCache::delete_many(self, keys)
    }

    /// [`AsyncCache::exists`], callable without importing the trait.
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// let _ = cache.exists("a").await?;
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn exists<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        AsyncCache::exists(self, key)
    }

    /// [`AsyncCache::delete_pattern`], callable without importing the trait.
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// let _ = cache.delete_pattern("a*").await?;
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn delete_pattern<'a>(
        &'a self,
        pattern: &'a str,
    ) -> CacheFuture<'a, Result<u64, CacheError>> {
        AsyncCache::delete_pattern(self, pattern)
    }

    /// [`AsyncCache::ttl`], callable without importing the trait.
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// let _ = cache.ttl("a").await?;
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn ttl<'a>(
        &'a self,
        key: &'a str,
    ) -> CacheFuture<'a, Result<Option<Option<Duration>>, CacheError>> {
        AsyncCache::ttl(self, key)
    }

    /// [`AsyncCache::incr`], callable without importing the trait.
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<i64>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// let _ = cache.incr("n", 1).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn incr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        AsyncCache::incr(self, key, delta)
    }

    /// [`AsyncCache::decr`], callable without importing the trait.
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<i64>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// let _ = cache.decr("n", 1).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn decr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        AsyncCache::decr(self, key, delta)
    }

    /// [`AsyncCache::clear`], callable without importing the trait.
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// cache.clear().await?;
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn clear(&self) -> CacheFuture<'_, Result<(), CacheError>> {
        AsyncCache::clear(self)
    }

    /// [`AsyncCache::stats`], callable without importing the trait.
    ///
    /// ```
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// assert_eq!(cache.stats().hits, 0);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn stats(&self) -> CacheStats {
        AsyncCache::stats(self)
    }

    /// [`AsyncCache::set`] with any `impl Into<Ttl>` (a `Duration`, an `Option<Duration>`).
    ///
    /// ```
    /// # async fn f() -> Result<(), cache_core::CacheError> {
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// use std::time::Duration;
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// assert!(cache.set("a", 1, Duration::from_secs(60)).await?);
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
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// use std::time::Duration;
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// assert!(cache.add("lock", 1, Duration::from_secs(30)).await?);
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
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// use std::time::Duration;
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
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
    /// use cache_memory::{AsyncInMemoryCache, InMemoryCache};
    /// use std::time::Duration;
    /// let far = AsyncInMemoryCache::new(InMemoryCache::<u8>::new(10, None)?);
    /// let cache = cache_tiered::AsyncTieredCache::builder(far)
    ///     .build_without_coherence_no_other_writers()?;
    /// cache.set_many(vec![("a", 1), ("b", 2)], Duration::from_secs(60)).await?;
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

impl<V: Clone + Send + Sync + 'static, F: AsyncCache<V>> AsyncCache<V> for AsyncTieredCache<V, F> {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<Option<V>, CacheError>> {
        match self.near_hit(key) {
            Ok(Some(v)) => return CacheFuture::ready(Ok(Some(v))),
            Err(e) => return CacheFuture::ready(Err(e)),
            Ok(None) => {}
        }
        if self.inner.core.bypassed() {
            return self.inner.far.get(key);
        }
        CacheFuture::boxed(self.fetch(key))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(async move {
            let core = &self.inner.core;
            if !core.installs() {
                let r = self.inner.far.set(key, value, ttl).await;
                core.drop_key(key, true);
                return r;
            }
            let ticket = core.ticket(key);
            let began = core.now();
            match self.inner.far.set(key, value.clone(), ttl).await {
                Ok(stored) => {
                    core.install(key, &ticket, value, ttl, began);
                    Ok(stored)
                }
                Err(e) => {
                    core.drop_key(key, true);
                    Err(e)
                }
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(async move {
            let r = self.inner.far.delete(key).await;
            self.inner.core.drop_key(key, true);
            r
        })
    }

    fn clear(&self) -> CacheFuture<'_, Result<(), CacheError>> {
        CacheFuture::boxed(async move {
            let r = self.inner.far.clear().await;
            self.inner.core.drop_all();
            r
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Result<bool, CacheError>> {
        self.inner.far.exists(key)
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> CacheFuture<'a, Result<u64, CacheError>> {
        CacheFuture::boxed(async move {
            let r = self.inner.far.delete_pattern(pattern).await;
            self.inner.core.drop_matching(pattern);
            r
        })
    }

    fn stats(&self) -> CacheStats {
        self.inner.core.combined(self.inner.far.stats())
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: V,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(async move {
            let core = &self.inner.core;
            if !core.installs() {
                let r = self.inner.far.add(key, value, ttl).await;
                core.drop_key(key, true);
                return r;
            }
            let ticket = core.ticket(key);
            let began = core.now();
            match self.inner.far.add(key, value.clone(), ttl).await {
                Ok(true) => {
                    core.install(key, &ticket, value, ttl, began);
                    Ok(true)
                }
                r => {
                    core.drop_key(key, true);
                    r
                }
            }
        })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        CacheFuture::boxed(async move {
            let r = self.inner.far.incr(key, delta).await;
            self.inner.core.drop_key(key, true);
            r
        })
    }

    fn decr<'a>(&'a self, key: &'a str, delta: i64) -> CacheFuture<'a, Result<i64, CacheError>>
    where
        V: CounterValue,
    {
        CacheFuture::boxed(async move {
            let r = self.inner.far.decr(key, delta).await;
            self.inner.core.drop_key(key, true);
            r
        })
    }

    fn touch<'a>(&'a self, key: &'a str, ttl: Ttl) -> CacheFuture<'a, Result<bool, CacheError>> {
        CacheFuture::boxed(async move {
            let r = self.inner.far.touch(key, ttl).await;
            self.inner.core.drop_key(key, true);
            r
        })
    }

    fn ttl<'a>(
        &'a self,
        key: &'a str,
    ) -> CacheFuture<'a, Result<Option<Option<Duration>>, CacheError>> {
        self.inner.far.ttl(key)
    }

    fn set_many<'a>(
        &'a self,
        entries: Vec<(&'a str, V)>,
        ttl: Ttl,
    ) -> CacheFuture<'a, Result<(), CacheError>>
    where
        V: 'a,
    {
        CacheFuture::boxed(async move {
            let keys: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
            let r = self.inner.far.set_many(entries, ttl).await;
            for k in keys {
                self.inner.core.drop_key(k, true);
            }
            r
        })
    }

    fn delete_many<'a>(&'a self, keys: &'a [&'a str]) -> CacheFuture<'a, Result<u64, CacheError>> {
        CacheFuture::boxed(async move {
            let r = self.inner.far.delete_many(keys).await;
            for k in keys {
                self.inner.core.drop_key(k, true);
            }
            r
        })
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
        match self.near_hit(key) {
            Ok(Some(v)) => return CacheFuture::ready(Ok(v)),
            Err(e) => return CacheFuture::ready(Err(e)),
            Ok(None) => {}
        }
        if self.inner.core.bypassed() {
            return self.inner.far.get_or_load(key, ttl, loader);
        }
        CacheFuture::boxed(self.load(key, ttl, loader))
    }
}
