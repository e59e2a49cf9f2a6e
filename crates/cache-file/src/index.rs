//! The in-memory index behind the optional bounds (`max_entries`, `max_bytes`): entry ids in
//! recency order with their size and expiry, and the entries that carry a TTL ordered by
//! expiry, so that culling finds expired entries and the least recently used one without a
//! directory scan.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

use cache_core::Timestamp;
use lru::LruCache;

use crate::dir::EntryId;

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

    /// Entries known to the index (expired ones not yet removed included).
    pub fn len(&self) -> u64 {
        self.lock().recency.len() as u64
    }

    /// Bytes of the entries known to the index.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Takes out of the index the entries to remove so that it fits its bounds again: every
    /// expired entry first, then the least recently used, never `keep` (the entry just
    /// written, which stays even when it alone exceeds `max_bytes`).
    pub fn cull(&self, now: Timestamp, keep: &EntryId) -> Vec<(EntryId, Cull)> {
        let mut ix = self.lock();
        let over = |ix: &Index| {
            self.max_entries
                .is_some_and(|m| ix.recency.len() as u64 > m)
                || self.max_bytes.is_some_and(|m| ix.bytes > m)
        };
        let mut culled = Vec::new();
        if !over(&ix) {
            return culled;
        }
        while let Some(&(expires, id)) = ix.expiring.first() {
            if expires.is_live_at(now) {
                break;
            }
            ix.remove(&id);
            culled.push((id, Cull::Expired));
        }
        while over(&ix) {
            let Some((&id, _)) = ix.recency.peek_lru() else {
                break;
            };
            if id == *keep {
                // The newest entry is the only one left.
                let Some(slot) = ix.recency.pop(&id) else {
                    break;
                };
                ix.recency.put(id, slot);
                if ix.recency.len() == 1 {
                    break;
                }
                continue;
            }
            ix.remove(&id);
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
        assert!(b.cull(t, &id(1)).is_empty());
        b.touch(id(4), 10, Timestamp::MAX);
        assert_eq!(b.cull(t, &id(4)), vec![(id(2), Cull::Expired)]);
        b.touch(id(5), 10, Timestamp::MAX);
        assert_eq!(b.cull(t, &id(5)), vec![(id(3), Cull::LeastRecentlyUsed)]);
        assert_eq!((b.len(), b.bytes()), (3, 30));
    }

    #[test]
    fn bytes_bound_keeps_the_newest_entry() {
        let b = Bounds::new(None, Some(100));
        b.touch(id(1), 60, Timestamp::MAX);
        b.touch(id(2), 60, Timestamp::MAX);
        assert_eq!(
            b.cull(Timestamp::ZERO, &id(2)),
            vec![(id(1), Cull::LeastRecentlyUsed)]
        );
        b.touch(id(3), 500, Timestamp::MAX);
        assert_eq!(
            b.cull(Timestamp::ZERO, &id(3)),
            vec![(id(2), Cull::LeastRecentlyUsed)]
        );
        assert_eq!(b.len(), 1);
        b.forget(&id(3));
        assert_eq!((b.len(), b.bytes()), (0, 0));
    }
}
