//! The public faces of `incr`, `decr`, `touch` and `ttl` on [`FileBasedCache`] (no value
//! type named), and the [`Counter`] that stores a count as the cache's codec does.

use std::time::Duration;

use cache_core::codec::Codec;
use cache_core::observe::Op;
use cache_core::{CacheError, CounterChange, Ttl};

use super::cache::FileBasedCache;
use crate::common::ops::Counter;

/// The [`Counter`] of a cache, for the key being counted.
struct CounterOf<'a, C> {
    cache: &'a FileBasedCache<C>,
    key: &'a str,
}

impl<C: Codec> Counter for CounterOf<'_, C> {
    fn encode(&self, buf: &mut Vec<u8>, count: i64) -> Result<(), CacheError> {
        self.cache.encoding.encode_into(buf, self.key, &count)
    }
    fn decode(&self, bytes: &[u8]) -> Option<i64> {
        self.cache.encoding.decode(bytes)
    }
}

impl<C: Codec> FileBasedCache<C> {
    fn counter<'a>(&'a self, key: &'a str) -> CounterOf<'a, C> {
        CounterOf { cache: self, key }
    }

    /// [`Cache::incr`](cache_core::Cache::incr) without naming a value type: adds `delta` to
    /// the `i64` counter under `key` and returns the new count, atomically across threads and
    /// processes (the entry's lock file is held across the read and the write). An absent key
    /// starts at 0 with the default TTL; an existing counter keeps its TTL.
    ///
    /// ```
    /// use cache_core::Cache;
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// assert_eq!(cache.incr("visits", 1)?, 1);
    /// assert_eq!(cache.incr("visits", 2)?, 3);
    /// assert_eq!(Cache::<i64>::get(&cache, "visits")?, Some(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        let op = self.inner.observe.op(Op::Incr, key);
        op.done(
            self.inner
                .incr(key, CounterChange::Add(delta), &self.counter(key)),
        )
    }

    /// [`Cache::decr`](cache_core::Cache::decr) without naming a value type.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// assert_eq!(cache.decr("stock", 2)?, -2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        let op = self.inner.observe.op(Op::Decr, key);
        op.done(
            self.inner
                .incr(key, CounterChange::Sub(delta), &self.counter(key)),
        )
    }

    /// [`Cache::touch`](cache_core::Cache::touch) without naming a value type, with any
    /// `impl Into<Ttl>`: gives the live entry a new TTL, counted from now (the file is
    /// rewritten with a new header).
    ///
    /// ```
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.set("k", 1u8, None)?;
    /// assert!(cache.touch("k", Duration::from_secs(60))?);
    /// assert!(!cache.touch("absent", None)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn touch(&self, key: &str, ttl: impl Into<Ttl>) -> Result<bool, CacheError> {
        let op = self.inner.observe.op(Op::Touch, key);
        op.done(self.inner.touch(key, ttl.into()))
    }

    /// [`Cache::ttl`](cache_core::Cache::ttl) without naming a value type: the time the live
    /// entry has left, from its header (the payload is not read).
    ///
    /// ```
    /// use cache_core::{Cache, Ttl};
    /// let dir = tempfile::tempdir()?;
    /// let cache = cache_file::FileBasedCache::new(dir.path(), None)?;
    /// cache.set("k", 1u8, Ttl::Never)?;
    /// assert_eq!(cache.ttl("k")?, Some(None));
    /// assert_eq!(cache.ttl("absent")?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        let op = self.inner.observe.op(Op::Ttl, key);
        op.done(self.inner.time_left(key))
    }
}
