//! Per-key locks shared by every process on the directory: an exclusive `flock` on a lock file
//! beside the entry (`ab/<md5>.lock`). The kernel releases a lock when its holder dies, so a
//! killed process blocks no one; the holder removes the file when it is done, so lock files
//! do not pile up.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::dir::{remove_any, CacheDir, FileId};

/// An exclusive lock on one entry, held until dropped.
pub(crate) struct KeyLock {
    path: PathBuf,
    file: File,
}

/// What waiting for a lock gave: the lock, or what the holder before left in its file.
pub(crate) enum Acquired<T> {
    Held(KeyLock),
    Ended(T),
}

/// The lock file of the entry at `entry`: the same name with `.lock` appended, which no scan
/// takes for an entry.
pub(crate) fn lock_path(entry: &Path) -> PathBuf {
    entry.with_extension("lock")
}

impl KeyLock {
    /// Blocks until this process holds the lock of the entry at `entry`.
    pub(crate) fn acquire(dir: &CacheDir, entry: &Path) -> io::Result<KeyLock> {
        match Self::acquire_at(dir, lock_path(entry), |_| {
            Ok(None::<std::convert::Infallible>)
        })? {
            Acquired::Held(lock) => Ok(lock),
            Acquired::Ended(never) => match never {},
        }
    }

    /// Blocks until this process holds the lock file at `path`. When the lock it gets is
    /// that of a file its holder removed as it let go, `ended` reads what that holder left in
    /// it: `Some` ends the wait with that, `None` goes on to the file now at `path`.
    pub(crate) fn acquire_at<T>(
        dir: &CacheDir,
        path: PathBuf,
        mut ended: impl FnMut(&File) -> io::Result<Option<T>>,
    ) -> io::Result<Acquired<T>> {
        let mut retried = false;
        loop {
            let opened = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path);
            let file = match opened {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound && !retried => {
                    retried = true;
                    dir.ensure_parent(&path)?;
                    continue;
                }
                // Something planted under the lock's name: never followed, removed.
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                    remove_any(&path)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            file.lock()?;
            // The holder before us removes the file as it lets go: if the name now names
            // another file (or none), our lock guards nothing, so take the current one.
            let held = FileId::of(&file.metadata()?);
            match fs::symlink_metadata(&path) {
                Ok(m) if FileId::of(&m) == held => {
                    return Ok(Acquired::Held(KeyLock { path, file }));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            if let Some(t) = ended(&file)? {
                return Ok(Acquired::Ended(t));
            }
        }
    }
}

impl KeyLock {
    /// The locked file, for what its holder leaves to the next one.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        // Removed while still locked: a waiter that then gets this file's lock sees the name
        // gone and retries on a fresh file. The lock itself goes when the file is closed.
        let _ = fs::remove_file(&self.path);
    }
}
