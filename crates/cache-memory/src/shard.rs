//! One shard: an exact LRU list threaded through a slab of entries, a hash table of slab
//! indices, an index of the entries that carry a TTL, and the counters, all behind the
//! shard's read-write lock (only TinyLFU's `get` takes it to read: [`Shard::lookup_shared`]).
//!
//! The slab is a `Vec` kept dense: removing an entry moves the last one into its slot. The
//! list links are slab indices (`u32`), so an entry is one contiguous record: stored hash,
//! key (inline when short), value, expiry and two links. A full shard reuses the least
//! recently used entry's slot in place.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use cache_core::{CacheStats, Clock, Pattern, RemovalCause, Timestamp};
use hashbrown::HashTable;

use crate::flight::Flight;
use crate::key::{KeyBytes, Probe};
use crate::Policy;

mod removal;
mod sketch;
mod tinylfu;
mod weight;

pub(crate) use removal::Removed;
pub(crate) use tinylfu::SharedWindow;
use tinylfu::TinyLfu;
pub(crate) use weight::Weigher;
use weight::Weighing;

mod ops;
pub(crate) use ops::CounterFault;

/// No entry: the end of the list, or an empty list.
const NIL: u32 = u32::MAX;

/// The largest capacity a shard can index with `u32` links (`NIL` excluded).
pub(crate) const MAX_SHARD_CAPACITY: usize = (u32::MAX - 1) as usize;

