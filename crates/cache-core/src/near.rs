//! What a near cache (process memory in front of a shared backend) needs from the far tier to
//! stay true across processes.
//!
//! A far tier offers one of two things:
//! - [`Invalidations`]: it *tells* of changes. The Redis caches do, through Redis's
//!   server-assisted client-side caching (`CLIENT TRACKING`): every key under the cache's
//!   prefix that any client writes is reported to the [`InvalidationSink`] the near tier
//!   subscribed, and a lost channel is reported as such, so that the near tier stops serving
//!   copies an invalidation could have missed.
//! - [`EntryStamps`]: it can be *asked* cheaply whether an entry is still the one a near copy
//!   was read from. The file caches can: a stamp is the identity of the entry's file (one
//!   `stat`), and every write puts a new file in place.
//!
//! ```
//! use cache_core::near::InvalidationSink;
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! /// Counts what it is told (a near tier drops copies instead).
//! #[derive(Default)]
//! struct Count(AtomicU64);
//!
//! impl InvalidationSink for Count {
//!     fn invalidate(&self, _key: &str) {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!     }
//!     fn invalidate_all(&self) {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!     }
//!     fn connected(&self, _up: bool) {}
//! }
//!
//! let sink = Count::default();
//! sink.invalidate("user:1");
//! assert_eq!(sink.0.load(Ordering::Relaxed), 1);
//! ```

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::CacheError;

/// Receives a far tier's news of keys that may have changed (written, deleted, expired or
/// evicted, by this process or another).
///
/// Calls come from the far tier's listener (a thread or a task of its own) and must return
/// quickly; they never block on the far tier.
///
/// # Example
///
/// See the [module documentation](self).
pub trait InvalidationSink: Send + Sync + 'static {
    /// `key` (as the user wrote it, without the backend's key prefix) may have changed.
    fn invalidate(&self, key: &str);

    /// Any key may have changed (for example a `FLUSHDB`, or news the far tier could not read
    /// key by key).
    fn invalidate_all(&self);

    /// The channel went down (`up == false`): from now on no invalidation can arrive, so the
    /// near tier must drop its copies and bypass itself until the channel is back. `up ==
    /// true` is called once the channel is delivering again (and only after news of every
    /// change made while it was down can no longer be missed: the far tier calls
    /// [`invalidate_all`](Self::invalidate_all) first).
    fn connected(&self, up: bool);
}

/// A far tier that reports changes to its keys (see the [module documentation](self)).
///
/// # Example
///
/// ```
/// use cache_core::near::{InvalidationSink, Invalidations, Subscription};
/// use cache_core::CacheError;
/// use std::sync::Arc;
///
/// /// A far tier no other process writes: nothing ever changes behind the near tier's back.
/// struct Private;
///
/// impl Invalidations for Private {
///     fn subscribe(&self, sink: Arc<dyn InvalidationSink>) -> Result<Subscription, CacheError> {
///         sink.connected(true);
///         Ok(Subscription::new(()))
///     }
/// }
/// # struct Quiet;
/// # impl InvalidationSink for Quiet {
/// #     fn invalidate(&self, _: &str) {}
/// #     fn invalidate_all(&self) {}
/// #     fn connected(&self, _: bool) {}
/// # }
/// let _subscription = Private.subscribe(Arc::new(Quiet))?;
/// # Ok::<(), CacheError>(())
/// ```
pub trait Invalidations {
    /// Starts delivering news to `sink`, until the returned [`Subscription`] is dropped.
    ///
    /// Returns once the channel is up (after calling `sink.connected(true)`), or an error if
    /// it cannot be set up. Later losses and recoveries of the channel are reported through
    /// [`InvalidationSink::connected`].
    fn subscribe(&self, sink: Arc<dyn InvalidationSink>) -> Result<Subscription, CacheError>;
}

/// Keeps an [`Invalidations`] channel open; dropping it stops the delivery.
///
/// # Example
///
/// ```
/// use cache_core::near::Subscription;
///
/// struct Listener;
/// impl Drop for Listener {
///     fn drop(&mut self) { /* stop the listener thread */ }
/// }
/// let subscription = Subscription::new(Listener);
/// drop(subscription); // the listener stops
/// ```
pub struct Subscription(#[allow(dead_code)] Box<dyn Any + Send + Sync>);

impl Subscription {
    /// A subscription kept alive by `guard` (whose `Drop` stops the delivery).
    pub fn new<G: Any + Send + Sync>(guard: G) -> Self {
        Subscription(Box::new(guard))
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Subscription")
    }
}

/// The identity of one stored entry: equal stamps of a key mean the same stored entry, so a
/// copy read under a stamp is still true while the stamp is unchanged.
///
/// # Example
///
/// ```
/// use cache_core::near::Stamp;
///
/// let a = Stamp::new([7, 4096, 1_700_000_000, 12]);
/// assert_eq!(a, Stamp::new([7, 4096, 1_700_000_000, 12]));
/// assert_ne!(a, Stamp::new([8, 4096, 1_700_000_000, 12]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stamp([u64; 4]);

impl Stamp {
    /// A stamp from four words the backend chooses (for files: device, inode, size, change
    /// time).
    pub const fn new(words: [u64; 4]) -> Self {
        Stamp(words)
    }
}

/// A far tier that can tell cheaply whether an entry is the one a near copy was read from
/// (see the [module documentation](self)).
///
/// # Example
///
/// ```
/// use cache_core::near::{EntryStamps, Stamp};
/// use cache_core::CacheError;
///
/// struct Fixed;
/// impl EntryStamps for Fixed {
///     fn stamp(&self, key: &str) -> Result<Option<Stamp>, CacheError> {
///         Ok((key == "a").then(|| Stamp::new([1, 0, 0, 0])))
///     }
/// }
/// assert!(Fixed.stamp("a")?.is_some());
/// assert!(Fixed.stamp("b")?.is_none());
/// # Ok::<(), CacheError>(())
/// ```
pub trait EntryStamps {
    /// The stamp of `key`'s stored entry, `None` when none is stored. Every write or removal
    /// of the entry, by any process, changes it. Never returns the stamp of an entry that
    /// was since replaced.
    fn stamp(&self, key: &str) -> Result<Option<Stamp>, CacheError>;
}
