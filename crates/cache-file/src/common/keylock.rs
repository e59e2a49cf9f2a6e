//! Locks shared by every process on the directory, on `flock`ed files beside the entries.
//! The kernel releases a lock when its holder dies, so a killed process blocks no one.
//!
//! - [`KeyLocks`]: the lock of the keys of a fan-out directory, `ab/keys.lock`, which `add`,
//!   `incr` and `touch` hold across their read and write. The file stays (256 at most), so
//!   taking the lock creates and removes nothing; the threads of a process first take an
//!   in-process mutex of the same fan-out directory, so that one thread per process waits
//!   on the file (an `flock` released wakes every waiter on it).
//! - [`KeyLock`]: a key's own lock file (`ab/<md5>.<extension>`), which its holder removes
//!   as it lets go, so that a waiter can tell that the flight it waited for ended (and read
//!   what it left in the file): the single flight's lock (`flight.rs`).

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::sync::{Mutex, MutexGuard, TryLockError};

use rustix::fs::FlockOperation;

use super::dir::{CacheDir, EntryId, LockFile};

/// The keys locks of one open cache: an in-process mutex per fan-out directory, in front of
/// its lock file.
pub(crate) struct KeyLocks {
    mutexes: Box<[Mutex<()>]>,
}

impl std::fmt::Debug for KeyLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyLocks")
    }
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks {
            mutexes: (0..256).map(|_| Mutex::new(())).collect(),
        }
    }
}

/// The lock of the keys of one fan-out directory, held (in this process and across
/// processes) until dropped. Re-entrant: a thread that already holds it gets a guard that
/// holds nothing more (an `add` that removes an expired entry on its way, say).
pub(crate) struct EntryLock<'a> {
    _held: Option<Held<'a>>,
}

/// The first guard of a thread on a fan-out directory's keys lock.
struct Held<'a> {
    file: LockFile,
    _mutex: MutexGuard<'a, ()>,
    /// Which lock this thread holds, for [`HELD`]: the `KeyLocks`' address and the fan.
    mark: (usize, u8),
}

thread_local! {
    /// The keys locks this thread holds (the `KeyLocks`' address, the fan-out directory):
    /// taking one again is a no-op. A lock is never sent to another thread (its guard is a
    /// `MutexGuard`), so this is what the thread holds.
    static HELD: RefCell<Vec<(usize, u8)>> = const { RefCell::new(Vec::new()) };
}

impl KeyLocks {
    fn mark(&self, id: &EntryId) -> (usize, u8) {
        (std::ptr::from_ref(self) as usize, id[0])
    }

    fn held_here(mark: (usize, u8)) -> bool {
        HELD.with(|h| h.borrow().contains(&mark))
    }

    /// Blocks until this thread holds the lock of the keys of entry `id`'s fan-out directory
    /// (at once if it holds it already).
    pub(crate) fn acquire<'a>(&'a self, dir: &CacheDir, id: &EntryId) -> io::Result<EntryLock<'a>> {
        let mark = self.mark(id);
        if Self::held_here(mark) {
            return Ok(EntryLock { _held: None });
        }
        // Nothing a panic elsewhere leaves half-done: the mutex guards no data.
        let mutex = self.mutexes[usize::from(id[0])]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        self.lock_file(dir, id, mutex, mark, FlockOperation::LockExclusive)
            .map(|held| EntryLock { _held: Some(held) })
    }

    /// [`KeyLocks::acquire`] without waiting: `None` if another thread or process holds it.
    pub(crate) fn try_acquire<'a>(
        &'a self,
        dir: &CacheDir,
        id: &EntryId,
    ) -> io::Result<Option<EntryLock<'a>>> {
        let mark = self.mark(id);
        if Self::held_here(mark) {
            return Ok(Some(EntryLock { _held: None }));
        }
        let mutex = match self.mutexes[usize::from(id[0])].try_lock() {
            Ok(m) => m,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(None),
        };
        match self.lock_file(
            dir,
            id,
            mutex,
            mark,
            FlockOperation::NonBlockingLockExclusive,
        ) {
            Ok(held) => Ok(Some(EntryLock { _held: Some(held) })),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Locks the keys lock file, `mutex` held, and records it as this thread's.
    fn lock_file<'a>(
        &'a self,
        dir: &CacheDir,
        id: &EntryId,
        mutex: MutexGuard<'a, ()>,
        mark: (usize, u8),
        how: FlockOperation,
    ) -> io::Result<Held<'a>> {
        loop {
            let file = dir.open_keys_lock(id)?;
            rustix::fs::flock(&file.file, how)?;
            // A file removed meanwhile (the directory removed under the cache) guards
            // nothing: take the one now under the name.
            if file.is_current()? {
                HELD.with(|h| h.borrow_mut().push(mark));
                return Ok(Held {
                    file,
                    _mutex: mutex,
                    mark,
                });
            }
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        HELD.with(|h| h.borrow_mut().retain(|m| *m != self.mark));
        // Unlocked before the mutex goes (the fields' order would close the file first
        // anyway, which unlocks it too).
        let _ = rustix::fs::flock(&self.file.file, FlockOperation::Unlock);
    }
}

