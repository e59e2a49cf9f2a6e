//! One shard: an LRU list, an expiry index and the counters, all behind the shard's lock.

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::sync::Arc;

use cache_core::{CacheStats, Clock, Pattern, Timestamp};
use lru::LruCache;

use crate::flight::Flight;
use crate::key::{Key, PassThrough, Probe, View};

type Table<V> = LruCache<Key, Entry<V>, PassThrough>;

/// What `clear` took out of a shard, dropped after the lock is released.
pub(crate) struct Contents<V>(#[allow(dead_code)] Table<V>);

pub(crate) struct Entry<V> {
    value: V,
    /// [`Timestamp::MAX`] for entries that never expire; those are not in the expiry index.
    expires: Timestamp,
}

impl<V> Entry<V> {
    #[inline]
    fn is_live(&self, clock: &dyn Clock) -> bool {
        self.expires == Timestamp::MAX || self.expires.is_live_at(clock.now())
    }
}

#[derive(Default)]
struct Counters {
    hits: u64,
    misses: u64,
    sets: u64,
    deletes: u64,
    evictions: u64,
    expirations: u64,
}

pub(crate) struct Shard<V> {
    lru: Table<V>,
    /// Entries that carry a TTL, by expiry time: what a full shard drops first.
    expiring: BTreeSet<(Timestamp, Box<str>)>,
    capacity: usize,
    counters: Counters,
    /// Keys whose value a `get_or_insert_with` loader is computing right now.
    flights: HashMap<Box<str>, Arc<Flight<V>>>,
    /// The hasher of the cache's keys (the same in every shard), for keys from `expiring`.
    hasher: lru::DefaultHasher,
}

impl<V> Shard<V> {
    pub(crate) fn new(capacity: usize, hasher: lru::DefaultHasher) -> Self {
        Shard {
            lru: new_lru(capacity),
            expiring: BTreeSet::new(),
            capacity,
            counters: Counters::default(),
            flights: HashMap::new(),
            hasher,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lru.len()
    }

    /// `exists`: whether a live entry is stored, without touching recency or hit counts.
    pub(crate) fn peek_live(&mut self, key: Probe<'_>, clock: &dyn Clock) -> bool {
        let expired_at = match self.lru.peek(&key as &dyn View) {
            None => return false,
            Some(e) if e.is_live(clock) => return true,
            Some(e) => e.expires,
        };
        self.drop_expired(key, expired_at);
        false
    }

    /// `set`. `now` is the time the expiry was computed from, when it was needed.
    pub(crate) fn insert(
        &mut self,
        key: Probe<'_>,
        value: V,
        expires: Timestamp,
        now: Option<Timestamp>,
        clock: &dyn Clock,
    ) {
        self.counters.sets += 1;
        if let Some(now) = now {
            if !expires.is_live_at(now) {
                // A zero TTL: nothing is stored and the older value is gone.
                if let Some(old) = self.lru.pop(&key as &dyn View) {
                    self.unindex(key.key, old.expires);
                    if !old.expires.is_live_at(now) {
                        self.counters.expirations += 1;
                    }
                }
                return;
            }
        }
        if self.lru.len() >= self.capacity
            && !self.expiring.is_empty()
            && !self.lru.contains(&key as &dyn View)
        {
            // A full shard drops its expired entries before it evicts a live one.
            self.purge_expired(clock.now());
        }
        // One probe: `push` replaces the value of a stored key, or inserts, evicting the
        // least recently used entry of a full shard (whose node it reuses).
        let displaced = self.lru.push(Key::new(&key), Entry { value, expires });
        if let Some((old_key, old)) = &displaced {
            let replaced = <dyn View>::eq(old_key, &key);
            if old.expires != Timestamp::MAX {
                if replaced {
                    let now = now.unwrap_or_else(|| clock.now());
                    if !old.expires.is_live_at(now) {
                        self.counters.expirations += 1;
                    }
                }
                self.unindex(old_key.as_str(), old.expires);
            }
            if !replaced {
                self.counters.evictions += 1;
            }
        }
        // After the old entry's expiry left the index: both may be the same pair.
        if expires != Timestamp::MAX {
            self.expiring.insert((expires, key.key.into()));
        }
        // The displaced entry (and its value) drops here, once the shard is consistent.
        drop(displaced);
    }

    /// `delete`: `true` iff a live entry was removed.
    pub(crate) fn remove(&mut self, key: Probe<'_>, clock: &dyn Clock) -> bool {
        let Some(old) = self.lru.pop(&key as &dyn View) else {
            return false;
        };
        let live = old.is_live(clock);
        self.unindex(key.key, old.expires);
        if live {
            self.counters.deletes += 1;
        } else {
            self.counters.expirations += 1;
        }
        live
    }

    /// `delete_pattern` over this shard: removes the matching entries, returns the live ones.
    pub(crate) fn remove_matching(&mut self, pattern: &Pattern, now: Timestamp) -> u64 {
        let Shard {
            lru,
            expiring,
            counters,
            ..
        } = self;
        let mut removed = 0;
        lru.retain(|key, e| {
            let key = key.as_str();
            if !pattern.matches(key) {
                return true;
            }
            if e.expires != Timestamp::MAX {
                expiring.remove(&(e.expires, key.into()));
                if !e.expires.is_live_at(now) {
                    counters.expirations += 1;
                    return false;
                }
            }
            removed += 1;
            false
        });
        counters.deletes += removed;
        removed
    }

    /// Removes every entry expired at `now`; returns how many.
    pub(crate) fn purge_expired(&mut self, now: Timestamp) -> u64 {
        let mut purged = 0;
        while let Some((expires, _)) = self.expiring.first() {
            if expires.is_live_at(now) {
                break;
            }
            let (_, key) = self.expiring.pop_first().expect("first() was Some");
            let probe = Probe {
                hash: self.hasher.hash_one(&*key),
                key: &key,
            };
            self.lru.pop(&probe as &dyn View);
            purged += 1;
        }
        self.counters.expirations += purged;
        purged
    }

    /// Empties the shard (counters stay) and hands back the old contents to drop unlocked.
    pub(crate) fn take_all(&mut self) -> Contents<V> {
        let lru = std::mem::replace(&mut self.lru, new_lru(self.capacity));
        self.expiring.clear();
        Contents(lru)
    }

    pub(crate) fn add_stats_to(&self, total: &mut CacheStats) {
        let c = &self.counters;
        total.hits += c.hits;
        total.misses += c.misses;
        total.sets += c.sets;
        total.deletes += c.deletes;
        total.evictions += c.evictions;
        total.expirations += c.expirations;
        *total.entries.get_or_insert(0) += self.lru.len() as u64;
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

    fn drop_expired(&mut self, key: Probe<'_>, expires: Timestamp) {
        self.lru.pop(&key as &dyn View);
        self.unindex(key.key, expires);
        self.counters.expirations += 1;
    }

    fn unindex(&mut self, key: &str, expires: Timestamp) {
        if expires != Timestamp::MAX {
            self.expiring.remove(&(expires, key.into()));
        }
    }
}

impl<V: Clone> Shard<V> {
    /// `get`: the live value (refreshing its recency), counting a hit or a miss.
    #[inline]
    pub(crate) fn lookup(&mut self, key: Probe<'_>, clock: &dyn Clock) -> Option<V> {
        let expired_at = match self.lru.get(&key as &dyn View) {
            None => {
                self.counters.misses += 1;
                return None;
            }
            Some(e) if e.is_live(clock) => {
                let value = e.value.clone();
                self.counters.hits += 1;
                return Some(value);
            }
            Some(e) => e.expires,
        };
        self.drop_expired(key, expired_at);
        self.counters.misses += 1;
        None
    }
}

fn new_lru<V>(capacity: usize) -> Table<V> {
    // Bounded at the shard's capacity (so `push` evicts), but grown on demand rather than
    // allocated up front: a large, mostly empty cache costs little memory.
    let mut lru = LruCache::unbounded_with_hasher(PassThrough);
    lru.resize(NonZeroUsize::new(capacity.max(1)).expect("capacity is at least 1"));
    lru
}
