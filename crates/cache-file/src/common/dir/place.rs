//! Placing a written temporary file as an entry: renamed over the old one, exchanged with
//! it (`renameat2(RENAME_EXCHANGE)`, the old file then kept for reuse), put where nothing
//! was (`RENAME_NOREPLACE`), or linked only if nothing is there (`create_new`); and what
//! the write replaced ([`Replaced`]), for the accounting.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering;

use rustix::fs::AtFlags;
use rustix::io::Errno;

use super::cache_dir::CacheDir;
use super::name::{EntryId, Name};
use super::pool::REUSED_MAX;
use super::tree::Tree;

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

impl CacheDir {
    /// Writes `bytes` as the file of entry `id`, atomically: readers see the old file or the
    /// new one, never a part. On error nothing is left behind and the old file is untouched.
    /// A directory removed from under the cache is created again, and the write retried.
    pub fn write_atomically(&self, id: &EntryId, bytes: &[&[u8]]) -> io::Result<()> {
        let small = bytes.iter().map(|b| b.len() as u64).sum::<u64>() <= REUSED_MAX;
        self.write_with(id, bytes, |tree, tmp, name| {
            self.write_temp_and_rename(tree, tmp, id, name, small)
        })
    }

    pub(super) fn write_temp_and_rename(
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

    /// [`CacheDir::write_atomically`], telling what the write replaced: the new file is
    /// put in place with `RENAME_NOREPLACE` (nothing was there) or exchanged with the old
    /// one, whose size is read before it is removed (unless `known`, the size the caller
    /// last saw, is given: then the exchange is tried first, and that size is taken).
    /// Where the file system has neither, a plain rename: [`Replaced::Unknown`].
    ///
    /// `hold` is called once the file is written, right before it is placed (again if the
    /// placing is retried): the caller takes there the lock it wants the placing under.
    pub fn write_counted(
        &self,
        id: &EntryId,
        bytes: &[&[u8]],
        known: Option<u64>,
        hold: &mut dyn FnMut() -> io::Result<()>,
    ) -> io::Result<Replaced> {
        self.write_with(id, bytes, |tree, tmp, name| {
            hold()?;
            self.place_counted(tree, tmp, id, name, known)
        })
    }

    pub(super) fn place_counted(
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
    pub(super) fn place_exclusively(
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
    pub(super) fn place_exclusively(
        &self,
        _: &Tree,
        _: &str,
        _: BorrowedFd<'_>,
        _: &Name,
        _: Option<u64>,
    ) -> io::Result<Option<Replaced>> {
        Ok(None)
    }

    /// Where exchanging is the way to replace (see
    /// [`replaces_by_exchange`](super::cache_dir::replaces_by_exchange); `small` entries
    /// always), swaps the temporary file `tmp` with the entry `name` and keeps or removes
    /// the old entry, now at `tmp` ([`CacheDir::retire`]): `true` if done, `false` if the
    /// plain rename is to be used (no entry there to exchange with, or a file system that
    /// refuses exchanges).
    #[cfg(target_os = "linux")]
    pub(super) fn exchange_into(
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
    pub(super) fn exchange_into(
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
    /// something was. Readers see no file or the complete new one. `hold` is called right
    /// before the link, as by [`CacheDir::write_counted`].
    pub fn create_new(
        &self,
        id: &EntryId,
        bytes: &[u8],
        hold: &mut dyn FnMut() -> io::Result<()>,
    ) -> io::Result<bool> {
        self.write_with(id, &[bytes], |tree, tmp, name| {
            hold()?;
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
}
