//! The accounting every process on a directory shares: `DIR/usage`, one slot per fan-out
//! directory holding its number of entries, their bytes, and the earliest expiry among the
//! entries written into it with a TTL.
//!
//! The counts are authoritative for bounded instances: a bounded instance changes the set
//! of entries in the directory (places a new file, removes one) only while it holds the
//! file's `flock` ([`Usage::ledger`]), and records the change in the same hold, before it
//! lets go; the decision to evict, and the evictions, are made in that hold too. So the
//! counts are always those of the files in place (but for a process killed between placing
//! a file and writing the count down), a recount of a fan-out directory (also under the
//! lock) finds nothing half-recorded, and two processes never evict for the same excess.
//! Unbounded instances keep no counts (they do not learn what their writes replace); they
//! only add the expiry of the entries they write, in batches ([`FLUSH_EVERY`]).
//!
//! The file is still a cache of the truth, not the truth: a process killed between a
//! placement and its record, files removed by hand, or unbounded writers make it drift,
//! and every open recounts the directory in the background (fan-out directory by fan-out
//! directory, each under the lock) to set it right.
//!
//! Layout (little-endian): `FBUSAGE1`, 24 reserved bytes, then 256 slots of 32 bytes:
//! entries (u64), bytes (u64), earliest expiry (ns since the epoch, `u64::MAX` = none),
//! reserved (u64).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rustix::fs::FlockOperation;

/// The accounting file's name in the cache directory.
pub const USAGE_FILE: &str = "usage";

const MAGIC: [u8; 8] = *b"FBUSAGE1";
const HEAD: usize = 32;
const SLOT: usize = 32;
const LEN: usize = HEAD + 256 * SLOT;

/// Writes of an unbounded instance whose expiries it adds up before it writes them out.
pub const FLUSH_EVERY: u32 = 64;

/// One fan-out directory's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub entries: u64,
    pub bytes: u64,
    /// The earliest expiry (ns) among the entries written with a TTL; `u64::MAX`: none.
    pub earliest: u64,
}

impl Slot {
    pub const EMPTY: Slot = Slot {
        entries: 0,
        bytes: 0,
        earliest: u64::MAX,
    };
}

/// The directory's usage, as last read.
#[derive(Debug, Clone)]
pub struct Totals {
    pub entries: u64,
    pub bytes: u64,
    pub earliest: [u64; 256],
    slots: Vec<Slot>,
}

/// What this instance knows and has not written out.
#[derive(Debug)]
struct Local {
    /// Expiries of entries an unbounded instance wrote, not written out yet.
    earliest: [u64; 256],
    ops: u32,
    known: Totals,
}

/// The shared accounting file and this instance's changes not yet written to it.
#[derive(Debug)]
pub struct Usage {
    /// Locked before `local` wherever both are.
    file: Mutex<File>,
    local: Mutex<Local>,
    /// The earliest expiry of any fan-out directory, as far as this instance knows: a
    /// write's sweep has nothing to do before it (one atomic load instead of 256 looks).
    due: AtomicU64,
}

fn le(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn read_slots(bytes: &[u8]) -> Option<Vec<Slot>> {
    if bytes.len() != LEN || bytes[..8] != MAGIC {
        return None;
    }
    Some(
        (0..256)
            .map(|i| {
                let at = HEAD + i * SLOT;
                Slot {
                    entries: le(bytes, at),
                    bytes: le(bytes, at + 8),
                    earliest: le(bytes, at + 16),
                }
            })
            .collect(),
    )
}

fn write_slots(slots: &[Slot]) -> Vec<u8> {
    let mut out = vec![0u8; LEN];
    out[..8].copy_from_slice(&MAGIC);
    for (i, s) in slots.iter().enumerate() {
        let at = HEAD + i * SLOT;
        out[at..at + 24].copy_from_slice(&slot_bytes(s));
    }
    out
}

/// A slot's 24 bytes of counts (the reserved 8 after them are left as they are).
fn slot_bytes(s: &Slot) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[..8].copy_from_slice(&s.entries.to_le_bytes());
    out[8..16].copy_from_slice(&s.bytes.to_le_bytes());
    out[16..].copy_from_slice(&s.earliest.to_le_bytes());
    out
}

