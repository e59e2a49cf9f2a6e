//! The in-memory index behind the optional bounds (`max_entries`, `max_bytes`): entry ids in
//! recency order with their size and expiry, and the entries that carry a TTL ordered by
//! expiry, so that culling finds expired entries and the least recently used one without a
//! directory scan.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

use cache_core::Timestamp;
use lru::LruCache;

use super::super::dir::EntryId;

#[derive(Debug, Clone, Copy)]
struct Slot {
    bytes: u64,
    expires: Timestamp,
}

#[derive(Debug)]
struct Index {
    recency: LruCache<EntryId, Slot>,
    expiring: BTreeSet<(Timestamp, EntryId)>,
    bytes: u64,
}

/// Why an entry was chosen to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cull {
    /// It had expired: counted as an expiration.
    Expired,
    /// It was the least recently used: counted as an eviction.
    LeastRecentlyUsed,
}

/// The bounds and the index that enforces them.
#[derive(Debug)]
pub struct Bounds {
    max_entries: Option<u64>,
    max_bytes: Option<u64>,
    index: Mutex<Index>,
}

impl Index {
    fn remove(&mut self, id: &EntryId) -> Option<Slot> {
        let slot = self.recency.pop(id)?;
        self.bytes -= slot.bytes;
        if slot.expires != Timestamp::MAX {
            self.expiring.remove(&(slot.expires, *id));
        }
        Some(slot)
    }
}

impl Bounds {
    pub fn new(max_entries: Option<u64>, max_bytes: Option<u64>) -> Self {
        Bounds {
            max_entries,
            max_bytes,
            index: Mutex::new(Index {
                recency: LruCache::unbounded(),
                expiring: BTreeSet::new(),
                bytes: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        // The index holds no invariant a panic elsewhere could break half-way.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `id` as the most recently used entry, of `bytes` bytes expiring at `expires`.
    pub fn touch(&self, id: EntryId, bytes: u64, expires: Timestamp) {
        let mut ix = self.lock();
        ix.remove(&id);
        ix.bytes += bytes;
        if expires != Timestamp::MAX {
            ix.expiring.insert((expires, id));
        }
        ix.recency.put(id, Slot { bytes, expires });
    }

    /// The size of `id`'s file if known (written or read by this instance, or found by
    /// the recount).
    pub fn known_size(&self, id: &EntryId) -> Option<u64> {
        self.lock().recency.peek(id).map(|s| s.bytes)
    }

    /// The byte bound.
    pub fn max_bytes(&self) -> Option<u64> {
        self.max_bytes
    }

    /// Forgets `id` (removed from disk).
    pub fn forget(&self, id: &EntryId) {
        self.lock().remove(id);
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        let mut ix = self.lock();
        ix.recency.clear();
        ix.expiring.clear();
        ix.bytes = 0;
    }

    /// Bytes of the entries known to the index.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Records `id`, if not known yet, as the least recently used entry: an entry found on
    /// disk (by the recount), whose last use this process cannot know.
    pub fn learn(&self, id: EntryId, bytes: u64, expires: Timestamp) {
        let mut ix = self.lock();
        if ix.recency.contains(&id) {
            return;
        }
        ix.bytes += bytes;
        if expires != Timestamp::MAX {
            ix.expiring.insert((expires, id));
        }
        ix.recency.put(id, Slot { bytes, expires });
        ix.recency.demote(&id);
    }

    /// How far `entries` and `bytes` (the directory's) are over the bounds.
    pub fn excess(&self, entries: u64, bytes: u64) -> (u64, u64) {
        (
            self.max_entries.map_or(0, |m| entries.saturating_sub(m)),
            self.max_bytes.map_or(0, |m| bytes.saturating_sub(m)),
        )
    }

    /// Takes out of the index the entries to remove so that the directory, `entries` and
    /// `bytes` over its bounds, fits them again: every expired entry first, then the least
    /// recently used, never `keep`. Only entries this index knows can be chosen.
    pub fn cull_excess(
        &self,
        now: Timestamp,
        keep: &EntryId,
        entries: u64,
        bytes: u64,
    ) -> Vec<(EntryId, Cull)> {
        let mut ix = self.lock();
        let mut culled = Vec::new();
        let (mut e, mut b) = (0u64, 0u64);
        while let Some(&(expires, id)) = ix.expiring.first() {
            if expires.is_live_at(now) {
                break;
            }
            if let Some(slot) = ix.remove(&id) {
                e += 1;
                b += slot.bytes;
            }
            culled.push((id, Cull::Expired));
        }
        while e < entries || b < bytes {
            let Some((&id, _)) = ix.recency.peek_lru() else {
                break;
            };
            if id == *keep {
                if ix.recency.len() == 1 {
                    break;
                }
                ix.recency.promote(&id);
                continue;
            }
            if let Some(slot) = ix.remove(&id) {
                e += 1;
                b += slot.bytes;
            }
            culled.push((id, Cull::LeastRecentlyUsed));
        }
        culled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> EntryId {
        [n; 16]
    }

    #[test]
    fn culls_expired_then_least_recently_used() {
        let b = Bounds::new(Some(3), None);
        let t = Timestamp::from_nanos(100);
        b.touch(id(1), 10, Timestamp::MAX);
        b.touch(id(2), 10, Timestamp::from_nanos(50));
        b.touch(id(3), 10, Timestamp::MAX);
        b.touch(id(1), 10, Timestamp::MAX); // 1 is now the most recent
        assert_eq!(b.excess(3, 30), (0, 0));
        b.touch(id(4), 10, Timestamp::MAX);
        assert_eq!(b.excess(4, 40), (1, 0));
        assert_eq!(b.cull_excess(t, &id(4), 1, 0), vec![(id(2), Cull::Expired)]);
        b.touch(id(5), 10, Timestamp::MAX);
        assert_eq!(
            b.cull_excess(t, &id(5), 1, 0),
            vec![(id(3), Cull::LeastRecentlyUsed)]
        );
        assert_eq!(b.bytes(), 30);
        // Entries found on disk are the least recently used.
        b.learn(id(6), 10, Timestamp::MAX);
        b.learn(id(1), 99, Timestamp::MAX); // known: unchanged
        assert_eq!(
            b.cull_excess(t, &id(5), 1, 0),
            vec![(id(6), Cull::LeastRecentlyUsed)]
        );
    }

    #[test]
    fn bytes_bound_keeps_the_newest_entry() {
        let b = Bounds::new(None, Some(100));
        b.touch(id(1), 60, Timestamp::MAX);
        b.touch(id(2), 60, Timestamp::MAX);
        assert_eq!(b.excess(2, 120), (0, 20));
        assert_eq!(
            b.cull_excess(Timestamp::ZERO, &id(2), 0, 20),
            vec![(id(1), Cull::LeastRecentlyUsed)]
        );
        b.touch(id(3), 500, Timestamp::MAX);
        assert_eq!(
            b.cull_excess(Timestamp::ZERO, &id(3), 0, 460),
            vec![(id(2), Cull::LeastRecentlyUsed)]
        );
        assert!(b.cull_excess(Timestamp::ZERO, &id(3), 0, 400).is_empty());
        b.forget(&id(3));
        assert_eq!(b.bytes(), 0);
    }
}
