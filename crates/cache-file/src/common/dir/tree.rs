//! The fan-out tree of one incarnation of the cache directory: the root, `tmp/`, this
//! instance's own locked directory under it, and the 256 fan-out directories, each opened
//! on first use ([`Tree`]).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::beneath;
use super::fs::{ensure_dir_at, is_not_found, remove_at, FileId, DIR_FLAGS, PRIVATE_DIR};
use super::name::{fan_name, fan_str};
use super::pool::Pool;

/// The subdirectory that holds temporary files (writes in progress, entries being removed).
pub const TMP_DIR: &str = "tmp";

/// The open directories of one incarnation of the cache directory. A directory removed and
/// recreated under the cache is a new incarnation: a new `Tree` replaces this one.
pub(super) struct Tree {
    pub(super) root: OwnedFd,
    pub(super) root_id: FileId,
    pub(super) tmp: OwnedFd,
    /// This instance's own directory under `tmp/`, for its temporary files, opened and
    /// `flock`ed for the tree's lifetime: while the lock is held, no other instance's
    /// cleanup touches it; once the process dies, the next cleanup does.
    pub(super) own: OwnedFd,
    pub(super) own_name: String,
    pub(super) fans: [OnceLock<OwnedFd>; 256],
    /// Files of replaced and deleted small entries, kept in `own` to be written again.
    pub(super) pool: Mutex<Pool>,
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = remove_at(self.tmp.as_fd(), &self.own_name);
    }
}

/// Creates and locks a directory of our own under `tmp`. A concurrent cleanup may remove
/// the new directory in the instant before it is locked; then the lock is on a directory no
/// longer in `tmp`, which is checked, and another is made.
pub(super) fn claim_own_dir(tmp: BorrowedFd<'_>) -> io::Result<(String, OwnedFd)> {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let nonce = h.finish();
    for attempt in 0..8 {
        let name = format!("{}.{nonce:016x}.{attempt}", std::process::id());
        match rustix::fs::mkdirat(tmp, name.as_str(), PRIVATE_DIR) {
            Ok(()) => {}
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
        let dir = match beneath::open(tmp, &name, DIR_FLAGS, Mode::empty()) {
            Ok(d) => d,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(e),
        };
        rustix::fs::flock(&dir, FlockOperation::LockExclusive)?;
        let locked = FileId::of_stat(&rustix::fs::fstat(&dir)?);
        match rustix::fs::statat(tmp, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(s) if FileId::of_stat(&s) == locked => return Ok((name, dir)),
            Ok(_) | Err(Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::other(
        "could not claim a temporary directory (removed each time by concurrent cleanups)",
    ))
}

/// Removes anything but a directory planted under a fan-out directory's name. Fan-out
/// directories themselves are created on the first write into them (creating 256
/// directories up front costs more than the rest of opening on a slow disk).
pub(super) fn remove_planted_fans(root: &OwnedFd) -> io::Result<()> {
    for entry in rustix::fs::Dir::read_from(root)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        let is_fan = name.len() == 2 && name.bytes().all(|c| c.is_ascii_hexdigit());
        if !is_fan {
            continue;
        }
        let kind = match entry.file_type() {
            FileType::Unknown => match rustix::fs::statat(root, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(s) => FileType::from_raw_mode(s.st_mode),
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
            },
            kind => kind,
        };
        if kind != FileType::Directory {
            remove_at(root.as_fd(), name)?;
        }
    }
    Ok(())
}

impl Tree {
    /// Creates (if needed) and opens the cache directory at `root`, its `tmp/`, and a
    /// directory of this instance's own under it.
    pub(super) fn open(root: &Path) -> io::Result<Tree> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)?;
        // The user's path is followed as the user gave it; beneath it, nothing is.
        let root_fd = rustix::fs::open(root, DIR_FLAGS | OFlags::CLOEXEC, Mode::empty()).map_err(
            |e| match e {
                Errno::NOTDIR => io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                e => e.into(),
            },
        )?;
        let root_id = FileId::of_stat(&rustix::fs::fstat(&root_fd)?);
        let tmp = ensure_dir_at(root_fd.as_fd(), TMP_DIR)?;
        let (own_name, own) = claim_own_dir(tmp.as_fd())?;
        Ok(Tree {
            root: root_fd,
            root_id,
            tmp,
            own,
            own_name,
            fans: std::array::from_fn(|_| OnceLock::new()),
            pool: Mutex::new(Pool::default()),
        })
    }

    /// The fan-out directory of `byte`: `None` if it does not exist and `create` is false
    /// (a symlink planted there counts as absent for a read, and is replaced for a write).
    pub(super) fn fan(&self, byte: u8, create: bool) -> io::Result<Option<BorrowedFd<'_>>> {
        let slot = &self.fans[usize::from(byte)];
        if let Some(fd) = slot.get() {
            return Ok(Some(fd.as_fd()));
        }
        let name = fan_name(byte);
        let name = fan_str(&name);
        let fd = if create {
            ensure_dir_at(self.root.as_fd(), name)?
        } else {
            match beneath::open(&self.root, name, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            }
        };
        // Another thread may have opened it meanwhile: theirs is kept, ours closed.
        let _ = slot.set(fd);
        Ok(slot.get().map(|fd| fd.as_fd()))
    }

    /// The files kept for reuse (see [`Pool`]).
    pub(super) fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this tree is no longer the directory at `root`: removed, or replaced.
    pub(super) fn is_stale(&self, root: &Path) -> bool {
        match rustix::fs::fstat(&self.root) {
            Ok(s) if s.st_nlink == 0 => return true,
            Ok(_) => {}
            Err(_) => return true,
        }
        match rustix::fs::stat(root) {
            Ok(s) => FileId::of_stat(&s) != self.root_id,
            Err(_) => true,
        }
    }
}
