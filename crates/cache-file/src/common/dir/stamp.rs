//! Entry stamps: the identity of the file at an entry's path, from one `stat`, for near
//! caches in front of this one (`cache_core::near::EntryStamps`).
//!
//! A stamp is the file's device, inode, size, change time and modification time. Files are
//! written out of place and renamed (or exchanged, or linked) into place, so a new write is
//! a new file at the path; but not always a new inode: the files of small entries are kept
//! and written again ([`Pool`](super::pool::Pool)), so the same inode comes back to the same
//! path, with the same size when the values are of one size, and the change time moves by
//! the file system's timestamp granularity (a few milliseconds where it is the kernel tick).
//! So every write sets its file's modification time to a time of its own ([`mark`]): the
//! wall clock in nanoseconds, strictly above the last one this process gave. The same inode
//! at the same path from two writes then differs by that time: each write of a kept file is
//! made by the process holding it after the previous write of it, and gets a later time
//! (unless the wall clock is set back between the two by more than the time between them).

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Timespec, Timestamps, UTIME_OMIT};
use rustix::io::Errno;

use super::cache_dir::CacheDir;
use super::name::{EntryId, Name};

/// The last modification time this process gave a file, in nanoseconds since the epoch.
static LAST_MARK: AtomicU64 = AtomicU64::new(0);

/// A modification time no earlier write of this process used.
fn next_mark() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let mut last = LAST_MARK.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST_MARK.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// Gives a just-written entry file a modification time of its own (see the module docs).
pub(super) fn mark(file: &File) -> io::Result<()> {
    let ns = next_mark();
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
        last_modification: Timespec {
            tv_sec: (ns / 1_000_000_000) as _,
            tv_nsec: (ns % 1_000_000_000) as _,
        },
    };
    rustix::fs::futimens(file, &times)?;
    Ok(())
}

impl CacheDir {
    /// The stamp of the file at entry `id`'s path (one `statat`), `None` if there is none
    /// (or something other than a regular file).
    #[allow(clippy::unnecessary_cast)] // the stat fields' widths differ between platforms
    pub fn stamp(&self, id: &EntryId) -> io::Result<Option<[u64; 4]>> {
        let tree = self.tree();
        let Some(fan) = tree.fan(id[0], false)? else {
            return Ok(None);
        };
        let name = Name::of(id);
        let st = match rustix::fs::statat(fan, name.c(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Ok(None);
        }
        let ns = |secs: i64, nanos: i64| (secs as u64).wrapping_mul(1_000_000_000) ^ nanos as u64;
        let ctime = ns(st.st_ctime as i64, st.st_ctime_nsec as i64);
        let mtime = ns(st.st_mtime as i64, st.st_mtime_nsec as i64);
        Ok(Some([
            st.st_dev as u64,
            st.st_ino as u64,
            (st.st_size as u64) ^ ctime.rotate_left(24),
            mtime,
        ]))
    }
}
