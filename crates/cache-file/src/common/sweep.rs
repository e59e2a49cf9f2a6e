//! Work done a little at a time so that nothing scans the directory on a hot path: the
//! sweep of expired entries, a moving hand over the fan-out directories that each write
//! advances by a few entries, and the recount of the directory that every open starts in
//! the background.
//!
//! The hand only goes where the shared accounting says an entry may have expired (a fan-out
//! directory's earliest expiry is past): a cache whose entries never expire pays nothing
//! for it. Expired entries it removes are not counted as expirations: a `set` never counts
//! one (and which expired entries a sweep reaches first is no behaviour a user can rely
//! on, unlike the touch of an expired entry, which is counted).

use std::io;
use std::sync::{Arc, Weak};

use cache_core::codec;
use cache_core::{CacheError, Timestamp};

use super::bounds::{Hand, Slot};
use super::dir::{EntryId, Opened};
use super::inner::Inner;
use super::read::verify::{read_head, Verdict};

/// Entries the hand looks at per write, at most, when it has work: enough that a cache
/// writing only short-lived entries removes them faster than it writes them.
const PER_WRITE: usize = 4;

impl Inner {
    /// A step of the sweep: up to [`PER_WRITE`] entries of a fan-out directory whose
    /// earliest expiry is past; nothing when no directory has one (one pass over 256
    /// numbers in memory). Another thread sweeping meanwhile makes this one skip.
    pub(crate) fn sweep_step(&self, now: Timestamp) -> io::Result<()> {
        let now_ns = now.as_nanos();
        if now_ns < self.usage.due() {
            return Ok(());
        }
        let Ok(mut hand) = self.hand.try_lock() else {
            return Ok(());
        };
        let mut budget = PER_WRITE;
        while budget > 0 {
            if !hand.active {
                let start = hand.fan.wrapping_add(1);
                let due = (0..=255u8)
                    .map(|i| start.wrapping_add(i))
                    .find(|&f| self.usage.earliest(f) <= now_ns);
                let Some(fan) = due else {
                    return Ok(());
                };
                let mut ids = std::mem::take(&mut hand.ids);
                ids.clear();
                self.dir.scan_fan(fan, |id| -> io::Result<()> {
                    ids.push(id);
                    Ok(())
                })?;
                *hand = Hand {
                    fan,
                    ids,
                    pos: 0,
                    active: true,
                    earliest_left: u64::MAX,
                };
                budget -= 1;
                continue;
            }
            let Some(&id) = hand.ids.get(hand.pos) else {
                hand.active = false;
                self.usage.swept(hand.fan, hand.earliest_left)?;
                continue;
            };
            hand.pos += 1;
            budget -= 1;
            if let Some(expires) = self.sweep_one(&id, now)? {
                if expires != Timestamp::MAX {
                    hand.earliest_left = hand.earliest_left.min(expires.as_nanos());
                }
            }
        }
        Ok(())
    }

    /// Removes the entry `id` if it has expired (and is still the file that was read);
    /// the expiry of the entry left there, if any.
    ///
    /// A write may be holding another fan-out directory's keys lock as it sweeps, so this
    /// one is only tried: an entry whose directory is busy is left for a later step (its
    /// expiry unknown, so `now`: the directory stays due).
    fn sweep_one(&self, id: &EntryId, now: Timestamp) -> io::Result<Option<Timestamp>> {
        let Some(_keys) = self.key_locks.try_acquire(&self.dir, id)? else {
            return Ok(Some(now));
        };
        let Some((fid, head, _open)) = self.read_entry_head(id)? else {
            return Ok(None);
        };
        let expires = head.header.expires_at();
        if expires.is_live_at(now) {
            return Ok(Some(expires));
        }
        self.remove_if_unchanged(id, fid, &head.header)?;
        Ok(None)
    }

    /// Counts the entries of fan-out directory `fan` (reading headers only) for the shared
    /// accounting; `found` gets each entry's mtime, id, size and expiry.
    fn count_fan(
        &self,
        fan: u8,
        found: &mut Vec<(std::time::SystemTime, EntryId, u64, Timestamp)>,
    ) -> io::Result<Slot> {
        let mut slot = Slot::EMPTY;
        self.dir.scan_fan(fan, |id| -> io::Result<()> {
            if let Opened::File(f, m) = self.dir.open_entry(&id)? {
                if let Verdict::Ok(head) = read_head(&f, m.len())? {
                    let expires = head.header.expires_at();
                    slot.entries += 1;
                    slot.bytes += m.len();
                    if expires != Timestamp::MAX {
                        slot.earliest = slot.earliest.min(expires.as_nanos());
                    }
                    let mtime = m.modified().unwrap_or(std::time::UNIX_EPOCH);
                    found.push((mtime, id, m.len(), expires));
                }
            }
            Ok(())
        })?;
        Ok(slot)
    }
}

/// Starts the recount of the directory in the background: each fan-out directory is
/// counted under the accounting file's lock and its slot set to what was found, which
/// corrects what killed processes or hand removals left wrong; a bounded instance also
/// learns the entries it finds, oldest file first, as its least recently used. The thread
/// holds the cache weakly and stops when it is dropped.
pub fn start_recount(inner: &Arc<Inner>) {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let spawned = std::thread::Builder::new()
        .name("cache-file-recount".into())
        .spawn(move || {
            let mut found = Vec::new();
            for fan in 0..=255u8 {
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                if inner.stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                // A fan-out directory that does not exist and that the accounting has as
                // empty needs no count (most of them, in a small cache).
                if inner.usage.is_empty(fan) && !inner.dir.fan_exists(fan) {
                    continue;
                }
                let mut mine = Vec::new();
                let counted = inner.usage.recount(fan, || inner.count_fan(fan, &mut mine));
                if counted.is_err() {
                    // The accounting stays as the processes left it; the next open retries.
                    return;
                }
                found.extend(mine);
            }
            let Some(inner) = weak.upgrade() else {
                return;
            };
            if let Some(bounds) = &inner.bounds {
                // Newest first, each learned as the least recently used: the oldest ends last.
                found.sort_by_key(|f| std::cmp::Reverse(f.0));
                for (_, id, len, expires) in found {
                    bounds.learn(id, len, expires);
                }
            }
        });
    if let Ok(handle) = spawned {
        *inner.recount.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
    }
}

impl Inner {
    /// Reads every entry's header (never a payload) and removes those `doomed` picks, if
    /// still the file that was read, plus any corrupt file. Counts as the callers' contract
    /// says: live removals are returned, expired ones counted as expirations.
    pub(crate) fn sweep(
        &self,
        what: &str,
        mut doomed: impl FnMut(&str) -> bool,
        live_too: bool,
    ) -> Result<(u64, u64), CacheError> {
        let now = self.now();
        let (mut live, mut expired) = (0, 0);
        self.dir
            .scan(|id| -> io::Result<()> {
                let Some((fid, head, _open)) = self.read_entry_head(&id)? else {
                    return Ok(());
                };
                // Every version's entries: the name's key, whatever its version.
                let Some((key, _version)) = codec::split_versioned_name(&head.key) else {
                    return self.drop_corrupt(fid, &id).map(|_| ());
                };
                let is_live = head.header.expires_at().is_live_at(now);
                if (is_live && !live_too) || !doomed(key) {
                    return Ok(());
                }
                if self.remove_if_unchanged(&id, fid, &head.header)? {
                    if is_live {
                        live += 1;
                    } else {
                        expired += 1;
                        self.stats.expiration();
                    }
                }
                Ok(())
            })
            .map_err(|e| self.scan_err(what, e))?;
        Ok((live, expired))
    }
}
