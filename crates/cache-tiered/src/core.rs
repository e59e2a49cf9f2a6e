//! The near tier and what keeps it true, shared by the blocking and the async cache: the
//! in-memory tier, the invalidation sequence numbers (per hash slot, and one epoch for
//! everything), the flights of near misses, and the counters of the combined view.
//!
//! Every change of the near tier other than a hit's recency (a fill, an install after a
//! write, a drop) happens under the lock of the key's slot, after a check of the slot's
//! sequence number and the epoch against the ones read before the far tier was asked; every
//! invalidation bumps the sequence number (or the epoch) before it drops copies, under the
//! same lock. So a far read that started before an invalidation arrived (or before a write
//! of this process) never fills its older value after it.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use cache_core::flight::FlightGroup;
use cache_core::near::{InvalidationSink, Stamp};
use cache_core::{Cache, CacheStats, SharedClock, Ttl};
use cache_memory::InMemoryCache;

/// How many invalidation slots (a power of two): keys share a slot by hash, and a change of
/// one refuses the fills of the others in flight at that moment (a lost fill, never a wrong
/// one).
const SLOTS: usize = 1024;

/// How the near tier is kept true (see the builders' `build_*` methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coherence {
    /// The far tier reports changes ([`cache_core::near::Invalidations`]).
    Invalidated,
    /// Each copy carries the stamp of the entry it was read from
    /// ([`cache_core::near::EntryStamps`]); checked on every hit, or once per
    /// `max_staleness` (nanoseconds).
    Stamped { max_staleness: Option<u64> },
    /// Nobody else writes the far tier.
    Private,
}

/// A near copy: the value and, under stamped coherence only, its [`Mark`]. Invalidated and
/// private copies carry no mark, so that a hit copies the value and one word more.
#[derive(Clone)]
pub(crate) struct Slot<V> {
    pub(crate) value: V,
    pub(crate) mark: Option<Arc<Mark>>,
}

/// The stamp of the far entry a copy was read from, and when it was last checked (near
/// clock, nanoseconds).
pub(crate) struct Mark {
    pub(crate) stamp: Stamp,
    pub(crate) checked: u64,
}

impl<V> Slot<V> {
    fn marked(value: V, stamp: Option<Stamp>, checked: u64) -> Self {
        Slot {
            value,
            mark: stamp.map(|stamp| Arc::new(Mark { stamp, checked })),
        }
    }

    /// The stamp the copy was read under (stamped coherence).
    pub(crate) fn stamp(&self) -> Option<Stamp> {
        self.mark.as_ref().map(|m| m.stamp)
    }
}

/// One invalidation slot.
#[derive(Default)]
struct SeqSlot {
    /// Every change of a key of the slot: this process's writes and the far tier's news.
    seq: AtomicU64,
    /// This process's writes only.
    local: AtomicU64,
    lock: Mutex<()>,
}

/// What a far read started under: the key's slot sequence numbers and the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    slot: usize,
    seq: u64,
    local: u64,
    epoch: u64,
}

impl Ticket {
    /// Whether the value of a far read that started under `self` may be returned to a
    /// caller that joined its flight under `other`: no write of this process and no epoch
    /// (clear, channel lost) came between. News of other processes' writes may have: the
    /// joined read then returns what the far read found, as if it had been made at once
    /// (no read of this process can have seen the newer value: every far read of the key
    /// is a flight, one at a time, and this one has not landed).
    pub(crate) fn covers(&self, other: &Ticket) -> bool {
        self.local >= other.local && self.epoch >= other.epoch
    }
}

/// What a flight of a near miss hands to the callers that joined it: the value read (or
/// loaded) and the ticket its far read started under.
#[derive(Clone)]
pub(crate) struct Fetched<V> {
    pub(crate) value: Option<V>,
    pub(crate) ticket: Ticket,
}

