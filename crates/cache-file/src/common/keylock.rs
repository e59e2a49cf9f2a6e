//! Per-key locks shared by every process on the directory: an exclusive `flock` on a lock file
//! beside the entry (`ab/<md5>.lock`). The kernel releases a lock when its holder dies, so a
//! killed process blocks no one; the holder removes the file when it is done, so lock files
//! do not pile up.

use std::fs::File;
use std::io;

use super::dir::{CacheDir, EntryId, LockFile};

/// An exclusive lock on one entry, held until dropped.
pub(crate) struct KeyLock {
    file: LockFile,
}

/// What waiting for a lock gave: the lock, or what the holder before left in its file.
pub(crate) enum Acquired<T> {
    Held(KeyLock),
    Ended(T),
}

/// What one try without blocking gave ([`KeyLock::try_acquire_at`]).
#[cfg(feature = "tokio")]
pub(crate) enum Attempt<T> {
    Done(Acquired<T>),
    /// Someone else holds the lock: try again later on this file (`None`: on the file now
    /// under the name, the one tried was let go by a holder that left nothing).
    Busy(Option<LockFile>),
}

impl KeyLock {
    /// Blocks until this process holds the lock of the entry `id`.
    pub(crate) fn acquire(dir: &CacheDir, id: &EntryId) -> io::Result<KeyLock> {
        let nothing = |_: &File| Ok(None::<std::convert::Infallible>);
        match Self::acquire_at(dir, id, "lock", nothing)? {
            Acquired::Held(lock) => Ok(lock),
            Acquired::Ended(never) => match never {},
        }
    }

    /// Blocks until this process holds the lock file `ab/<md5>.<extension>` of entry `id`.
    /// When the lock it gets is that of a file its holder removed as it let go, `ended`
    /// reads what that holder left in it: `Some` ends the wait with that, `None` goes on to
    /// the file now under that name.
    pub(crate) fn acquire_at<T>(
        dir: &CacheDir,
        id: &EntryId,
        extension: &str,
        mut ended: impl FnMut(&File) -> io::Result<Option<T>>,
    ) -> io::Result<Acquired<T>> {
        loop {
            let file = dir.open_lock_as(id, extension)?;
            file.file.lock()?;
            if let Some(acquired) = Self::settle(file, &mut ended)? {
                return Ok(acquired);
            }
        }
    }

    /// One try of [`KeyLock::acquire_at`] that does not block, for callers that must not
    /// wait in the kernel (async tasks, which poll with a timer in between): on `file` (kept
    /// open from the previous try, so that a holder's removal of it is seen) or, when
    /// `None`, on the file now under the name.
    #[cfg(feature = "tokio")]
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

impl Drop for KeyLock {
    fn drop(&mut self) {
        // Removed while still locked: a waiter that then gets this file's lock sees the name
        // gone and retries on a fresh file. The lock itself goes when the file is closed.
        self.file.remove();
    }
}
