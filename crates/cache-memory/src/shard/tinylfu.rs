//! The adaptive W-TinyLFU policy of a shard ([`crate::Policy::TinyLfu`]): three lists
//! threaded through the shard's slab with the same `u32` links the exact LRU uses, ordered
//! by CLOCK (second chance) rather than exact recency, a frequency [`Sketch`], and a ghost
//! of recently evicted keys that sizes the window.
//!
//! - **Hits relink nothing.** A hit adds one to a small count in its slot's tag (saturating
//!   at 15, the sketch's own ceiling); nothing else, so hits run under the shard's *read*
//!   lock, several at a time, and a hit on a hot entry (count saturated) writes nothing of
//!   the entry or the policy (only the lock and the hit counter). The policy acts on the
//!   count when the slot reaches the cold end of its list: it adds the count to the sketch
//!   and gives the entry its second chance there (back to the window's head; from
//!   probation into protected; back to protected's head). Relinking on every hit, under
//!   the write lock, and counting every hit in the sketch there, cost 548 instructions and
//!   14.7 L1 data misses per Zipf get-or-set access against 418 and 10.7 now (quick_cache:
//!   402 and 9.0; `benches/examples/policy_cost.rs` under callgrind), and serialized the
//!   readers of a shard; the hit ratios did not move by more than the run-to-run noise
//!   (CLOCK orders a list almost as LRU does; the counts reach the sketch late, but all of
//!   them up to 15 per pass, and skipping them instead cost up to 1 point on the moving hot
//!   set with scans).
//! - A new entry enters the **window**, a small list that absorbs bursts and recency.
//! - The window's oldest entry leaves it as a *candidate* for the main space: it is admitted
//!   (into **probation**) only if the sketch estimates it more popular than the main space's
//!   *victim* (the probation list's oldest entry); otherwise the candidate is evicted. A scan
//!   of keys seen once therefore passes through the window without evicting popular entries,
//!   and a loop a little larger than the cache keeps most of its keys in the main space.
//! - A probation entry hit since it entered probation is promoted to **protected** (80% of
//!   the main space) when it reaches probation's cold end; the protected list's overflow
//!   goes back to probation (its entries hit since they were last looked at staying).
//! - Admission: the candidate's estimate must exceed the victim's by more than one. The
//!   candidate's count already includes the request that made it a candidate, the victim's
//!   next request is not counted yet; in a loop every candidate is exactly that one request
//!   ahead of every victim, and a plain `>` admitted them all (an LRU: no hits).
//! - Adaptation: the ghost remembers (by a 12-bit fingerprint, in a direct-mapped table of
//!   a quarter slot per entry) the candidates the filter rejected and the victims it evicted,
//!   each with the time of its eviction; a rejected candidate may not push a victim still
//!   within reach out of its slot (rejections far outnumber evictions from the main space).
//!   A new key found there is a miss one side could have turned into a hit with more room:
//!   a rejected candidate back within an eighth of the capacity's insertions says a larger
//!   window would have kept it (the window grows), an evicted victim back within an eighth
//!   of the capacity's main-space evictions says a larger main space would have (the window
//!   shrinks). Traffic that rewards recency (a hot set that moves) grows the window toward
//!   an LRU; traffic that rewards frequency (Zipf, loops, scans) keeps it small.
//! - The window's size is one share of the capacity for the whole cache ([`SharedWindow`]):
//!   every shard adds its net ghost hits to it every 32 insertions and sizes its own window
//!   from it. A shard of a 10,000-entry cache holds 625 entries, and its own ghost hits were
//!   too few and too noisy to steer by (with per-shard windows, a moving hot set at 100,000
//!   entries had grown them to only 40% of the capacity by the end of the trace, and larger
//!   steps cost the loops 2 to 4 points); the sum over all shards is steady enough for
//!   steps of `1 + shard capacity / 128` entries per ghost hit, times a gain that doubles
//!   while the net moves keep one direction and halves when they reverse (1 to 8). The
//!   share is the one shared write, a relaxed atomic, at most once per 32 insertions of a
//!   shard.
//!
//! Compared with Caffeine's W-TinyLFU: no random admission of popular candidates (keys are
//! hashed with a per-process random seed, so an attacker cannot aim collisions at the
//! sketch, and random admissions cost a loop over 1.2 × capacity ~5 points of hit ratio), the
//! sketch ages after 6 increments per word instead of 10 (faster forgetting of a moved hot
//! set; 10 measured worse on the 100,000-entry Zipf and scan rows), and the ghost's signal
//! replaces the hill climber on the hit ratio (which needs a stationary trace and a sample
//! period; the ghost's signal arrives per miss and does not mistake a moved hot set's
//! misses for a worse window: measured with `benches/benches/hit_ratio.rs`).
//!
//! The shard owns the slab and calls the hooks below; the policy only relinks entries and
//! picks the slot to evict. Memory: one byte per entry (its tag: list and pending hits), the
//! sketch's 8 to 16 bytes and the ghost's 1 to 2 (`mem_per_entry`: 81.5 bytes per entry
//! against the LRU's 68.8).

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use super::sketch::Sketch;
use super::{Node, NIL};

