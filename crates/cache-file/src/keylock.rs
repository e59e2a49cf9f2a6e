//! Per-key locks shared by every process on the directory: an exclusive `flock` on a lock file
//! beside the entry (`ab/<md5>.lock`). The kernel releases a lock when its holder dies, so a
//! killed process blocks no one; the holder removes the file when it is done, so lock files
//! do not pile up.

use std::io;

use crate::dir::{CacheDir, EntryId, LockFile};

/// An exclusive lock on one entry, held until dropped.
pub(crate) struct KeyLock {
    file: LockFile,
}

impl KeyLock {
    /// Blocks until this process holds the lock of the entry `id`.
    pub(crate) fn acquire(dir: &CacheDir, id: &EntryId) -> io::Result<KeyLock> {
        loop {
            let file = dir.open_lock(id)?;
            file.file.lock()?;
            // The holder before us removes the file as it lets go: if the name now names
            // another file (or none), our lock guards nothing, so take the current one.
            if file.is_current()? {
                return Ok(KeyLock { file });
            }
        }
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        // Removed while still locked: a waiter that then gets this file's lock sees the name
        // gone and retries on a fresh file. The lock itself goes when the file is closed.
        self.file.remove();
    }
}