/// The near tier and its coherence state.
pub(crate) struct Core<V> {
    pub(crate) near: InMemoryCache<Slot<V>>,
    pub(crate) clock: SharedClock,
    pub(crate) coherence: Coherence,
    /// Upper bound of a near copy's life.
    pub(crate) near_max_ttl: Option<Duration>,
    /// No near copy may be served or filled (invalidation channel down).
    bypass: AtomicBool,
    epoch: AtomicU64,
    slots: Box<[SeqSlot]>,
    hasher: std::collections::hash_map::RandomState,
    pub(crate) flights: FlightGroup<Fetched<V>>,
    /// Near lookups that found a copy but did not serve it (a stale stamp, a recheck): the
    /// near tier counts them as hits, the combined view does not.
    unserved: AtomicU64,
    /// Callers that joined another caller's flight: what they count in the combined view.
    joined_hits: AtomicU64,
    joined_misses: AtomicU64,
    /// Invalidations received (keys, everything, channel changes).
    invalidations: AtomicU64,
}

impl<V: Clone + Send + Sync + 'static> Core<V> {
    pub(crate) fn new(
        near: InMemoryCache<Slot<V>>,
        clock: SharedClock,
        coherence: Coherence,
        near_max_ttl: Option<Duration>,
    ) -> Self {
        Core {
            near,
            clock,
            coherence,
            near_max_ttl,
            // Invalidated tiers start bypassed: the subscription's `connected(true)` opens it.
            bypass: AtomicBool::new(coherence == Coherence::Invalidated),
            epoch: AtomicU64::new(0),
            slots: (0..SLOTS).map(|_| SeqSlot::default()).collect(),
            hasher: Default::default(),
            flights: FlightGroup::new(),
            unserved: AtomicU64::new(0),
            joined_hits: AtomicU64::new(0),
            joined_misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
        }
    }

    /// Whether reads must go to the far tier (the invalidation channel is down).
    #[inline(always)]
    pub(crate) fn bypassed(&self) -> bool {
        self.bypass.load(Ordering::Acquire)
    }

    /// The near copy of `key`, if any (not yet checked against a stamp).
    #[inline(always)]
    pub(crate) fn near_copy(&self, key: &str) -> Option<Slot<V>> {
        // The in-memory tier's `get` cannot fail.
        self.near.get(key).ok().flatten()
    }

    /// Counts a near copy found but not served.
    pub(crate) fn unserved(&self) {
        self.unserved.fetch_add(1, Ordering::Relaxed);
    }

    /// Near hits served: the near tier's hits less the copies found but not served.
    fn served(&self) -> u64 {
        let hits = self.near.stats().hits;
        hits.saturating_sub(self.unserved.load(Ordering::Relaxed))
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.now().as_nanos()
    }

    fn slot_of(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) & (SLOTS - 1)
    }

    fn lock(&self, slot: usize) -> MutexGuard<'_, ()> {
        self.slots[slot]
            .lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The ticket a far read of `key` starts under: read it before asking the far tier.
    pub(crate) fn ticket(&self, key: &str) -> Ticket {
        let slot = self.slot_of(key);
        // The epoch first: an epoch bump comes before the clear it orders.
        let epoch = self.epoch.load(Ordering::Acquire);
        Ticket {
            slot,
            seq: self.slots[slot].seq.load(Ordering::Acquire),
            local: self.slots[slot].local.load(Ordering::Acquire),
            epoch,
        }
    }

    fn unchanged(&self, t: &Ticket) -> bool {
        self.slots[t.slot].seq.load(Ordering::Acquire) == t.seq
            && self.epoch.load(Ordering::Acquire) == t.epoch
            && !self.bypassed()
    }

    /// How long a copy may live in the near tier: `left` (the far entry's time left, `None`
    /// for never, measured at `measured`) less what passed since, capped by the near
    /// tier's own bound. `None` if nothing is left.
    fn near_ttl(&self, left: Option<Duration>, measured: u64) -> Option<Ttl> {
        let passed = Duration::from_nanos(self.now().saturating_sub(measured));
        let ttl = match (left, self.near_max_ttl) {
            (Some(l), cap) => {
                let l = l.checked_sub(passed)?;
                Some(cap.map_or(l, |c| c.min(l)))
            }
            (None, cap) => cap,
        };
        match ttl {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(Ttl::After(d)),
            None => Some(Ttl::Never),
        }
    }

    /// Fills the near tier with `value`, read from the far tier under `ticket` (with `left`
    /// its time left, measured at `measured`, and `stamp` the entry's stamp for stamped
    /// coherence), unless a change of the key arrived since the ticket was taken. Fills
    /// are ordered by the key's flight (one at a time per key, each reading the far tier
    /// after the previous one filled), so a copy already there is older or the same and
    /// is replaced.
    pub(crate) fn fill(
        &self,
        key: &str,
        ticket: &Ticket,
        value: V,
        left: Option<Duration>,
        measured: u64,
        stamp: Option<Stamp>,
    ) -> bool {
        let Some(ttl) = self.near_ttl(left, measured) else {
            return false;
        };
        let _held = self.lock(ticket.slot);
        if !self.unchanged(ticket) {
            return false;
        }
        let _ = self
            .near
            .set(key, Slot::marked(value, stamp, self.now()), ttl);
        true
    }

    /// A near copy found still true by its stamp at `checked`: its check time is moved to
    /// `checked`, if it is still the copy of that stamp and no change arrived since
    /// `ticket` (taken before the stamp was read).
    pub(crate) fn rechecked(&self, key: &str, ticket: &Ticket, stamp: Stamp, checked: u64) {
        let _held = self.lock(ticket.slot);
        if !self.unchanged(ticket) {
            return;
        }
        // A lookup of our own, not a hit served.
        self.unserved();
        let Some(copy) = self.near_copy(key) else {
            return;
        };
        if copy.stamp() != Some(stamp) {
            return;
        }
        let Some(ttl) = self.near.ttl(key).ok().flatten() else {
            return;
        };
        let ttl = ttl.map_or(Ttl::Never, Ttl::After);
        let _ = self
            .near
            .set(key, Slot::marked(copy.value, Some(stamp), checked), ttl);
    }

    /// Drops `key`'s copy and refuses the fills of reads in flight: this process wrote it
    /// (`local`), or it was found stale, or the far tier reported a change.
    pub(crate) fn drop_key(&self, key: &str, local: bool) {
        let slot = self.slot_of(key);
        let _held = self.lock(slot);
        self.slots[slot].seq.fetch_add(1, Ordering::AcqRel);
        if local {
            self.slots[slot].local.fetch_add(1, Ordering::AcqRel);
        }
        let _ = self.near.delete(key);
    }

    /// After a write of this process under `ticket` (taken before the far write): keeps
    /// `value` as the near copy for `ttl` from `began` if no change arrived since, else drops
    /// the copy; either way refuses the fills of reads in flight.
    pub(crate) fn install(&self, key: &str, ticket: &Ticket, value: V, ttl: Ttl, began: u64) {
        let near_ttl = match ttl {
            Ttl::Never => self.near_ttl(None, began),
            Ttl::After(d) => self.near_ttl(Some(d), began),
            // The far tier's default TTL is its own: the next read learns it.
            Ttl::Default => None,
        };
        let _held = self.lock(ticket.slot);
        let keep = self.unchanged(ticket);
        self.slots[ticket.slot].seq.fetch_add(1, Ordering::AcqRel);
        self.slots[ticket.slot].local.fetch_add(1, Ordering::AcqRel);
        match (keep, near_ttl) {
            (true, Some(ttl)) => {
                let _ = self.near.set(key, Slot::marked(value, None, 0), ttl);
            }
            _ => {
                let _ = self.near.delete(key);
            }
        }
    }

    /// Drops every copy and refuses every fill in flight.
    pub(crate) fn drop_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        // A fill that checked the epoch before the bump holds its slot's lock until it has
        // filled: taking each lock once waits for those, and the clear below removes them.
        for slot in 0..SLOTS {
            drop(self.lock(slot));
        }
        let _ = self.near.clear();
    }

    /// Drops the copies of the keys `pattern` matches and refuses every fill in flight.
    pub(crate) fn drop_matching(&self, pattern: &str) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for slot in 0..SLOTS {
            drop(self.lock(slot));
        }
        let _ = self.near.delete_pattern(pattern);
    }

    /// Counts a caller that joined another caller's flight and got `found`.
    pub(crate) fn joined(&self, found: bool) {
        if found {
            self.joined_hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.joined_misses.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The combined view: the far tier's counters (every write, every far read, the
    /// entries) plus the near hits served and the callers that joined a flight.
    pub(crate) fn combined(&self, far: CacheStats) -> CacheStats {
        let mut s = far;
        s.hits += self.served() + self.joined_hits.load(Ordering::Relaxed);
        s.misses += self.joined_misses.load(Ordering::Relaxed);
        s
    }

    pub(crate) fn tier_stats(&self, far: CacheStats) -> TierStats {
        TierStats {
            near: self.near.stats(),
            far,
            near_hits_served: self.served(),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            bypassed: self.bypassed(),
        }
    }

    /// The stamp check of a copy at a hit: whether it may be served without asking the far
    /// tier (invalidated or private coherence, or within `max_staleness` of its last
    /// check).
    #[inline]
    pub(crate) fn trusted(&self, copy: &Slot<V>) -> bool {
        match self.coherence {
            Coherence::Stamped {
                max_staleness: Some(d),
            } => copy
                .mark
                .as_ref()
                .is_some_and(|m| self.now().saturating_sub(m.checked) < d),
            Coherence::Stamped {
                max_staleness: None,
            } => false,
            _ => true,
        }
    }

    /// Whether this process's writes may keep their value as the near copy (private
    /// coherence: no other writer, no invalidation to wait for).
    pub(crate) fn installs(&self) -> bool {
        self.coherence == Coherence::Private
    }
}

/// Per-tier counters of a tiered cache (its `tier_stats()`).
///
/// ```
/// use cache_tiered::TierStats;
/// let s = TierStats::default();
/// assert_eq!(s.near_hits_served, 0);
/// assert!(!s.bypassed);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TierStats {
    /// The near tier's own counters: a lookup is a hit or a miss there whether or not the
    /// copy was then served (a stamped copy found stale is a near hit not served).
    pub near: CacheStats,
    /// The far tier's counters (its `stats()`).
    pub far: CacheStats,
    /// Near copies served: the hits the far tier never saw.
    pub near_hits_served: u64,
    /// Invalidations received from the far tier (keys, everything, and channel changes).
    pub invalidations: u64,
    /// Whether the near tier is bypassed now (the invalidation channel is down).
    pub bypassed: bool,
}

/// The near tier's end of a far tier's invalidation channel.
pub(crate) struct Sink<V>(pub(crate) std::sync::Arc<Core<V>>);

impl<V: Clone + Send + Sync + 'static> InvalidationSink for Sink<V> {
    fn invalidate(&self, key: &str) {
        self.0.invalidations.fetch_add(1, Ordering::Relaxed);
        self.0.drop_key(key, false);
    }

    fn invalidate_all(&self) {
        self.0.invalidations.fetch_add(1, Ordering::Relaxed);
        self.0.drop_all();
    }

    fn connected(&self, up: bool) {
        self.0.invalidations.fetch_add(1, Ordering::Relaxed);
        if up {
            // Fills that started while the channel was down are refused by the epoch.
            self.0.epoch.fetch_add(1, Ordering::AcqRel);
            self.0.bypass.store(false, Ordering::Release);
        } else {
            self.0.bypass.store(true, Ordering::Release);
            self.0.drop_all();
        }
    }
}
