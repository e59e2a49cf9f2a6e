//! The eviction policies a cache can run: [`Policy`].

/// Which entry a full shard gives up for a new one; chosen with
/// [`InMemoryCacheBuilder::policy`](crate::InMemoryCacheBuilder::policy).
///
/// ```
/// use cache_memory::{InMemoryCache, Policy};
/// use cache_core::{Cache, Ttl};
///
/// let cache = InMemoryCache::builder()
///     .max_size(10_000)
///     .policy(Policy::TinyLfu)
///     .build()?;
/// cache.set("k", 1u32, Ttl::Never)?;
/// assert_eq!(cache.get("k")?, Some(1));
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// Exact LRU per shard (the default, and the contract's order): the least recently used
    /// entry goes. Best when recency is all that predicts reuse (a hot set that moves);
    /// defenceless against scans and loops a little larger than the cache.
    #[default]
    Lru,
    /// Adaptive W-TinyLFU per shard: new entries pass a small window, then enter the main
    /// space only if a frequency sketch rates them above the entry they would replace (by
    /// more than the request that brought them in). The window's size adapts: misses on
    /// keys the admission filter recently turned away grow it, misses on keys the main
    /// space recently evicted shrink it, summed over all shards into one share of the
    /// capacity. Scan- and loop-resistant, and as good as an LRU where recency wins (a hot
    /// set that moves): see the README's hit-ratio table. A new entry is always stored (in
    /// the window), so a `get` right after a `set` hits; which older entry a full shard
    /// evicts is the policy's choice, not the least recently used one. Costs about 12 bytes
    /// more per entry than `Lru` (its list tag, the sketch, the record of evicted keys).
    /// A hit moves nothing (the lists keep CLOCK order: a hit counts itself in the entry,
    /// and the policy acts on it when the entry reaches its list's cold end), so `get`
    /// takes the shard's lock to read, shared with the other gets of that shard.
    TinyLfu,
}
