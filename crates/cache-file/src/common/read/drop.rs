//! Removing what a read found: a corrupt or expired file is removed only if it is still
//! the file that was read (see `dir/remove.rs`), and counted; `take` moves an entry aside,
//! tells what it was and deletes it; `forget` is a removal's accounting.

use std::fs::File;
use std::io;
use std::sync::atomic::Ordering;

use super::super::bounds::Ledger;
use super::super::dir::{self, EntryId, FileId, Opened};
use super::super::entry::format::EntryHeader;
use super::super::inner::Inner;
use super::verify::{read_head, read_whole, Verdict};

/// What a grabbed (moved aside) entry turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    Absent,
    Live,
    Expired,
    Corrupt,
    /// Another key's entry (an MD5 collision): put back.
    Other,
}

impl Inner {
    /// Removes a corrupt file if it is still the one that was read, and counts it: `true`
    /// if it did. A small file is read again once moved aside, and put back if it verifies
    /// then: a reader may have read it while a writer wrote it again, in place, as a file
    /// kept for reuse (`dir/pool.rs`), then put it back in place, a newer entry of the same key.
    pub(crate) fn drop_corrupt(&self, file: FileId, id: &EntryId) -> io::Result<bool> {
        let mut ledger = self.ledger()?;
        let removed = self.dir.remove_if_same_and(id, file, |g| {
            self.recheck_if_small(g, |f, m| Ok(matches!(read_whole(f, m)?, Verdict::Corrupt)))
        })?;
        if removed {
            self.corruptions.fetch_add(1, Ordering::Relaxed);
            self.forget(ledger.as_mut(), id, file.len);
        }
        commit(ledger)?;
        Ok(removed)
    }

    /// Removes the entry `id` if it is still the file `file` that was read, with the header
    /// `header` that was read (a small file may have been written again in place, as a file
    /// kept for reuse (`dir/pool.rs`), and put back as a newer entry of the same key since),
    /// and accounts for it.
    pub(crate) fn remove_if_unchanged(
        &self,
        id: &EntryId,
        file: FileId,
        header: &EntryHeader,
    ) -> io::Result<bool> {
        let mut ledger = self.ledger()?;
        let removed = self.dir.remove_if_same_and(id, file, |g| {
            self.recheck_if_small(g, |f, m| {
                Ok(matches!(read_head(f, m.len())?, Verdict::Ok(h) if h.header == *header))
            })
        })?;
        if removed {
            self.forget(ledger.as_mut(), id, file.len);
        }
        commit(ledger)?;
        Ok(removed)
    }

    /// Whether the grabbed file `g` (moved aside by `remove_if_same_and`) is still to be
    /// removed: `check` decides for a small file, which may have been written again in
    /// place as a file kept for reuse (`dir/pool.rs`) and put back since it was read; any
    /// other file is the one that was read.
    pub(crate) fn recheck_if_small(
        &self,
        g: &dir::Grabbed,
        check: impl FnOnce(&File, &std::fs::Metadata) -> io::Result<bool>,
    ) -> io::Result<bool> {
        match self.dir.open_grabbed(g)? {
            Opened::File(f, m) if m.len() <= dir::REUSED_MAX => check(&f, &m),
            _ => Ok(true),
        }
    }

    /// Removes an expired file if it is still the one that was read, and counts it.
    pub(crate) fn drop_expired(
        &self,
        file: FileId,
        id: &EntryId,
        header: &EntryHeader,
    ) -> io::Result<()> {
        if self.remove_if_unchanged(id, file, header)? {
            self.stats.expiration();
        }
        Ok(())
    }

    /// Notes the removal of the entry `id`, a file of `len` bytes, made while holding
    /// `ledger` (a bounded instance's; see [`Inner::ledger`]).
    pub(crate) fn forget(&self, ledger: Option<&mut Ledger<'_>>, id: &EntryId, len: u64) {
        if let Some(b) = &self.bounds {
            b.forget(id);
        }
        // Only bounded instances keep the counts: an unbounded one does not learn what its
        // writes replace (a plain rename), so it leaves counts to the others.
        if let Some(l) = ledger {
            l.record(id[0], -1, -(len as i64), u64::MAX);
        }
    }

    /// Moves the entry `id` aside, tells what it was, and deletes it (or, if it is another
    /// key's, puts it back), holding the shared accounting's lock if bounded. `key` `None`
    /// takes any entry there. Counts a corrupt file; an expired one is left to the caller
    /// to count.
    pub(crate) fn take(&self, key: Option<&str>, id: &EntryId) -> io::Result<Taken> {
        let mut ledger = self.ledger()?;
        let taken = self.take_in(key, id, ledger.as_mut())?;
        commit(ledger)?;
        Ok(taken)
    }

    /// [`Inner::take`] while holding `ledger` (a bounded instance's).
    pub(crate) fn take_in(
        &self,
        key: Option<&str>,
        id: &EntryId,
        ledger: Option<&mut Ledger<'_>>,
    ) -> io::Result<Taken> {
        let Some(grabbed) = self.dir.grab(id)? else {
            return Ok(Taken::Absent);
        };
        let len;
        let mut kept_meta = None;
        let taken = match self.dir.open_grabbed(&grabbed)? {
            Opened::Absent => return Ok(Taken::Absent),
            Opened::NotAFile(fid, _) => {
                len = fid.len;
                Taken::Corrupt
            }
            Opened::File(f, m) => {
                len = m.len();
                let taken = match read_head(&f, len)? {
                    Verdict::Corrupt => Taken::Corrupt,
                    Verdict::Ok(head) if key.is_some_and(|k| *self.name(k) != head.key) => {
                        Taken::Other
                    }
                    Verdict::Ok(head) if !head.header.expires_at().is_live_at(self.now()) => {
                        Taken::Expired
                    }
                    Verdict::Ok(_) => Taken::Live,
                };
                kept_meta = Some(m);
                taken
            }
        };
        if taken == Taken::Other {
            self.dir.restore(&grabbed, id)?;
            return Ok(taken);
        }
        match &kept_meta {
            Some(m) if taken != Taken::Corrupt => self.dir.discard_or_keep(&grabbed, m)?,
            _ => self.dir.discard(&grabbed)?,
        }
        self.forget(ledger, id, len);
        // An expired entry is the caller's to count: a `set` never counts one.
        if taken == Taken::Corrupt {
            self.corruptions.fetch_add(1, Ordering::Relaxed);
        }
        Ok(taken)
    }
}

/// Writes out what was recorded in `ledger`, if held, and lets go.
pub(crate) fn commit(ledger: Option<Ledger<'_>>) -> io::Result<()> {
    match ledger {
        Some(l) => l.commit().map(|_| ()),
        None => Ok(()),
    }
}
