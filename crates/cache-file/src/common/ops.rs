//! `add`, `incr`, `touch` and `ttl` on files. Each read-modify-write holds the entry's
//! keys lock ([`KeyLocks`](super::keylock::KeyLocks), across processes); a new entry is created with [`CacheDir::create_new`], which
//! fails rather than replace a file a concurrent `set` renamed into place meanwhile.
//!
//! `set` itself takes no lock (it stays one rename): a `set` that lands while an `incr` or a
//! `touch` of the same key holds the lock, between its read and its write, is overwritten by
//! it. `add` never overwrites a `set`.
//!
//! [`CacheDir::create_new`]: super::dir::CacheDir::create_new

use std::io;
use std::time::Duration;

use cache_core::{CacheError, CounterChange, Ttl};

use super::dir::{EntryId, FileId, Opened, Replaced};
use super::entry::format;
use super::inner::Inner;
use super::keylock::EntryLock;
use super::read::lookup::{read_again, Looked};
use super::read::verify::{read_head, Verdict};

/// How often `add` starts over when a concurrent writer keeps replacing what it found,
/// before it gives up with an error.
const MAX_ROUNDS: usize = 64;

/// What is at an entry's path, from its header alone.
enum Found {
    Absent,
    Live(format::EntryHeader),
    /// Expired, corrupt, or another key's: in the way, to be removed.
    InTheWay,
}