/// Which slots a [`Ledger`] changed: a bit per fan-out directory.
#[derive(Debug, Default, Clone, Copy)]
struct Dirty([u64; 4]);

impl Dirty {
    fn mark(&mut self, fan: usize) {
        self.0[fan / 64] |= 1 << (fan % 64);
    }
    fn fans(self) -> impl Iterator<Item = usize> {
        (0..256).filter(move |&i| self.0[i / 64] & (1 << (i % 64)) != 0)
    }
}

fn totals(slots: &[Slot]) -> Totals {
    let mut t = Totals {
        entries: 0,
        bytes: 0,
        earliest: [u64::MAX; 256],
        slots: slots.to_vec(),
    };
    for (i, s) in slots.iter().enumerate() {
        t.entries += s.entries;
        t.bytes += s.bytes;
        t.earliest[i] = s.earliest;
    }
    t
}

/// The accounting file, locked (`flock`, exclusive) and read: the changes to the directory
/// made while it is held are recorded in it and written out by [`Ledger::commit`]. Dropped
/// without a commit (an error on the way), it lets go and writes nothing.
pub struct Ledger<'a> {
    usage: &'a Usage,
    file: MutexGuard<'a, File>,
    slots: Vec<Slot>,
    entries: u64,
    bytes: u64,
    /// The slots changed while held, written back one by one...
    dirty: Dirty,
    /// ...or the whole file (it was missing, short or foreign, or every slot was reset).
    whole: bool,
}

impl std::fmt::Debug for Ledger<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("entries", &self.entries)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl Ledger<'_> {
    /// Records a change to fan-out directory `fan`, made while this is held: entries and
    /// bytes added (or removed, when negative; counts never go below zero, which only a
    /// file the accounting never knew of can ask), and the expiry of an entry written
    /// (`u64::MAX` for none).
    pub fn record(&mut self, fan: u8, entries: i64, bytes: i64, expires: u64) {
        let s = &mut self.slots[usize::from(fan)];
        let (e0, b0) = (s.entries, s.bytes);
        s.entries = s.entries.saturating_add_signed(entries);
        s.bytes = s.bytes.saturating_add_signed(bytes);
        s.earliest = s.earliest.min(expires);
        self.entries = self.entries - e0 + s.entries;
        self.bytes = self.bytes - b0 + s.bytes;
        self.dirty.mark(usize::from(fan));
    }

    /// The directory's entries and bytes, with the changes recorded so far.
    pub fn totals(&self) -> (u64, u64) {
        (self.entries, self.bytes)
    }

    /// Writes the changes out (only the slots changed, a few bytes each, unless the whole
    /// file is to be written) and lets go of the lock; this instance now knows the
    /// directory's totals as they are ([`Usage::estimate`]).
    pub fn commit(self) -> io::Result<()> {
        if self.whole {
            self.file.write_all_at(&write_slots(&self.slots), 0)?;
        } else {
            for i in self.dirty.fans() {
                let at = (HEAD + i * SLOT) as u64;
                self.file.write_all_at(&slot_bytes(&self.slots[i]), at)?;
            }
        }
        let mut l = self.usage.local();
        let known = &mut l.known;
        known.entries = self.entries;
        known.bytes = self.bytes;
        known.slots.copy_from_slice(&self.slots);
        for (e, s) in known.earliest.iter_mut().zip(&self.slots) {
            *e = s.earliest;
        }
        self.usage.set_due(&l);
        Ok(())
        // `self` is dropped here: unlocked, then the file's mutex released.
    }

    /// Marks the slot of `fan` changed.
    fn changed(&mut self, fan: usize) {
        self.dirty.mark(fan);
    }
}

impl Drop for Ledger<'_> {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(&*self.file, FlockOperation::Unlock);
    }
}

