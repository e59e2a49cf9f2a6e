//! The cache directory on disk: fan-out subdirectories, temporary files renamed into place,
//! conditional removal, and scans. Knows paths and files, not entries' meaning.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The subdirectory that holds temporary files (writes in progress, entries being removed).
pub const TMP_DIR: &str = "tmp";

/// An entry's identity on disk: the MD5 of its key.
pub type EntryId = [u8; 16];

/// Which file a path named when it was opened, so that it is removed only if it still is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub fn of(m: &fs::Metadata) -> Self {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    }
}

/// What is at an entry's path.
pub enum Opened {
    Absent,
    File(File, fs::Metadata),
    /// A directory, symlink, FIFO, ...: never followed, never read. The open handle (none
    /// for a symlink) keeps the inode number from being reused until it is dropped.
    NotAFile(FileId, Option<File>),
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `ab`, the fan-out subdirectory of an entry id.
fn fan_name(byte: u8) -> [u8; 2] {
    [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]
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

/// Creates `path` as a private directory, or checks that it is one; something else planted
/// under that name (a symlink, a file) is removed first, so it is never followed.
fn ensure_dir(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => remove_any(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    match DirBuilder::new().mode(0o700).create(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        other => other,
    }
}

/// Removes whatever is at `path` without following it; absent is fine.
pub fn remove_any(path: &Path) -> io::Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Opens `path` for reading without following a symlink and without blocking on a FIFO, and
/// without asking what it is: `None` if absent, the symlink's id if it is one.
pub fn open_quick(path: &Path) -> io::Result<Option<Result<File, FileId>>> {
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    match opened {
        Ok(f) => Ok(Some(Ok(f))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => match fs::symlink_metadata(path) {
            Ok(m) => Ok(Some(Err(FileId::of(&m)))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// [`open_quick`], then what it opened: a regular file with its metadata, or not a file.
pub fn open_entry(path: &Path) -> io::Result<Opened> {
    match open_quick(path)? {
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

/// Creates or repairs the temporary directory, and removes anything but a directory planted
/// under a fan-out directory's name. Fan-out directories themselves are created on the first
/// write into them (creating 256 directories up front costs more than the rest of opening on
/// a slow disk).
fn ensure_layout(root: &Path, tmp: &Path) -> io::Result<()> {
    ensure_dir(tmp)?;
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let is_fan = name
            .to_str()
            .is_some_and(|n| n.len() == 2 && n.bytes().all(|c| c.is_ascii_hexdigit()));
        if is_fan && !entry.file_type()?.is_dir() {
            remove_any(&entry.path())?;
        }
    }
    Ok(())
}

/// The directory of one cache.
#[derive(Debug)]
pub struct CacheDir {
    root: PathBuf,
    tmp: PathBuf,
    /// This instance's own directory under `tmp/`, for its temporary files.
    own: PathBuf,
    /// `own`, opened and `flock`ed for the instance's lifetime: while the lock is held, no
    /// other instance's cleanup touches `own`; once the process dies, the next cleanup does.
    _own_lock: File,
    seq: AtomicU64,
    durable: bool,
}

impl Drop for CacheDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.own);
    }
}

/// Opens a directory without following a symlink, for `flock`.
fn open_dir(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
}

/// Creates and locks a directory of our own under `tmp`. A concurrent cleanup may remove
/// the new directory in the instant before it is locked; then the lock is on a directory no
/// longer in `tmp`, which is checked, and another is made.
fn claim_own_dir(tmp: &Path) -> io::Result<(PathBuf, File)> {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let nonce = h.finish();
    for attempt in 0..8 {
        let path = tmp.join(format!("{}.{nonce:016x}.{attempt}", std::process::id()));
        match DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
        let dir = match open_dir(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        dir.lock()?;
        let locked = FileId::of(&dir.metadata()?);
        match fs::symlink_metadata(&path) {
            Ok(m) if FileId::of(&m) == locked => return Ok((path, dir)),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(
        "could not claim a temporary directory (removed each time by concurrent cleanups)",
    ))
}

impl CacheDir {
    /// Creates (if needed) and checks the cache directory and its temporary directory, then
    /// removes the temporary files of dead writers.
    pub fn open(root: PathBuf, durable: bool) -> io::Result<Self> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)?;
        if !fs::metadata(&root)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        let tmp = root.join(TMP_DIR);
        ensure_layout(&root, &tmp)?;
        let (own, own_lock) = claim_own_dir(&tmp)?;
        let dir = CacheDir {
            root,
            tmp,
            own,
            _own_lock: own_lock,
            seq: AtomicU64::new(0),
            durable,
        };
        // A directory we cannot write into is an error now, not at the first `set`.
        let probe = dir.temp_path();
        drop(dir.create_temp(&probe)?);
        fs::remove_file(&probe)?;
        dir.remove_dead_temps()?;
        Ok(dir)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn fan_dir(&self, byte: u8) -> PathBuf {
        let name = fan_name(byte);
        // Two ASCII hex digits.
        self.root.join(std::str::from_utf8(&name).unwrap_or("00"))
    }

    /// `root/ab/abcdef...`: where the entry with id `id` lives.
    pub fn entry_path(&self, id: &EntryId) -> PathBuf {
        let name = file_name(id);
        let mut p = PathBuf::with_capacity(self.root.as_os_str().len() + 36);
        p.push(&self.root);
        p.push(&name[..2]);
        p.push(&name);
        p
    }

    /// A fresh name in the temporary directory.
    fn temp_path(&self) -> PathBuf {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.own.join(seq.to_string())
    }

    /// Creates a private temporary file in this instance's own directory, never through a
    /// symlink.
    fn create_temp(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
    }

    /// Writes `bytes` as the file at `path`, atomically: readers see the old file or the new
    /// one, never a part. On error nothing is left behind and the old file is untouched.
    pub fn write_atomically(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut retried = false;
        loop {
            let tmp = self.temp_path();
            let result = self.write_temp_and_rename(&tmp, path, bytes);
            match result {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    // The first write into a fan-out directory, or a directory removed under
                    // us: create what is missing and try once more.
                    if e.kind() == io::ErrorKind::NotFound && !retried {
                        retried = true;
                        ensure_dir(&self.tmp)?;
                        ensure_dir(&self.own)?;
                        if let Some(parent) = path.parent() {
                            ensure_dir(parent)?;
                        }
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    fn write_temp_and_rename(&self, tmp: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.write_temp(tmp, bytes)?;
        fs::rename(tmp, path)?;
        if self.durable {
            if let Some(parent) = path.parent() {
                File::open(parent)?.sync_all()?;
            }
        }
        Ok(())
    }

    /// Writes `bytes` as the file at `path` only if nothing is there, atomically (a hard link
    /// of a complete temporary file, which fails if the name exists): `false` if something
    /// was. Readers see no file or the complete new one.
    pub fn create_new(&self, path: &Path, bytes: &[u8]) -> io::Result<bool> {
        let mut retried = false;
        loop {
            let tmp = self.temp_path();
            let result = self
                .write_temp(&tmp, bytes)
                .and_then(|()| fs::hard_link(&tmp, path));
            let _ = fs::remove_file(&tmp);
            match result {
                Ok(()) => {
                    if self.durable {
                        if let Some(parent) = path.parent() {
                            File::open(parent)?.sync_all()?;
                        }
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::NotFound && !retried => {
                    retried = true;
                    ensure_dir(&self.tmp)?;
                    ensure_dir(&self.own)?;
                    if let Some(parent) = path.parent() {
                        ensure_dir(parent)?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn write_temp(&self, tmp: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut file = self.create_temp(tmp)?;
        file.write_all(bytes)?;
        if self.durable {
            file.sync_all()?;
        }
        Ok(())
    }

    /// The directory an entry's lock file lives in (its fan-out directory), created if
    /// missing.
    pub fn ensure_parent(&self, path: &Path) -> io::Result<()> {
        match path.parent() {
            Some(parent) => ensure_dir(parent),
            None => Ok(()),
        }
    }

    /// Moves whatever is at `path` into the temporary directory, so that no one else sees it
    /// any more; `None` if nothing was there. The caller then inspects it and calls
    /// [`CacheDir::discard`] or [`CacheDir::restore`].
    pub fn grab(&self, path: &Path) -> io::Result<Option<PathBuf>> {
        let grabbed = self.temp_path();
        match fs::rename(path, &grabbed) {
            Ok(()) => Ok(Some(grabbed)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes a grabbed file.
    pub fn discard(&self, grabbed: &Path) -> io::Result<()> {
        remove_any(grabbed)
    }

    /// Puts a grabbed file back at `path`, unless a newer file was written there meanwhile
    /// (then the newer one wins and the grabbed one is dropped).
    pub fn restore(&self, grabbed: &Path, path: &Path) -> io::Result<()> {
        match fs::hard_link(grabbed, path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                let _ = remove_any(grabbed);
                return Err(e);
            }
        }
        remove_any(grabbed)
    }

    /// Removes the file at `path` only if it is still the file `id` that was read: a newer
    /// file a concurrent writer renamed into place is kept. `true` if `id` was removed.
    ///
    /// Linux cannot unlink a path only if it names a given inode, so the file is first moved
    /// aside, checked, and put back if it is not `id`; a reader may see a miss for those few
    /// microseconds. Checking the path first keeps that to the rare case where a writer
    /// renames its file in between the check and the move.
    pub fn remove_if_same(&self, path: &Path, id: FileId) -> io::Result<bool> {
        match fs::symlink_metadata(path) {
            Ok(m) if FileId::of(&m) == id => {}
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        let Some(grabbed) = self.grab(path)? else {
            return Ok(false);
        };
        let same = match fs::symlink_metadata(&grabbed) {
            Ok(m) => FileId::of(&m) == id,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        if same {
            self.discard(&grabbed)?;
        } else {
            self.restore(&grabbed, path)?;
        }
        Ok(same)
    }

    /// Removes the temporary files of instances that are gone (their directory under `tmp/`
    /// is no longer locked), and anything else found directly in `tmp/`; the directories of
    /// live instances, in any process, stay. Returns how many files were removed.
    pub fn remove_dead_temps(&self) -> io::Result<u64> {
        let mut removed = 0;
        let entries = match fs::read_dir(&self.tmp) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if path == self.own {
                continue;
            }
            if !entry.file_type()?.is_dir() {
                remove_any(&path)?;
                removed += 1;
                continue;
            }
            let dir = match open_dir(&path) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if dir.try_lock().is_err() {
                continue; // a live instance
            }
            removed += fs::read_dir(&path).map_or(0, |d| d.count() as u64);
            remove_any(&path)?;
        }
        Ok(removed)
    }

    /// Calls `f` with the path and id of everything named like an entry in the fan-out
    /// directories (files, and anything planted under such a name). Other names are left
    /// alone. Stops at the first error `f` returns.
    pub fn scan<E: From<io::Error>>(
        &self,
        mut f: impl FnMut(PathBuf, EntryId) -> Result<(), E>,
    ) -> Result<(), E> {
        for b in 0..=255u8 {
            let entries = match fs::read_dir(self.fan_dir(b)) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            for entry in entries {
                let entry = entry?;
                let Some(id) = entry.file_name().to_str().and_then(parse_file_name) else {
                    continue;
                };
                if id[0] == b {
                    f(entry.path(), id)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let id: EntryId = core::array::from_fn(|i| (i * 17) as u8);
        assert_eq!(parse_file_name(&file_name(&id)), Some(id));
        assert_eq!(parse_file_name("not-hex"), None);
        assert_eq!(parse_file_name(&"A".repeat(32)), None);
    }

    /// The expiry rule: a file is removed only if it is still the one that was read; a newer
    /// file renamed into place between the read and the removal survives.
    #[test]
    fn remove_if_same_keeps_a_newer_file() {
        let root = tempfile::tempdir().unwrap();
        let dir = CacheDir::open(root.path().to_path_buf(), false).unwrap();
        let path = dir.entry_path(&[0xab; 16]);
        dir.write_atomically(&path, b"old").unwrap();
        // Held open, as a reader holds it, so that its inode number is not reused.
        let old_file = File::open(&path).unwrap();
        let old = FileId::of(&old_file.metadata().unwrap());
        dir.write_atomically(&path, b"new").unwrap(); // a concurrent writer
        assert!(!dir.remove_if_same(&path, old).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let new = FileId::of(&fs::metadata(&path).unwrap());
        assert!(dir.remove_if_same(&path, new).unwrap());
        assert!(!path.exists());
        assert!(!dir.remove_if_same(&path, new).unwrap());
        assert_eq!(fs::read_dir(&dir.own).unwrap().count(), 0);
        drop(old_file);
    }
}
