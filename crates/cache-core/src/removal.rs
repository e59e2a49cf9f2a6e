//! Why an entry left a cache: [`RemovalCause`], what a removal listener hears.

/// Why an entry left a cache, as a removal listener (for example
/// `InMemoryCacheBuilder::on_removal` of `cache-memory`) hears it.
///
/// Every removal is reported once, with one cause, and the causes match the statistics:
/// over any run, the number of [`Evicted`](RemovalCause::Evicted) reports equals
/// [`CacheStats::evictions`](crate::CacheStats::evictions), of
/// [`Expired`](RemovalCause::Expired) reports `expirations`, and of
/// [`Deleted`](RemovalCause::Deleted) reports `deletes`. [`Replaced`](RemovalCause::Replaced)
/// and [`Cleared`](RemovalCause::Cleared) have no counter of their own.
///
/// ```
/// use cache_core::RemovalCause;
/// assert!(RemovalCause::Evicted.was_evicted());
/// assert!(!RemovalCause::Replaced.was_evicted());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemovalCause {
    /// A bounded cache made room for another entry (counted in `evictions`).
    Evicted,
    /// The entry's TTL had run out (counted in `expirations`): found expired by an
    /// operation, or purged.
    Expired,
    /// A `set` (or `incr`) stored a new value over this one, live or expired (a `set` never
    /// counts an expiration); also a `set` or a `touch` with a zero TTL, which ends the
    /// value without counting anything.
    Replaced,
    /// A `delete` or `delete_pattern` removed this live entry (counted in `deletes`).
    Deleted,
    /// `clear()` removed it.
    Cleared,
}

impl RemovalCause {
    /// Whether the cache removed the entry on its own (eviction or expiry), as opposed to
    /// an operation of the user's.
    ///
    /// ```
    /// use cache_core::RemovalCause;
    /// assert!(RemovalCause::Expired.was_evicted());
    /// assert!(!RemovalCause::Deleted.was_evicted());
    /// ```
    pub fn was_evicted(self) -> bool {
        matches!(self, RemovalCause::Evicted | RemovalCause::Expired)
    }
}
