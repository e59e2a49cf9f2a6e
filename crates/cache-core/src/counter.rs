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
