//! The cache directory on disk: fan-out subdirectories, temporary files renamed into place,
//! conditional removal, and scans. Knows files, not entries' meaning.
//!
//! Every file is reached through directory file descriptors held open: the root, `tmp/`,
//! this instance's own directory under it, and each fan-out directory (opened on first use).
//! An entry is opened, created, renamed and removed relative to its fan-out directory's
//! descriptor with one name (no path walk, no symlink on the way); the directories
//! themselves are opened with [`crate::beneath`], which never follows a symlink. A directory
//! removed from under a running cache (a user's `rm -rf`, a tmp cleaner) is noticed by the
//! next write (its creations fail with `ENOENT` in a dead directory), which recreates the
//! whole layout and writes again; reads notice it within a second.

use std::collections::VecDeque;
use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::beneath;

/// The subdirectory that holds temporary files (writes in progress, entries being removed).
pub const TMP_DIR: &str = "tmp";

/// An entry's identity on disk: the MD5 of its key.
pub type EntryId = [u8; 16];

/// Which file a path named when it was opened, so that it is removed only if it still is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    /// Entry files are never changed in place once in place (a small one is written again
    /// only as a file kept for reuse, out of place; see [`Pool`]), so the same file has
    /// the same length.
    pub len: u64,
}

impl FileId {
    pub fn of(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
        }
    }

    // `dev_t` and `ino_t` are `u64` on Linux, other widths elsewhere.
    #[allow(clippy::unnecessary_cast)]
    fn of_stat(s: &Stat) -> Self {
        FileId {
            dev: s.st_dev as u64,
            ino: s.st_ino as u64,
            len: s.st_size as u64,
        }
    }
}

/// What is at an entry's path.
pub enum Opened {
    Absent,
    File(File, std::fs::Metadata),
    /// A directory, symlink, FIFO, ...: never followed, never read. The open handle (none
    /// for a symlink) keeps the inode number from being reused until it is dropped.
    NotAFile(FileId, Option<File>),
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `ab`, the fan-out subdirectory of an entry id.
fn fan_name(byte: u8) -> [u8; 2] {
    [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]
}

fn fan_str(byte: &[u8; 2]) -> &str {
    // Two ASCII hex digits.
    std::str::from_utf8(byte).unwrap_or("00")
}

/// The file name of an entry id: 32 lowercase hex digits.
pub fn file_name(id: &EntryId) -> String {
    let mut s = String::with_capacity(32);
    for b in id {
        let [hi, lo] = fan_name(*b);
        s.push(char::from(hi));
        s.push(char::from(lo));
    }
    s
}

/// The file name of an entry id, NUL-terminated on the stack (no allocation per operation).
struct Name([u8; 33]);

impl Name {
    fn of(id: &EntryId) -> Self {
        let mut n = [0u8; 33];
        for (i, b) in id.iter().enumerate() {
            let [hi, lo] = fan_name(*b);
            n[2 * i] = hi;
            n[2 * i + 1] = lo;
        }
        Name(n)
    }

    fn c(&self) -> &CStr {
        CStr::from_bytes_with_nul(&self.0).unwrap_or(c"")
    }
}

/// The entry id a file name spells, if it is one.
pub fn parse_file_name(name: &str) -> Option<EntryId> {
    let bytes = name.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut id = [0u8; 16];
    for (i, out) in id.iter_mut().enumerate() {
        *out = digit(bytes[2 * i])? << 4 | digit(bytes[2 * i + 1])?;
    }
    Some(id)
}

/// Writes `parts` to `file` one after the other: the whole file in one `writev` where the
/// kernel takes it all (a large value written from where it is, after its header).
fn write_parts(file: &mut File, parts: &[&[u8]]) -> io::Result<()> {
    if let [one] = parts {
        return file.write_all(one);
    }
    let mut parts: Vec<&[u8]> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    let mut first = 0;
    while first < parts.len() {
        let slices: Vec<io::IoSlice<'_>> =
            parts[first..].iter().map(|p| io::IoSlice::new(p)).collect();
        let mut n = match file.write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while n > 0 {
            let part = parts[first];
            if n >= part.len() {
                n -= part.len();
                first += 1;
            } else {
                parts[first] = &part[n..];
                n = 0;
            }
        }
    }
    Ok(())
}

fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY);
const PRIVATE_DIR: Mode = Mode::RWXU;

