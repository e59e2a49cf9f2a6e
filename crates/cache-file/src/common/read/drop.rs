//! Removing what a read found: a corrupt or expired file is removed only if it is still
//! the file that was read (see `dir/remove.rs`), and counted; `take` moves an entry aside,
//! tells what it was and deletes it; `forget` is a removal's accounting.
//!
//! Each of these may move a live entry aside and put it back (a small file written again
//! in place since it was read, a newer file renamed into place between the check and the
//! move, another key's entry): for those microseconds the entry's path is empty. So they
//! run holding the keys lock of the entry's fan-out directory (`keylock.rs`; re-entrant,
//! for the `add`, `incr` and `touch` that remove on their way), which `add`, `incr`,
//! `touch` and `delete` hold too: none of them ever sees a live entry's path empty. Only
//! the lock-free `get`, `exists` and `ttl` may, and then answer a miss.

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
        let _keys = self.key_locks.acquire(&self.dir, id)?;
        let mut ledger = self.ledger()?;
        let removed = self.dir.remove_if_same_and(id, file, |g| {
            self.recheck_if_small(g, |f, m| Ok(matches!(read_whole(f, m)?, Verdict::Corrupt)))
        })?;
        if removed {
            self.corruptions.fetch_add(1, Ordering::Relaxed);
            self.observe
                .notice("corrupt entry dropped", &crate::common::dir::file_name(id));
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
        let _keys = self.key_locks.acquire(&self.dir, id)?;
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
        #[cfg(test)]
        tests::while_aside();
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
    /// key's, puts it back), holding the keys lock of its fan-out directory and, if
    /// bounded, the shared accounting's lock. `key` `None` takes any entry there. Counts a
    /// corrupt file; an expired one is left to the caller to count.
    pub(crate) fn take(&self, key: Option<&str>, id: &EntryId) -> io::Result<Taken> {
        let _keys = self.key_locks.acquire(&self.dir, id)?;
        let mut ledger = self.ledger()?;
        let taken = self.take_in(key, id, ledger.as_mut())?;
        commit(ledger)?;
        Ok(taken)
    }

    /// [`Inner::take`] while holding `ledger` (a bounded instance's). Takes no keys lock:
    /// with `key` `None` nothing is ever put back (the eviction under the ledger), else the
    /// caller holds it.
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
            self.observe
                .notice("corrupt entry dropped", &crate::common::dir::file_name(id));
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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::sync::mpsc;
    use std::time::Duration;

    use cache_core::{Cache, Ttl};

    use crate::FileBasedCache;

    thread_local! {
        /// What the test runs while this thread holds a file moved aside.
        static WHILE_ASIDE: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
    }

    fn unbounded(dir: &std::path::Path) -> FileBasedCache {
        FileBasedCache::builder(dir).unbounded().build().unwrap()
    }

    pub(super) fn while_aside() {
        if let Some(f) = WHILE_ASIDE.with(|h| h.borrow_mut().take()) {
            f();
        }
    }

    /// A reader read the entry of `k` as an expired one; the same file (inode and length)
    /// holds a live entry by now (a small file written again in place, `dir/pool.rs`). Its
    /// removal moves the file aside, finds it live, and puts it back: `op` runs on another
    /// thread meanwhile, given 200 ms to end while the file is aside. Returns what `op`
    /// returned and whether it ended in the window.
    ///
    /// The caches are unbounded: a bounded one holds the shared accounting's lock while it
    /// removes, which a bounded writer's placing waits for too, but an unbounded process on
    /// the same directory takes no such lock.
    fn while_a_live_entry_is_aside<T: Send + 'static>(
        cache: &FileBasedCache,
        op: impl FnOnce(FileBasedCache) -> T + Send + 'static,
    ) -> (T, bool) {
        let inner = &cache.inner;
        let id = inner.entry_id("k");
        let (fid, head, _open) = inner.read_entry_head(&id).unwrap().expect("an entry");
        let mut read = head.header;
        read.ttl = Some(Duration::from_millis(1));
        let (done_tx, done_rx) = mpsc::channel();
        let (started_tx, started_rx) = mpsc::channel();
        let other = cache.clone();
        WHILE_ASIDE.with(|h| {
            *h.borrow_mut() = Some(Box::new(move || {
                // Started only now, with the file aside.
                let handle = std::thread::spawn(move || {
                    let out = op(other);
                    let _ = done_tx.send(());
                    out
                });
                let ended = done_rx.recv_timeout(Duration::from_millis(200)).is_ok();
                started_tx.send((handle, ended)).unwrap();
            }))
        });
        let removed = inner.remove_if_unchanged(&id, fid, &read);
        let removed = removed.expect("the removal");
        assert!(!removed, "a live entry is put back");
        let (handle, in_window) = started_rx.try_recv().expect("the file was moved aside");
        (handle.join().unwrap(), in_window)
    }

    #[test]
    fn add_never_creates_while_a_live_entry_is_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let cache = unbounded(dir.path());
        cache.set("k", "live".to_string(), Ttl::Never).unwrap();
        let (added, in_window) = while_a_live_entry_is_aside(&cache, |c| {
            c.add("k", "added".to_string(), Ttl::Never).unwrap()
        });
        assert!(!added, "add created the entry while a live one was aside");
        let now: Option<String> = cache.get("k").unwrap();
        assert_eq!(now.as_deref(), Some("live"));
        assert!(!in_window, "add ended while the live entry was aside");
    }

    #[test]
    fn delete_never_misses_a_live_entry_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let cache = unbounded(dir.path());
        cache.set("k", "live".to_string(), Ttl::Never).unwrap();
        let (deleted, in_window) =
            while_a_live_entry_is_aside(&cache, |c| Cache::<String>::delete(&c, "k").unwrap());
        assert!(deleted, "delete missed the live entry aside");
        let now: Option<String> = cache.get("k").unwrap();
        assert_eq!(now, None, "the deleted value came back");
        assert!(!in_window, "delete ended while the live entry was aside");
    }

    #[test]
    fn incr_never_starts_over_while_a_live_counter_is_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let cache = unbounded(dir.path());
        cache.set("k", 10i64, Ttl::Never).unwrap();
        let (count, in_window) = while_a_live_entry_is_aside(&cache, |c| c.incr("k", 1).unwrap());
        assert_eq!(
            count, 11,
            "incr counted from nothing while the counter was aside"
        );
        assert_eq!(Cache::<i64>::get(&cache, "k").unwrap(), Some(11));
        assert!(!in_window, "incr ended while the live entry was aside");
    }
}
