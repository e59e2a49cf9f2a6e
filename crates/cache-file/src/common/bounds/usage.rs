//! The accounting every process on a directory shares: `DIR/usage`, one slot per fan-out
//! directory holding its number of entries, their bytes, and the earliest expiry among the
//! entries written into it with a TTL. Updated under an `flock`, in batches: each instance
//! adds up its own changes and writes them out every [`FLUSH_EVERY`] operations, or at once
//! when the directory may be over a bound; what it reads back is the directory's usage as
//! every process last wrote it.
//!
//! The file is a cache of the truth, not the truth: a process killed before it flushed, or
//! files removed by hand, make it drift, and every open recounts the directory in the
//! background (fan-out directory by fan-out directory, each under the lock) to set it right.
//!
//! Layout (little-endian): `FBUSAGE1`, 24 reserved bytes, then 256 slots of 32 bytes:
//! entries (u64), bytes (u64), earliest expiry (ns since the epoch, `u64::MAX` = none),
//! reserved (u64).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard};

use rustix::fs::FlockOperation;

/// The accounting file's name in the cache directory.
pub const USAGE_FILE: &str = "usage";

const MAGIC: [u8; 8] = *b"FBUSAGE1";
const HEAD: usize = 32;
const SLOT: usize = 32;
const LEN: usize = HEAD + 256 * SLOT;

/// Operations an instance adds up before it writes them out.
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

/// Changes not yet written out.
#[derive(Debug)]
struct Local {
    entries: [i64; 256],
    bytes: [i64; 256],
    earliest: [u64; 256],
    /// The sums of `entries` and `bytes`, kept as they change (a write asks for them).
    pending: (i64, i64),
    ops: u32,
    known: Totals,
}

/// The shared accounting file and this instance's changes not yet written to it.
#[derive(Debug)]
pub struct Usage {
    file: Mutex<File>,
    local: Mutex<Local>,
    /// Held (shared) by a write from before its rename until it has recorded it, and
    /// (exclusive) by a recount of a fan-out directory: so that this instance's write is
    /// either seen by the count or recorded after it, never both.
    gate: RwLock<()>,
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
        out[at..at + 8].copy_from_slice(&s.entries.to_le_bytes());
        out[at + 8..at + 16].copy_from_slice(&s.bytes.to_le_bytes());
        out[at + 16..at + 24].copy_from_slice(&s.earliest.to_le_bytes());
    }
    out
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

/// The lock on the file, released when dropped.
struct Locked<'a>(&'a File);

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(self.0, FlockOperation::Unlock);
    }
}

