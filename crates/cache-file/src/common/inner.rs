//! `Inner`: one open cache's state, shared by every handle on it (blocking or async), and
//! what every path uses: the clock, a key's stored name and entry id, error context.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_core::codec;
use cache_core::flight::FlightGroup;
use cache_core::{AtomicStats, CacheError, SharedClock, Timestamp};
use md5::{Digest, Md5};

use super::bounds::{Bounds, Hand, Ledger, Usage, USAGE_FILE};
use super::dir::{CacheDir, EntryId};
use super::entry::Verified;

pub(crate) struct Inner {
    pub(crate) dir: CacheDir,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) clock: SharedClock,
    pub(crate) stats: AtomicStats,
    pub(crate) corruptions: AtomicU64,
    pub(crate) bounds: Option<Bounds>,
    /// Entries of other versions are invisible (see
    /// [`FileBasedCacheBuilder::version`](crate::FileBasedCacheBuilder::version)).
    pub(crate) version: u32,
    pub(crate) single_flight: bool,
    /// How long a flight's lock lasts (see `flight.rs`).
    pub(crate) flight_lease: Duration,
    /// This instance's `get_or_insert_with` loads in progress, by key (see `flight.rs`).
    pub(crate) flights: FlightGroup<()>,
    /// The accounting shared by every process on the directory.
    pub(crate) usage: Usage,
    /// [`CacheDir::renewals`] when `usage`'s file was opened.
    pub(crate) usage_gen: AtomicU64,
    /// The sweep of expired entries, a little on each write.
    pub(crate) hand: std::sync::Mutex<Hand>,
    /// Whether writes sweep.
    pub(crate) sweeps: bool,
    /// Handles (clones of `FileBasedCache`) alive; the recount thread is not one.
    pub(crate) handles: std::sync::atomic::AtomicUsize,
    /// Tells the recount thread to stop.
    pub(crate) stop: std::sync::atomic::AtomicBool,
    /// The background recount started at open.
    pub(crate) recount: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The locks `add`, `incr` and `touch` hold, per fan-out directory.
    pub(crate) key_locks: super::keylock::KeyLocks,
    /// Large entry files verified whole, not checksummed again while unchanged.
    pub(crate) verified: Verified,
    /// Metrics and spans (`cache_core::observe`).
    pub(crate) observe: cache_core::observe::Observer,
}

impl Inner {
    pub(crate) fn wait_for_recount(&self) {
        let handle = self
            .recount
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // This instance's changes not yet written out: other processes count on them.
        let _ = self.usage.flush();
    }
}

/// A key as error messages show it: quoted, and cut short when long.
pub(crate) fn key_ctx(key: &str) -> String {
    const MAX: usize = 64;
    if key.len() <= MAX {
        return format!("{key:?}");
    }
    let mut end = MAX;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &key[..end], key.len())
}

impl Inner {
    /// The shared accounting, locked (see [`Ledger`]), for a bounded instance: what it
    /// places or removes while holding it is recorded in it. `None` for an unbounded one,
    /// which keeps no counts.
    pub(crate) fn ledger(&self) -> io::Result<Option<Ledger<'_>>> {
        if self.bounds.is_none() {
            return Ok(None);
        }
        self.usage_file_current()?;
        self.usage.ledger().map(Some)
    }

    /// Opens the accounting file again if the directory was made again since it was opened.
    pub(crate) fn usage_file_current(&self) -> io::Result<()> {
        let gen = self.dir.renewals();
        if self.usage_gen.swap(gen, Ordering::Relaxed) != gen {
            self.usage
                .replace_file(self.dir.open_root_file(USAGE_FILE)?);
        }
        Ok(())
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The name `key` is stored under in this cache's version: the key itself for the
    /// default version (so its file is where it always was), else key, `0xFF`, version.
    pub(crate) fn name<'k>(&self, key: &'k str) -> std::borrow::Cow<'k, [u8]> {
        codec::versioned_name(key, self.version)
    }

    /// The MD5 of the key's name in this cache's version: its entry's id.
    pub(crate) fn entry_id(&self, key: &str) -> EntryId {
        Md5::digest(&*self.name(key)).into()
    }

    pub(crate) fn io_err(&self, what: &str, key: &str, id: &EntryId, e: io::Error) -> CacheError {
        CacheError::io(
            format!(
                "{what} the entry of key {} at {}",
                key_ctx(key),
                self.dir.entry_path(id).display()
            ),
            e,
        )
    }

    pub(crate) fn scan_err(&self, what: &str, e: io::Error) -> CacheError {
        CacheError::io(
            format!("{what} the cache directory {}", self.dir.root().display()),
            e,
        )
    }
}