const WINDOW: usize = 0;
const PROBATION: usize = 1;
const PROTECTED: usize = 2;
/// A slot's tag: its list in the low two bits, and above them the number of hits since
/// the policy last looked at the slot (up to 15), not yet counted in the sketch.
const LIST: u8 = 3;
const VISIT: u8 = 1 << 2;
const VISITS: u8 = 15 << 2;

/// The share of the main space kept for protected entries.
const PROTECTED_SHARE: f64 = 0.8;
/// The initial window, as a share of the capacity.
const INITIAL_WINDOW: f64 = 0.01;
/// A ghost hit counts when the key comes back within this share of the capacity (in
/// insertions for a rejected candidate, in main-space evictions for a victim).
const GHOST_REACH: usize = 8;
/// Insertions between two visits of a shard to the [`SharedWindow`].
const SYNC_EVERY: u32 = 32;
/// One ghost hit moves the window by `1 + shard capacity / STEP_DIVISOR` entries, times the
/// shared gain (1 to `MAX_GAIN`).
const STEP_DIVISOR: usize = 128;
const MAX_GAIN: i64 = 8;
/// Ghost entries: a 12-bit fingerprint, a bit for "victim", and a 19-bit time.
const TIME_BITS: u32 = 19;
const TIME_MASK: u32 = (1 << TIME_BITS) - 1;
const VICTIM_BIT: u32 = 1 << TIME_BITS;
const FINGERPRINT_SHIFT: u32 = TIME_BITS + 1;

/// `repr(C)`: `list`, which every hit reads, first (see [`super::Shard`]).
#[repr(C)]
pub(super) struct TinyLfu {
    /// The tag of each slot, parallel to the slab: its list (`WINDOW`, `PROBATION`,
    /// `PROTECTED`) and its pending hits ([`VISITS`]). Atomic, so that a hit counts itself under the
    /// shard's read lock; everything else changes under the write lock.
    list: Vec<AtomicU8>,
    sketch: Sketch,
    head: [u32; 3],
    tail: [u32; 3],
    len: [usize; 3],
    capacity: usize,
    window_max: usize,
    protected_max: usize,
    /// Recently evicted keys (0: empty slot); see the module docs.
    ghost: Vec<u32>,
    ghost_mask: u64,
    /// Clocks of the two kinds of ghost entries.
    insertions: u32,
    main_evictions: u32,
    /// The window's share of the capacity, common to every shard of the cache.
    shared: Arc<SharedWindow>,
    /// This shard's ghost hits not yet added to `shared` (in its units).
    pending: i64,
    /// The window change of one ghost hit, in `shared`'s units.
    step: i64,
}

/// The window's share of the capacity, one for all the shards of a cache: each shard adds
/// its net ghost hits every [`SYNC_EVERY`] insertions, and sizes its window from the sum.
/// One shard's ghost hits are few and noisy (a 10,000-entry cache has shards of 625); the
/// sum over all shards is a steadier signal, so it can move in larger steps.
///
/// The step adapts: a net move in the same direction as the previous one doubles the gain
/// (up to [`MAX_GAIN`]), a reversal halves it. Noise (Zipf, loops) alternates and keeps the
/// gain near 1; a trend (a hot set that moved) is followed at up to 8 times the speed.
pub(crate) struct SharedWindow {
    /// The share, in units of `1 / ONE`.
    share: AtomicU64,
    /// The whole cache's capacity.
    capacity: u64,
    /// The last move's direction (sign) and gain (magnitude, 1 to `MAX_GAIN`). Updated
    /// without a lock: two shards racing lose one update of a heuristic, nothing more.
    gain: AtomicI64,
}

