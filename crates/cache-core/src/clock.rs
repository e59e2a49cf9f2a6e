use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::Timestamp;

/// A source of the current time for backends that keep their own time.
///
/// Backends take a [`SharedClock`] at construction so that tests can substitute a
/// [`MockClock`] and step through expiry without sleeping.
///
/// ```
/// use cache_core::{Clock, MockClock};
/// use std::time::Duration;
///
/// let clock = MockClock::new();
/// let before = clock.now();
/// clock.advance(Duration::from_millis(5));
/// assert_eq!(clock.now().as_nanos() - before.as_nanos(), 5_000_000);
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// A clock shared between a cache and whoever else reads it.
pub type SharedClock = Arc<dyn Clock>;

/// Wall-clock time (`SystemTime`). Right for state that outlives the process, such as files
/// read back by other processes; it follows the system clock when that is changed.
///
/// ```
/// use cache_core::{Clock, SystemClock};
/// assert!(SystemClock.now().as_nanos() > 0);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp::ZERO.saturating_add(since)
    }
}

/// Monotonic time anchored to the wall clock at creation: it never goes backwards, so a
/// change of the system clock neither resurrects nor prematurely expires in-memory entries.
///
/// ```
/// use cache_core::{Clock, MonotonicClock};
/// let clock = MonotonicClock::new();
/// let a = clock.now();
/// assert!(clock.now() >= a);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    anchor_wall: Timestamp,
    anchor: Instant,
}

impl MonotonicClock {
    /// A clock that starts at the current wall-clock time.
    ///
    /// ```
    /// let _clock = cache_core::MonotonicClock::new();
    /// ```
    pub fn new() -> Self {
        MonotonicClock {
            anchor_wall: SystemClock.now(),
            anchor: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now(&self) -> Timestamp {
        self.anchor_wall.saturating_add(self.anchor.elapsed())
    }
}

/// A clock that moves only when told to. Clones share the same time, so a test keeps one
/// clone and hands another to the cache.
///
/// ```
/// use cache_core::{Clock, MockClock, Timestamp};
/// use std::time::Duration;
///
/// let clock = MockClock::at(Timestamp::from_nanos(0));
/// let for_cache = clock.clone();
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(for_cache.now(), Timestamp::from_nanos(1_000_000_000));
/// clock.set(Timestamp::from_nanos(42));
/// assert_eq!(for_cache.now().as_nanos(), 42);
/// ```
#[derive(Debug, Clone)]
pub struct MockClock {
    nanos: Arc<AtomicU64>,
}

impl MockClock {
    /// A mock clock starting at a fixed, realistic time (2024-01-01T00:00:00Z), so that
    /// files and logs written under it look sane.
    ///
    /// ```
    /// use cache_core::{Clock, MockClock};
    /// assert_eq!(MockClock::new().now(), MockClock::new().now());
    /// ```
    pub fn new() -> Self {
        Self::at(Timestamp::from_nanos(1_704_067_200 * 1_000_000_000))
    }

    /// A mock clock starting at `t`.
    ///
    /// ```
    /// use cache_core::{Clock, MockClock, Timestamp};
    /// assert_eq!(MockClock::at(Timestamp::from_nanos(9)).now().as_nanos(), 9);
    /// ```
    pub fn at(t: Timestamp) -> Self {
        MockClock {
            nanos: Arc::new(AtomicU64::new(t.as_nanos())),
        }
    }

    /// Moves the clock forward by `d` (saturating).
    ///
    /// ```
    /// use cache_core::{Clock, MockClock};
    /// use std::time::Duration;
    /// let c = MockClock::new();
    /// let t0 = c.now();
    /// c.advance(Duration::from_nanos(1));
    /// assert!(c.now() > t0);
    /// ```
    pub fn advance(&self, d: Duration) {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(add))
            });
    }

    /// Sets the clock to `t` (which may be earlier than now).
    ///
    /// ```
    /// use cache_core::{Clock, MockClock, Timestamp};
    /// let c = MockClock::new();
    /// c.set(Timestamp::ZERO);
    /// assert_eq!(c.now(), Timestamp::ZERO);
    /// ```
    pub fn set(&self, t: Timestamp) {
        self.nanos.store(t.as_nanos(), Ordering::SeqCst);
    }

    /// This clock as a [`SharedClock`] for a cache's constructor.
    ///
    /// ```
    /// use cache_core::{Clock, MockClock};
    /// let clock = MockClock::new();
    /// let shared = clock.shared();
    /// assert_eq!(shared.now(), clock.now());
    /// ```
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

impl Default for MockClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MockClock {
    #[inline]
    fn now(&self) -> Timestamp {
        Timestamp::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}