impl Usage {
    /// Wraps the accounting file `file` (opened read-write, created if missing): a missing,
    /// short or foreign file starts empty, to be filled in by the recount.
    pub fn new(file: File) -> io::Result<Usage> {
        let usage = Usage {
            file: Mutex::new(file),
            due: AtomicU64::new(u64::MAX),
            local: Mutex::new(Local {
                earliest: [u64::MAX; 256],
                ops: 0,
                known: totals(&[Slot::EMPTY; 256]),
            }),
        };
        usage.ledger()?.commit()?;
        Ok(usage)
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        // Plain counters: a panic elsewhere leaves nothing half-updated that matters.
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the file (after the cache directory was recreated).
    pub fn replace_file(&self, file: File) {
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = file;
    }

    /// Locks the file and reads it: see [`Ledger`]. Held briefly (a placement or removal
    /// and its record); the threads of this instance wait for each other on a mutex, the
    /// processes on the `flock`.
    pub fn ledger(&self) -> io::Result<Ledger<'_>> {
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        rustix::fs::flock(&*file, FlockOperation::LockExclusive)?;
        let mut ledger = Ledger {
            usage: self,
            file,
            slots: Vec::new(),
            entries: 0,
            bytes: 0,
            dirty: Dirty::default(),
            whole: false,
        };
        let mut bytes = vec![0u8; LEN];
        let n = ledger.file.read_at(&mut bytes, 0)?;
        bytes.truncate(n);
        ledger.slots = read_slots(&bytes).unwrap_or_else(|| {
            ledger.whole = true;
            vec![Slot::EMPTY; 256]
        });
        ledger.entries = ledger.slots.iter().map(|s| s.entries).sum();
        ledger.bytes = ledger.slots.iter().map(|s| s.bytes).sum();
        Ok(ledger)
    }

    /// Notes the expiry of an entry an unbounded instance wrote into fan-out directory
    /// `fan` (`u64::MAX` for none). Returns whether it is time to flush.
    pub fn note_expiry(&self, fan: u8, expires: u64) -> bool {
        let mut l = self.local();
        let i = usize::from(fan);
        l.earliest[i] = l.earliest[i].min(expires);
        self.due.fetch_min(expires, Ordering::Relaxed);
        l.ops += 1;
        l.ops >= FLUSH_EVERY || expires < l.known.earliest[i]
    }

    /// The directory's usage as last read or written by this instance.
    pub fn estimate(&self) -> (u64, u64) {
        let l = self.local();
        (l.known.entries, l.known.bytes)
    }

    /// The earliest expiry of any fan-out directory, as far as this instance knows.
    pub fn due(&self) -> u64 {
        self.due.load(Ordering::Relaxed)
    }

    /// Sets [`Usage::due`] from what `l` knows.
    fn set_due(&self, l: &Local) {
        let due = (0..256)
            .map(|i| l.known.earliest[i].min(l.earliest[i]))
            .min()
            .unwrap_or(u64::MAX);
        self.due.store(due, Ordering::Relaxed);
    }

    /// The earliest expiry of fan `fan`, as last read or written by this instance.
    pub fn earliest(&self, fan: u8) -> u64 {
        let l = self.local();
        l.known.earliest[usize::from(fan)].min(l.earliest[usize::from(fan)])
    }

    /// Writes this instance's expiries out and reads everyone's: the directory's totals.
    pub fn flush(&self) -> io::Result<Totals> {
        let mut ledger = self.ledger()?;
        let mine = {
            let mut l = self.local();
            l.ops = 0;
            std::mem::replace(&mut l.earliest, [u64::MAX; 256])
        };
        for (i, e) in mine.iter().enumerate() {
            if *e < ledger.slots[i].earliest {
                ledger.slots[i].earliest = *e;
                ledger.changed(i);
            }
        }
        ledger.commit()?;
        Ok(self.local().known.clone())
    }

    /// Sets the slot of `fan` to what a count of it found; `count` runs under the lock, so
    /// that no change to the fan-out directory by a bounded instance, of any process, is
    /// made meanwhile (each is made and recorded under the lock).
    pub fn recount(&self, fan: u8, count: impl FnOnce() -> io::Result<Slot>) -> io::Result<()> {
        let mut ledger = self.ledger()?;
        let s = count()?;
        let i = usize::from(fan);
        let old = ledger.slots[i];
        ledger.slots[i] = s;
        ledger.entries = ledger.entries - old.entries + s.entries;
        ledger.bytes = ledger.bytes - old.bytes + s.bytes;
        ledger.changed(i);
        ledger.commit()
    }

