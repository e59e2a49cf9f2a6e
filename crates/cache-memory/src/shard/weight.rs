//! Weighted bounds: with a weigher, a shard keeps each entry's weight beside the slab and
//! evicts until a new entry fits under the shard's share of `max_weight`.

use std::sync::Arc;

use cache_core::{Clock, RemovalCause, Timestamp};

use super::Shard;
use crate::key::Probe;

/// The user's weigher: the weight of an entry from its key and value.
pub(crate) type Weigher<V> = Arc<dyn Fn(&str, &V) -> u32 + Send + Sync>;

pub(super) struct Weighing<V> {
    weigher: Weigher<V>,
    /// Each slot's weight, parallel to the slab.
    of: Vec<u32>,
    total: u64,
    max: u64,
}

impl<V> Weighing<V> {
    /// Slot `i` was removed and the slab's last slot moved into it.
    pub(super) fn on_move(&mut self, i: u32) {
        self.total -= u64::from(self.of.swap_remove(i as usize));
    }

    pub(super) fn clear(&mut self) {
        self.of.clear();
        self.total = 0;
    }
}

impl<V> Shard<V> {
    /// Bounds the shard's total weight by `max` as `weigher` measures it.
    pub(crate) fn with_weigher(mut self, weigher: Weigher<V>, max: u64) -> Self {
        self.weighing = Some(Weighing {
            weigher,
            of: Vec::new(),
            total: 0,
            max,
        });
        self
    }

    /// The total weight of the entries stored (expired ones not yet removed included).
    pub(crate) fn weight(&self) -> u64 {
        self.weighing.as_ref().map_or(0, |w| w.total)
    }

    /// Before `insert` stores `value` under `key` in a weighted shard: removes the key's
    /// current entry (the new value replaces it whatever happens), then, unless the value
    /// alone outweighs the shard's bound (`false`: nothing is stored), drops expired entries
    /// and evicts until it fits, and records its weight for the slot `insert` will push.
    pub(super) fn make_room_for(
        &mut self,
        key: Probe<'_>,
        value: &V,
        now: Option<Timestamp>,
        clock: &dyn Clock,
    ) -> bool {
        let Some(w) = &self.weighing else {
            return true;
        };
        let weight = (w.weigher)(key.key, value);
        let max = w.max;
        if let Some(i) = self.find(key) {
            let old = self.remove_at(i);
            let live = match now {
                Some(now) => old.expires.is_live_at(now),
                None => old.is_live(clock),
            };
            let cause = if live {
                RemovalCause::Replaced
            } else {
                self.counters.expirations += 1;
                RemovalCause::Expired
            };
            self.retire(old, cause);
        }
        if u64::from(weight) > max {
            return false;
        }
        let over = |s: &Self| s.weight() + u64::from(weight) > max || s.nodes.len() >= s.capacity;
        if over(self) && !self.expiring.is_empty() {
            self.purge_expired(clock.now());
        }
        while over(self) {
            let t = self.victim();
            let old = self.remove_at(t);
            self.counters.evictions += 1;
            self.retire(old, RemovalCause::Evicted);
        }
        if let Some(w) = &mut self.weighing {
            w.of.push(weight);
            w.total += u64::from(weight);
        }
        true
    }
}