/// An exclusive lock on one key's own lock file, held until dropped (then removed).
pub(crate) struct KeyLock {
    file: LockFile,
}

/// What waiting for a lock gave: the lock, or what the holder before left in its file.
pub(crate) enum Acquired<T> {
    Held(KeyLock),
    Ended(T),
}

/// What one try without blocking gave ([`KeyLock::try_acquire_at`]).
pub(crate) enum Attempt<T> {
    Done(Acquired<T>),
    /// Someone else holds the lock: try again later on this file (`None`: on the file now
    /// under the name, the one tried was let go by a holder that left nothing).
    Busy(Option<LockFile>),
}

impl KeyLock {
    /// One try, without blocking, of the lock file `ab/<md5>.<extension>` of entry `id`: on
    /// `file` (kept open from the previous try, so that a holder's removal of it is seen)
    /// or, when `None`, on the file now under the name. When the lock it gets is that of a
    /// file its holder removed as it let go, `ended` reads what that holder left in it:
    /// `Some` ends the wait with that, `None` goes on to the file now under that name.
    pub(crate) fn try_acquire_at<T>(
        dir: &CacheDir,
        id: &EntryId,
        extension: &str,
        file: Option<LockFile>,
        mut ended: impl FnMut(&File) -> io::Result<Option<T>>,
    ) -> io::Result<Attempt<T>> {
        let file = match file {
            Some(file) => file,
            None => dir.open_lock_as(id, extension)?,
        };
        match file.file.try_lock() {
            Ok(()) => Ok(match Self::settle(file, &mut ended)? {
                Some(acquired) => Attempt::Done(acquired),
                None => Attempt::Busy(None),
            }),
            Err(std::fs::TryLockError::WouldBlock) => Ok(Attempt::Busy(Some(file))),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// The lock of `file`, now locked: held, or what a holder that removed it left (`None`
    /// to go on with the file now under the name).
    fn settle<T>(
        file: LockFile,
        ended: &mut impl FnMut(&File) -> io::Result<Option<T>>,
    ) -> io::Result<Option<Acquired<T>>> {
        // The holder before us removes the file as it lets go: if the name now names
        // another file (or none), our lock guards nothing, so take the current one.
        if file.is_current()? {
            return Ok(Some(Acquired::Held(KeyLock { file })));
        }
        Ok(ended(&file.file)?.map(Acquired::Ended))
    }

    /// The locked file, for what its holder leaves to the next one.
    pub(crate) fn file(&self) -> &File {
        &self.file.file
    }
}

impl KeyLock {
    /// Takes over the lock file `stale`, whose holder still holds it but whose lease
    /// `over` says is over (read again here), under the keys lock of its fan-out directory
    /// (so that one waiter takes it over, and its holder's [`KeyLock::release`] cannot
    /// remove the new file): its name is removed, and a new file under the name locked.
    /// `None` if the holder let go meanwhile, or a newcomer locked the new file first: wait
    /// on the file now under the name.
    pub(crate) fn take_over(
        dir: &CacheDir,
        id: &EntryId,
        extension: &str,
        keys: &KeyLocks,
        stale: &LockFile,
        over: impl FnOnce(&File) -> io::Result<bool>,
    ) -> io::Result<Option<KeyLock>> {
        let _keys = keys.acquire(dir, id)?;
        if !stale.is_current()? || !over(&stale.file)? {
            return Ok(None);
        }
        stale.remove();
        let file = dir.open_lock_as(id, extension)?;
        match file.file.try_lock() {
            Ok(()) if file.is_current()? => Ok(Some(KeyLock { file })),
            Ok(()) | Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Lets go of the lock: if its file is still this holder's (no waiter took it over
    /// after its lease), `last` writes into it what the waiters on it are to read, and its
    /// name is removed, under the keys lock of its fan-out directory; then the file is
    /// closed, which unlocks it. (A lock dropped without this is unlocked and its file left
    /// in place: the next holder finds it current and goes on from there.)
    pub(crate) fn release(
        self,
        dir: &CacheDir,
        id: &EntryId,
        keys: &KeyLocks,
        last: impl FnOnce(&File),
    ) -> io::Result<()> {
        let keys = keys.acquire(dir, id)?;
        if self.file.is_current()? {
            last(&self.file.file);
            // Removed while still locked: a waiter that then gets this file's lock sees the
            // name gone and reads what was left; callers that come later start a new flight.
            self.file.remove();
        }
        drop(self);
        drop(keys);
        Ok(())
    }
}
