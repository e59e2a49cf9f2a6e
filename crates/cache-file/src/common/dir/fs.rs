//! The `*at` primitives every part of the directory uses: which file was opened
//! ([`FileId`]), what is at an entry's path ([`Opened`]), and opening, creating and removing
//! names under a directory descriptor without following a symlink.

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::beneath;

/// Which file a path named when it was opened, so that it is removed only if it still is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub(super) dev: u64,
    pub(super) ino: u64,
    /// Entry files are never changed in place once in place (a small one is written again
    /// only as a file kept for reuse, out of place; see [`Pool`](super::pool::Pool)), so
    /// the same file has the same length.
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
    pub(super) fn of_stat(s: &Stat) -> Self {
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

/// Writes `parts` to `file` one after the other: the whole file in one `writev` where the
/// kernel takes it all (a large value written from where it is, after its header).
pub(super) fn write_parts(file: &mut File, parts: &[&[u8]]) -> io::Result<()> {
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

pub(super) fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

pub(super) const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY);
pub(super) const PRIVATE_DIR: Mode = Mode::RWXU;

/// Opens the directory `name` under `parent`, never through a symlink; if it is missing it
/// is created (0700), and anything else planted under that name (a symlink, a file) is
/// removed first, so that it is never followed.
pub(super) fn ensure_dir_at(parent: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
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
pub(super) fn names(dir: &OwnedFd) -> io::Result<Vec<String>> {
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
pub(super) fn open_quick_at(
    dir: BorrowedFd<'_>,
    name: &CStr,
) -> io::Result<Option<Result<File, FileId>>> {
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

pub(super) fn opened(quick: Option<Result<File, FileId>>) -> io::Result<Opened> {
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
