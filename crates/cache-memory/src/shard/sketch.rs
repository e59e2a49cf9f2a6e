//! A count-min sketch of 4-bit counters: the popularity of keys seen recently, for the
//! TinyLFU admission of [`super::tinylfu`].
//!
//! The counters of one key all live in one 64-byte block (eight `u64` words of sixteen 4-bit
//! counters), so an increment or an estimate touches one cache line; an increment is
//! conservative (only the key's smallest counters grow). The table grows with the
//! shard (one word per entry, rounded up to a power of two) and ages: after six increments
//! per word, every counter is halved, so that yesterday's favourites fade.
//!
//! The words are relaxed atomics, so that a hit counts its key under the shard's *read*
//! lock, beside other readers: an increment is a load and a store (not a locked
//! read-modify-write), and two readers racing on one word may lose one of their
//! increments, as a sampled sketch would. A key whose counters are all saturated (the hot
//! keys) is only read, so hits on it write nothing to the sketch.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Words per block: 8 × 8 bytes = one cache line.
const BLOCK: usize = 8;

pub(super) struct Sketch {
    table: Vec<AtomicU64>,
    /// `table.len() / BLOCK - 1`.
    block_mask: u64,
    /// Increments since the last halving.
    additions: AtomicU32,
    /// Increments between two halvings.
    sample_size: u32,
}

/// Increments per word between two halvings (Caffeine uses 10; fewer forget a moved hot set
/// sooner, at a small cost on stationary traffic).
const AGE: usize = 6;

/// A fresh 64-bit mix of the key's hash, so that the sketch's bits are independent of the
/// bits that picked the shard and the table slot.
#[inline]
fn rehash(hash: u64) -> u64 {
    let x = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 29)
}

impl Sketch {
    pub(super) fn new() -> Self {
        Sketch {
            table: Vec::new(),
            block_mask: 0,
            additions: AtomicU32::new(0),
            sample_size: 0,
        }
    }

    /// The words in use (the sketch's memory is eight bytes each).
    #[cfg(test)]
    pub(super) fn words(&self) -> usize {
        self.table.len()
    }

    /// Makes room for about `entries` keys (one word each, at least a block). The counts
    /// survive growth: a key's block index gains high bits as the table doubles, so each
    /// doubling copies the table after itself and every key finds its counters again.
    pub(super) fn ensure_capacity(&mut self, entries: usize) {
        let words = entries.max(BLOCK).next_power_of_two();
        if words <= self.table.len() {
            return;
        }
        if self.table.is_empty() {
            self.table = (0..words).map(|_| AtomicU64::new(0)).collect();
        } else {
            self.table.reserve_exact(words - self.table.len());
            while self.table.len() < words {
                let len = self.table.len();
                for w in 0..len {
                    let copy = *self.table[w].get_mut();
                    self.table.push(AtomicU64::new(copy));
                }
            }
        }
        self.block_mask = (words / BLOCK - 1) as u64;
        self.sample_size = u32::try_from(words.saturating_mul(AGE)).unwrap_or(u32::MAX);
    }

    /// The key's block (one cache line) and its hash bits for the four counters.
    #[inline]
    fn block(&self, hash: u64) -> (usize, u64) {
        let h = rehash(hash);
        (((h >> 32) & self.block_mask) as usize * BLOCK, h)
    }

    /// Counter `i` (0..4) of hash bits `h`: its word in the block (word 2i or 2i+1) and the
    /// shift of its nibble (one of 16).
    #[inline]
    fn counter(h: u64, i: usize) -> (usize, u32) {
        let bits = (h >> (i * 8)) as u32;
        ((i << 1) | (bits & 1) as usize, ((bits >> 1) & 15) << 2)
    }

    /// The estimated number of recent occurrences of `hash` (0 to 15).
    #[inline]
    pub(super) fn frequency(&self, hash: u64) -> u8 {
        if self.table.is_empty() {
            return 0;
        }
        let (start, h) = self.block(hash);
        let Ok(block) = <&[AtomicU64; BLOCK]>::try_from(&self.table[start..start + BLOCK]) else {
            return 0;
        };
        let mut min = 15;
        for i in 0..4 {
            let (w, s) = Self::counter(h, i);
            min = min.min((block[w].load(Relaxed) >> s) & 15);
        }
        min as u8
    }

