//! `AsyncRedisCache` as a far tier that tells of changes (`cache_core::near::Invalidations`),
//! through the shared listeners of `tracking` (the same as `RedisCache`'s).

use std::sync::Arc;

use cache_core::codec::Codec;
use cache_core::near::{InvalidationSink, Invalidations, Subscription};
use cache_core::CacheError;

use super::cache::AsyncRedisCache;

/// Server-assisted invalidation, as for [`RedisCache`](crate::RedisCache) (see its
/// implementation for what is reported and when): the listeners run on threads of their
/// own, not on the runtime. `subscribe` blocks until they are up (within the cache's
/// timeouts per server): call it at start-up, or from `spawn_blocking`.
///
/// ```no_run
/// use cache_core::near::{InvalidationSink, Invalidations};
/// use cache_redis::AsyncRedisCache;
/// use std::sync::Arc;
///
/// struct Print;
/// impl InvalidationSink for Print {
///     fn invalidate(&self, key: &str) { println!("changed: {key}") }
///     fn invalidate_all(&self) { println!("anything may have changed") }
///     fn connected(&self, up: bool) { println!("channel up: {up}") }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), cache_core::CacheError> {
/// let cache = AsyncRedisCache::open("redis://127.0.0.1/").await?;
/// let subscription = tokio::task::spawn_blocking(move || cache.subscribe(Arc::new(Print)))
///     .await
///     .expect("not cancelled")?;
/// drop(subscription);
/// # Ok(())
/// # }
/// ```
impl<C: Codec> Invalidations for AsyncRedisCache<C> {
    fn subscribe(&self, sink: Arc<dyn InvalidationSink>) -> Result<Subscription, CacheError> {
        self.inner.tracking.subscribe(sink)
    }
}
