//! The adaptive W-TinyLFU policy of a shard ([`crate::Policy::TinyLfu`]): three LRU lists
//! threaded through the shard's slab with the same `u32` links the exact LRU uses, a
//! frequency [`Sketch`] and a hill climber that sizes the window.
//!
//! - A new entry enters the **window**, a small LRU that absorbs bursts and recency.
//! - The window's oldest entry leaves it as a *candidate* for the main space: it is admitted
//!   (into **probation**) only if the sketch estimates it more popular than the main space's
//!   *victim* (the probation list's oldest entry); otherwise the candidate is evicted. A scan
//!   of keys seen once therefore passes through the window without evicting popular entries.
//! - A hit in probation promotes the entry to **protected** (80% of the main space); the
//!   protected list's overflow goes back to probation.
//! - Every sample period (ten accesses per sketch word) the climber compares the hit ratio
//!   with the previous period's and moves the window size one step in the direction that
//!   helped, with shrinking steps, and a large step again when the ratio jumps: traffic that
//!   rewards recency (a moving hot set) grows the window toward an LRU, traffic that rewards
//!   frequency (Zipf, loops, scans) shrinks it.
//!
//! The shard owns the slab and calls the hooks below; the policy only relinks entries and
//! picks the slot to evict. Memory: one byte per entry (its list) plus the sketch's 8 to 16.

use super::sketch::Sketch;
use super::{Node, NIL};

const WINDOW: usize = 0;
const PROBATION: usize = 1;
const PROTECTED: usize = 2;

/// The share of the main space kept for protected entries.
const PROTECTED_SHARE: f64 = 0.8;
/// The initial window, as a share of the capacity.
const INITIAL_WINDOW: f64 = 0.01;
/// The climber's step after a large change of the hit ratio, as a share of the capacity.
const STEP: f64 = 0.0625;
/// A change of the hit ratio at least this large restarts the climber with a full step.
const RESTART: f64 = 0.05;
/// Each step is this much smaller than the previous one while the hit ratio is steady.
const DECAY: f64 = 0.98;
/// A candidate at least this popular is still admitted now and then (1 in 128) when it does
/// not beat the victim, so that keys colliding with a hot one in the sketch cannot hold the
/// main space forever.
const ADMIT_ANYWAY_FROM: u8 = 6;

pub(super) struct TinyLfu {
    sketch: Sketch,
    /// The list of each slot (`WINDOW`, `PROBATION`, `PROTECTED`), parallel to the slab.
    list: Vec<u8>,
    head: [u32; 3],
    tail: [u32; 3],
    len: [usize; 3],
    capacity: usize,
    window_max: usize,
    protected_max: usize,
    /// Hits and misses of the current sample period.
    hits: u32,
    misses: u32,
    previous_hit_ratio: f64,
    /// The next window change, in entries (negative: shrink).
    step: f64,
    /// For the occasional admission of a popular candidate (xorshift).
    rng: u64,
}

impl TinyLfu {
    pub(super) fn new(capacity: usize) -> Self {
        let mut p = TinyLfu {
            sketch: Sketch::new(),
            list: Vec::new(),
            head: [NIL; 3],
            tail: [NIL; 3],
            len: [0; 3],
            capacity,
            window_max: 0,
            protected_max: 0,
            hits: 0,
            misses: 0,
            previous_hit_ratio: 0.0,
            step: -STEP * capacity as f64,
            rng: 0x9e37_79b9_7f4a_7c15,
        };
        p.set_window((capacity as f64 * INITIAL_WINDOW) as usize);
        p
    }

    /// Sets the window's size (at least one entry, at most the capacity) and the protected
    /// list's share of the rest.
    fn set_window(&mut self, window: usize) {
        self.window_max = window.clamp(1, self.capacity);
        self.protected_max =
            ((self.capacity - self.window_max) as f64 * PROTECTED_SHARE) as usize;
    }

    /// Forgets every entry (the shard was emptied); the sketch and the window size stay.
    pub(super) fn clear(&mut self) {
        self.list.clear();
        self.head = [NIL; 3];
        self.tail = [NIL; 3];
        self.len = [0; 3];
    }

    /// Takes slot `i` out of its list.
    #[inline]
    pub(super) fn unlink<V>(&mut self, nodes: &mut [Node<V>], i: u32) {
        let l = usize::from(self.list[i as usize]);
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
        self.list[i as usize] = l as u8;
        self.len[l] += 1;
    }

    #[inline]
    fn move_to<V>(&mut self, nodes: &mut [Node<V>], i: u32, l: usize) {
        self.unlink(nodes, i);
        self.push_front(nodes, i, l);
    }

