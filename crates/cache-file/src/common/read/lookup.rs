//! The lookup of a key's live entry: the quick read (one `read` for a small entry), the
//! careful one, verification, and a read again when the file was replaced under the
//! reader; expired and corrupt files on the way are dropped (`drop.rs`).

use std::fs::File;
use std::io;

use super::super::dir::{EntryId, FileId, Opened};
use super::super::entry::format::HEADER_LEN;
use super::super::entry::verified::Reading;
use super::super::inner::Inner;
use super::verify::{
    read_first, read_head, read_rest, read_whole, verify_entry, First, Head, Live, Split, Verdict,
};

/// How many times a read tries an entry replaced under it before it gives up.
pub(crate) const LOOKUP_TRIES: usize = 8;

/// What one try of a read of an entry gave.
pub(crate) enum Looked<T> {
    Done(T),
    /// The file read was replaced under the reader: read the entry again.
    Again,
}

/// Runs `once` until it is done, at most [`LOOKUP_TRIES`] times (a file replaced under the
/// reader, perhaps written again as another entry, see `dir/pool.rs`, is read again); then
/// `gave_up`.
pub(crate) fn read_again<T>(
    gave_up: T,
    mut once: impl FnMut() -> io::Result<Looked<T>>,
) -> io::Result<T> {
    for _ in 0..LOOKUP_TRIES {
        if let Looked::Done(done) = once()? {
            return Ok(done);
        }
    }
    Ok(gave_up)
}

impl Inner {
    /// The live entry of `key`, read whole and verified; expired and corrupt files on the way
    /// are removed and counted.
    pub(crate) fn lookup(&self, key: &str, id: &EntryId) -> io::Result<Option<Live>> {
        self.lookup_split(key, id, &|_, _| None)
    }

    /// [`Inner::lookup`], reading a large entry's run of value bytes (where `split` finds
    /// one) into a buffer of its own.
    ///
    /// A file that fails its checks, or holds another key, while the entry's path names
    /// another file by now was replaced under the reader, and perhaps written again as
    /// another entry (`dir/pool.rs`): the entry is read again, a few times at most.
    pub(crate) fn lookup_split(
        &self,
        key: &str,
        id: &EntryId,
        split: Split<'_>,
    ) -> io::Result<Option<Live>> {
        read_again(None, || self.lookup_once(key, id, split))
    }

    /// One try of [`Inner::lookup_split`].
    pub(crate) fn lookup_once(
        &self,
        key: &str,
        id: &EntryId,
        split: Split<'_>,
    ) -> io::Result<Looked<Option<Live>>> {
        let mut file = match self.dir.open_quick(id)? {
            None => return Ok(Looked::Done(None)),
            Some(Err(link)) => {
                self.drop_corrupt(link, id)?;
                return Ok(Looked::Done(None));
            }
            Some(Ok(f)) => f,
        };
        let mut meta = None;
        let mut verdict = match read_first(&mut file) {
            First::Whole(bytes) => verify_entry(bytes),
            First::Part(bytes) => {
                let m = file.metadata()?;
                let reading = Reading {
                    verified: &self.verified,
                    id: *id,
                    meta: &m,
                };
                let v = read_rest(&file, reading, bytes, split)?;
                meta = Some(m);
                v
            }
            First::Failed => Verdict::Corrupt,
        };
        if let (Verdict::Corrupt, None) = (&verdict, &meta) {
            let m = file.metadata()?;
            verdict = read_whole(&file, &m)?;
            meta = Some(m);
        }
        // Which file this was matters only to remove it. `file` stays open until then: while
        // it is, its inode number cannot be reused by a newer file, which would otherwise
        // pass for the one that was read.
        let file_id = |file: &File, meta: Option<std::fs::Metadata>| -> io::Result<FileId> {
            match meta {
                Some(m) => Ok(FileId::of(&m)),
                None => Ok(FileId::of(&file.metadata()?)),
            }
        };
        match verdict {
            Verdict::Corrupt => {
                let fid = file_id(&file, meta)?;
                let removed = self.drop_corrupt(fid, id)?;
                drop(file);
                // Not removed: replaced under us (or gone), or no longer corrupt.
                Ok(if removed {
                    Looked::Done(None)
                } else {
                    Looked::Again
                })
            }
            Verdict::Ok(live) => {
                if live.bytes[HEADER_LEN..live.header.payload_offset()] != *self.name(key) {
                    // Another key (or version) with the same MD5, or a file replaced and
                    // written again as another key's entry since it was opened.
                    let fid = file_id(&file, meta)?;
                    return Ok(if self.dir.names_file(id, fid)? {
                        Looked::Done(None)
                    } else {
                        Looked::Again
                    });
                }
                if !live.header.expires_at().is_live_at(self.now()) {
                    let fid = file_id(&file, meta)?;
                    self.drop_expired(fid, id, &live.header)?;
                    drop(file);
                    return Ok(Looked::Done(None));
                }
                Ok(Looked::Done(Some(live)))
            }
        }
    }

    /// The header and key of the entry `id` (never its payload), with the file's id and
    /// the open file (which keeps its inode number from being reused while it is held);
    /// `None` if absent or corrupt (a corrupt file is removed and counted).
    pub(crate) fn read_entry_head(&self, id: &EntryId) -> io::Result<Option<(FileId, Head, File)>> {
        let (f, m) = match self.dir.open_entry(id)? {
            Opened::Absent => return Ok(None),
            Opened::NotAFile(fid, _open) => {
                self.drop_corrupt(fid, id)?;
                return Ok(None);
            }
            Opened::File(f, m) => (f, m),
        };
        let fid = FileId::of(&m);
        match read_head(&f, m.len())? {
            Verdict::Ok(head) => Ok(Some((fid, head, f))),
            Verdict::Corrupt => {
                self.drop_corrupt(fid, id)?;
                Ok(None)
            }
        }
    }
}