    /// Counts one occurrence of `hash`: its estimate grows by one, up to 15.
    #[inline]
    pub(super) fn increment(&self, hash: u64) {
        self.add(hash, 1);
    }

    /// Counts `n` (1 to 15) occurrences of `hash` at once: its estimate grows by `n`, up to
    /// 15; each of its counters becomes at least the new estimate (for `n = 1`, exactly the
    /// counters at the old minimum grow).
    #[inline]
    pub(super) fn add(&self, hash: u64, n: u8) {
        if self.table.is_empty() {
            return;
        }
        let (start, h) = self.block(hash);
        let Ok(block) = <&[AtomicU64; BLOCK]>::try_from(&self.table[start..start + BLOCK]) else {
            return;
        };
        // Conservative update: only the counters at the key's minimum count grow; the others
        // already overestimate it through collisions, and growing them only adds to the noise
        // of the keys they share (+0.1 to +0.25 points on every Zipf and scan row of
        // `benches/benches/hit_ratio.rs`).
        // The four counters are in four different words (counter i in word 2i or 2i+1).
        let mut words = [0; 4];
        let mut min = 15;
        for (i, word) in words.iter_mut().enumerate() {
            let (w, s) = Self::counter(h, i);
            *word = block[w].load(Relaxed);
            min = min.min((*word >> s) & 15);
        }
        if min == 15 {
            return;
        }
        let target = (min + u64::from(n)).min(15);
        for (i, word) in words.into_iter().enumerate() {
            let (w, s) = Self::counter(h, i);
            let c = (word >> s) & 15;
            if c < target {
                block[w].store(word + ((target - c) << s), Relaxed);
            }
        }
        let added = (target - min) as u32;
        let additions = self.additions.load(Relaxed) + added;
        if additions < self.sample_size {
            self.additions.store(additions, Relaxed);
        } else if self
            .additions
            .compare_exchange(additions - added, additions / 2, Relaxed, Relaxed)
            .is_ok()
        {
            // Only the reader that moved the count on halves (two racing readers do not
            // halve twice).
            self.halve();
        }
    }

    /// Halves every counter (the aging step); the caller has halved `additions`.
    #[cold]
    fn halve(&self) {
        for w in &self.table {
            w.store((w.load(Relaxed) >> 1) & 0x7777_7777_7777_7777, Relaxed);
        }
    }