/// The share of the whole capacity, as `SharedWindow::share`.
const ONE: u64 = 1 << 32;

impl SharedWindow {
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(SharedWindow {
            share: AtomicU64::new((ONE as f64 * INITIAL_WINDOW) as u64),
            capacity: capacity.max(1) as u64,
            gain: AtomicI64::new(1),
        })
    }

    /// Adds `delta` (non-zero) times the gain, keeping the share within `0..=ONE`, and
    /// returns the new share.
    fn add(&self, delta: i64) -> u64 {
        let last = self.gain.load(Ordering::Relaxed);
        let gain = if (last > 0) == (delta > 0) {
            (last.abs() * 2).min(MAX_GAIN)
        } else {
            (last.abs() / 2).max(1)
        };
        let moved = delta.saturating_mul(gain);
        let step = |s: u64| Some(s.saturating_add_signed(moved).min(ONE));
        let share = match self
            .share
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, step)
        {
            Ok(old) | Err(old) => step(old).unwrap_or(old),
        };
        // Pinned at a bound, the share does not move, and a trend does not build up: the
        // first move away from it is a single step (in a loop, the window stays at its
        // minimum, where one stray ghost hit at gain 8 cost ~1 point of hit ratio).
        let gain = if share == 0 || share == ONE { 1 } else { gain };
        self.gain
            .store(if delta > 0 { gain } else { -gain }, Ordering::Relaxed);
        share
    }
}

impl TinyLfu {
    pub(super) fn new(capacity: usize, shared: Arc<SharedWindow>) -> Self {
        let entries = (1 + capacity / STEP_DIVISOR) as u128;
        let step = (entries * u128::from(ONE) / u128::from(shared.capacity)).max(1);
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        let mut p = TinyLfu {
            sketch: Sketch::new(),
            list: Vec::new(),
            head: [NIL; 3],
            tail: [NIL; 3],
            len: [0; 3],
            capacity,
            window_max: 0,
            protected_max: 0,
            ghost: Vec::new(),
            ghost_mask: 0,
            insertions: 0,
            main_evictions: 0,
            shared,
            pending: 0,
            step,
        };
        let share = p.shared.share.load(Ordering::Relaxed);
        p.set_share(share);
        p
    }

    /// Sizes the window from the shared share of the capacity.
    fn set_share(&mut self, share: u64) {
        self.set_window(((self.capacity as u128 * u128::from(share)) >> 32) as usize);
    }

    /// Sets the window's size (at least one entry, at most the capacity) and the protected
    /// list's share of the rest.
    fn set_window(&mut self, window: usize) {
        self.window_max = window.clamp(1, self.capacity);
        self.protected_max = ((self.capacity - self.window_max) as f64 * PROTECTED_SHARE) as usize;
    }

    /// Forgets every entry (the shard was emptied); the sketch, the ghost and the window
    /// size stay.
    pub(super) fn clear(&mut self) {
        self.list.clear();
        self.head = [NIL; 3];
        self.tail = [NIL; 3];
        self.len = [0; 3];
    }

    /// Takes slot `i` out of its list.
    #[inline]
    pub(super) fn unlink<V>(&mut self, nodes: &mut [Node<V>], i: u32) {
        let l = self.list_of(i);
        let (prev, next) = {
            let n = &nodes[i as usize];
            (n.prev, n.next)
        };
        match prev {
            NIL => self.head[l] = next,
            p => nodes[p as usize].next = next,
        }
        match next {
            NIL => self.tail[l] = prev,
            n => nodes[n as usize].prev = prev,
        }
        self.len[l] -= 1;
    }

    /// Puts slot `i` (in no list) at the most recently used end of list `l`.
    #[inline]
    fn push_front<V>(&mut self, nodes: &mut [Node<V>], i: u32, l: usize) {
        let old_head = self.head[l];
        let n = &mut nodes[i as usize];
        n.prev = NIL;
        n.next = old_head;
        match old_head {
            NIL => self.tail[l] = i,
            h => nodes[h as usize].prev = i,
        }
        self.head[l] = i;
        *self.list[i as usize].get_mut() = l as u8;
        self.len[l] += 1;
    }