/// Opens the directory `name` under `parent`, never through a symlink; if it is missing it
/// is created (0700), and anything else planted under that name (a symlink, a file) is
/// removed first, so that it is never followed.
fn ensure_dir_at(parent: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
    for _ in 0..4 {
        match beneath::open(parent, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(e) if is_not_found(&e) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                remove_at(parent, name)?;
            }
            Err(e) => return Err(e),
        }
        match rustix::fs::mkdirat(parent, name, PRIVATE_DIR) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::other(format!(
        "{name} keeps being replaced by something that is not a directory"
    )))
}

/// Removes whatever is at `name` under `parent` without following it (a directory with its
/// contents); absent is fine.
pub fn remove_at(parent: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    match rustix::fs::unlinkat(parent, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR) | Err(Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    let dir = match beneath::open(parent, name, DIR_FLAGS, Mode::empty()) {
        Ok(d) => d,
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in names(&dir)? {
        remove_at(dir.as_fd(), &name)?;
    }
    match rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The names in a directory, `.` and `..` left out (names that are not UTF-8 too: the cache
/// never makes one, and leaves what it did not make alone).
fn names(dir: &OwnedFd) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if name != "." && name != ".." {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

/// Turns an `open` of an entry into what the caller needs: `None` if absent, the symlink's
/// id if it is one.
fn open_quick_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<Result<File, FileId>>> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => Ok(Some(Ok(File::from(fd)))),
        Err(Errno::NOENT) => Ok(None),
        Err(Errno::LOOP) => match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(s) => Ok(Some(Err(FileId::of_stat(&s)))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

fn opened(quick: Option<Result<File, FileId>>) -> io::Result<Opened> {
    match quick {
        None => Ok(Opened::Absent),
        Some(Err(id)) => Ok(Opened::NotAFile(id, None)),
        Some(Ok(f)) => {
            let m = f.metadata()?;
            if m.is_file() {
                Ok(Opened::File(f, m))
            } else {
                Ok(Opened::NotAFile(FileId::of(&m), Some(f)))
            }
        }
    }
}

/// The open directories of one incarnation of the cache directory. A directory removed and
/// recreated under the cache is a new incarnation: a new `Tree` replaces this one.
struct Tree {
    root: OwnedFd,
    root_id: FileId,
    tmp: OwnedFd,
    /// This instance's own directory under `tmp/`, for its temporary files, opened and
    /// `flock`ed for the tree's lifetime: while the lock is held, no other instance's
    /// cleanup touches it; once the process dies, the next cleanup does.
    own: OwnedFd,
    own_name: String,
    fans: [OnceLock<OwnedFd>; 256],
    /// Files of replaced and deleted small entries, kept in `own` to be written again.
    pool: Mutex<Pool>,
}

/// Entry files up to this size are kept for reuse rather than unlinked (see [`Pool`]). No
/// larger file is ever written in place, so a reader of a file larger than this never sees
/// it change.
pub const REUSED_MAX: u64 = 16 << 10;

/// At most this many files are kept for reuse per instance...
const POOL_FILES: usize = 256;
/// ...holding at most this many bytes.
const POOL_BYTES: u64 = 1 << 20;
/// A kept file is written again only once this many others were kept after it (first in,
/// first out), so that a reader that opened it as an entry has long finished with it.
const POOL_REUSE_AFTER: usize = 8;

/// The files of small entries this instance replaced (the old file that
/// `renameat2(RENAME_EXCHANGE)` brings back under the temporary name) or deleted, kept under
/// their temporary names in the instance's own directory and written again, in place, by its
/// next small writes instead of creating a file. Creating and unlinking inodes is the dearest
/// part of a small write: on an ext4 file system without a journal, every create after a
/// burst of deletions scans the block group for inodes not freed too recently (500-800 us of
/// kernel time each); on tmpfs, it is an inode and its pages freed and allocated again.
///
/// Only files this instance put in its own directory are reused, never another instance's.
/// A reader that opened a file as an entry before it was replaced may still hold it while it
/// is written again as another entry: what it reads then fails the key check or the payload
/// checksum, and the reader, seeing that the entry's path names another file by now, reads
/// again ([`CacheDir::names_file`]); see `Inner::lookup_split`. Kept files are not entries:
/// they count in no bound and no accounting; they are removed with the instance's directory
/// when the instance is dropped, and by the cleanup of dead instances' temporary files after
/// a crash.
#[derive(Default)]
struct Pool {
    files: VecDeque<(String, u64)>,
    bytes: u64,
}

impl Pool {
    /// Keeps `name` (of `size` bytes) if there is room.
    fn put(&mut self, name: &str, size: u64) -> bool {
        if size > REUSED_MAX || self.files.len() >= POOL_FILES || self.bytes + size > POOL_BYTES {
            return false;
        }
        self.files.push_back((name.to_owned(), size));
        self.bytes += size;
        true
    }

    /// The oldest kept file, once enough were kept after it.
    fn take(&mut self) -> Option<(String, u64)> {
        if self.files.len() <= POOL_REUSE_AFTER {
            return None;
        }
        let (name, size) = self.files.pop_front()?;
        self.bytes -= size;
        Some((name, size))
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = remove_at(self.tmp.as_fd(), &self.own_name);
    }
}

/// Creates and locks a directory of our own under `tmp`. A concurrent cleanup may remove
/// the new directory in the instant before it is locked; then the lock is on a directory no
/// longer in `tmp`, which is checked, and another is made.
fn claim_own_dir(tmp: BorrowedFd<'_>) -> io::Result<(String, OwnedFd)> {
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
fn remove_planted_fans(root: &OwnedFd) -> io::Result<()> {
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
    fn open(root: &Path) -> io::Result<Tree> {
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
    fn fan(&self, byte: u8, create: bool) -> io::Result<Option<BorrowedFd<'_>>> {
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
    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this tree is no longer the directory at `root`: removed, or replaced.
    fn is_stale(&self, root: &Path) -> bool {
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

/// A file moved aside into this instance's temporary directory (see [`CacheDir::grab`]).
pub struct Grabbed {
    tree: Arc<Tree>,
    name: String,
}

/// An entry's lock file, open (see [`CacheDir::open_lock_as`]).
pub struct LockFile {
    tree: Arc<Tree>,
    name: String,
    pub file: File,
}

impl LockFile {
    /// Whether the lock file's name still names this file (a holder removes the file as it
    /// lets go, so a lock taken on a removed file guards nothing).
    pub fn is_current(&self) -> io::Result<bool> {
        let held = FileId::of(&self.file.metadata()?);
        let Some(fan) = self.tree.fans[usize::from(self.fan_byte())].get() else {
            return Ok(false);
        };
        match rustix::fs::statat(fan, self.name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(s) => Ok(FileId::of_stat(&s) == held),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the lock file's name.
    pub fn remove(&self) {
        if let Some(fan) = self.tree.fans[usize::from(self.fan_byte())].get() {
            let _ = rustix::fs::unlinkat(fan, self.name.as_str(), AtFlags::empty());
        }
    }

    fn fan_byte(&self) -> u8 {
        parse_file_name(&self.name[..32]).map_or(0, |id| id[0])
    }
}

/// How often, at most, a miss checks that the directory was not removed from under us.
const STALE_CHECK_EVERY_MS: u64 = 1000;

/// Whether an entry replaces an existing one by exchanging the two files
/// (`renameat2(RENAME_EXCHANGE)`, then keeping the old one, now in `tmp/`, for reuse or
/// unlinking it) rather than by renaming over it: on ext4 and btrfs, a rename over an
/// existing file makes the kernel write the new file's data out at once (ext4's `auto_da_alloc`, btrfs's flush on rename),
/// which turned each overwrite on an ext4 disk into a disk write (2-3 ms instead of tens of
/// microseconds). An exchange is as atomic for readers (the old file or the new one), and is
/// not subject to that flush; `durable(true)` still syncs what it always did. Elsewhere
/// (tmpfs, XFS, ...) the plain rename is one system call fewer for large entries; entries
/// up to [`REUSED_MAX`] are exchanged on every file system, so that their old file is
/// written again rather than freed (see [`Pool`]).
#[cfg(target_os = "linux")]
fn replaces_by_exchange(root: &OwnedFd) -> bool {
    const EXT4: u32 = 0xEF53;
    const BTRFS: u32 = 0x9123_683E;
    // `f_type` is signed and of the platform's word size; its low 32 bits are the magic.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::fstatfs(root).is_ok_and(|s| matches!(s.f_type as u32, EXT4 | BTRFS))
}

#[cfg(not(target_os = "linux"))]
fn replaces_by_exchange(_root: &OwnedFd) -> bool {
    false
}

/// The directory of one cache.
pub struct CacheDir {
    root: PathBuf,
    tree: RwLock<Arc<Tree>>,
    seq: AtomicU64,
    durable: bool,
    /// See [`replaces_by_exchange`]; cleared if the file system refuses an exchange.
    exchange: std::sync::atomic::AtomicBool,
    /// Whether small entries are replaced by exchange everywhere (so that the old file can
    /// be kept for reuse, see [`Pool`]); cleared if the file system refuses an exchange.
    exchange_small: std::sync::atomic::AtomicBool,
    born: Instant,
    /// Milliseconds after `born` of the last stale check.
    checked_at: AtomicU64,
    /// How many times the directory was found removed and made again.
    renewals: AtomicU64,
}

/// What a write replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    /// No entry was there.
    Nothing,
    /// An entry file of this many bytes.
    Old(u64),
    /// Not known (a plain rename over whatever was there).
    Unknown,
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

    fn tree(&self) -> Arc<Tree> {
        // A panic elsewhere cannot leave the `Arc` half-replaced.
        Arc::clone(&self.tree.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Replaces `stale` by the directory now at the root path, created if `create`;
    /// returns the current tree (`stale` itself if the path is gone and `create` is false).
    fn renew(&self, stale: &Arc<Tree>, create: bool) -> io::Result<Arc<Tree>> {
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
    fn recheck(&self, tree: &Arc<Tree>) -> io::Result<Option<Arc<Tree>>> {
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
    fn revalidate(&self, tree: &Arc<Tree>) -> io::Result<Option<Arc<Tree>>> {
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

    /// A fresh name in this instance's temporary directory.
    fn temp_name(&self) -> String {
        self.seq.fetch_add(1, Ordering::Relaxed).to_string()
    }

    /// Creates a private temporary file in this instance's own directory.
    fn create_temp(&self, tree: &Tree, name: &str) -> io::Result<File> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&tree.own, name, flags, Mode::RUSR | Mode::WUSR)?;
        Ok(File::from(fd))
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

    /// What a grabbed file is, opened as [`CacheDir::open_entry`] opens an entry.
    pub fn open_grabbed(&self, g: &Grabbed) -> io::Result<Opened> {
        let name = std::ffi::CString::new(g.name.as_str()).map_err(io::Error::other)?;
        opened(open_quick_at(g.tree.own.as_fd(), &name)?)
    }

    /// Writes `bytes` as the file of entry `id`, atomically: readers see the old file or the
    /// new one, never a part. On error nothing is left behind and the old file is untouched.
    /// A directory removed from under the cache is created again, and the write retried.
    pub fn write_atomically(&self, id: &EntryId, bytes: &[&[u8]]) -> io::Result<()> {
        let small = bytes.iter().map(|b| b.len() as u64).sum::<u64>() <= REUSED_MAX;
        self.write_with(id, bytes, |tree, tmp, name| {
            self.write_temp_and_rename(tree, tmp, id, name, small)
        })
    }

    /// Writes `bytes` to a fresh temporary file, then calls `place` to put it in place; on
    /// error removes the temporary file, and if a directory was removed under us (ENOENT
    /// when creating in, or renaming into, it) makes the layout again and tries once more.
    fn write_with<T>(
        &self,
        id: &EntryId,
        bytes: &[&[u8]],
        place: impl Fn(&Tree, &str, &Name) -> io::Result<T>,
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

    fn write_temp_and_rename(
        &self,
        tree: &Tree,
        tmp: &str,
        id: &EntryId,
        name: &Name,
        small: bool,
    ) -> io::Result<()> {
        let fan = tree.fan(id[0], true)?.ok_or(Errno::NOENT)?;
        if !self.exchange_into(tree, tmp, fan, name, small)? {
            rustix::fs::renameat(&tree.own, tmp, fan, name.c())?;
        }
        if self.durable {
            rustix::fs::fsync(fan)?;
        }
        Ok(())
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

    /// [`CacheDir::write_atomically`], telling what the write replaced: the new file is
    /// put in place with `RENAME_NOREPLACE` (nothing was there) or exchanged with the old
    /// one, whose size is read before it is removed (unless `known`, the size the caller
    /// last saw, is given: then the exchange is tried first, and that size is taken).
    /// Where the file system has neither, a plain rename: [`Replaced::Unknown`].
    pub fn write_counted(
        &self,
        id: &EntryId,
        bytes: &[&[u8]],
        known: Option<u64>,
    ) -> io::Result<Replaced> {
        self.write_with(id, bytes, |tree, tmp, name| {
            self.place_counted(tree, tmp, id, name, known)
        })
    }

    /// Writes `bytes` (`len` of them) over a file kept for reuse (see [`Pool`]), if the
    /// pool has one and the value is small: its name, or `None` to create a file. A kept file
    /// that cannot be written is removed and the next one tried.
    fn write_reused(&self, tree: &Tree, bytes: &[&[u8]], len: u64) -> Option<String> {
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
    fn rewrite(
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
        if self.durable {
            file.sync_all()?;
        }
        Ok(())
    }

    /// The old entry file an exchange brought back as `tmp` into this instance's own
    /// directory (or anything planted under the entry's name): kept for reuse (see [`Pool`])
    /// if it is a small regular file of one name and the pool has room, else removed without
    /// following it. Returns its size (`None` if it is gone).
    fn retire(&self, tree: &Tree, tmp: &str) -> io::Result<Option<u64>> {
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

    fn write_temp(&self, tree: &Tree, tmp: &str, bytes: &[&[u8]]) -> io::Result<()> {
        let mut file = self.create_temp(tree, tmp)?;
        write_parts(&mut file, bytes)?;
        if self.durable {
            file.sync_all()?;
        }
        Ok(())
    }

    fn place_counted(
        &self,
        tree: &Tree,
        tmp: &str,
        id: &EntryId,
        name: &Name,
        known: Option<u64>,
    ) -> io::Result<Replaced> {
        let fan = tree.fan(id[0], true)?.ok_or(Errno::NOENT)?;
        let replaced = match self.place_exclusively(tree, tmp, fan, name, known)? {
            Some(r) => r,
            None => {
                rustix::fs::renameat(&tree.own, tmp, fan, name.c())?;
                Replaced::Unknown
            }
        };
        if self.durable {
            rustix::fs::fsync(fan)?;
        }
        Ok(replaced)
    }

    /// Puts `tmp` in place as `name` with `RENAME_NOREPLACE` or `RENAME_EXCHANGE` (the
    /// latter first if the old size is `known`), so that what was replaced is known; `None`
    /// where the file system supports neither.
    #[cfg(target_os = "linux")]
    fn place_exclusively(
        &self,
        tree: &Tree,
        tmp: &str,
        fan: BorrowedFd<'_>,
        name: &Name,
        known: Option<u64>,
    ) -> io::Result<Option<Replaced>> {
        use rustix::fs::RenameFlags;
        let mut exchange_first = known.is_some();
        for _ in 0..4 {
            let flags = if exchange_first {
                RenameFlags::EXCHANGE
            } else {
                RenameFlags::NOREPLACE
            };
            match rustix::fs::renameat_with(&tree.own, tmp, fan, name.c(), flags) {
                Ok(()) if exchange_first => {
                    let kept = self.retire(tree, tmp)?;
                    let size = match (known, kept) {
                        (Some(size), _) => size,
                        (None, Some(size)) => size,
                        (None, None) => {
                            return Ok(Some(Replaced::Unknown));
                        }
                    };
                    return Ok(Some(Replaced::Old(size)));
                }
                Ok(()) => return Ok(Some(Replaced::Nothing)),
                // Nothing to exchange with (while our file is still there), or something
                // not to replace: the other way.
                Err(Errno::NOENT)
                    if exchange_first
                        && rustix::fs::statat(&tree.own, tmp, AtFlags::SYMLINK_NOFOLLOW)
                            .is_ok() =>
                {
                    exchange_first = false
                }
                Err(Errno::EXIST) if !exchange_first => exchange_first = true,
                Err(Errno::INVAL) | Err(Errno::NOSYS) | Err(Errno::OPNOTSUPP) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    #[cfg(not(target_os = "linux"))]
    fn place_exclusively(
        &self,
        _: &Tree,
        _: &str,
        _: BorrowedFd<'_>,
        _: &Name,
        _: Option<u64>,
    ) -> io::Result<Option<Replaced>> {
        Ok(None)
    }

    /// Where exchanging is the way to replace (see [`replaces_by_exchange`]; `small`
    /// entries always), swaps the temporary file `tmp` with the entry `name` and keeps or
    /// removes the old entry, now at `tmp` ([`CacheDir::retire`]):
    /// `true` if done, `false` if the plain rename is to be used (no entry there to
    /// exchange with, or a file system that refuses exchanges).
    #[cfg(target_os = "linux")]
    fn exchange_into(
        &self,
        tree: &Tree,
        tmp: &str,
        fan: BorrowedFd<'_>,
        name: &Name,
        small: bool,
    ) -> io::Result<bool> {
        use rustix::fs::RenameFlags;
        let exchange = self.exchange.load(Ordering::Relaxed)
            || (small && self.exchange_small.load(Ordering::Relaxed));
        if !exchange {
            return Ok(false);
        }
        match rustix::fs::renameat_with(&tree.own, tmp, fan, name.c(), RenameFlags::EXCHANGE) {
            // What came back may be anything planted under the entry's name: kept for
            // reuse if it is a small file, else removed without following it.
            Ok(()) => self.retire(tree, tmp).map(|_| true),
            Err(Errno::NOENT) => Ok(false),
            Err(Errno::INVAL) | Err(Errno::NOSYS) | Err(Errno::OPNOTSUPP) => {
                self.exchange.store(false, Ordering::Relaxed);
                self.exchange_small.store(false, Ordering::Relaxed);
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn exchange_into(
        &self,
        _: &Tree,
        _: &str,
        _: BorrowedFd<'_>,
        _: &Name,
        _: bool,
    ) -> io::Result<bool> {
        Ok(false)
    }

    /// Writes `bytes` as the file of entry `id` only if nothing is there, atomically (a
    /// hard link of a complete temporary file, which fails if the name exists): `false` if
    /// something was. Readers see no file or the complete new one.
    pub fn create_new(&self, id: &EntryId, bytes: &[u8]) -> io::Result<bool> {
        self.write_with(id, &[bytes], |tree, tmp, name| {
            let fan = tree.fan(id[0], true)?.ok_or(Errno::NOENT)?;
            let linked = rustix::fs::linkat(&tree.own, tmp, fan, name.c(), AtFlags::empty());
            if linked == Err(Errno::EXIST) {
                // Not placed: written again by a later write.
                let _ = self.retire(tree, tmp);
            } else {
                let _ = rustix::fs::unlinkat(&tree.own, tmp, AtFlags::empty());
            }
            match linked {
                Ok(()) => {
                    if self.durable {
                        rustix::fs::fsync(fan)?;
                    }
                    Ok(true)
                }
                Err(Errno::EXIST) => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Opens (creating it, 0600) a lock file of entry `id`, `ab/<md5>.<extension>` beside
    /// the entry (`lock` for the key's lock, `flight` for its loads), never through a
    /// symlink (one planted there is removed).
    pub fn open_lock_as(&self, id: &EntryId, extension: &str) -> io::Result<LockFile> {
        let name = format!("{}.{extension}", file_name(id));
        let mut tree = self.tree();
        let mut renewed = false;
        for _ in 0..8 {
            let fan = tree.fan(id[0], true)?.ok_or(Errno::NOENT)?;
            let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(fan, name.as_str(), flags, Mode::RUSR | Mode::WUSR) {
                Ok(fd) => {
                    return Ok(LockFile {
                        tree,
                        name,
                        file: File::from(fd),
                    })
                }
                Err(Errno::LOOP) | Err(Errno::ISDIR) => remove_at(fan, &name)?,
                // A fan-out directory removed under us.
                Err(Errno::NOENT) if !renewed => {
                    renewed = true;
                    tree = self.renew(&tree, true)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::other(format!("{name} keeps being replaced")))
    }

    /// Moves the entry `id` into the temporary directory, so that no one else sees it any
    /// more; `None` if nothing was there. The caller then inspects it and calls
    /// [`CacheDir::discard`] or [`CacheDir::restore`].
    pub fn grab(&self, id: &EntryId) -> io::Result<Option<Grabbed>> {
        let tree = self.tree();
        let Some(fan) = tree.fan(id[0], false)? else {
            return Ok(None);
        };
        let name = self.temp_name();
        match rustix::fs::renameat(fan, Name::of(id).c(), &tree.own, name.as_str()) {
            Ok(()) => Ok(Some(Grabbed {
                tree: Arc::clone(&tree),
                name,
            })),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a grabbed file.
    pub fn discard(&self, g: &Grabbed) -> io::Result<()> {
        remove_at(g.tree.own.as_fd(), &g.name)
    }

    /// Deletes a grabbed file, or keeps it for reuse (see [`Pool`]) if `meta`, its
    /// metadata, says it is a small regular file of one name and the pool has room.
    pub fn discard_or_keep(&self, g: &Grabbed, meta: &std::fs::Metadata) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        if meta.is_file() && meta.nlink() == 1 && g.tree.pool().put(&g.name, meta.len()) {
            return Ok(());
        }
        self.discard(g)
    }

    /// Removes the files kept for reuse (see [`Pool`]).
    pub fn drain_pool(&self) -> io::Result<()> {
        let tree = self.tree();
        let kept = std::mem::take(&mut *tree.pool());
        for (name, _) in kept.files {
            remove_at(tree.own.as_fd(), &name)?;
        }
        Ok(())
    }

    /// Whether the entry `id` is the file `file` (the same inode and length): a reader
    /// whose file failed its checks asks, to tell a file replaced (and perhaps written again
    /// as another entry) under it from a corrupt one.
    pub fn names_file(&self, id: &EntryId, file: FileId) -> io::Result<bool> {
        let tree = self.tree();
        let Some(fan) = tree.fan(id[0], false)? else {
            return Ok(false);
        };
        match rustix::fs::statat(fan, Name::of(id).c(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(s) => Ok(FileId::of_stat(&s) == file),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Puts a grabbed file back as the entry `id`, unless a newer file was written there
    /// meanwhile (then the newer one wins and the grabbed one is dropped).
    pub fn restore(&self, g: &Grabbed, id: &EntryId) -> io::Result<()> {
        let fan = g.tree.fan(id[0], true)?.ok_or(Errno::NOENT)?;
        let linked = rustix::fs::linkat(
            &g.tree.own,
            g.name.as_str(),
            fan,
            Name::of(id).c(),
            AtFlags::empty(),
        );
        match linked {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => {
                let _ = self.discard(g);
                return Err(e.into());
            }
        }
        self.discard(g)
    }

    /// Removes the entry `id` only if it is still the file `file` that was read: a newer
    /// file a concurrent writer renamed into place is kept. `true` if `file` was removed.
    ///
    /// Linux cannot unlink a name only if it names a given inode, so the file is first moved
    /// aside, checked, and put back if it is not `file`; a reader may see a miss for those
    /// few microseconds. Checking the name first keeps that to the rare case where a writer
    /// renames its file in between the check and the move.
    #[cfg(test)]
    pub fn remove_if_same(&self, id: &EntryId, file: FileId) -> io::Result<bool> {
        self.remove_if_same_and(id, file, |_| Ok(true))
    }

    /// `remove_if_same`, removing the file only if `doomed` also says so of it once it is
    /// moved aside (where no writer changes it any more); else it is put back. A file kept
    /// for reuse (see [`Pool`]) may have been written again and put back in place since it
    /// was read: the same inode and length, other contents; `doomed` looks at them.
    pub fn remove_if_same_and(
        &self,
        id: &EntryId,
        file: FileId,
        doomed: impl FnOnce(&Grabbed) -> io::Result<bool>,
    ) -> io::Result<bool> {
        let tree = self.tree();
        let Some(fan) = tree.fan(id[0], false)? else {
            return Ok(false);
        };
        match rustix::fs::statat(fan, Name::of(id).c(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(s) if FileId::of_stat(&s) == file => {}
            Ok(_) | Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let Some(grabbed) = self.grab(id)? else {
            return Ok(false);
        };
        let same = match rustix::fs::statat(
            &grabbed.tree.own,
            grabbed.name.as_str(),
            AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(s) => FileId::of_stat(&s) == file,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let remove = same && doomed(&grabbed)?;
        if remove {
            self.discard(&grabbed)?;
        } else {
            self.restore(&grabbed, id)?;
        }
        Ok(remove)
    }

    /// Removes whatever is at the entry `id` (a file, or anything planted there).
    pub fn remove_entry(&self, id: &EntryId) -> io::Result<()> {
        let tree = self.tree();
        match tree.fan(id[0], false)? {
            Some(fan) => remove_at(fan, &file_name(id)),
            None => Ok(()),
        }
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

    /// Calls `f` with the id of everything named like an entry in the fan-out directories
    /// (files, and anything planted under such a name). Other names are left alone. Stops at
    /// the first error `f` returns.
    pub fn scan<E: From<io::Error>>(
        &self,
        mut f: impl FnMut(EntryId) -> Result<(), E>,
    ) -> Result<(), E> {
        for b in 0..=255u8 {
            self.scan_fan(b, &mut f)?;
        }
        Ok(())
    }

    /// Whether the fan-out directory `b` exists (as a directory).
    pub fn fan_exists(&self, b: u8) -> bool {
        matches!(self.tree().fan(b, false), Ok(Some(_)))
    }

    /// [`CacheDir::scan`] of one fan-out directory.
    pub fn scan_fan<E: From<io::Error>>(
        &self,
        b: u8,
        mut f: impl FnMut(EntryId) -> Result<(), E>,
    ) -> Result<(), E> {
        let tree = self.tree();
        let Some(fan) = tree.fan(b, false)? else {
            return Ok(());
        };
        let mut ids = Vec::new();
        for entry in rustix::fs::Dir::read_from(fan).map_err(io::Error::from)? {
            let entry = entry.map_err(io::Error::from)?;
            let Some(id) = entry.file_name().to_str().ok().and_then(parse_file_name) else {
                continue;
            };
            if id[0] == b {
                ids.push(id);
            }
        }
        for id in ids {
            f(id)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files in the instance's own directory that are not kept for reuse.
    fn strays(dir: &CacheDir) -> usize {
        let tree = dir.tree();
        let pool = tree.pool();
        names(&tree.own)
            .unwrap()
            .iter()
            .filter(|n| !pool.files.iter().any(|(k, _)| k == *n))
            .count()
    }

    #[test]
    fn file_names_round_trip() {
        let id: EntryId = core::array::from_fn(|i| (i * 17) as u8);
        assert_eq!(parse_file_name(&file_name(&id)), Some(id));
        assert_eq!(Name::of(&id).c().to_str().unwrap(), file_name(&id));
        assert_eq!(parse_file_name("not-hex"), None);
        assert_eq!(parse_file_name(&"A".repeat(32)), None);
    }

    /// Both ways of replacing an entry (rename over it, exchange then unlink) leave the new
    /// file in place and nothing in `tmp/`, over a file, over a planted directory, and where
    /// there was nothing.
    #[test]
    fn both_ways_of_replacing_leave_the_new_file_only() {
        for exchange in [false, true] {
            let root = tempfile::tempdir().unwrap();
            let dir = CacheDir::open(root.path().to_path_buf(), false).unwrap();
            dir.exchange.store(exchange, Ordering::Relaxed);
            dir.exchange_small.store(exchange, Ordering::Relaxed);
            let id = [0x12; 16];
            let path = dir.entry_path(&id);
            dir.write_atomically(&id, &[b"first"]).unwrap();
            dir.write_atomically(&id, &[b"second"]).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"second");
            std::fs::remove_file(&path).unwrap();
            std::fs::create_dir(&path).unwrap();
            std::fs::write(path.join("inside"), b"x").unwrap();
            // Renaming a file over a directory fails; an exchange takes the directory away.
            let over_dir = dir.write_atomically(&id, &[b"third"]);
            assert_eq!(over_dir.is_ok(), exchange, "exchange: {exchange}");
            if exchange {
                assert_eq!(std::fs::read(&path).unwrap(), b"third");
            }
            assert_eq!(strays(&dir), 0);
        }
    }

    /// The expiry rule: a file is removed only if it is still the one that was read; a newer
    /// file renamed into place between the read and the removal survives.
    #[test]
    fn remove_if_same_keeps_a_newer_file() {
        let root = tempfile::tempdir().unwrap();
        let dir = CacheDir::open(root.path().to_path_buf(), false).unwrap();
        let id = [0xab; 16];
        let path = dir.entry_path(&id);
        dir.write_atomically(&id, &[b"old"]).unwrap();
        // Held open, as a reader holds it, so that its inode number is not reused.
        let old_file = File::open(&path).unwrap();
        let old = FileId::of(&old_file.metadata().unwrap());
        dir.write_atomically(&id, &[b"new"]).unwrap(); // a concurrent writer
        assert!(!dir.remove_if_same(&id, old).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let new = FileId::of(&std::fs::metadata(&path).unwrap());
        assert!(dir.remove_if_same(&id, new).unwrap());
        assert!(!path.exists());
        assert!(!dir.remove_if_same(&id, new).unwrap());
        assert_eq!(strays(&dir), 0);
        drop(old_file);
    }
}
