//! Test support: a far tier that reports its changes like a Redis cache with client
//! tracking would (`Invalidations` on an in-memory cache), with a switch to stop reporting.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::near::{InvalidationSink, Invalidations, Subscription};
use cache_core::{Cache, CacheError, CacheStats, CounterValue, Loader, Ttl};
use cache_memory::InMemoryCache;

/// An in-memory far tier whose every write (through any handle) is reported to the
/// subscribed sinks, unless `quiet` (then the test reports by hand, or not at all).
#[derive(Clone)]
pub struct Reporting<V> {
    pub cache: InMemoryCache<V>,
    pub sinks: Arc<Mutex<Vec<Arc<dyn InvalidationSink>>>>,
    pub quiet: Arc<AtomicBool>,
}

impl<V: Clone + Send + Sync + 'static> Reporting<V> {
    pub fn new(cache: InMemoryCache<V>) -> Self {
        Reporting {
            cache,
            sinks: Arc::default(),
            quiet: Arc::default(),
        }
    }

    /// What the far tier's listener does for a change of `key`.
    pub fn report(&self, key: &str) {
        for s in self.sinks.lock().unwrap().iter() {
            s.invalidate(key);
        }
    }

    pub fn report_all(&self) {
        for s in self.sinks.lock().unwrap().iter() {
            s.invalidate_all();
        }
    }

    pub fn connected(&self, up: bool) {
        for s in self.sinks.lock().unwrap().iter() {
            if up {
                s.invalidate_all();
            }
            s.connected(up);
        }
    }

    fn changed(&self, key: &str) {
        if !self.quiet.load(Ordering::SeqCst) {
            self.report(key);
        }
    }

    fn changed_all(&self) {
        if !self.quiet.load(Ordering::SeqCst) {
            self.report_all();
        }
    }
}

impl<V: Clone + Send + Sync + 'static> Invalidations for Reporting<V> {
    fn subscribe(&self, sink: Arc<dyn InvalidationSink>) -> Result<Subscription, CacheError> {
        sink.connected(true);
        self.sinks.lock().unwrap().push(sink);
        Ok(Subscription::new(()))
    }
}

impl<V: Clone + Send + Sync + 'static> Cache<V> for Reporting<V> {
    fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        self.cache.get(key)
    }
    fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        let r = Cache::set(&self.cache, key, value, ttl);
        self.changed(key);
        r
    }
    fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let r = self.cache.delete(key);
        self.changed(key);
        r
    }
    fn clear(&self) -> Result<(), CacheError> {
        let r = self.cache.clear();
        self.changed_all();
        r
    }
    fn exists(&self, key: &str) -> Result<bool, CacheError> {
        self.cache.exists(key)
    }
    fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        let r = self.cache.delete_pattern(pattern);
        self.changed_all();
        r
    }
    fn stats(&self) -> CacheStats {
        self.cache.stats()
    }
    fn add(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        let r = Cache::add(&self.cache, key, value, ttl);
        self.changed(key);
        r
    }
    fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        let r = self.cache.incr(key, delta);
        self.changed(key);
        r
    }
    fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        let r = self.cache.decr(key, delta);
        self.changed(key);
        r
    }
    fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        let r = Cache::touch(&self.cache, key, ttl);
        self.changed(key);
        r
    }
    fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        self.cache.ttl(key)
    }
    fn get_or_load(&self, key: &str, ttl: Ttl, loader: Loader<'_, V>) -> Result<V, CacheError>
    where
        V: Clone,
    {
        let r = self.cache.get_or_load(key, ttl, loader);
        self.changed(key);
        r
    }
}