    /// The list slot `i` is in.
    #[inline]
    fn list_of(&self, i: u32) -> usize {
        usize::from(self.list[i as usize].load(Ordering::Relaxed) & LIST)
    }

    /// Whether slot `i` was hit since the policy last looked at it; counts those hits in
    /// the sketch and clears them.
    #[inline]
    fn take_visit<V>(&mut self, nodes: &[Node<V>], i: u32) -> bool {
        let tag = self.list[i as usize].get_mut();
        let visits = (*tag & VISITS) / VISIT;
        if visits == 0 {
            return false;
        }
        *tag &= LIST;
        self.sketch.add(nodes[i as usize].hash, visits);
        true
    }

    #[inline]
    fn move_to<V>(&mut self, nodes: &mut [Node<V>], i: u32, l: usize) {
        self.unlink(nodes, i);
        self.push_front(nodes, i, l);
    }

    /// A hit (or an overwrite) of slot `i`: counted in the slot's tag, nothing relinked, the
    /// sketch not touched. Needs only a shared reference, so that hits run under the shard's
    /// read lock. The hits are acted on when the slot reaches the cold end of its list (a
    /// second chance, as CLOCK gives), where they are added to the sketch: a visited window
    /// entry goes back to the window's head, a visited probation entry is promoted to
    /// protected, a visited protected entry goes back to protected's head. A hot entry's
    /// tag saturates at 15 hits (the sketch's own ceiling), after which a hit on it writes
    /// nothing at all.
    #[inline]
    pub(super) fn on_access(&self, i: u32) {
        let tag = &self.list[i as usize];
        let t = tag.load(Ordering::Relaxed);
        if t & VISITS != VISITS {
            // Two readers racing here may count one hit between them (a lossy count, as a
            // sampled sketch is); the list bits only change under the write lock.
            tag.store(t + VISIT, Ordering::Relaxed);
        }
    }

    /// Slot `i` holds a new entry: it enters the window; the window's overflow moves on to
    /// probation (when the shard is full, [`TinyLfu::victim`] already made room).
    pub(super) fn on_insert<V>(&mut self, nodes: &mut [Node<V>], i: u32) {
        if i as usize == self.list.len() {
            self.list.push(AtomicU8::new(WINDOW as u8));
            self.grow_to(self.list.len());
        }
        // A reused slot starts unvisited.
        *self.list[i as usize].get_mut() = WINDOW as u8;
        let hash = nodes[i as usize].hash;
        self.sketch.increment(hash);
        self.insertions = self.insertions.wrapping_add(1);
        if self.insertions % SYNC_EVERY == 0 {
            self.sync_window(nodes);
        }
        self.ghost_hit(hash);
        self.push_front(nodes, i, WINDOW);
        self.shrink_window_to_max(nodes);
    }

    /// Sizes the sketch and the ghost for `entries` entries (they grow with the shard, so
    /// that a cache that never fills never pays for its whole capacity).
    fn grow_to(&mut self, entries: usize) {
        self.sketch.ensure_capacity(entries);
        let slots = (entries.next_power_of_two() / 4).max(8);
        if slots > self.ghost.len() {
            self.ghost = vec![0; slots];
            self.ghost_mask = (slots - 1) as u64;
        }
    }

    /// Slot `last` was moved into the freed slot `i` (the slab's swap-remove); its
    /// neighbours' links were already repointed.
    pub(super) fn on_move(&mut self, i: u32, last: u32) {
        self.list.swap_remove(i as usize);
        if i != last {
            let l = self.list_of(i);
            if self.head[l] == last {
                self.head[l] = i;
            }
            if self.tail[l] == last {
                self.tail[l] = i;
            }
        }
    }

