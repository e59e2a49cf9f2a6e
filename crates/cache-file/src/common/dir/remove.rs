//! Conditional removal: an entry is moved aside ([`Grabbed`]) into this instance's own
//! directory, where no writer changes it, compared with the file that was read, and
//! deleted, or put back if a newer file took its place meanwhile.

use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;

use rustix::fs::AtFlags;
use rustix::io::Errno;

use super::cache_dir::CacheDir;
use super::fs::{open_quick_at, opened, remove_at, FileId, Opened};
use super::name::{file_name, EntryId, Name};
use super::tree::Tree;

/// A file moved aside into this instance's temporary directory (see [`CacheDir::grab`]).
pub struct Grabbed {
    pub(super) tree: Arc<Tree>,
    pub(super) name: String,
}

impl CacheDir {
    /// What a grabbed file is, opened as [`CacheDir::open_entry`] opens an entry.
    pub fn open_grabbed(&self, g: &Grabbed) -> io::Result<Opened> {
        let name = std::ffi::CString::new(g.name.as_str()).map_err(io::Error::other)?;
        opened(open_quick_at(g.tree.own.as_fd(), &name)?)
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
    /// for reuse (see [`Pool`](super::pool::Pool)) may have been written again and put back
    /// in place since it was read: the same inode and length, other contents; `doomed`
    /// looks at them.
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
}
