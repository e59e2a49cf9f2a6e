//! Single flight across threads and processes for `get_or_insert_with`.
//!
//! Inside one instance, a [`FlightGroup`](cache_core::flight::FlightGroup) lets one thread
//! per key lead; the others wait and then read the entry it stored (or share its error).
//! Across processes, the leading thread takes the key's flight lock, `ab/<md5>.flight` beside
//! the entry, with the per-key lock of [`KeyLock`] (an `flock`ed file that its holder
//! removes as it lets go):
//!
//! 1. wait for the lock (blocking while another process loads);
//! 2. if the file locked was removed by its holder meanwhile, that flight is over: its
//!    entry, or else the failure record it wrote into the file, is the answer;
//! 3. otherwise read the entry (the flight before may have stored it), or load: run the
//!    loader, store the value (or write the failure record into the lock file), and let go
//!    (the file is removed, then closed), which wakes the processes waiting on it.
//!
//! The kernel releases an `flock` when its holder dies, so a process killed mid-load blocks
//! no one: a waiter gets the lock of a file still in place, finds no entry, and loads. A
//! failure record is read only from a file its holder removed (its writer finished), so one
//! left by a killed process is ignored and truncated by the next holder.
//!
//! This module is the protocol, below both caches: the lock file's name, the failure record,
//! and the steps (`ended`, `take_over`, `land`), each given the cache's read of the entry.
//! `FileBasedCache` leads with it (`crate::sync::flight`, blocking on the lock), and
//! `AsyncFileCache` (`crate::future::flight`, feature `tokio`): its tasks share the
//! instance's flights with its threads, and the one task that leads tries the lock file
//! without blocking, awaiting tokio's timer between tries, so blocking and async callers of
//! one directory meet on the same lock file.
//!
//! May use: `inner`, `keylock`, `dir/`. Neither cache.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use cache_core::flight::{RemoteLoaderError, MAX_REMOTE_MESSAGE};
use cache_core::CacheError;

use super::inner::{key_ctx, Inner};
use super::keylock::KeyLock;

/// The extension of a flight's lock file, beside the entry (`ab/<md5>.flight`).
pub(crate) const EXTENSION: &str = "flight";

/// The start of a failure record in a lock file; the key's length, the key and the error's
/// message follow.
const FAILED: &[u8] = b"cache-file flight failed\n";

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
    read: impl FnOnce() -> Result<Option<V>, CacheError>,
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
/// before stored it just before we got the lock; otherwise this process loads, and a
/// failure record left by a killed process goes first.
pub(crate) fn take_over<V>(
    inner: &Inner,
    key: &str,
    lock: &KeyLock,
    read: impl FnOnce() -> Result<Option<V>, CacheError>,
) -> Result<Option<V>, CacheError> {
    if let Some(v) = read()? {
        return Ok(Some(v));
    }
    let file = lock.file();
    if file
        .metadata()
        .map_err(|e| io_err(inner, key, "reading", e))?
        .len()
        > 0
    {
        file.set_len(0)
            .map_err(|e| io_err(inner, key, "truncating", e))?;
    }
    Ok(None)
}

/// The last step of a holder: a loader error is recorded in the lock file for the processes
/// waiting on it, then the lock goes.
pub(crate) fn land<V>(key: &str, lock: KeyLock, result: &Result<V, CacheError>) {
    if let Err(CacheError::Loader { source, .. }) = result {
        // Best effort: without the record, waiters load again rather than fail.
        let _ = write_failure(lock.file(), key, &RemoteLoaderError::message_for(&**source));
    }
    // Removed before it is unlocked (closed): callers that come later start a new flight,
    // those blocked on this file see how this one ended.
    drop(lock);
}

/// Records in the lock file that the loader of `key` failed with `message` (at most
/// [`MAX_REMOTE_MESSAGE`] bytes).
fn write_failure(file: &File, key: &str, message: &str) -> io::Result<()> {
    let mut record = Vec::with_capacity(FAILED.len() + 24 + key.len() + message.len());
    record.extend_from_slice(FAILED);
    record.extend_from_slice(format!("{}\n", key.len()).as_bytes());
    record.extend_from_slice(key.as_bytes());
    record.extend_from_slice(message.as_bytes());
    file.set_len(0)?;
    file.write_all_at(&record, 0)
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
}