    /// The slot to evict from a full shard to make room for one new entry. The window's
    /// oldest entry (the candidate) either takes the main space's victim's place, in which
    /// case the victim is returned, or is returned itself.
    ///
    /// Visited entries met on the way get their second chance first (see
    /// [`TinyLfu::on_access`]): the candidate is the window's oldest entry not hit since it
    /// was last looked at, the victim probation's.
    pub(super) fn victim<V>(&mut self, nodes: &mut [Node<V>]) -> u32 {
        let candidate = if self.len[WINDOW] >= self.window_max {
            self.cold_tail(nodes, WINDOW)
        } else {
            NIL
        };
        let victim = match self.cold_tail(nodes, PROBATION) {
            NIL => self.tail[PROTECTED],
            v => v,
        };
        match (candidate, victim) {
            (NIL, NIL) => self.tail[WINDOW],
            (NIL, v) => {
                self.remember(nodes[v as usize].hash, true);
                v
            }
            (c, NIL) => c,
            (c, v) => {
                if self.admit(nodes, c, v) {
                    self.move_to(nodes, c, PROBATION);
                    self.remember(nodes[v as usize].hash, true);
                    v
                } else {
                    self.remember(nodes[c as usize].hash, false);
                    c
                }
            }
        }
    }

    /// The ghost slot and fingerprint of a key.
    #[inline]
    fn ghost_slot(&self, hash: u64) -> (usize, u32) {
        let h = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
        (((h >> 20) & self.ghost_mask) as usize, (h >> 52) as u32)
    }

    /// Remembers an evicted key: a rejected candidate, or a victim of the main space.
    fn remember(&mut self, hash: u64, victim: bool) {
        let (slot, fingerprint) = self.ghost_slot(hash);
        let held = self.ghost[slot];
        if !victim && held & VICTIM_BIT != 0 {
            // Rejected candidates far outnumber victims: they may not push out a victim
            // still within reach, or the window would only ever grow.
            let age = self.main_evictions.wrapping_sub(held) & TIME_MASK;
            if (age as usize) <= self.capacity / GHOST_REACH {
                return;
            }
        }
        let (kind, time) = if victim {
            self.main_evictions = self.main_evictions.wrapping_add(1);
            (VICTIM_BIT, self.main_evictions)
        } else {
            (0, self.insertions)
        };
        self.ghost[slot] = fingerprint << FINGERPRINT_SHIFT | kind | (time & TIME_MASK);
    }

    /// A new key that the ghost remembers counts toward moving the window (module docs).
    fn ghost_hit(&mut self, hash: u64) {
        let (slot, fingerprint) = self.ghost_slot(hash);
        let g = self.ghost[slot];
        if g == 0 || g >> FINGERPRINT_SHIFT != fingerprint {
            return;
        }
        self.ghost[slot] = 0;
        let victim = g & VICTIM_BIT != 0;
        let now = if victim {
            self.main_evictions
        } else {
            self.insertions
        };
        let distance = (now.wrapping_sub(g) & TIME_MASK) as usize;
        if distance > self.capacity / GHOST_REACH {
            return;
        }
        self.pending += if victim { -self.step } else { self.step };
    }

    /// Adds this shard's ghost hits to the shared share and resizes the window from it.
    fn sync_window<V>(&mut self, nodes: &mut [Node<V>]) {
        let share = if self.pending == 0 {
            self.shared.share.load(Ordering::Relaxed)
        } else {
            self.shared.add(std::mem::take(&mut self.pending))
        };
        self.set_share(share);
        self.shrink_window_to_max(nodes);
        self.demote_protected_overflow(nodes);
    }

    /// Whether the sketch rates the candidate above the victim by more than the request that
    /// made it a candidate (near-ties keep the victim: the main space is not churned by keys
    /// that are merely as popular).
    fn admit<V>(&self, nodes: &[Node<V>], candidate: u32, victim: u32) -> bool {
        // The candidate's count includes the request that brought it in; the victim's next
        // request is not counted yet. Without the 1, a loop (where every candidate is one
        // request ahead of every victim) would admit every candidate and behave as an LRU.
        let candidate = self.sketch.frequency(nodes[candidate as usize].hash);
        let victim = self.sketch.frequency(nodes[victim as usize].hash);
        candidate > victim + 1
    }

    /// The oldest entry of list `l` (the window or probation) not hit since the policy last
    /// looked at it; `NIL` if the list is empty. The visited entries met on the way get
    /// their second chance: back to the window's head, or from probation into protected.
    fn cold_tail<V>(&mut self, nodes: &mut [Node<V>], l: usize) -> u32 {
        // Each turn clears a count, so the loop ends within the list's length plus one.
        loop {
            let t = self.tail[l];
            if t == NIL || !self.take_visit(nodes, t) {
                return t;
            }
            if l == PROBATION {
                self.move_to(nodes, t, PROTECTED);
                self.demote_protected_overflow(nodes);
            } else {
                self.move_to(nodes, t, l);
            }
        }
    }

