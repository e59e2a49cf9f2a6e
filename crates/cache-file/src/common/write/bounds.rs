//! After each write: the change recorded in the shared accounting (`bounds/usage.rs`),
//! written out when due, the entries the bounds index (`bounds/index.rs`) chooses removed
//! when the directory is over a bound, and a step of the sweep. The place where the bounds
//! are kept, across the processes of a directory.

use std::io;
use std::sync::atomic::Ordering;

use cache_core::{CacheError, Timestamp};

use super::super::bounds::{Bounds, Totals, USAGE_FILE};
use super::super::dir::{EntryId, Replaced};
use super::super::inner::Inner;
use super::super::read::drop::Taken;

impl Inner {
    /// After a write of `len` bytes that replaced `replaced`: records it in the accounting
    /// (then lets the recount `gate` go), makes room if the directory is over a bound, and
    /// takes a step of the sweep.
    pub(crate) fn written(
        &self,
        id: EntryId,
        len: u64,
        expires: Timestamp,
        replaced: Replaced,
        gate: std::sync::RwLockReadGuard<'_, ()>,
        now: Timestamp,
    ) -> Result<(), CacheError> {
        let (entries, bytes) = match replaced {
            Replaced::Nothing => (1, len as i64),
            Replaced::Old(old) => (0, len as i64 - old as i64),
            Replaced::Unknown => (0, 0),
        };
        let (entries, bytes) = if self.bounds.is_some() {
            (entries, bytes)
        } else {
            (0, 0)
        };
        let due = self.usage.record(id[0], entries, bytes, expires.as_nanos());
        drop(gate);
        if let Some(bounds) = &self.bounds {
            bounds.touch(id, len, expires);
            let (e, b) = self.usage.estimate();
            let over = bounds.excess(e, b) != (0, 0);
            if due || over {
                let t = self
                    .flush_usage()
                    .map_err(|e| self.scan_err("accounting", e))?;
                let (e, b) = bounds.excess(t.entries, t.bytes);
                if (e, b) != (0, 0) {
                    self.cull(bounds, now, &id, e, b)?;
                }
            }
        } else if due {
            self.flush_usage()
                .map_err(|e| self.scan_err("accounting", e))?;
        }
        if self.sweeps {
            self.sweep_step(now)
                .map_err(|e| self.scan_err("sweeping", e))?;
        }
        Ok(())
    }

    /// Writes this instance's accounting out and reads the directory's, in the accounting
    /// file of the directory as it is now (made again if it was removed).
    pub(crate) fn flush_usage(&self) -> io::Result<Totals> {
        let gen = self.dir.renewals();
        if self.usage_gen.swap(gen, Ordering::Relaxed) != gen {
            self.usage
                .replace_file(self.dir.open_root_file(USAGE_FILE)?);
        }
        let t = self.usage.flush()?;
        if self.usage_gen.load(Ordering::Relaxed) != self.dir.renewals() {
            return self.flush_usage();
        }
        Ok(t)
    }

    /// Removes what the bounds say must go to make room, the directory being `entries` and
    /// `bytes` over them; then writes the accounting out.
    pub(crate) fn cull(
        &self,
        bounds: &Bounds,
        now: Timestamp,
        keep: &EntryId,
        entries: u64,
        bytes: u64,
    ) -> Result<(), CacheError> {
        for (id, _why) in bounds.cull_excess(now, keep, entries, bytes) {
            let taken = self.take(None, &id).map_err(|e| {
                let path = self.dir.entry_path(&id);
                CacheError::io(format!("evicting the entry at {}", path.display()), e)
            })?;
            // What was on disk decides the count, not why the index chose it: another
            // instance may have rewritten an entry this one saw expire.
            match taken {
                Taken::Live => self.stats.eviction(),
                Taken::Expired => self.stats.expiration(),
                _ => {}
            }
        }
        self.flush_usage()
            .map_err(|e| self.scan_err("accounting", e))?;
        Ok(())
    }
}
