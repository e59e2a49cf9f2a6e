//! The cache directory on disk: fan-out subdirectories, temporary files renamed into place,
//! conditional removal, and scans. Knows files, not entries' meaning.
//!
//! Every file is reached through directory file descriptors held open: the root, `tmp/`,
//! this instance's own directory under it, and each fan-out directory (opened on first use).
//! An entry is opened, created, renamed and removed relative to its fan-out directory's
//! descriptor with one name (no path walk, no symlink on the way); the directories
//! themselves are opened with [`beneath`], which never follows a symlink. A directory
//! removed from under a running cache (a user's `rm -rf`, a tmp cleaner) is noticed by the
//! next write (its creations fail with `ENOENT` in a dead directory), which recreates the
//! whole layout and writes again; reads notice it within a second.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use rustix::fs::{AtFlags, Mode, OFlags};

use super::beneath;
use super::fs::{open_quick_at, opened, remove_at, FileId, Opened};
use super::name::{file_name, EntryId, Name};
use super::tree::{remove_planted_fans, Tree};

/// How often, at most, a miss checks that the directory was not removed from under us.
pub(super) const STALE_CHECK_EVERY_MS: u64 = 1000;

/// Whether an entry replaces an existing one by exchanging the two files
/// (`renameat2(RENAME_EXCHANGE)`, then keeping the old one, now in `tmp/`, for reuse or
/// unlinking it) rather than by renaming over it: on ext4 and btrfs, a rename over an
/// existing file makes the kernel write the new file's data out at once (ext4's
/// `auto_da_alloc`, btrfs's flush on rename), which turned each overwrite on an ext4 disk
/// into a disk write (2-3 ms instead of tens of microseconds). An exchange is as atomic for
/// readers (the old file or the new one), and is not subject to that flush; `durable(true)`
/// still syncs what it always did. Elsewhere (tmpfs, XFS, ...) the plain rename is one
/// system call fewer for large entries; entries up to
/// [`REUSED_MAX`](super::pool::REUSED_MAX) are exchanged on every file system, so that
/// their old file is written again rather than freed (see [`Pool`](super::pool::Pool)).
#[cfg(target_os = "linux")]
pub(super) fn replaces_by_exchange(root: &OwnedFd) -> bool {
    const EXT4: u32 = 0xEF53;
    const BTRFS: u32 = 0x9123_683E;
    // `f_type` is signed and of the platform's word size; its low 32 bits are the magic.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::fstatfs(root).is_ok_and(|s| matches!(s.f_type as u32, EXT4 | BTRFS))
}

#[cfg(not(target_os = "linux"))]
pub(super) fn replaces_by_exchange(_root: &OwnedFd) -> bool {
    false
}

/// The directory of one cache.
pub struct CacheDir {
    pub(super) root: PathBuf,
    pub(super) tree: RwLock<Arc<Tree>>,
    pub(super) seq: AtomicU64,
    pub(super) durable: bool,
    /// See [`replaces_by_exchange`]; cleared if the file system refuses an exchange.
    pub(super) exchange: std::sync::atomic::AtomicBool,
    /// Whether small entries are replaced by exchange everywhere (so that the old file can
    /// be kept for reuse, see [`Pool`](super::pool::Pool)); cleared if the file system
    /// refuses an exchange.
    pub(super) exchange_small: std::sync::atomic::AtomicBool,
    pub(super) born: Instant,
    /// Milliseconds after `born` of the last stale check.
    pub(super) checked_at: AtomicU64,
    /// How many times the directory was found removed and made again.
    pub(super) renewals: AtomicU64,
}

impl std::fmt::Debug for CacheDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheDir")
            .field("root", &self.root)
            .field("durable", &self.durable)
            .finish_non_exhaustive()
    }
}