    fn shrink_window_to_max<V>(&mut self, nodes: &mut [Node<V>]) {
        while self.len[WINDOW] > self.window_max {
            let t = self.cold_tail(nodes, WINDOW);
            self.move_to(nodes, t, PROBATION);
        }
    }

    /// Moves protected's overflow to probation: its oldest entries not visited since they
    /// were last looked at (the visited ones met on the way go back to protected's head).
    fn demote_protected_overflow<V>(&mut self, nodes: &mut [Node<V>]) {
        while self.len[PROTECTED] > self.protected_max {
            let t = self.tail[PROTECTED];
            if self.take_visit(nodes, t) {
                self.move_to(nodes, t, PROTECTED);
            } else {
                self.move_to(nodes, t, PROBATION);
            }
        }
    }

    /// Slot `i`'s hits not yet counted in the sketch, and the sketch's estimate of `hash`
    /// (for tests).
    #[cfg(test)]
    pub(super) fn pending(&self, i: u32, hash: u64) -> (u8, u8) {
        let tag = self.list[i as usize].load(Ordering::Relaxed);
        ((tag & VISITS) / VISIT, self.sketch.frequency(hash))
    }

    /// Counts slot `i`'s pending hits in the sketch, as the policy does when it looks at
    /// the slot (for tests).
    #[cfg(test)]
    pub(super) fn flush<V>(&mut self, nodes: &[Node<V>], i: u32) -> bool {
        self.take_visit(nodes, i)
    }

    /// The window's current size limit (for tests and debugging).
    #[cfg(test)]
    pub(super) fn window_max(&self) -> usize {
        self.window_max
    }

    /// Each list's slots from most to least recently used (for the shard's tests).
    #[cfg(test)]
    pub(super) fn lists<V>(&self, nodes: &[Node<V>]) -> [Vec<u32>; 3] {
        let mut out: [Vec<u32>; 3] = Default::default();
        for (l, list) in out.iter_mut().enumerate() {
            let (mut i, mut prev) = (self.head[l], NIL);
            while i != NIL {
                assert!(list.len() < nodes.len(), "list {l} has a cycle");
                assert_eq!(nodes[i as usize].prev, prev, "back link of slot {i}");
                assert_eq!(self.list_of(i), l, "list tag of slot {i}");
                list.push(i);
                prev = i;
                i = nodes[i as usize].next;
            }
            assert_eq!(self.tail[l], prev, "tail of list {l}");
            assert_eq!(self.len[l], list.len(), "length of list {l}");
        }
        assert_eq!(self.list.len(), nodes.len());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_gain_doubles_on_a_trend_halves_on_a_reversal_and_the_share_stays_in_bounds() {
        let w = SharedWindow::new(1_000);
        let start = w.share.load(Ordering::Relaxed);
        // The first move continues the initial direction (up): gain 2, then 4, 8, 8.
        assert_eq!(w.add(10), start + 20);
        assert_eq!(w.add(10), start + 60);
        assert_eq!(w.add(10), start + 140);
        assert_eq!(w.add(10), start + 220);
        // A reversal halves the gain (8 -> 4), and the next one again (4 -> 2).
        assert_eq!(w.add(-10), start + 180);
        assert_eq!(w.add(10), start + 200);
        // Never below 0 nor above the whole capacity; at a bound the gain is back to 1.
        assert_eq!(w.add(-(ONE as i64)), 0);
        assert_eq!(w.add(-10), 0);
        assert_eq!(w.add(10), 10);
        assert_eq!(w.add(i64::MAX / 16), ONE);
        assert_eq!(w.add(-10), ONE - 10);
    }

    #[test]
    fn one_ghost_hit_moves_the_cache_wide_share_by_a_shard_step() {
        // Shards of 1,280 in a cache of 12,800: 1 + 1,280 / 128 = 11 entries per ghost hit.
        let w = SharedWindow::new(12_800);
        let p = TinyLfu::new(1_280, Arc::clone(&w));
        assert_eq!(p.step, (11 * ONE / 12_800) as i64);
        assert_eq!(p.window_max, 12, "1% of the shard");
    }
}
