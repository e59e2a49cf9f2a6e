//! Storing an entry: the value encoded after its header and stored name, the file written
//! and placed (`CacheDir::write_counted` for a bounded instance, which learns what it
//! replaced), then the accounting (`bounds.rs`).

use std::io;

use cache_core::{CacheError, Ttl};

use super::super::bounds::Ledger;
use super::super::dir::{EntryId, Replaced};
use super::super::entry::format::{self, HEADER_LEN};
use super::super::inner::Inner;

impl Inner {
    /// Stores the value that `encode` appends to a buffer; `encode` may leave a run of bytes
    /// at the payload's end out and return it, to be written from where it is
    /// ([`format::encode_entry_split`]).
    pub(crate) fn set_bytes<'r>(
        &self,
        key: &str,
        ttl: Ttl,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<Option<&'r [u8]>, CacheError>,
    ) -> Result<bool, CacheError> {
        let now = self.now();
        let ttl = ttl.resolve(self.default_ttl);
        let id = self.entry_id(key);
        let expires = now.expiry(ttl);
        if !expires.is_live_at(now) {
            // A zero TTL stores nothing and removes the old value.
            self.take(Some(key), &id)
                .map_err(|e| self.io_err("removing", key, &id, e))?;
            self.stats.set();
            return Ok(true);
        }
        let mut buf = Vec::with_capacity(HEADER_LEN + key.len() + 64);
        let run = format::encode_entry_split(&mut buf, key, &self.name(key), now, ttl, encode)?;
        // The old entry is not read: a set never counts an expiration.
        let (replaced, ledger) = self
            .write_entry(&id, &[&buf, run], None)
            .map_err(|e| self.io_err("writing", key, &id, e))?;
        self.stats.set();
        let len = (buf.len() + run.len()) as u64;
        self.written(id, len, expires, replaced, ledger, now)?;
        Ok(true)
    }

    /// Writes `buf` as the entry `id`; a bounded instance learns what it replaced (`known`:
    /// the old file's size if the caller read it, else the size this instance last saw,
    /// which spares reading the old file's; another process's rewrite meanwhile is set
    /// right by the next recount), and places the file holding the shared accounting's
    /// lock, which it returns (to record the write and make room under it: `written`).
    pub(crate) fn write_entry(
        &self,
        id: &EntryId,
        buf: &[&[u8]],
        known: Option<u64>,
    ) -> io::Result<(Replaced, Option<Ledger<'_>>)> {
        match &self.bounds {
            Some(b) => {
                let mut ledger = None;
                let replaced = self.dir.write_counted(
                    id,
                    buf,
                    known.or_else(|| b.known_size(id)),
                    &mut || self.hold_ledger(&mut ledger),
                )?;
                Ok((replaced, ledger))
            }
            None => self
                .dir
                .write_atomically(id, buf)
                .map(|()| (Replaced::Unknown, None)),
        }
    }

    /// Creates the entry `id` as `buf` unless a file is there (`false` then); a bounded
    /// instance links it into place holding the shared accounting's lock, which it returns.
    pub(crate) fn create_entry(
        &self,
        id: &EntryId,
        buf: &[u8],
    ) -> io::Result<(bool, Option<Ledger<'_>>)> {
        let mut ledger = None;
        let created = self
            .dir
            .create_new(id, buf, &mut || self.hold_ledger(&mut ledger))?;
        Ok((created, ledger))
    }

    /// Takes the shared accounting's lock into `ledger` if this instance is bounded and
    /// does not hold it yet.
    fn hold_ledger<'a>(&'a self, ledger: &mut Option<Ledger<'a>>) -> io::Result<()> {
        if ledger.is_none() {
            *ledger = self.ledger()?;
        }
        Ok(())
    }
}
