//! Single flight across threads and processes for `get_or_insert_with`.
//!
//! Inside one instance, a [`FlightGroup`](cache_core::flight::FlightGroup) lets one thread
//! per key lead; the others wait and then read the entry it stored (or share its error).
//! Across processes, the leading thread takes the key's flight lock, `ab/<md5>.flight` beside
//! the entry, with the per-key lock of [`KeyLock`] (an `flock`ed file that its holder
//! removes as it lets go):
//!
//! 1. wait for the lock: try it without blocking, and pause between tries (2 ms, doubling
//!    up to 50 ms: [`Backoff`](cache_core::flight::Backoff)), in blocking and async callers
//!    alike;
//! 2. if the file locked was removed by its holder meanwhile, that flight is over: its
//!    entry, or else the failure record it wrote into the file, is the answer;
//! 3. otherwise read the entry (the flight before may have stored it), or write this
//!    holder's lease into the lock file (when it ends, on the cache's clock) and load: run
//!    the loader, store the value (or write the failure record into the lock file), and let
//!    go (the file is removed, then closed), which ends the waits on it.
//!
//! The kernel releases an `flock` when its holder dies, so a process killed mid-load blocks
//! no one: a waiter gets the lock of a file still in place, finds no entry, and loads. A
//! failure record is read only from a file its holder removed (its writer finished), so one
//! left by a killed process is ignored and overwritten by the next holder.
//!
//! A holder that hangs (a loader that never returns) keeps its lock, but not its lease: a
//! waiter that finds the lease over takes the lock over (`KeyLock::take_over`, under the
//! keys lock of the fan-out directory, so that one waiter does), the file's name going to a
//! new lock file, and loads too. The lease is not renewed, as in Redis's single flight: a
//! loader slower than its lease runs twice, both values are stored (the last wins), and
//! the first holder's end is dropped (`KeyLock::release` removes, and writes the failure
//! record into, only a file still under the name).
//!
//! This module is the protocol, below both caches: the lock file's name, the lease and
//! failure records, and the steps (`try_lead`, `take_over`, `land`), each given the cache's
//! read of the entry. `FileBasedCache` leads with it (`crate::sync::flight`, sleeping
//! between tries), and `AsyncFileCache` (`crate::future::flight`, feature `tokio`): its
//! tasks share the instance's flights with its threads, and the one task that leads awaits
//! tokio's timer between tries, each on the blocking pool, so blocking and async callers of
//! one directory meet on the same lock file.
//!
//! May use: `inner`, `keylock`, `dir/`. Neither cache.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use cache_core::flight::{RemoteLoaderError, MAX_REMOTE_MESSAGE};
use cache_core::CacheError;

use super::dir::LockFile;
use super::inner::{key_ctx, Inner};
use super::keylock::{Acquired, Attempt, KeyLock};

/// The extension of a flight's lock file, beside the entry (`ab/<md5>.flight`).
pub(crate) const EXTENSION: &str = "flight";

/// The start of a failure record in a lock file; the key's length, the key and the error's
/// message follow.
const FAILED: &[u8] = b"cache-file flight failed\n";

/// The start of a lease record in a lock file; the end of the holder's lease follows (ns on
/// the cache's clock, decimal) and a newline.
const LEASE: &[u8] = b"cache-file flight lease\n";

/// What one try of a flight's lock gave ([`try_lead`]).
pub(crate) enum Polled<V> {
    /// This caller holds the lock: [`take_over`], then load.
    Held(KeyLock),
    /// The flight waited for ended with this.
    Ended(Result<V, CacheError>),
    /// Another caller holds the lock: try again after a pause on this file, or (`None`) at
    /// once on the file now under the name.
    Wait(Option<LockFile>),
}

