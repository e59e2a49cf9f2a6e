//! Scans of the fan-out directories: every name that spells an entry id, one fan-out
//! directory or all of them (never on a hot path: `clear`, `purge_expired`,
//! `delete_pattern`, the sweep and the recount).

use std::io;

use super::cache_dir::CacheDir;
use super::name::{parse_file_name, EntryId};

impl CacheDir {
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