    /// The number of increments between two halvings.
    #[cfg(test)]
    pub(super) fn sample_size(&self) -> u32 {
        self.sample_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_survive_growth() {
        let mut s = Sketch::new();
        s.ensure_capacity(8);
        let keys: Vec<u64> = (0..50u64)
            .map(|k| k.wrapping_mul(0x2545_f491_4f6c_dd1d))
            .collect();
        for (n, &k) in keys.iter().enumerate() {
            for _ in 0..n % 5 {
                s.increment(k);
            }
        }
        let before: Vec<u8> = keys.iter().map(|&k| s.frequency(k)).collect();
        s.ensure_capacity(1_000);
        assert_eq!(s.words(), 1_024);
        let after: Vec<u8> = keys.iter().map(|&k| s.frequency(k)).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn counts_saturate_at_fifteen_and_age_by_halving() {
        let mut s = Sketch::new();
        s.ensure_capacity(64);
        assert_eq!(s.frequency(42), 0);
        for n in 1..=20u8 {
            s.increment(42);
            assert_eq!(s.frequency(42), n.min(15));
        }
        s.halve();
        assert_eq!(s.frequency(42), 7);
        s.halve();
        assert_eq!(s.frequency(42), 3);
    }

    /// The counters (word index in the table, shift) of one key.
    fn counters_of(s: &Sketch, hash: u64) -> Vec<(usize, u32)> {
        let (start, h) = s.block(hash);
        (0..4)
            .map(|i| {
                let (w, shift) = Sketch::counter(h, i);
                (start + w, shift)
            })
            .collect()
    }

    /// A key whose four counters are distinct and shared in part (not all) with key `a`'s
    /// (distinct too).
    fn sharing_some_counters_with(s: &Sketch, a: u64) -> u64 {
        let distinct =
            |c: &[(usize, u32)]| c.iter().all(|x| c.iter().filter(|y| *y == x).count() == 1);
        let ca = counters_of(s, a);
        assert!(distinct(&ca));
        (a + 1..a + 10_000)
            .find(|&b| {
                let cb = counters_of(s, b);
                let shared = cb.iter().filter(|c| ca.contains(c)).count();
                (1..4).contains(&shared) && distinct(&cb)
            })
            .expect("a key sharing a counter")
    }

    #[test]
    fn an_increment_grows_only_the_smallest_counters_of_the_key() {
        let mut s = Sketch::new();
        s.ensure_capacity(8);
        // Two keys that share some, but not all, of their counters.
        let a = 1u64;
        let ca = counters_of(&s, a);
        let b = sharing_some_counters_with(&s, a);
        for _ in 0..3 {
            s.increment(a);
        }
        s.increment(b);
        let value = |(w, shift): (usize, u32)| (s.table[w].load(Relaxed) >> shift) & 15;
        for c in counters_of(&s, b) {
            // The shared counters stay at a's 3; b's own grew to 1.
            let expected = if ca.contains(&c) { 3 } else { 1 };
            assert_eq!(value(c), expected, "counter {c:?}");
        }
        assert_eq!(s.frequency(a), 3);
        assert_eq!(s.frequency(b), 1);
    }

    #[test]
    fn popular_keys_outrank_rare_ones() {
        let mut s = Sketch::new();
        s.ensure_capacity(1_024);
        for k in 0..1_000u64 {
            let hash = k.wrapping_mul(0x2545_f491_4f6c_dd1d);
            for _ in 0..(if k < 10 { 8 } else { 1 }) {
                s.increment(hash);
            }
        }
        let freq = |k: u64| s.frequency(k.wrapping_mul(0x2545_f491_4f6c_dd1d));
        assert!((0..10).all(|k| freq(k) >= 8));
        let rare_high = (10..1_000).filter(|&k| freq(k) >= 4).count();
        assert!(rare_high < 20, "{rare_high} rare keys look popular");
    }

    #[test]
    fn adding_several_occurrences_raises_the_estimate_and_the_lower_counters_to_it() {
        let mut s = Sketch::new();
        s.ensure_capacity(8);
        let a = 1u64;
        // A key sharing some of a's counters, raised to 5 first.
        let b = sharing_some_counters_with(&s, a);
        s.add(b, 5);
        assert_eq!(s.frequency(b), 5);
        s.add(a, 3);
        assert_eq!(s.frequency(a), 3);
        let value = |(w, shift): (usize, u32)| (s.table[w].load(Relaxed) >> shift) & 15;
        for c in counters_of(&s, a) {
            // The shared counters keep b's 5; a's own rose to 3.
            let shared = counters_of(&s, b).contains(&c);
            assert_eq!(value(c), if shared { 5 } else { 3 }, "counter {c:?}");
        }
        assert_eq!(s.additions.load(Relaxed), 8);
        s.add(a, 15);
        assert_eq!(s.frequency(a), 15, "saturated");
        assert_eq!(s.additions.load(Relaxed), 20);
    }

    #[test]
    fn the_table_ages_after_six_increments_per_word() {
        let mut s = Sketch::new();
        s.ensure_capacity(8);
        assert_eq!(s.words(), 8);
        assert_eq!(s.sample_size(), 48);
        for k in 0..47u64 {
            s.increment(k.wrapping_mul(0x9e37_79b9));
        }
        assert_eq!(s.additions.load(Relaxed), 47);
        s.increment(1 << 40);
        assert!(s.additions.load(Relaxed) < 47);
    }
}
