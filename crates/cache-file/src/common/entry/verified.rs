//! Large entry files this instance has verified whole, so that reading one again while it is
//! unchanged does not checksum its payload again (the checksum was most of a 1 MiB read).
//!
//! A file is known by its [`Stamp`]: device, inode, size, modification and change times,
//! and the payload checksum its header announces. Entry files are never written in place by
//! this crate (a write is a new file renamed into place), and any write into a file by
//! anyone moves its change time, which no program can set back. So a file with the stamp of
//! one verified before holds the bytes that were verified, with two limits, both outside
//! what the checksum is for (torn files after a crash, files damaged or replaced by other
//! programs): a file changed within the file system's timestamp granularity of its previous
//! change would keep its stamp, so only files whose change time was at least [`SETTLED`]
//! old when their verification began are remembered; and bytes that rot on the medium
//! between two reads of one process (no write, no new stamp) are caught by the next process
//! to open the cache, not by this one. The header and key checksums are checked on every
//! read. Entries of at most [`QUICK_READ`](crate) bytes are always checked whole (their
//! checksum costs little).

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::super::dir::EntryId;
use super::format::EntryHeader;

/// How old a file's last change must be, when its verification begins, to be remembered:
/// far above any file system's timestamp granularity.
pub const SETTLED: Duration = Duration::from_secs(1);

/// Files remembered at most; past that, the memory starts over.
const MAX_FILES: usize = 4096;

/// What identifies the bytes of an entry file while it is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    payload_crc: u32,
}

impl Stamp {
    /// The stamp of the file `meta` describes, whose header is `header`.
    pub fn of(meta: &Metadata, header: &EntryHeader) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            payload_crc: header.payload_crc(),
        }
    }

    /// Whether the file had not changed for [`SETTLED`] at `now`.
    fn settled_at(&self, now: SystemTime) -> bool {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let (secs, nanos) = self.ctime;
        let Ok(secs) = u64::try_from(secs) else {
            return true; // changed before 1970: long settled
        };
        let changed = Duration::new(secs, u32::try_from(nanos).unwrap_or(0));
        changed + SETTLED <= now
    }
}

/// The entry files this instance verified whole, by entry.
#[derive(Debug, Default)]
pub struct Verified {
    files: Mutex<HashMap<EntryId, Stamp>>,
}

/// A large entry file being read: its entry and the metadata of the open file.
#[derive(Clone, Copy)]
pub struct Reading<'a> {
    pub verified: &'a Verified,
    pub id: EntryId,
    pub meta: &'a Metadata,
}

impl Reading<'_> {
    /// Whether the payload, read in `parts`, is what `header` announces: known if this very
    /// file was verified before, else checksummed (and remembered if it checks out and has
    /// settled).
    pub fn payload_ok(&self, header: &EntryHeader, parts: &[&[u8]]) -> bool {
        let stamp = Stamp::of(self.meta, header);
        if self.verified.knows(&self.id, &stamp) {
            return true;
        }
        let began = SystemTime::now();
        let ok = header.check_payload_parts(parts).is_ok();
        if ok && stamp.settled_at(began) {
            self.verified.note(self.id, stamp);
        }
        ok
    }
}

impl Verified {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EntryId, Stamp>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the file of entry `id` with `stamp` was verified before.
    fn knows(&self, id: &EntryId, stamp: &Stamp) -> bool {
        self.lock().get(id) == Some(stamp)
    }

    /// Remembers that the file of entry `id` with `stamp` checked out.
    fn note(&self, id: EntryId, stamp: Stamp) {
        let mut files = self.lock();
        if files.len() >= MAX_FILES {
            files.clear();
        }
        files.insert(id, stamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of(bytes: &[u8]) -> EntryHeader {
        EntryHeader::parse(bytes, bytes.len() as u64).unwrap()
    }

    fn entry(payload: &[u8]) -> Vec<u8> {
        super::super::format::entry("k", payload, None)
    }

    /// An entry file holding `payload`, in a directory of its own: the directory, the
    /// file's path and its bytes.
    fn entry_file(payload: &[u8]) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entry");
        let bytes = entry(payload);
        std::fs::write(&path, &bytes).unwrap();
        (dir, path, bytes)
    }

    #[test]
    fn only_a_settled_file_verified_whole_is_trusted_and_only_while_unchanged() {
        let (_dir, path, good) = entry_file(b"payload");
        let meta = std::fs::metadata(&path).unwrap();
        let header = header_of(&good);
        let at = header.payload_offset();
        let verified = Verified::default();
        let reading = Reading {
            verified: &verified,
            id: [7; 16],
            meta: &meta,
        };
        // Just written: checked, not remembered, so damage is still caught.
        assert!(reading.payload_ok(&header, &[&good[at..]]));
        assert!(!reading.payload_ok(&header, &[b"pay", b"lo4d"]));
        let stamp = Stamp::of(&meta, &header);
        assert!(!verified.knows(&[7; 16], &stamp));
        assert!(!stamp.settled_at(SystemTime::now() - SETTLED));
        assert!(stamp.settled_at(SystemTime::now() + SETTLED));
        // A settled file that checked out is known; a damaged payload is never noted.
        verified.note([7; 16], stamp);
        assert!(reading.payload_ok(&header, &[b"anything"]));
        let other = Reading {
            id: [8; 16],
            ..reading
        };
        assert!(!other.payload_ok(&header, &[b"damaged"]));
        // Rewritten in place: another stamp (size, times), so checked again.
        std::fs::write(&path, entry(b"payload, longer")).unwrap();
        let changed = std::fs::metadata(&path).unwrap();
        assert_ne!(Stamp::of(&changed, &header), stamp);
        let reading = Reading {
            meta: &changed,
            ..reading
        };
        assert!(!reading.payload_ok(&header, &[b"damaged"]));
    }

    #[test]
    fn the_memory_is_bounded() {
        let (_dir, path, good) = entry_file(b"x");
        let stamp = Stamp::of(&std::fs::metadata(&path).unwrap(), &header_of(&good));
        let verified = Verified::default();
        for i in 0..=MAX_FILES {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            verified.note(id, stamp);
        }
        assert!(verified.lock().len() <= MAX_FILES);
    }
}