impl Usage {
    /// Wraps the accounting file `file` (opened read-write, created if missing): a missing,
    /// short or foreign file starts empty, to be filled in by the recount.
    pub fn new(file: File) -> io::Result<Usage> {
        let usage = Usage {
            file: Mutex::new(file),
            gate: RwLock::new(()),
            due: AtomicU64::new(u64::MAX),
            local: Mutex::new(Local {
                entries: [0; 256],
                bytes: [0; 256],
                earliest: [u64::MAX; 256],
                pending: (0, 0),
                ops: 0,
                known: totals(&[Slot::EMPTY; 256]),
            }),
        };
        let t = usage.update(|_| {})?;
        {
            let mut l = usage.local();
            l.known = t;
            usage.set_due(&l);
        }
        Ok(usage)
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        // Plain counters: a panic elsewhere leaves nothing half-updated that matters.
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Held by a write around its rename and its [`Usage::record`].
    pub fn gate(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the file (after the cache directory was recreated).
    pub fn replace_file(&self, file: File) {
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = file;
    }

    /// Reads the slots under the lock, lets `f` change them, writes them back, and
    /// returns the totals.
    fn update(&self, f: impl FnOnce(&mut [Slot])) -> io::Result<Totals> {
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        rustix::fs::flock(&*file, FlockOperation::LockExclusive)?;
        let _locked = Locked(&file);
        let mut bytes = vec![0u8; LEN];
        let n = file.read_at(&mut bytes, 0)?;
        bytes.truncate(n);
        let mut slots = read_slots(&bytes).unwrap_or_else(|| vec![Slot::EMPTY; 256]);
        f(&mut slots);
        file.write_all_at(&write_slots(&slots), 0)?;
        Ok(totals(&slots))
    }

    /// Notes a change to fan-out directory `fan`: entries and bytes added (or removed, when
    /// negative), and the expiry of an entry written (`u64::MAX` for none). Returns whether
    /// it is time to flush.
    pub fn record(&self, fan: u8, entries: i64, bytes: i64, expires: u64) -> bool {
        let mut l = self.local();
        let i = usize::from(fan);
        l.entries[i] += entries;
        l.bytes[i] += bytes;
        l.pending.0 += entries;
        l.pending.1 += bytes;
        l.earliest[i] = l.earliest[i].min(expires);
        self.due.fetch_min(expires, Ordering::Relaxed);
        l.ops += 1;
        l.ops >= FLUSH_EVERY || expires < l.known.earliest[i]
    }

    /// The directory's usage as last read, plus this instance's changes not yet written.
    pub fn estimate(&self) -> (u64, u64) {
        let l = self.local();
        let e = l.known.entries as i64 + l.pending.0;
        let b = l.known.bytes as i64 + l.pending.1;
        (e.max(0) as u64, b.max(0) as u64)
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

    /// Writes this instance's changes out and reads everyone's: the directory's totals.
    pub fn flush(&self) -> io::Result<Totals> {
        let mut l = self.local();
        let t = self.update(|slots| {
            for (i, s) in slots.iter_mut().enumerate() {
                s.entries = (s.entries as i64 + l.entries[i]).max(0) as u64;
                s.bytes = (s.bytes as i64 + l.bytes[i]).max(0) as u64;
                s.earliest = s.earliest.min(l.earliest[i]);
            }
        })?;
        l.entries = [0; 256];
        l.bytes = [0; 256];
        l.pending = (0, 0);
        l.earliest = [u64::MAX; 256];
        l.ops = 0;
        l.known = t.clone();
        self.set_due(&l);
        Ok(t)
    }

    /// Sets the slot of `fan` to what a count of it found; `count` runs under the lock, so
    /// that no other process's change to the slot is lost meanwhile (this instance's own
    /// changes are written out first).
    pub fn recount(&self, fan: u8, count: impl FnOnce() -> io::Result<Slot>) -> io::Result<()> {
        // This instance's pending changes to the fan describe files already in place (the
        // gate): the count sees them, and they are dropped below.
        let _writes = self.gate.write().unwrap_or_else(|p| p.into_inner());
        let mut l = self.local();
        let mut result = Ok(());
        let t = self.update(|slots| match count() {
            Ok(s) => {
                // Changes recorded while counting were seen by the count, or not: either
                // way they are dropped with the rest of this fan's pending ones.
                slots[usize::from(fan)] = s;
            }
            Err(e) => result = Err(e),
        })?;
        let i = usize::from(fan);
        l.pending.0 -= l.entries[i];
        l.pending.1 -= l.bytes[i];
        l.entries[i] = 0;
        l.bytes[i] = 0;
        l.known = t;
        self.set_due(&l);
        result
    }

    /// Whether the slot of `fan` was empty when last read, with nothing pending.
    pub fn is_empty(&self, fan: u8) -> bool {
        let l = self.local();
        let i = usize::from(fan);
        l.entries[i] == 0
            && l.bytes[i] == 0
            && l.earliest[i] == u64::MAX
            && l.known.slots[i] == Slot::EMPTY
    }

    /// Sets the earliest expiry of `fan` after a sweep of it found `earliest` the earliest
    /// among the entries left (entries written during the sweep may be missed until its
    /// next sweep: a sweep is not a guarantee, only a steady cleaning).
    pub fn swept(&self, fan: u8, earliest: u64) -> io::Result<()> {
        let mut l = self.local();
        let i = usize::from(fan);
        let mine = l.earliest[i];
        l.earliest[i] = u64::MAX;
        drop(l);
        let t = self.update(|slots| slots[i].earliest = earliest.min(mine))?;
        let mut l = self.local();
        l.known = t;
        self.set_due(&l);
        Ok(())
    }

    /// Every slot emptied (after `clear`).
    pub fn reset(&self) -> io::Result<()> {
        let mut l = self.local();
        let t = self.update(|slots| slots.fill(Slot::EMPTY))?;
        l.entries = [0; 256];
        l.bytes = [0; 256];
        l.pending = (0, 0);
        l.earliest = [u64::MAX; 256];
        l.ops = 0;
        l.known = t;
        self.set_due(&l);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_handles_add_up_and_a_foreign_file_starts_empty() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(USAGE_FILE);
        std::fs::write(&p, b"not a usage file").unwrap();
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&p)
                .unwrap()
        };
        let (a, b) = (Usage::new(open()).unwrap(), Usage::new(open()).unwrap());
        a.record(1, 2, 200, u64::MAX);
        b.record(1, 1, 50, 77);
        b.record(9, 1, 10, u64::MAX);
        assert_eq!((a.due(), b.due()), (u64::MAX, 77));
        assert_eq!(a.estimate(), (2, 200));
        a.flush().unwrap();
        let t = b.flush().unwrap();
        assert_eq!((t.entries, t.bytes, t.earliest[1]), (4, 260, 77));
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

    #[test]
    fn the_estimate_follows_pending_changes_through_recounts() {
        let d = tempfile::tempdir().unwrap();
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(d.path().join(USAGE_FILE))
            .unwrap();
        let u = Usage::new(file).unwrap();
        u.record(1, 3, 300, u64::MAX);
        u.record(2, 1, 40, u64::MAX);
        u.record(2, -1, -10, u64::MAX);
        assert_eq!(u.estimate(), (3, 330));
        // The recount of fan 1 finds what its pending changes described: they go.
        let fan1 = Slot {
            entries: 3,
            bytes: 300,
            earliest: u64::MAX,
        };
        u.recount(1, || Ok(fan1)).unwrap();
        assert_eq!(u.estimate(), (3, 330), "fan 1 counted once");
        u.record(1, -1, -100, u64::MAX);
        assert_eq!(u.estimate(), (2, 230));
        let t = u.flush().unwrap();
        assert_eq!((t.entries, t.bytes), (2, 230));
        assert_eq!(u.estimate(), (2, 230));
        u.reset().unwrap();
        u.record(7, 1, 1, u64::MAX);
        assert_eq!(u.estimate(), (1, 1));
    }
}