/// One try of the flight lock of `key`, without blocking: on `tried` (the file of the last
/// try) or the file now under the name. A holder whose lease is over is taken over.
pub(crate) fn try_lead<V>(
    inner: &Inner,
    key: &str,
    tried: Option<LockFile>,
    read: impl Fn() -> Result<Option<V>, CacheError>,
) -> Result<Polled<V>, CacheError> {
    let id = inner.entry_id(key);
    let attempt =
        KeyLock::try_acquire_at(&inner.dir, &id, EXTENSION, tried, |f| ended(&read, key, f))
            .map_err(|e| io_err(inner, key, "locking", e))?;
    Ok(match attempt {
        Attempt::Done(Acquired::Held(lock)) => Polled::Held(lock),
        Attempt::Done(Acquired::Ended(result)) => Polled::Ended(result),
        Attempt::Busy(None) => Polled::Wait(None),
        Attempt::Busy(Some(file)) => {
            let now = inner.now().as_nanos();
            let over = |f: &File| lease_over(f, now);
            if !over(&file.file).map_err(|e| io_err(inner, key, "reading", e))? {
                return Ok(Polled::Wait(Some(file)));
            }
            let taken =
                KeyLock::take_over(&inner.dir, &id, EXTENSION, &inner.key_locks, &file, over)
                    .map_err(|e| io_err(inner, key, "taking over", e))?;
            match taken {
                Some(lock) => {
                    inner.observe.notice(
                        "flight lease taken over",
                        &"the holder's lease ended before it let go (a dead or stalled process)",
                    );
                    Polled::Held(lock)
                }
                None => Polled::Wait(None),
            }
        }
    })
}

/// An error of the flight lock of `key`.
pub(crate) fn io_err(inner: &Inner, key: &str, what: &str, e: io::Error) -> CacheError {
    let path = inner
        .dir
        .entry_path(&inner.entry_id(key))
        .with_extension(EXTENSION);
    CacheError::io(
        format!(
            "{what} the flight lock of key {} at {}",
            key_ctx(key),
            path.display()
        ),
        e,
    )
}

/// What a waiter whose lock is that of a lock file its holder removed returns: the flight
/// before ended, with its value stored (`read` reads it as the cache does), or with the
/// failure it recorded; `None` if neither.
pub(crate) fn ended<V>(
    read: &impl Fn() -> Result<Option<V>, CacheError>,
    key: &str,
    file: &File,
) -> io::Result<Option<Result<V, CacheError>>> {
    match read() {
        Ok(Some(v)) => Ok(Some(Ok(v))),
        Err(e) => Ok(Some(Err(e))),
        Ok(None) => Ok(read_failure(file, key)?
            .map(|message| Err(RemoteLoaderError::new(message).into_loader_error(key)))),
    }
}

/// The first step of a holder: the value (`read` reads it as the cache does), if the flight
/// before stored it just before we got the lock; otherwise this process loads, and writes
/// its lease into the lock file first (over whatever a holder killed or taken over left).
pub(crate) fn take_over<V>(
    inner: &Inner,
    key: &str,
    lock: &KeyLock,
    read: impl FnOnce() -> Result<Option<V>, CacheError>,
) -> Result<Option<V>, CacheError> {
    if let Some(v) = read()? {
        return Ok(Some(v));
    }
    let until = inner
        .now()
        .as_nanos()
        .saturating_add(u64::try_from(inner.flight_lease.as_nanos()).unwrap_or(u64::MAX));
    write_record(
        lock.file(),
        &[LEASE, format!("{until}\n").as_bytes()].concat(),
    )
    .map_err(|e| io_err(inner, key, "writing the lease into", e))?;
    Ok(None)
}

/// The last step of a holder: a loader error is recorded in the lock file for the processes
/// waiting on it, then the lock goes (neither if a waiter took the lock over after the
/// lease: the lock is no longer this holder's).
pub(crate) fn land<V>(inner: &Inner, key: &str, lock: KeyLock, result: &Result<V, CacheError>) {
    let id = inner.entry_id(key);
    // Best effort: a lock not released is unlocked as it is closed, and the next holder
    // goes on from its file; without the failure record, waiters load again rather than fail.
    let _ = lock.release(&inner.dir, &id, &inner.key_locks, |file| {
        if let Err(CacheError::Loader { source, .. }) = result {
            let _ = write_failure(file, key, &RemoteLoaderError::message_for(&**source));
        }
    });
}