impl CacheDir {
    /// Creates (if needed) and checks the cache directory and its temporary directory, then
    /// removes the temporary files of dead writers.
    pub fn open(root: PathBuf, durable: bool) -> io::Result<Self> {
        let tree = Tree::open(&root)?;
        remove_planted_fans(&tree.root)?;
        let exchange = replaces_by_exchange(&tree.root);
        let dir = CacheDir {
            root,
            exchange: std::sync::atomic::AtomicBool::new(exchange),
            exchange_small: std::sync::atomic::AtomicBool::new(cfg!(target_os = "linux")),
            tree: RwLock::new(Arc::new(tree)),
            seq: AtomicU64::new(0),
            durable,
            born: Instant::now(),
            checked_at: AtomicU64::new(0),
            renewals: AtomicU64::new(0),
        };
        // A directory we cannot write into is an error now, not at the first `set`.
        let tree = dir.tree();
        let probe = dir.temp_name();
        drop(dir.create_temp(&tree, &probe)?);
        rustix::fs::unlinkat(&tree.own, probe.as_str(), AtFlags::empty())?;
        dir.remove_dead_temps()?;
        Ok(dir)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn tree(&self) -> Arc<Tree> {
        // A panic elsewhere cannot leave the `Arc` half-replaced.
        Arc::clone(&self.tree.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Replaces `stale` by the directory now at the root path, created if `create`;
    /// returns the current tree (`stale` itself if the path is gone and `create` is false).
    pub(super) fn renew(&self, stale: &Arc<Tree>, create: bool) -> io::Result<Arc<Tree>> {
        let mut slot = self.tree.write().unwrap_or_else(|p| p.into_inner());
        if !Arc::ptr_eq(&slot, stale) {
            return Ok(Arc::clone(&slot)); // another thread renewed it
        }
        if !create && !self.root.is_dir() {
            return Ok(Arc::clone(stale));
        }
        let fresh = Arc::new(Tree::open(&self.root)?);
        *slot = Arc::clone(&fresh);
        self.renewals.fetch_add(1, Ordering::Relaxed);
        Ok(fresh)
    }

    /// After a miss: at most once a second, whether the directory was removed or replaced
    /// under us; if so, the tree of the directory now there (a reader then sees what other
    /// instances wrote into the new directory).
    pub(super) fn recheck(&self, tree: &Arc<Tree>) -> io::Result<Option<Arc<Tree>>> {
        let now = self.born.elapsed().as_millis() as u64;
        let last = self.checked_at.load(Ordering::Relaxed);
        if now < last + STALE_CHECK_EVERY_MS
            || self
                .checked_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Ok(None);
        }
        self.revalidate(tree)
    }

    /// Whether `tree` is stale; if so, the tree of the directory now at the root path.
    pub(super) fn revalidate(&self, tree: &Arc<Tree>) -> io::Result<Option<Arc<Tree>>> {
        if !tree.is_stale(&self.root) {
            return Ok(None);
        }
        let fresh = self.renew(tree, false)?;
        Ok((!Arc::ptr_eq(&fresh, tree)).then_some(fresh))
    }

    /// Checks now (not at most once a second) that the directory is still ours, and
    /// recreates it if it was removed: `clear` starts with this.
    pub fn repair(&self) -> io::Result<()> {
        let tree = self.tree();
        if tree.is_stale(&self.root) {
            self.renew(&tree, true)?;
        }
        Ok(())
    }

    /// `root/ab/abcdef...`: where the entry with id `id` lives (for messages and tools).
    pub fn entry_path(&self, id: &EntryId) -> PathBuf {
        let name = file_name(id);
        let mut p = PathBuf::with_capacity(self.root.as_os_str().len() + 36);
        p.push(&self.root);
        p.push(&name[..2]);
        p.push(&name);
        p
    }

    /// Opens the entry `id` for reading without following a symlink and without blocking on
    /// a FIFO, and without asking what it is: `None` if absent, the symlink's id if it is one.
    pub fn open_quick(&self, id: &EntryId) -> io::Result<Option<Result<File, FileId>>> {
        let tree = self.tree();
        let name = Name::of(id);
        let found = match tree.fan(id[0], false)? {
            Some(fan) => open_quick_at(fan, name.c())?,
            None => None,
        };
        if found.is_some() {
            return Ok(found);
        }
        match self.recheck(&tree)? {
            Some(fresh) => match fresh.fan(id[0], false)? {
                Some(fan) => open_quick_at(fan, name.c()),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    /// [`CacheDir::open_quick`], then what it opened: a regular file with its metadata, or
    /// not a file.
    pub fn open_entry(&self, id: &EntryId) -> io::Result<Opened> {
        opened(self.open_quick(id)?)
    }

    /// How many times the directory was made again since this instance opened it (files
    /// opened in the old one, such as the accounting file, are then to be opened again).
    pub fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::Relaxed)
    }

    /// Opens (creating it, 0600) the file `name` at the root of the cache directory for
    /// reading and writing, never through a symlink (one planted there is removed).
    pub fn open_root_file(&self, name: &str) -> io::Result<File> {
        let tree = self.tree();
        let flags = OFlags::RDWR | OFlags::CREATE;
        for _ in 0..4 {
            match beneath::open(&tree.root, name, flags, Mode::RUSR | Mode::WUSR) {
                Ok(fd) => {
                    let file = File::from(fd);
                    if file.metadata()?.is_file() {
                        return Ok(file);
                    }
                    remove_at(tree.root.as_fd(), name)?;
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EISDIR)) => {
                    remove_at(tree.root.as_fd(), name)?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!("{name} keeps being replaced")))
    }
}
