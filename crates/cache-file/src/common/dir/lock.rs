//! Lock files beside the entries: a fan-out directory's keys lock (`ab/keys.lock`) and a
//! key's flight lock (`ab/<md5>.flight`), opened through the
//! fan-out directory's descriptor, never through a symlink; what locks them is
//! `keylock.rs`, above the directory.

use std::fs::File;
use std::io;
use std::sync::Arc;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::cache_dir::CacheDir;
use super::fs::{remove_at, FileId};
use super::name::{file_name, EntryId};
use super::tree::Tree;

/// The name of the lock file of the keys of a fan-out directory (`ab/keys.lock`), never
/// removed by the cache: one `flock` for the `add`, `incr` and `touch` of every key whose
/// entry lives there (256 locks for the directory).
pub const KEYS_LOCK: &str = "keys.lock";

/// An entry's lock file, open (see [`CacheDir::open_lock_as`]).
pub struct LockFile {
    pub(super) tree: Arc<Tree>,
    pub(super) name: String,
    pub(super) fan: u8,
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

    pub(super) fn fan_byte(&self) -> u8 {
        self.fan
    }
}

impl CacheDir {
    /// Opens (creating it, 0600) a lock file of entry `id`, `ab/<md5>.<extension>` beside
    /// the entry (`lock` for the key's lock, `flight` for its loads), never through a
    /// symlink (one planted there is removed).
    pub fn open_lock_as(&self, id: &EntryId, extension: &str) -> io::Result<LockFile> {
        self.open_lock_named(id, format!("{}.{extension}", file_name(id)))
    }

    /// Opens (creating it on first use, 0600) the lock file shared by the keys of entry
    /// `id`'s fan-out directory, `ab/keys.lock` ([`KEYS_LOCK`]), as [`CacheDir::open_lock_as`]
    /// opens an entry's.
    pub fn open_keys_lock(&self, id: &EntryId) -> io::Result<LockFile> {
        self.open_lock_named(id, KEYS_LOCK.to_owned())
    }

    fn open_lock_named(&self, id: &EntryId, name: String) -> io::Result<LockFile> {
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
                        fan: id[0],
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
}
