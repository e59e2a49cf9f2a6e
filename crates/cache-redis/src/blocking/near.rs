//! `RedisCache` as a far tier that tells of changes (`cache_core::near::Invalidations`),
//! through the shared listeners of `tracking`.

use std::sync::Arc;

use cache_core::codec::Codec;
use cache_core::near::{InvalidationSink, Invalidations, Subscription};
use cache_core::CacheError;

use super::cache::RedisCache;

/// Server-assisted invalidation: Redis's client-side caching in broadcasting mode (`CLIENT
/// TRACKING ... BCAST PREFIX <key prefix>`), on a connection of its own per server that
/// takes writes (the server, the primary the sentinels name, every primary of a cluster),
/// read by a thread of its own (no runtime needed).
///
/// - Every key under the cache's prefix that any client writes, deletes, or that expires or
///   is evicted, reaches the sink as the cache key (`invalidate`, in any version of the
///   cache); `FLUSHDB`/`FLUSHALL`, or a key under the prefix that no cache key maps to,
///   reach it as `invalidate_all`. An empty prefix tracks every key of the server.
/// - `subscribe` returns once every listener is subscribed and `sink.connected(true)` was
///   called; it blocks for that (within the cache's timeouts per server), and fails with
///   [`CacheError::Backend`] when a server cannot be reached.
/// - A lost listener (an error, `CLIENT KILL`, a restart, a demotion that makes Sentinel
///   drop the primary's clients, or no answer to the `PING` sent after `read_timeout` of
///   silence within another `read_timeout`), or, on a cluster, a change of its primaries
///   (read again every `read_timeout`), is reported at once as `connected(false)`; the
///   listeners are then opened again with backoff (10 ms doubling to 1 s; through the
///   sentinels, at the primary they name then), then `invalidate_all()`, then
///   `connected(true)`.
/// - The listeners' connections are named `near:<prefix>` in `CLIENT LIST` (bytes Redis
///   refuses in a name become `_`). Dropping the [`Subscription`] closes them and waits for
///   its threads: the sink hears nothing after the drop.
///
/// ```no_run
/// use cache_core::near::{InvalidationSink, Invalidations};
/// use cache_redis::RedisCache;
/// use std::sync::Arc;
///
/// struct Print;
/// impl InvalidationSink for Print {
///     fn invalidate(&self, key: &str) { println!("changed: {key}") }
///     fn invalidate_all(&self) { println!("anything may have changed") }
///     fn connected(&self, up: bool) { println!("channel up: {up}") }
/// }
///
/// let cache = RedisCache::open("redis://127.0.0.1/")?;
/// let subscription = cache.subscribe(Arc::new(Print))?;
/// // ... another process's `set("k", ..)` prints "changed: k" ...
/// drop(subscription);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
impl<C: Codec> Invalidations for RedisCache<C> {
    fn subscribe(&self, sink: Arc<dyn InvalidationSink>) -> Result<Subscription, CacheError> {
        self.inner.tracking.subscribe(sink)
    }
}