    /// Whether the slot of `fan` was empty when last read, with nothing pending.
    pub fn is_empty(&self, fan: u8) -> bool {
        let l = self.local();
        let i = usize::from(fan);
        l.earliest[i] == u64::MAX && l.known.slots[i] == Slot::EMPTY
    }

    /// Sets the earliest expiry of `fan` after a sweep of it found `earliest` the earliest
    /// among the entries left (entries written during the sweep may be missed until its
    /// next sweep: a sweep is not a guarantee, only a steady cleaning).
    pub fn swept(&self, fan: u8, earliest: u64) -> io::Result<()> {
        let mut ledger = self.ledger()?;
        let i = usize::from(fan);
        let mine = std::mem::replace(&mut self.local().earliest[i], u64::MAX);
        ledger.slots[i].earliest = earliest.min(mine);
        ledger.changed(i);
        ledger.commit()
    }

    /// Every slot emptied (after `clear`).
    pub fn reset(&self) -> io::Result<()> {
        let mut ledger = self.ledger()?;
        {
            let mut l = self.local();
            l.earliest = [u64::MAX; 256];
            l.ops = 0;
        }
        ledger.slots.fill(Slot::EMPTY);
        ledger.entries = 0;
        ledger.bytes = 0;
        ledger.whole = true;
        ledger.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(p: &std::path::Path) -> File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(p)
            .unwrap()
    }

    #[test]
    fn two_handles_add_up_and_a_foreign_file_starts_empty() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(USAGE_FILE);
        std::fs::write(&p, b"not a usage file").unwrap();
        let (a, b) = (Usage::new(open(&p)).unwrap(), Usage::new(open(&p)).unwrap());
        let mut l = a.ledger().unwrap();
        l.record(1, 2, 200, u64::MAX);
        assert_eq!(l.totals(), (2, 200));
        l.commit().unwrap();
        let mut l = b.ledger().unwrap();
        assert_eq!(l.totals(), (2, 200), "a's changes are there");
        l.record(1, 1, 50, 77);
        l.record(9, 1, 10, u64::MAX);
        l.commit().unwrap();
        assert_eq!((a.due(), b.due()), (u64::MAX, 77));
        let t = a.flush().unwrap();
        assert_eq!((t.entries, t.bytes, t.earliest[1]), (4, 260, 77));
        assert_eq!(a.due(), 77);
        a.recount(1, || {
            Ok(Slot {
                entries: 1,
                bytes: 5,
                earliest: 90,
            })
        })
        .unwrap();
        assert_eq!(a.estimate(), (2, 15));
        assert_eq!(a.due(), 90, "fan 9 has no expiry, fan 1 was recounted");
        a.swept(1, u64::MAX).unwrap();
        assert_eq!((a.earliest(1), a.due()), (u64::MAX, u64::MAX));
        b.reset().unwrap();
        assert_eq!(a.flush().unwrap().entries, 0);
        assert_eq!(a.due(), u64::MAX);
    }

    /// A removal the accounting never counted stops at zero; a ledger dropped without a
    /// commit writes nothing; an unbounded instance's expiries are written out by a flush.
    #[test]
    fn counts_stop_at_zero_and_uncommitted_changes_are_dropped() {
        let d = tempfile::tempdir().unwrap();
        let u = Usage::new(open(&d.path().join(USAGE_FILE))).unwrap();
        let mut l = u.ledger().unwrap();
        l.record(3, 1, 100, u64::MAX);
        l.record(3, -2, -300, u64::MAX);
        assert_eq!(l.totals(), (0, 0));
        l.record(4, 5, 500, u64::MAX);
        l.commit().unwrap();
        let mut l = u.ledger().unwrap();
        l.record(4, 1, 1, u64::MAX);
        drop(l);
        assert_eq!(u.flush().unwrap().entries, 5);
        assert!(
            u.note_expiry(5, 1_000),
            "earlier than any known: written out now"
        );
        assert_eq!(u.due(), 1_000);
        assert_eq!(u.flush().unwrap().earliest[5], 1_000);
    }
}