    /// A hit (or an overwrite) of slot `i`.
    #[inline]
    pub(super) fn on_access<V>(&mut self, nodes: &mut [Node<V>], i: u32) {
        self.sketch.increment(nodes[i as usize].hash);
        self.hits += 1;
        match usize::from(self.list[i as usize]) {
            PROBATION => {
                self.move_to(nodes, i, PROTECTED);
                self.demote_protected_overflow(nodes);
            }
            l => {
                if self.head[l] != i {
                    self.move_to(nodes, i, l);
                }
            }
        }
        self.maybe_climb(nodes);
    }

    /// A `get` that found nothing.
    #[inline]
    pub(super) fn on_miss<V>(&mut self, nodes: &mut [Node<V>]) {
        self.misses += 1;
        self.maybe_climb(nodes);
    }

    /// Slot `i` holds a new entry: it enters the window; the window's overflow moves on to
    /// probation (when the shard is full, [`TinyLfu::victim`] already made room).
    pub(super) fn on_insert<V>(&mut self, nodes: &mut [Node<V>], i: u32) {
        if i as usize == self.list.len() {
            self.list.push(WINDOW as u8);
            self.sketch.ensure_capacity(self.list.len());
        }
        self.sketch.increment(nodes[i as usize].hash);
        self.push_front(nodes, i, WINDOW);
        while self.len[WINDOW] > self.window_max {
            let t = self.tail[WINDOW];
            self.move_to(nodes, t, PROBATION);
        }
    }

    /// Slot `last` was moved into the freed slot `i` (the slab's swap-remove); its
    /// neighbours' links were already repointed.
    pub(super) fn on_move(&mut self, i: u32, last: u32) {
        self.list.swap_remove(i as usize);
        if i != last {
            let l = usize::from(self.list[i as usize]);
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
    pub(super) fn victim<V>(&mut self, nodes: &mut [Node<V>]) -> u32 {
        let candidate = if self.len[WINDOW] >= self.window_max {
            self.tail[WINDOW]
        } else {
            NIL
        };
        let victim = match self.tail[PROBATION] {
            NIL => self.tail[PROTECTED],
            v => v,
        };
        match (candidate, victim) {
            (NIL, NIL) => self.tail[WINDOW],
            (NIL, v) => v,
            (c, NIL) => c,
            (c, v) => {
                if self.admit(nodes[c as usize].hash, nodes[v as usize].hash) {
                    self.move_to(nodes, c, PROBATION);
                    v
                } else {
                    c
                }
            }
        }
    }

    fn admit(&mut self, candidate: u64, victim: u64) -> bool {
        let c = self.sketch.frequency(candidate);
        if c > self.sketch.frequency(victim) {
            return true;
        }
        if c >= ADMIT_ANYWAY_FROM {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            return self.rng & 127 == 0;
        }
        false
    }

    fn demote_protected_overflow<V>(&mut self, nodes: &mut [Node<V>]) {
        while self.len[PROTECTED] > self.protected_max {
            let t = self.tail[PROTECTED];
            self.move_to(nodes, t, PROBATION);
        }
    }

    /// At the end of each sample period: one step of the hill climber.
    #[inline]
    fn maybe_climb<V>(&mut self, nodes: &mut [Node<V>]) {
        let sample = self.hits + self.misses;
        if sample < self.sketch.sample_size() {
            return;
        }
        self.climb(nodes, sample);
    }

    #[cold]
    fn climb<V>(&mut self, nodes: &mut [Node<V>], sample: u32) {
        let full = self.list.len() >= self.capacity;
        let hit_ratio = f64::from(self.hits) / f64::from(sample);
        self.hits = 0;
        self.misses = 0;
        if !full {
            // A filling shard's hit ratio says little about the window.
            self.previous_hit_ratio = hit_ratio;
            return;
        }
        let change = hit_ratio - self.previous_hit_ratio;
        let amount = if change >= 0.0 { self.step } else { -self.step };
        self.step = if change.abs() >= RESTART {
            STEP * self.capacity as f64 * amount.signum()
        } else {
            DECAY * amount
        };
        self.previous_hit_ratio = hit_ratio;
        let window = (self.window_max as f64 + amount).round().max(0.0) as usize;
        self.set_window(window);
        // Move entries across so that the lists fit their new sizes.
        while self.len[WINDOW] > self.window_max {
            let t = self.tail[WINDOW];
            self.move_to(nodes, t, PROBATION);
        }
        while self.len[WINDOW] < self.window_max {
            let from = if self.len[PROBATION] > 0 {
                PROBATION
            } else if self.len[PROTECTED] > 0 {
                PROTECTED
            } else {
                break;
            };
            let t = self.tail[from];
            self.move_to(nodes, t, WINDOW);
        }
        self.demote_protected_overflow(nodes);
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
                assert_eq!(usize::from(self.list[i as usize]), l, "list tag of slot {i}");
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
