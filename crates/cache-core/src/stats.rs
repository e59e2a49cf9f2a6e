use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of one cache instance's counters.
///
/// Counters are per instance, exact under concurrency, and never reset by `clear()`. See the
/// crate docs for exactly what each operation counts.
///
/// ```
/// use cache_core::CacheStats;
///
/// let mut stats = CacheStats::default();
/// assert_eq!(stats.hit_rate(), 0.0);
/// stats.hits = 3;
/// stats.misses = 1;
/// assert_eq!(stats.hit_rate(), 0.75);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// `get`s that returned a value.
    pub hits: u64,
    /// `get`s of an absent, expired or undecodable entry.
    pub misses: u64,
    /// `set`s (a zero-TTL `set` included), `add`s that stored, and `incr`/`decr` writes.
    pub sets: u64,
    /// Live entries removed by `delete`, `delete_many` and `delete_pattern`.
    pub deletes: u64,
    /// Live entries removed to respect a size bound.
    pub evictions: u64,
    /// Expired entries this instance found and removed.
    pub expirations: u64,
    /// Entries currently stored, where the backend can tell cheaply; `None` otherwise.
    /// Entries that expired but were not yet removed are included.
    pub entries: Option<u64>,
}

impl CacheStats {
    /// `hits / (hits + misses)`, or 0 when there were no gets.
    ///
    /// ```
    /// let stats = cache_core::CacheStats::default();
    /// assert_eq!(stats.hit_rate(), 0.0);
    /// ```
    pub fn hit_rate(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

/// Thread-safe counters behind a [`CacheStats`], for backends that do not keep their counters
/// under a lock of their own.
///
/// ```
/// use cache_core::AtomicStats;
///
/// let stats = AtomicStats::default();
/// stats.hit();
/// stats.miss();
/// stats.add_deletes(2);
/// let snap = stats.snapshot(Some(5));
/// assert_eq!((snap.hits, snap.misses, snap.deletes, snap.entries), (1, 1, 2, Some(5)));
/// ```
#[derive(Debug, Default)]
pub struct AtomicStats {
    hits: AtomicU64,
    misses: AtomicU64,
    sets: AtomicU64,
    deletes: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
}

macro_rules! counter {
    ($one:ident, $many:ident, $field:ident, $what:literal) => {
        #[doc = concat!("Counts one ", $what, ".")]
        #[inline]
        pub fn $one(&self) {
            self.$field.fetch_add(1, Ordering::Relaxed);
        }
        #[doc = concat!("Counts `n` ", $what, "s.")]
        #[inline]
        pub fn $many(&self, n: u64) {
            self.$field.fetch_add(n, Ordering::Relaxed);
        }
    };
}

impl AtomicStats {
    counter!(hit, add_hits, hits, "hit");
    counter!(miss, add_misses, misses, "miss");
    counter!(set, add_sets, sets, "set");
    counter!(delete, add_deletes, deletes, "delete");
    counter!(eviction, add_evictions, evictions, "eviction");
    counter!(expiration, add_expirations, expirations, "expiration");

    /// The counters now, with the entry count the backend supplies.
    ///
    /// ```
    /// let snap = cache_core::AtomicStats::default().snapshot(None);
    /// assert_eq!(snap, cache_core::CacheStats::default());
    /// ```
    pub fn snapshot(&self, entries: Option<u64>) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            sets: self.sets.load(Ordering::Relaxed),
            deletes: self.deletes.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            expirations: self.expirations.load(Ordering::Relaxed),
            entries,
        }
    }
}