impl Inner {
    fn lock(&self, key: &str, id: &EntryId) -> Result<EntryLock<'_>, CacheError> {
        self.key_locks
            .acquire(&self.dir, id)
            .map_err(|e| self.io_err("locking", key, id, e))
    }

    /// Reads the header of the entry at `path`; an expired or corrupt file is removed (if
    /// still the one read) and counted, as a `get` would. Another key's entry (an MD5
    /// collision) is removed too when `claim` (a write will take its place), else left.
    ///
    /// Like a lookup, reads again a file replaced under it (see `Inner::lookup_split`).
    fn head_of(&self, key: &str, id: &EntryId, claim: bool) -> io::Result<Found> {
        read_again(Found::InTheWay, || self.head_once(key, id, claim))
    }

    /// One try of [`Inner::head_of`].
    fn head_once(&self, key: &str, id: &EntryId, claim: bool) -> io::Result<Looked<Found>> {
        let (file, meta) = match self.dir.open_entry(id)? {
            Opened::Absent => return Ok(Looked::Done(Found::Absent)),
            Opened::NotAFile(fid, _open) => {
                self.drop_corrupt(fid, id)?;
                return Ok(Looked::Done(Found::InTheWay));
            }
            Opened::File(f, m) => (f, m),
        };
        let fid = FileId::of(&meta);
        let head = match read_head(&file, meta.len())? {
            Verdict::Ok(head) => head,
            Verdict::Corrupt => {
                let removed = self.drop_corrupt(fid, id)?;
                return Ok(if removed {
                    Looked::Done(Found::InTheWay)
                } else {
                    Looked::Again
                });
            }
        };
        if head.key != *self.name(key) {
            if !self.dir.names_file(id, fid)? {
                return Ok(Looked::Again);
            }
            if !claim {
                return Ok(Looked::Done(Found::Absent));
            }
            // Another key with the same MD5: `set` would replace it, and so does `add`.
            self.remove_if_unchanged(id, fid, &head.header)?;
            return Ok(Looked::Done(Found::InTheWay));
        }
        if !head.header.expires_at().is_live_at(self.now()) {
            self.drop_expired(fid, id, &head.header)?;
            return Ok(Looked::Done(Found::InTheWay));
        }
        Ok(Looked::Done(Found::Live(head.header)))
    }

    /// The error of an operation that found the entry replaced under it [`MAX_ROUNDS`] times.
    fn restless(&self, what: &str, key: &str, id: &EntryId) -> CacheError {
        let e = io::Error::other("the entry kept changing under concurrent writers");
        self.io_err(what, key, id, e)
    }

    /// Creates the entry of `key` (written now, with `ttl`) unless a file is there; `false`
    /// if one was. A zero TTL stores nothing and counts as created, as `set` counts it.
    fn create(
        &self,
        key: &str,
        id: EntryId,
        ttl: Option<Duration>,
        buf: &mut Vec<u8>,
        encode: &dyn Fn(&mut Vec<u8>) -> Result<(), CacheError>,
    ) -> Result<bool, CacheError> {
        let now = self.now();
        let expires = now.expiry(ttl);
        if expires.is_live_at(now) {
            format::encode_entry(buf, key, &self.name(key), now, ttl, encode)?;
            let (created, ledger) = self
                .create_entry(&id, buf)
                .map_err(|e| self.io_err("writing", key, &id, e))?;
            if !created {
                return Ok(false);
            }
            self.written(
                id,
                buf.len() as u64,
                expires,
                Replaced::Nothing,
                ledger,
                now,
            )?;
        }
        self.stats.set();
        Ok(true)
    }

    pub(crate) fn add_bytes(
        &self,
        key: &str,
        ttl: Ttl,
        encode: impl Fn(&mut Vec<u8>) -> Result<(), CacheError>,
    ) -> Result<bool, CacheError> {
        let id = self.entry_id(key);
        let _lock = self.lock(key, &id)?;
        let ttl = ttl.resolve(self.default_ttl);
        let mut buf = Vec::new();
        for _ in 0..MAX_ROUNDS {
            let found = self
                .head_of(key, &id, true)
                .map_err(|e| self.io_err("reading", key, &id, e))?;
            if let Found::Live(_) = found {
                return Ok(false);
            }
            if self.create(key, id, ttl, &mut buf, &encode)? {
                return Ok(true);
            }
            // A `set` got there first (or an expired file is still being removed): look again.
        }
        Err(self.restless("adding", key, &id))
    }

    /// `counter` stores and reads the count as the cache's codec does an `i64`.
    pub(crate) fn incr(
        &self,
        key: &str,
        change: CounterChange,
        counter: &dyn Counter,
    ) -> Result<i64, CacheError> {
        let overflow = || CacheError::counter_overflow(key, change.added());
        let id = self.entry_id(key);
        let _lock = self.lock(key, &id)?;
        let mut buf = Vec::new();
        for _ in 0..MAX_ROUNDS {
            let live = self
                .lookup(key, &id)
                .map_err(|e| self.io_err("reading", key, &id, e))?;
            let Some(live) = live else {
                let count = change.apply(0).ok_or_else(overflow)?;
                let encode = |b: &mut Vec<u8>| counter.encode(b, count);
                if self.create(key, id, self.default_ttl, &mut buf, &encode)? {
                    return Ok(count);
                }
                continue; // a concurrent `set` created it: count on from its value
            };
            let header = live.header;
            let count = counter
                .decode(&live.bytes[header.payload_offset()..])
                .ok_or_else(|| CacheError::not_a_counter(key))?;
            let count = change.apply(count).ok_or_else(overflow)?;
            // The same written-at time and TTL: the counter keeps its expiry.
            let name = self.name(key);
            format::encode_entry(&mut buf, key, &name, header.written_at, header.ttl, |b| {
                counter.encode(b, count)
            })?;
            let old = live.file_len();
            drop(live);
            let (replaced, ledger) = self
                .write_entry(&id, &[&buf], Some(old))
                .map_err(|e| self.io_err("writing", key, &id, e))?;
            self.stats.set();
            let now = self.now();
            self.written(
                id,
                buf.len() as u64,
                header.expires_at(),
                replaced,
                ledger,
                now,
            )?;
            return Ok(count);
        }
        Err(self.restless("incrementing", key, &id))
    }

    pub(crate) fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        let id = self.entry_id(key);
        let _lock = self.lock(key, &id)?;
        let live = self
            .lookup(key, &id)
            .map_err(|e| self.io_err("reading", key, &id, e))?;
        let Some(live) = live else {
            return Ok(false);
        };
        let now = self.now();
        let ttl = ttl.resolve(self.default_ttl);
        let expires = now.expiry(ttl);
        if !expires.is_live_at(now) {
            drop(live);
            self.take(Some(key), &id)
                .map_err(|e| self.io_err("removing", key, &id, e))?;
            return Ok(true);
        }
        // The header says when the entry was written and for how long: a new file with the
        // same key and payload, renamed into place like any write.
        let mut buf = Vec::with_capacity(live.bytes.len());
        let payload = &live.bytes[live.header.payload_offset()..];
        format::encode_entry(&mut buf, key, &self.name(key), now, ttl, |b| {
            b.extend_from_slice(payload);
            Ok(())
        })?;
        let old = live.file_len();
        drop(live);
        let (replaced, ledger) = self
            .write_entry(&id, &[&buf], Some(old))
            .map_err(|e| self.io_err("writing", key, &id, e))?;
        self.written(id, buf.len() as u64, expires, replaced, ledger, now)?;
        Ok(true)
    }

    pub(crate) fn time_left(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        let id = self.entry_id(key);
        let found = self
            .head_of(key, &id, false)
            .map_err(|e| self.io_err("reading", key, &id, e))?;
        let Found::Live(h) = found else {
            return Ok(None);
        };
        Ok(Some(
            h.ttl.map(|_| h.expires_at().remaining_since(self.now())),
        ))
    }
}

/// How a count is stored: as the cache's codec (and compression) stores an `i64`. An object
/// so that the one `incr` of [`Inner`] serves caches of every codec.
pub(crate) trait Counter {
    fn encode(&self, buf: &mut Vec<u8>, count: i64) -> Result<(), CacheError>;
    fn decode(&self, bytes: &[u8]) -> Option<i64>;
}
