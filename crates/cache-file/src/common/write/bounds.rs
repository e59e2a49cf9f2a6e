//! After each write: the change recorded in the shared accounting (`bounds/usage.rs`) and,
//! when the directory is over a bound, the entries the bounds index (`bounds/index.rs`)
//! chooses removed, all under the accounting's lock that the placing of the file took; then
//! a step of the sweep. The place where the bounds are kept, across the processes of a
//! directory.

use std::io;

use cache_core::{CacheError, Timestamp};

use super::super::bounds::{Bounds, Ledger, Totals};
use super::super::dir::{EntryId, Replaced};
use super::super::inner::Inner;
use super::super::read::drop::Taken;

impl Inner {
    /// After a write of `len` bytes that replaced `replaced`: a bounded instance, which
    /// placed the file holding `ledger`, records it there, makes room if the directory is
    /// over a bound, and lets go; an unbounded one notes the expiry (written out every few
    /// writes). Then a step of the sweep.
    pub(crate) fn written(
        &self,
        id: EntryId,
        len: u64,
        expires: Timestamp,
        replaced: Replaced,
        ledger: Option<Ledger<'_>>,
        now: Timestamp,
    ) -> Result<(), CacheError> {
        match (&self.bounds, ledger) {
            (Some(bounds), Some(mut ledger)) => {
                let (entries, bytes) = match replaced {
                    Replaced::Nothing => (1, len as i64),
                    Replaced::Old(old) => (0, len as i64 - old as i64),
                    Replaced::Unknown => (0, 0),
                };
                ledger.record(id[0], entries, bytes, expires.as_nanos());
                bounds.touch(id, len, expires);
                self.cull(bounds, now, &id, &mut ledger)?;
                ledger
                    .commit()
                    .map_err(|e| self.scan_err("accounting", e))?;
            }
            _ => {
                if self.usage.note_expiry(id[0], expires.as_nanos()) {
                    self.flush_usage()
                        .map_err(|e| self.scan_err("accounting", e))?;
                }
            }
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
        self.usage_file_current()?;
        self.usage.flush()
    }

    /// Removes, while `ledger` is held, what the bounds choose until the directory (as the
    /// ledger counts it) fits them again, or this instance knows no entry left to remove:
    /// every process's removals are recorded under the same lock, so two processes never
    /// remove for the same excess.
    pub(crate) fn cull(
        &self,
        bounds: &Bounds,
        now: Timestamp,
        keep: &EntryId,
        ledger: &mut Ledger<'_>,
    ) -> Result<(), CacheError> {
        loop {
            let (entries, bytes) = ledger.totals();
            let (e, b) = bounds.excess(entries, bytes);
            if (e, b) == (0, 0) {
                return Ok(());
            }
            let chosen = bounds.cull_excess(now, keep, e, b);
            if chosen.is_empty() {
                return Ok(());
            }
            for (id, _why) in chosen {
                let taken = self.take_in(None, &id, Some(ledger)).map_err(|e| {
                    let path = self.dir.entry_path(&id);
                    CacheError::io(format!("evicting the entry at {}", path.display()), e)
                })?;
                // What was on disk decides the count, not why the index chose it: another
                // instance may have rewritten an entry this one saw expire. One already
                // gone (another process removed it) frees nothing: the loop goes on.
                match taken {
                    Taken::Live => self.stats.eviction(),
                    Taken::Expired => self.stats.expiration(),
                    _ => {}
                }
            }
        }
    }
}
