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

use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{channel, Receiver, Sender};

/// A gate a far read waits at, once armed: it tells `entered` after reading the far value
/// and waits for `release` before returning it.
pub struct Gate {
    entered: Sender<()>,
    release: Receiver<()>,
}

/// The test's side of an armed gate.
pub struct GateHandle {
    pub entered: Receiver<()>,
    pub release: Sender<()>,
}

/// A far tier over [`Reporting`] whose reads can be held at a gate, whose calls are
/// counted, and whose writes can be made to fail.
#[derive(Clone)]
pub struct Gated<V> {
    pub far: Reporting<V>,
    gate: Arc<Mutex<Option<Gate>>>,
    pub gets: Arc<AtomicU64>,
    pub loads: Arc<AtomicU64>,
    pub fail_writes: Arc<AtomicBool>,
}

impl<V: Clone + Send + Sync + 'static> Gated<V> {
    pub fn new(cache: InMemoryCache<V>) -> Self {
        Gated {
            far: Reporting::new(cache),
            gate: Arc::default(),
            gets: Arc::default(),
            loads: Arc::default(),
            fail_writes: Arc::default(),
        }
    }

    /// The next far read (`get` or `get_or_load`) waits at the gate.
    pub fn arm(&self) -> GateHandle {
        let (entered_tx, entered_rx) = channel();
        let (release_tx, release_rx) = channel();
        *self.gate.lock().unwrap() = Some(Gate {
            entered: entered_tx,
            release: release_rx,
        });
        GateHandle {
            entered: entered_rx,
            release: release_tx,
        }
    }

    fn wait_at_gate(&self) {
        let gate = self.gate.lock().unwrap().take();
        if let Some(gate) = gate {
            let _ = gate.entered.send(());
            let _ = gate.release.recv();
        }
    }

    fn write<T>(&self, f: impl FnOnce() -> Result<T, CacheError>) -> Result<T, CacheError> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(CacheError::io(
                "writing (failure injected by the test)",
                std::io::Error::other("injected"),
            ));
        }
        f()
    }
}

impl<V: Clone + Send + Sync + 'static> Invalidations for Gated<V> {
    fn subscribe(&self, sink: Arc<dyn InvalidationSink>) -> Result<Subscription, CacheError> {
        self.far.subscribe(sink)
    }
}

impl<V: Clone + Send + Sync + 'static> Cache<V> for Gated<V> {
    fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        let v = self.far.get(key);
        self.wait_at_gate();
        v
    }
    fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        self.write(|| self.far.set(key, value, ttl))
    }
    fn delete(&self, key: &str) -> Result<bool, CacheError> {
        self.write(|| self.far.delete(key))
    }
    fn clear(&self) -> Result<(), CacheError> {
        self.write(|| self.far.clear())
    }
    fn exists(&self, key: &str) -> Result<bool, CacheError> {
        self.far.exists(key)
    }
    fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        self.write(|| self.far.delete_pattern(pattern))
    }
    fn stats(&self) -> CacheStats {
        self.far.stats()
    }
    fn add(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        self.write(|| self.far.add(key, value, ttl))
    }
    fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError>
    where
        V: CounterValue,
    {
        self.write(|| self.far.incr(key, delta))
    }
    fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        self.write(|| self.far.touch(key, ttl))
    }
    fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        self.far.ttl(key)
    }
    fn get_or_load(&self, key: &str, ttl: Ttl, loader: Loader<'_, V>) -> Result<V, CacheError>
    where
        V: Clone,
    {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let v = self.far.get_or_load(key, ttl, loader);
        self.wait_at_gate();
        v
    }
}