/// What `clear` took out of a shard, dropped after the lock is released.
pub(crate) struct Contents<V>(#[allow(dead_code)] Vec<Node<V>>);

pub(crate) struct Node<V> {
    hash: u64,
    key: KeyBytes,
    value: V,
    /// [`Timestamp::MAX`] for entries that never expire; those are not in `expiring`.
    expires: Timestamp,
    /// Toward the most recently used end.
    prev: u32,
    /// Toward the least recently used end.
    next: u32,
}

impl<V> Node<V> {
    #[inline]
    fn is_live(&self, clock: &dyn Clock) -> bool {
        self.expires == Timestamp::MAX || self.expires.is_live_at(clock.now())
    }
}

/// The counters only the write lock changes (hits and misses are [`Shard`]'s first fields).
#[derive(Default)]
struct Counters {
    sets: u64,
    deletes: u64,
    evictions: u64,
    expirations: u64,
}

/// `repr(C)`, so that what a `get` touches comes first: std's `RwLock` (as compiled today,
/// not a promise) keeps its state just before the shard, so the hit and miss counters share
/// its cache line (a get that takes the lock already owns that line), and the table, the
/// slab and the TinyLFU tags follow (one line more). L1 data misses per TinyLFU get: 6.7
/// before, 6.0 after (callgrind).
#[repr(C)]
pub(crate) struct Shard<V> {
    /// Atomic: counted under the shard's read lock too (see [`Shard::lookup_shared`]).
    hits: AtomicU64,
    misses: AtomicU64,
    /// Slab indices, by the stored hash.
    table: HashTable<u32>,
    nodes: Vec<Node<V>>,
    /// `Some` under [`Policy::TinyLfu`]: it then owns the entries' links (and `head` and
    /// `tail` below are unused).
    tlfu: Option<TinyLfu>,
    /// The most recently used entry.
    head: u32,
    /// The least recently used entry: the next to be evicted.
    tail: u32,
    /// Entries that carry a TTL, by expiry time: what a full shard drops first.
    expiring: BTreeSet<(Timestamp, u32)>,
    capacity: usize,
    counters: Counters,
    /// Keys whose value a `get_or_insert_with` loader is computing right now.
    flights: HashMap<Box<str>, Arc<Flight<V>>>,
    /// Whether removed entries are kept in `removed` for a removal listener.
    listening: bool,
    /// What left the shard since the owner last took it (only while `listening`).
    removed: Vec<Removed<V>>,
    /// `Some` with a weigher: entry weights and the shard's weight bound.
    weighing: Option<Weighing<V>>,
}

impl<V> Shard<V> {
    /// A shard of at most `capacity` entries (at most [`MAX_SHARD_CAPACITY`]); memory is
    /// allocated as entries arrive.
    pub(crate) fn new(capacity: usize) -> Self {
        debug_assert!(capacity <= MAX_SHARD_CAPACITY);
        Shard {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            nodes: Vec::new(),
            table: HashTable::new(),
            head: NIL,
            tail: NIL,
            expiring: BTreeSet::new(),
            capacity: capacity.clamp(1, MAX_SHARD_CAPACITY),
            counters: Counters::default(),
            flights: HashMap::new(),
            tlfu: None,
            listening: false,
            removed: Vec::new(),
            weighing: None,
        }
    }

    /// The shard under `policy`; call on a new, empty shard.
    /// `window` is shared by every shard of the cache (see [`SharedWindow`]).
    pub(crate) fn with_policy(mut self, policy: Policy, window: &Arc<SharedWindow>) -> Self {
        self.tlfu = match policy {
            Policy::Lru => None,
            Policy::TinyLfu => Some(TinyLfu::new(self.capacity, Arc::clone(window))),
        };
        self
    }

    /// The slot to evict from this full shard for one new entry.
    #[inline]
    fn victim(&mut self) -> u32 {
        match &mut self.tlfu {
            Some(p) => p.victim(&mut self.nodes),
            None => self.tail,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    #[inline]
    fn find(&self, key: Probe<'_>) -> Option<u32> {
        let nodes = &self.nodes;
        self.table
            .find(key.hash, |&i| {
                let n = &nodes[i as usize];
                n.hash == key.hash && n.key.as_bytes() == key.key.as_bytes()
            })
            .copied()
    }

    /// Takes entry `i` out of the recency list.
    #[inline]
    fn unlink(&mut self, i: u32) {
        if let Some(p) = &mut self.tlfu {
            return p.unlink(&mut self.nodes, i);
        }
        let (prev, next) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n as usize].prev = prev,
        }
    }

    /// Puts entry `i` (not in the list) at the most recently used end.
    #[inline]
    fn push_front(&mut self, i: u32) {
        let old_head = self.head;
        let n = &mut self.nodes[i as usize];
        n.prev = NIL;
        n.next = old_head;
        match old_head {
            NIL => self.tail = i,
            h => self.nodes[h as usize].prev = i,
        }
        self.head = i;
    }

    /// Marks entry `i` as the most recently used.
    #[inline]
    fn touch(&mut self, i: u32) {
        if let Some(p) = &mut self.tlfu {
            return p.on_access(i);
        }
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
    }

    /// Takes entry `i` out of the list, the table and the expiry index; its slot stays.
    fn detach(&mut self, i: u32) {
        self.unlink(i);
        let (hash, expires) = {
            let n = &self.nodes[i as usize];
            (n.hash, n.expires)
        };
        if let Ok(slot) = self.table.find_entry(hash, |&j| j == i) {
            slot.remove();
        }
        if expires != Timestamp::MAX {
            self.expiring.remove(&(expires, i));
        }
    }

    /// Removes entry `i` from the table, the list and the expiry index, and hands it back.
    /// The last entry of the slab moves into slot `i`.
    fn remove_at(&mut self, i: u32) -> Node<V> {
        self.detach(i);
        let last = (self.nodes.len() - 1) as u32;
        let node = self.nodes.swap_remove(i as usize);
        if let Some(p) = &mut self.tlfu {
            p.on_move(i, last);
        }
        if let Some(w) = &mut self.weighing {
            w.on_move(i);
        }
        if i != last {
            // The entry that was last now lives at `i`: repoint whatever pointed at `last`.
            let (hash, expires, prev, next) = {
                let m = &self.nodes[i as usize];
                (m.hash, m.expires, m.prev, m.next)
            };
            match prev {
                NIL => self.head = i,
                p => self.nodes[p as usize].next = i,
            }
            match next {
                NIL => self.tail = i,
                n => self.nodes[n as usize].prev = i,
            }
            if let Some(slot) = self.table.find_mut(hash, |&j| j == last) {
                *slot = i;
            }
            if expires != Timestamp::MAX {
                self.expiring.remove(&(expires, last));
                self.expiring.insert((expires, i));
            }
        }
        node
    }

    /// `exists`: whether a live entry is stored, without touching recency or hit counts.
    pub(crate) fn peek_live(&mut self, key: Probe<'_>, clock: &dyn Clock) -> bool {
        let Some(i) = self.find(key) else {
            return false;
        };
        if self.nodes[i as usize].is_live(clock) {
            return true;
        }
        let old = self.remove_at(i);
        self.counters.expirations += 1;
        self.retire(old, RemovalCause::Expired);
        false
    }

    /// `set`. `now` is the time the expiry was computed from, when it was needed. `false`
    /// when a weighted shard refused a value heavier than its whole bound.
    pub(crate) fn insert(
        &mut self,
        key: Probe<'_>,
        value: V,
        expires: Timestamp,
        now: Option<Timestamp>,
        clock: &dyn Clock,
    ) -> bool {
        self.counters.sets += 1;
        if let Some(now) = now {
            if !expires.is_live_at(now) {
                // A zero TTL: nothing is stored and the older value is gone.
                // Expired or not, the old entry is not an expiration: a set never counts one.
                if let Some(i) = self.find(key) {
                    // Not an expiration, and so not one to the listener either: replaced.
                    let old = self.remove_at(i);
                    self.retire(old, RemovalCause::Replaced);
                }
                return true;
            }
        }
        if self.weighing.is_some() && !self.make_room_for(key, &value, now, clock) {
            return false;
        }
        if let Some(i) = self.find(key) {
            let n = &mut self.nodes[i as usize];
            let old_expires = std::mem::replace(&mut n.expires, expires);
            let old_value = std::mem::replace(&mut n.value, value);
            // An expired entry overwritten is not counted (a set never counts an expiration),
            // and the listener hears it replaced, as it hears every counted cause.
            let cause = RemovalCause::Replaced;
            if old_expires != Timestamp::MAX {
                self.expiring.remove(&(old_expires, i));
            }
            if expires != Timestamp::MAX {
                self.expiring.insert((expires, i));
            }
            self.touch(i);
            // The old value drops once the shard is consistent (`V::drop` may panic).
            self.retire_value(key.key, old_value, cause);
            return true;
        }
        if self.nodes.len() >= self.capacity && !self.expiring.is_empty() {
            // A full shard drops its expired entries before it evicts a live one.
            self.purge_expired(clock.now());
        }
        if self.nodes.len() >= self.capacity {
            // Evict the least recently used entry and reuse its slot in place.
            let t = self.victim();
            self.detach(t);
            let n = &mut self.nodes[t as usize];
            n.hash = key.hash;
            n.expires = expires;
            let old_key = std::mem::replace(&mut n.key, KeyBytes::new(key.key));
            let old_value = std::mem::replace(&mut n.value, value);
            self.link_new(t, key.hash, expires);
            self.counters.evictions += 1;
            self.retire_parts(old_key, old_value, RemovalCause::Evicted);
            return true;
        }
        if self.nodes.len() == self.nodes.capacity() {
            // Grow by doubling, but never past the shard's capacity.
            let extra = self
                .nodes
                .len()
                .max(4)
                .min(self.capacity - self.nodes.len());
            self.nodes.reserve_exact(extra);
        }
        let i = self.nodes.len() as u32;
        self.nodes.push(Node {
            hash: key.hash,
            key: KeyBytes::new(key.key),
            value,
            expires,
            prev: NIL,
            next: NIL,
        });
        self.link_new(i, key.hash, expires);
        true
    }

    /// Enters the entry just written at slot `i` in the table, the list and the expiry index.
    fn link_new(&mut self, i: u32, hash: u64, expires: Timestamp) {
        let nodes = &self.nodes;
        self.table
            .insert_unique(hash, i, |&j| nodes[j as usize].hash);
        match &mut self.tlfu {
            Some(p) => p.on_insert(&mut self.nodes, i),
            None => self.push_front(i),
        }
        if expires != Timestamp::MAX {
            self.expiring.insert((expires, i));
        }
    }

    /// `delete`: `true` iff a live entry was removed.
    pub(crate) fn remove(&mut self, key: Probe<'_>, clock: &dyn Clock) -> bool {
        let Some(i) = self.find(key) else {
            return false;
        };
        let old = self.remove_at(i);
        let live = old.is_live(clock);
        if live {
            self.counters.deletes += 1;
        } else {
            self.counters.expirations += 1;
        }
        self.retire(old, removal::by_liveness(live));
        live
    }

    /// `delete_pattern` over this shard: removes the matching entries, returns the live ones.
    pub(crate) fn remove_matching(&mut self, pattern: &Pattern, now: Timestamp) -> u64 {
        let mut removed = 0;
        // Downward, so that the entry `remove_at` moves into a freed slot was already seen.
        for i in (0..self.nodes.len() as u32).rev() {
            if !pattern.matches(self.nodes[i as usize].key.as_str()) {
                continue;
            }
            let old = self.remove_at(i);
            let live = old.expires.is_live_at(now);
            if live {
                removed += 1;
                self.counters.deletes += 1;
            } else {
                self.counters.expirations += 1;
            }
            self.retire(old, removal::by_liveness(live));
        }
        removed
    }

    /// Removes every entry expired at `now`; returns how many.
    pub(crate) fn purge_expired(&mut self, now: Timestamp) -> u64 {
        let mut purged = 0;
        while let Some(&(expires, i)) = self.expiring.first() {
            if expires.is_live_at(now) {
                break;
            }
            let old = self.remove_at(i);
            purged += 1;
            self.counters.expirations += 1;
            self.retire(old, RemovalCause::Expired);
        }
        purged
    }

    /// Empties the shard (counters stay) and hands back the old contents to drop unlocked.
    pub(crate) fn take_all(&mut self) -> Contents<V> {
        self.table = HashTable::new();
        self.expiring.clear();
        self.head = NIL;
        self.tail = NIL;
        if let Some(p) = &mut self.tlfu {
            p.clear();
        }
        if let Some(w) = &mut self.weighing {
            w.clear();
        }
        Contents(std::mem::take(&mut self.nodes))
    }

    pub(crate) fn add_stats_to(&self, total: &mut CacheStats) {
        let c = &self.counters;
        total.hits += self.hits.load(Relaxed);
        total.misses += self.misses.load(Relaxed);
        total.sets += c.sets;
        total.deletes += c.deletes;
        total.evictions += c.evictions;
        total.expirations += c.expirations;
        *total.entries.get_or_insert(0) += self.nodes.len() as u64;
    }

    pub(crate) fn flight(&self, key: &str) -> Option<Arc<Flight<V>>> {
        self.flights.get(key).cloned()
    }

    pub(crate) fn start_flight(&mut self, key: &str) -> Arc<Flight<V>> {
        let flight = Arc::new(Flight::new());
        self.flights.insert(key.into(), Arc::clone(&flight));
        flight
    }

    pub(crate) fn end_flight(&mut self, key: &str, flight: &Arc<Flight<V>>) {
        if self
            .flights
            .get(key)
            .is_some_and(|f| Arc::ptr_eq(f, flight))
        {
            self.flights.remove(key);
        }
    }
}

impl<V: Clone> Shard<V> {
    /// `get`: the live value (refreshing its recency), counting a hit or a miss.
    #[inline]
    pub(crate) fn lookup(&mut self, key: Probe<'_>, clock: &dyn Clock) -> Option<V> {
        let Some(i) = self.find(key) else {
            *self.misses.get_mut() += 1;
            return None;
        };
        let n = &self.nodes[i as usize];
        if n.is_live(clock) {
            let value = n.value.clone();
            self.touch(i);
            *self.hits.get_mut() += 1;
            return Some(value);
        }
        let old = self.remove_at(i);
        self.counters.expirations += 1;
        *self.misses.get_mut() += 1;
        self.retire(old, RemovalCause::Expired);
        None
    }

    /// `get` under the shard's read lock, beside other readers: possible when a hit changes
    /// nothing but atomics (TinyLFU's visited mark and sketch). A live value counts a hit;
    /// a missing key counts a miss if `count_absent`; [`Shared::Exclusive`] (an expired
    /// entry to remove, or a policy whose hits relink: the exact LRU) counts nothing and
    /// asks for [`Shard::lookup`] under the write lock.
    #[inline]
    pub(crate) fn lookup_shared(
        &self,
        key: Probe<'_>,
        clock: &dyn Clock,
        count_absent: bool,
    ) -> Shared<V> {
        let Some(p) = &self.tlfu else {
            return Shared::Exclusive;
        };
        let Some(i) = self.find(key) else {
            if count_absent {
                self.misses.fetch_add(1, Relaxed);
            }
            return Shared::Absent;
        };
        let n = &self.nodes[i as usize];
        if !n.is_live(clock) {
            return Shared::Exclusive;
        }
        let value = n.value.clone();
        p.on_access(i);
        self.hits.fetch_add(1, Relaxed);
        Shared::Hit(value)
    }
}

/// What [`Shard::lookup_shared`] found.
pub(crate) enum Shared<V> {
    /// A live value (a hit, counted).
    Hit(V),
    /// No entry for the key.
    Absent,
    /// Nothing counted: look up again under the write lock.
    Exclusive,
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_core::MockClock;
    use std::hash::BuildHasher;

    /// Checks every structural invariant: the list visits each slot once in both directions,
    /// the table maps each entry's key to its slot, and `expiring` lists exactly the entries
    /// with a TTL. Returns the keys from most to least recently used.
    fn check<V>(s: &Shard<V>) -> Vec<String> {
        let n = s.nodes.len();
        let mut order = Vec::new();
        let (mut i, mut prev) = (s.head, NIL);
        while i != NIL {
            assert!(order.len() < n, "the list has a cycle");
            let node = &s.nodes[i as usize];
            assert_eq!(node.prev, prev, "back link of slot {i}");
            order.push(node.key.as_str().to_owned());
            prev = i;
            i = node.next;
        }
        assert_eq!(s.tail, prev);
        assert_eq!(order.len(), n, "the list misses entries");
        assert_eq!(s.table.len(), n);
        for (i, node) in s.nodes.iter().enumerate() {
            let probe = Probe {
                hash: node.hash,
                key: node.key.as_str(),
            };
            assert_eq!(s.find(probe), Some(i as u32));
        }
        let with_ttl: BTreeSet<(Timestamp, u32)> = s
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.expires != Timestamp::MAX)
            .map(|(i, node)| (node.expires, i as u32))
            .collect();
        assert_eq!(s.expiring, with_ttl);
        order
    }

    /// A small deterministic generator of 64-bit numbers (xorshift).
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// Random operations on a small shard, against a plain recency list, with every invariant
    /// checked after each step.
    #[test]
    fn random_operations_keep_the_structure_and_the_lru_order() {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let clock = MockClock::new();
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for capacity in [1, 2, 3, 8] {
            let mut s = Shard::new(capacity);
            let mut model: Vec<String> = Vec::new(); // most recent first
            for _ in 0..4_000 {
                let r = next();
                let key = format!("k{}", r % 12);
                let long = format!("{key}-{}", "x".repeat(40));
                let key = if r % 5 == 0 { long } else { key };
                let p = Probe {
                    hash: hasher.hash_one(key.as_str()),
                    key: &key,
                };
                match (r >> 8) % 7 {
                    0 | 1 => {
                        let got = s.lookup(p, &clock);
                        let pos = model.iter().position(|k| *k == key);
                        assert_eq!(got.is_some(), pos.is_some());
                        if let Some(pos) = pos {
                            let k = model.remove(pos);
                            model.insert(0, k);
                        }
                    }
                    2..=4 => {
                        let ttl = (r >> 16) % 3 == 0;
                        let expires = if ttl {
                            clock
                                .now()
                                .expiry(Some(std::time::Duration::from_secs(100)))
                        } else {
                            Timestamp::MAX
                        };
                        s.insert(p, r, expires, ttl.then(|| clock.now()), &clock);
                        if let Some(pos) = model.iter().position(|k| *k == key) {
                            model.remove(pos);
                        } else if model.len() == capacity {
                            model.pop();
                        }
                        model.insert(0, key.clone());
                    }
                    5 => {
                        let removed = s.remove(p, &clock);
                        let pos = model.iter().position(|k| *k == key);
                        assert_eq!(removed, pos.is_some());
                        if let Some(pos) = pos {
                            model.remove(pos);
                        }
                    }
                    _ => {
                        let pattern = Pattern::new(&format!("k{}*", r % 3));
                        s.remove_matching(&pattern, clock.now());
                        model.retain(|k| !pattern.matches(k));
                    }
                }
                assert_eq!(check(&s), model);
            }
        }
    }

    #[test]
    fn expired_entries_leave_every_index() {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let clock = MockClock::new();
        let mut s = Shard::new(4);
        let keys = ["a", "b", "c", "d"];
        for (n, k) in keys.iter().enumerate() {
            let p = Probe {
                hash: hasher.hash_one(*k),
                key: k,
            };
            let d = std::time::Duration::from_secs(n as u64 + 1);
            s.insert(p, n, clock.now().expiry(Some(d)), Some(clock.now()), &clock);
        }
        clock.advance(std::time::Duration::from_secs(2));
        assert_eq!(s.purge_expired(clock.now()), 2);
        assert_eq!(check(&s), ["d", "c"]);
        clock.advance(std::time::Duration::from_secs(10));
        assert_eq!(s.purge_expired(clock.now()), 2);
        assert_eq!(check(&s), Vec::<String>::new());
        assert_eq!(s.counters.expirations, 4);
    }
    /// Under TinyLFU: every slot is in exactly one of the three lists, the table and the
    /// expiry index are exact, and the shard never holds more than its capacity.
    fn check_tinylfu<V>(s: &Shard<V>) {
        let p = s.tlfu.as_ref().expect("a TinyLFU shard");
        let lists = p.lists(&s.nodes);
        let mut seen: Vec<u32> = lists.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..s.nodes.len() as u32).collect::<Vec<_>>());
        assert!(s.nodes.len() <= s.capacity);
        assert!(p.window_max() >= 1 && p.window_max() <= s.capacity);
        assert_eq!(s.table.len(), s.nodes.len());
        for (i, node) in s.nodes.iter().enumerate() {
            let probe = Probe {
                hash: node.hash,
                key: node.key.as_str(),
            };
            assert_eq!(s.find(probe), Some(i as u32));
        }
        let with_ttl = s
            .nodes
            .iter()
            .filter(|node| node.expires != Timestamp::MAX)
            .count();
        assert_eq!(s.expiring.len(), with_ttl);
    }

    /// Random operations on small TinyLFU shards: the structure holds after every step, a
    /// key just set is found with its value, a found key has the last value set for it, and
    /// a deleted key is gone.
    #[test]
    fn random_operations_keep_the_tinylfu_structure() {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let clock = MockClock::new();
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for capacity in [1, 2, 3, 8, 100] {
            let mut s =
                Shard::new(capacity).with_policy(Policy::TinyLfu, &SharedWindow::new(capacity));
            let mut last: HashMap<String, u64> = HashMap::new();
            for step in 0..6_000u64 {
                let r = next();
                // Skewed keys, so that the sketch has favourites to protect.
                let key = format!("k{}", (r % 64) * (r >> 6) % 64 % (4 * capacity as u64 + 3));
                let p = Probe {
                    hash: hasher.hash_one(key.as_str()),
                    key: &key,
                };
                match (r >> 20) % 8 {
                    0..=3 => {
                        if let Some(v) = s.lookup(p, &clock) {
                            assert_eq!(Some(&v), last.get(&key), "{key}");
                        }
                    }
                    4..=6 => {
                        let ttl = (r >> 30) % 4 == 0;
                        let expires = if ttl {
                            clock.now().expiry(Some(std::time::Duration::from_secs(50)))
                        } else {
                            Timestamp::MAX
                        };
                        s.insert(p, step, expires, ttl.then(|| clock.now()), &clock);
                        last.insert(key.clone(), step);
                        assert_eq!(s.lookup(p, &clock), Some(step));
                    }
                    _ => {
                        s.remove(p, &clock);
                        assert_eq!(s.lookup(p, &clock), None);
                    }
                }
                if step % 500 == 0 {
                    clock.advance(std::time::Duration::from_secs(20));
                }
                if step % 1_999 == 0 {
                    drop(s.take_all());
                }
                check_tinylfu(&s);
            }
        }
    }

    /// The window is one share for all the shards: traffic that rewards recency (keys reused
    /// a few times soon after they first appear, then never) grows every shard's window
    /// toward the whole shard, and a loop (which rewards frequency) keeps it at its minimum.
    #[test]
    fn tinylfu_shards_share_a_window_that_follows_the_traffic() {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let clock = MockClock::new();
        let access = |s: &mut Shard<u64>, key: u64| {
            let key = key.to_string();
            let p = Probe {
                hash: hasher.hash_one(key.as_str()),
                key: &key,
            };
            s.lookup(p, &clock).is_some() || {
                s.insert(p, 0, Timestamp::MAX, None, &clock);
                false
            }
        };
        let window = SharedWindow::new(2_000);
        let mut shards: Vec<Shard<u64>> = (0..2)
            .map(|_| Shard::new(1_000).with_policy(Policy::TinyLfu, &window))
            .collect();
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        // A moving hot set: request t is a key that first appeared up to 1,500 requests ago.
        for t in 0..200_000u64 {
            let key = t.saturating_sub(next() % 1_500);
            access(&mut shards[(key % 2) as usize], key);
        }
        for s in &shards {
            check_tinylfu(s);
            let w = s.tlfu.as_ref().expect("TinyLFU").window_max();
            assert!(w > 500, "the window should have grown: {w} of 1,000");
        }
        let window = SharedWindow::new(2_000);
        let mut shards: Vec<Shard<u64>> = (0..2)
            .map(|_| Shard::new(1_000).with_policy(Policy::TinyLfu, &window))
            .collect();
        for t in 0..100_000u64 {
            let key = t % 2_400;
            access(&mut shards[(key % 2) as usize], key);
        }
        for s in &shards {
            let w = s.tlfu.as_ref().expect("TinyLFU").window_max();
            // (At most two steps of 8 entries above the minimum: a stray ghost hit, a false
            // match of the ghost's 12-bit fingerprints, may move it once or twice.)
            assert!(w <= 20, "the window should stay minimal: {w} of 1,000");
        }
    }

    /// Under TinyLFU a hit under the read lock counts itself in the slot's tag (up to 15, the
    /// sketch's ceiling), not in the sketch; the policy adds the count to the sketch when it
    /// next looks at the slot. Under LRU, and for an expired entry, the shared lookup asks
    /// for the write lock and counts nothing; an absent key counts a miss only when asked.
    #[test]
    fn shared_lookups_count_hits_in_the_tag_and_defer_what_needs_the_write_lock() {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let clock = MockClock::new();
        let probe = |key: &'static str| Probe {
            hash: hasher.hash_one(key),
            key,
        };
        let mut s = Shard::new(100).with_policy(Policy::TinyLfu, &SharedWindow::new(100));
        let a = probe("a");
        s.insert(a, 1u8, Timestamp::MAX, None, &clock);
        let i = s.find(a).expect("stored");
        let p = s.tlfu.as_ref().expect("TinyLFU");
        assert_eq!(p.pending(i, a.hash), (0, 1), "the insert counted once");
        for _ in 0..3 {
            assert!(matches!(s.lookup_shared(a, &clock, true), Shared::Hit(1)));
        }
        let p = s.tlfu.as_ref().expect("TinyLFU");
        assert_eq!(p.pending(i, a.hash), (3, 1), "hits wait in the tag");
        let p = s.tlfu.as_mut().expect("TinyLFU");
        assert!(p.flush(&s.nodes, i));
        assert_eq!(p.pending(i, a.hash), (0, 4), "and then reach the sketch");
        assert!(!p.flush(&s.nodes, i), "once");
        for _ in 0..40 {
            s.lookup_shared(a, &clock, true);
        }
        let p = s.tlfu.as_mut().expect("TinyLFU");
        assert_eq!(p.pending(i, a.hash).0, 15, "the tag saturates");
        p.flush(&s.nodes, i);
        assert_eq!(p.pending(i, a.hash), (0, 15));
        assert_eq!(s.hits.load(Relaxed), 43);

        assert!(matches!(
            s.lookup_shared(probe("b"), &clock, false),
            Shared::Absent
        ));
        assert_eq!(s.misses.load(Relaxed), 0);
        assert!(matches!(
            s.lookup_shared(probe("b"), &clock, true),
            Shared::Absent
        ));
        assert_eq!(s.misses.load(Relaxed), 1);

        let c = probe("c");
        let soon = clock.now().expiry(Some(std::time::Duration::from_secs(1)));
        s.insert(c, 3, soon, Some(clock.now()), &clock);
        clock.advance(std::time::Duration::from_secs(1));
        assert!(matches!(
            s.lookup_shared(c, &clock, true),
            Shared::Exclusive
        ));
        assert_eq!(s.len(), 2, "the expired entry waits for the write lock");
        assert_eq!(s.lookup(c, &clock), None);
        assert_eq!((s.len(), s.counters.expirations), (1, 1));

        let mut lru = Shard::new(10);
        lru.insert(a, 1u8, Timestamp::MAX, None, &clock);
        assert!(matches!(
            lru.lookup_shared(a, &clock, true),
            Shared::Exclusive
        ));
        assert_eq!(lru.hits.load(Relaxed), 0);
    }

    /// A loop over more keys than a TinyLFU shard holds keeps most of the shard's entries
    /// (where an LRU hits nothing), and a key requested often survives a scan of new keys.
    #[test]
    fn tinylfu_resists_loops_and_scans() {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let clock = MockClock::new();
        let access = |s: &mut Shard<u64>, key: &str| {
            let p = Probe {
                hash: hasher.hash_one(key),
                key,
            };
            s.lookup(p, &clock).is_some() || {
                s.insert(p, 0, Timestamp::MAX, None, &clock);
                false
            }
        };
        for policy in [Policy::Lru, Policy::TinyLfu] {
            let mut s = Shard::new(1_000).with_policy(policy, &SharedWindow::new(1_000));
            let keys: Vec<String> = (0..1_200).map(|i| format!("loop{i}")).collect();
            let mut hits = 0;
            for round in 0..10 {
                for k in &keys {
                    let hit = access(&mut s, k);
                    if round >= 5 {
                        hits += usize::from(hit);
                    }
                }
            }
            let ratio = hits as f64 / (5.0 * 1_200.0);
            match policy {
                Policy::Lru => assert_eq!(hits, 0),
                _ => assert!(ratio > 0.7, "{ratio}"),
            }
            let mut s = Shard::new(100).with_policy(policy, &SharedWindow::new(100));
            for _ in 0..20 {
                access(&mut s, "hot");
            }
            // Requested again once it has left the window: a frequent key of the main space.
            for i in 0..5 {
                access(&mut s, &format!("before{i}"));
            }
            access(&mut s, "hot");
            for i in 0..1_000 {
                access(&mut s, &format!("scan{i}"));
            }
            let survived = access(&mut s, "hot");
            assert_eq!(survived, policy == Policy::TinyLfu, "{policy:?}");
        }
    }
}
