/// The value type of a cache that holds counters: what [`Cache::incr`](crate::Cache::incr)
/// and [`Cache::decr`](crate::Cache::decr) read and write.
///
/// Counters are `i64` on every backend: `incr` on a `Cache<i64>` returns the new count, and
/// `get` on the same cache reads it back as an `i64`. Backends that store any serde type (file,
/// Redis) hold counters in a form that their `get::<i64>` decodes, so a counter written by
/// `incr` and an `i64` written by `set` are the same thing; other value types cannot call
/// `incr` (a compile error rather than a runtime one).
///
/// ```
/// use cache_core::CounterValue;
/// assert_eq!(i64::from_counter(7).to_counter(), Some(7));
/// ```
pub trait CounterValue: Sized {
    /// The value that holds the count `n`.
    fn from_counter(n: i64) -> Self;
    /// The count this value holds, or `None` if it is not a counter.
    fn to_counter(&self) -> Option<i64>;
}

impl CounterValue for i64 {
    #[inline]
    fn from_counter(n: i64) -> Self {
        n
    }

    #[inline]
    fn to_counter(&self) -> Option<i64> {
        Some(*self)
    }
}

/// A change to a counter: [`Cache::incr`](crate::Cache::incr)'s addition or
/// [`Cache::decr`](crate::Cache::decr)'s subtraction. They are kept apart because a
/// subtraction is not always the addition of its negation: `decr(k, i64::MIN)` on a count of
/// `-1` is `i64::MAX`, but `-i64::MIN` has no `i64`.
///
/// ```
/// use cache_core::CounterChange;
/// assert_eq!(CounterChange::Sub(i64::MIN).apply(-1), Some(i64::MAX));
/// assert_eq!(CounterChange::Sub(i64::MIN).apply(0), None);
/// assert_eq!(CounterChange::Add(2).apply(i64::MAX - 2), Some(i64::MAX));
/// assert_eq!(CounterChange::Sub(3).added(), -3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterChange {
    /// `incr(key, n)`.
    Add(i64),
    /// `decr(key, n)`.
    Sub(i64),
}

impl CounterChange {
    /// The new count, or `None` when it would overflow `i64`. An absent counter counts as 0.
    #[inline]
    pub fn apply(self, count: i64) -> Option<i64> {
        match self {
            CounterChange::Add(n) => count.checked_add(n),
            CounterChange::Sub(n) => count.checked_sub(n),
        }
    }

    /// The amount added, as a [`CacheError::CounterOverflow`](crate::CacheError) names it:
    /// `-n` for `Sub(n)`, and `i64::MIN` for `Sub(i64::MIN)` (whose `2^63` has no `i64`).
    #[inline]
    pub fn added(self) -> i64 {
        match self {
            CounterChange::Add(n) => n,
            CounterChange::Sub(n) => n.wrapping_neg(),
        }
    }
}
