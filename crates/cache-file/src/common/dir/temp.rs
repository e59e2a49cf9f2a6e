//! Temporary files: each write goes to a fresh file in this instance's own directory under
//! `tmp/` (or over a file kept for reuse, see [`Pool`](super::pool::Pool)) before it is
//! placed; the old files that placing brings back are kept for reuse or removed; the
//! temporary files of dead instances are cleaned up.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::beneath;
use super::cache_dir::CacheDir;
use super::fs::{is_not_found, names, remove_at, write_parts, DIR_FLAGS};
use super::name::{EntryId, Name};
use super::pool::REUSED_MAX;
use super::remove::Grabbed;
use super::tree::Tree;

impl CacheDir {
    /// A fresh name in this instance's temporary directory.
    pub(super) fn temp_name(&self) -> String {
        self.seq.fetch_add(1, Ordering::Relaxed).to_string()
    }

    /// Creates a private temporary file in this instance's own directory.
    pub(super) fn create_temp(&self, tree: &Tree, name: &str) -> io::Result<File> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&tree.own, name, flags, Mode::RUSR | Mode::WUSR)?;
        Ok(File::from(fd))
    }

    /// Writes `bytes` to a fresh temporary file, then calls `place` to put it in place; on
    /// error removes the temporary file, and if a directory was removed under us (ENOENT
    /// when creating in, or renaming into, it) makes the layout again and tries once more.
    pub(super) fn write_with<T>(
        &self,
        id: &EntryId,
        bytes: &[&[u8]],
        mut place: impl FnMut(&Tree, &str, &Name) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut tree = self.tree();
        let name = Name::of(id);
        let mut retried = false;
        let len = bytes.iter().map(|b| b.len() as u64).sum();
        loop {
            let (tmp, written) = match self.write_reused(&tree, bytes, len) {
                Some(tmp) => (tmp, Ok(())),
                None => {
                    let tmp = self.temp_name();
                    let written = self.write_temp(&tree, &tmp, bytes);
                    (tmp, written)
                }
            };
            let result = written.and_then(|()| place(&tree, &tmp, &name));
            match result {
                Ok(r) => return Ok(r),
                Err(e) => {
                    let _ = rustix::fs::unlinkat(&tree.own, tmp.as_str(), AtFlags::empty());
                    // ENOENT when creating in, or renaming into, a directory: it was removed
                    // under us. Make the layout again and try once more.
                    if is_not_found(&e) && !retried {
                        retried = true;
                        tree = self.renew(&tree, true)?;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    pub(super) fn write_temp(&self, tree: &Tree, tmp: &str, bytes: &[&[u8]]) -> io::Result<()> {
        let mut file = self.create_temp(tree, tmp)?;
        write_parts(&mut file, bytes)?;
        super::stamp::mark(&file)?;
        if self.durable {
            file.sync_all()?;
        }
        Ok(())
    }

    /// Writes `bytes` (`len` of them) over a file kept for reuse (see
    /// [`Pool`](super::pool::Pool)), if the pool has one and the value is small: its name,
    /// or `None` to create a file. A kept file that cannot be written is removed and the
    /// next one tried.
    pub(super) fn write_reused(&self, tree: &Tree, bytes: &[&[u8]], len: u64) -> Option<String> {
        if len > REUSED_MAX {
            return None;
        }
        loop {
            let (name, size) = tree.pool().take()?;
            match self.rewrite(tree, &name, size, bytes, len) {
                Ok(()) => return Some(name),
                Err(_) => {
                    let _ = remove_at(tree.own.as_fd(), &name);
                }
            }
        }
    }

    /// Writes `bytes` from the start of the kept file `name` (of `size` bytes), then cuts
    /// what is left of its old contents. It is not truncated first: on ext4, a file
    /// truncated to zero and written again has its blocks written out when it is closed
    /// (`auto_da_alloc`), a disk write per `set`.
    pub(super) fn rewrite(
        &self,
        tree: &Tree,
        name: &str,
        size: u64,
        bytes: &[&[u8]],
        len: u64,
    ) -> io::Result<()> {
        let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let mut file = File::from(rustix::fs::openat(&tree.own, name, flags, Mode::empty())?);
        write_parts(&mut file, bytes)?;
        if size > len {
            file.set_len(len)?;
        }
        super::stamp::mark(&file)?;
        if self.durable {
            file.sync_all()?;
        }
        Ok(())
    }

    /// The old entry file an exchange brought back as `tmp` into this instance's own
    /// directory (or anything planted under the entry's name): kept for reuse (see
    /// [`Pool`](super::pool::Pool)) if it is a small regular file of one name and the pool
    /// has room, else removed without following it. Returns its size (`None` if it is
    /// gone).
    pub(super) fn retire(&self, tree: &Tree, tmp: &str) -> io::Result<Option<u64>> {
        let st = match rustix::fs::statat(&tree.own, tmp, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        #[allow(clippy::unnecessary_cast)] // `off_t` is not `u64` everywhere
        let size = st.st_size as u64;
        let kept = FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
            && st.st_nlink == 1
            && tree.pool().put(tmp, size);
        if !kept {
            remove_at(tree.own.as_fd(), tmp)?;
        }
        Ok(Some(size))
    }

    /// Deletes a grabbed file, or keeps it for reuse (see [`Pool`](super::pool::Pool)) if
    /// `meta`, its metadata, says it is a small regular file of one name and the pool has
    /// room.
    pub fn discard_or_keep(&self, g: &Grabbed, meta: &std::fs::Metadata) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        if meta.is_file() && meta.nlink() == 1 && g.tree.pool().put(&g.name, meta.len()) {
            return Ok(());
        }
        self.discard(g)
    }

    /// Removes the files kept for reuse (see [`Pool`](super::pool::Pool)).
    pub fn drain_pool(&self) -> io::Result<()> {
        let tree = self.tree();
        let kept = std::mem::take(&mut *tree.pool());
        for (name, _) in kept.files {
            remove_at(tree.own.as_fd(), &name)?;
        }
        Ok(())
    }

    /// Removes the temporary files of instances that are gone (their directory under `tmp/`
    /// is no longer locked), and anything else found directly in `tmp/`; the directories of
    /// live instances, in any process, stay. Returns how many files were removed.
    pub fn remove_dead_temps(&self) -> io::Result<u64> {
        let tree = self.tree();
        let mut removed = 0;
        for name in names(&tree.tmp)? {
            if name == tree.own_name {
                continue;
            }
            let dir = match beneath::open(&tree.tmp, &name, DIR_FLAGS, Mode::empty()) {
                Ok(d) => d,
                Err(e) if is_not_found(&e) => continue,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                    remove_at(tree.tmp.as_fd(), &name)?;
                    removed += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if rustix::fs::flock(&dir, FlockOperation::NonBlockingLockExclusive).is_err() {
                continue; // a live instance
            }
            removed += names(&dir).map_or(0, |n| n.len() as u64);
            remove_at(tree.tmp.as_fd(), &name)?;
        }
        Ok(removed)
    }
}