/// Whether the lock file `file` holds a lease record whose end is at or before `now`
/// (anything else, a holder that has not written its lease yet included, is no lease over).
fn lease_over(file: &File, now: u64) -> io::Result<bool> {
    let mut buf = [0u8; 64];
    let n = file.read_at(&mut buf, 0)?;
    let Some(rest) = buf[..n].strip_prefix(LEASE) else {
        return Ok(false);
    };
    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
        return Ok(false);
    };
    let until = std::str::from_utf8(&rest[..nl])
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    Ok(until.is_some_and(|until| until <= now))
}

/// Replaces the contents of the lock file `file` with `record`.
fn write_record(file: &File, record: &[u8]) -> io::Result<()> {
    file.write_all_at(record, 0)?;
    file.set_len(record.len() as u64)
}

/// Records in the lock file that the loader of `key` failed with `message` (at most
/// [`MAX_REMOTE_MESSAGE`] bytes).
fn write_failure(file: &File, key: &str, message: &str) -> io::Result<()> {
    let mut record = Vec::with_capacity(FAILED.len() + 24 + key.len() + message.len());
    record.extend_from_slice(FAILED);
    record.extend_from_slice(format!("{}\n", key.len()).as_bytes());
    record.extend_from_slice(key.as_bytes());
    record.extend_from_slice(message.as_bytes());
    write_record(file, &record)
}

/// The message of a failure record of `key` in the lock file, if it holds one.
fn read_failure(file: &File, key: &str) -> io::Result<Option<String>> {
    let len = file.metadata()?.len();
    if len == 0 || len > (FAILED.len() + 24 + key.len() + MAX_REMOTE_MESSAGE) as u64 {
        return Ok(None);
    }
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, 0)?;
    let Some(rest) = buf.strip_prefix(FAILED) else {
        return Ok(None);
    };
    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    let stored_len = std::str::from_utf8(&rest[..nl])
        .ok()
        .and_then(|s| s.parse::<usize>().ok());
    let rest = &rest[nl + 1..];
    match stored_len {
        Some(n) if n == key.len() && rest.get(..n) == Some(key.as_bytes()) => {
            Ok(Some(String::from_utf8_lossy(&rest[n..]).into_owned()))
        }
        // Another key's record (an MD5 collision) or a damaged one: not this flight's.
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_records_round_trip_and_belong_to_their_key() {
        let file = tempfile::tempfile().unwrap();
        assert_eq!(read_failure(&file, "k").unwrap(), None, "an empty file");
        write_failure(&file, "k", "database down").unwrap();
        assert_eq!(
            read_failure(&file, "k").unwrap().as_deref(),
            Some("database down")
        );
        assert_eq!(read_failure(&file, "other").unwrap(), None);
        let long = RemoteLoaderError::message_for(&std::io::Error::other("é".repeat(5000)));
        write_failure(&file, "k", &long).unwrap();
        assert_eq!(read_failure(&file, "k").unwrap(), Some(long));
        file.write_all_at(b"garbage", 0).unwrap();
        assert_eq!(read_failure(&file, "k").unwrap(), None);
    }

    #[test]
    fn a_lease_is_over_at_its_end_and_nothing_else_is_a_lease() {
        let file = tempfile::tempfile().unwrap();
        assert!(!lease_over(&file, u64::MAX).unwrap(), "an empty file");
        write_record(&file, &[LEASE, b"1000\n"].concat()).unwrap();
        assert!(!lease_over(&file, 999).unwrap());
        assert!(lease_over(&file, 1000).unwrap());
        assert_eq!(
            read_failure(&file, "k").unwrap(),
            None,
            "a lease is no failure"
        );
        write_failure(&file, "k", "down").unwrap();
        assert!(
            !lease_over(&file, u64::MAX).unwrap(),
            "a failure is no lease"
        );
        write_record(&file, &[LEASE, b"12x\n"].concat()).unwrap();
        assert!(!lease_over(&file, u64::MAX).unwrap(), "a damaged lease");
    }
}
