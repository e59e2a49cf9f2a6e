//! The reuse pool: the files of small entries this instance replaced or deleted, kept to
//! be written again in place by its next small writes (see [`Pool`]). Data only: the
//! writes that fill and drain it are in `temp.rs`.

use std::collections::VecDeque;

/// Entry files up to this size are kept for reuse rather than unlinked (see [`Pool`]). No
/// larger file is ever written in place, so a reader of a file larger than this never sees
/// it change.
pub const REUSED_MAX: u64 = 16 << 10;

/// At most this many files are kept for reuse per instance...
pub(super) const POOL_FILES: usize = 256;
/// ...holding at most this many bytes.
pub(super) const POOL_BYTES: u64 = 1 << 20;
/// A kept file is written again only once this many others were kept after it (first in,
/// first out), so that a reader that opened it as an entry has long finished with it.
pub(super) const POOL_REUSE_AFTER: usize = 8;

/// The files of small entries this instance replaced (the old file that
/// `renameat2(RENAME_EXCHANGE)` brings back under the temporary name) or deleted, kept under
/// their temporary names in the instance's own directory and written again, in place, by its
/// next small writes instead of creating a file. Creating and unlinking inodes is the dearest
/// part of a small write: on an ext4 file system without a journal, every create after a
/// burst of deletions scans the block group for inodes not freed too recently (500-800 us of
/// kernel time each); on tmpfs, it is an inode and its pages freed and allocated again.
///
/// Only files this instance put in its own directory are reused, never another instance's.
/// A reader that opened a file as an entry before it was replaced may still hold it while
/// it is written again as another entry: what it reads then fails the key check or the
/// payload checksum, and the reader, seeing that the entry's path names another file by
/// now, reads again ([`CacheDir::names_file`](super::cache_dir::CacheDir::names_file)); see
/// `Inner::lookup_split`. Kept files are not entries: they count in no bound and no
/// accounting; they are removed with the instance's directory when the instance is dropped,
/// and by the cleanup of dead instances' temporary files after a crash.
#[derive(Default)]
pub(super) struct Pool {
    pub(super) files: VecDeque<(String, u64)>,
    pub(super) bytes: u64,
}

impl Pool {
    /// Keeps `name` (of `size` bytes) if there is room.
    pub(super) fn put(&mut self, name: &str, size: u64) -> bool {
        if size > REUSED_MAX || self.files.len() >= POOL_FILES || self.bytes + size > POOL_BYTES {
            return false;
        }
        self.files.push_back((name.to_owned(), size));
        self.bytes += size;
        true
    }

    /// The oldest kept file, once enough were kept after it.
    pub(super) fn take(&mut self) -> Option<(String, u64)> {
        if self.files.len() <= POOL_REUSE_AFTER {
            return None;
        }
        let (name, size) = self.files.pop_front()?;
        self.bytes -= size;
        Some((name, size))
    }
}
