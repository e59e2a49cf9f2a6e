//! Single flight across threads and processes for `get_or_insert_with`.
//!
//! Inside one instance, a [`FlightGroup`] lets one thread per key lead; the others wait and
//! then read the entry it stored (or share its error). Across processes, the leading thread
//! takes the key's lock file, `flights/<md5 of the key>`, with `flock`:
//!
//! 1. open (creating it, private, never through a symlink) and `flock` it, blocking while
//!    another process loads;
//! 2. read the entry: a live one is the answer (the flight that held the lock stored it);
//! 3. if the locked file was unlinked meanwhile, the flight that held it is over: a failure
//!    record in the file is that flight's error, returned as is; otherwise start over;
//! 4. otherwise this process loads: it runs the loader, stores the value (or writes the
//!    failure record into the lock file), unlinks the lock file and closes it, which wakes
//!    the processes waiting on it.
//!
//! The kernel releases an `flock` when its holder dies, so a process killed mid-load blocks
//! no one: a waiter gets the lock, finds the file still linked and no entry, and loads. A
//! failure record is believed only in an unlinked file (its writer finished), so one left by
//! a killed process is ignored. Unlinking at the end of each flight keeps the directory
//! nearly empty, and makes the next call after a flight start a new one.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use cache_core::flight::{RemoteLoaderError, MAX_REMOTE_MESSAGE};
use cache_core::{codec, Cache, CacheError, Loader, Ttl};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::dir::{self, file_name};
use crate::{entry_id, key_ctx, FileBasedCache, Inner};

/// The directory of the lock files, under the cache directory.
pub(crate) const FLIGHTS_DIR: &str = "flights";

/// The start of a failure record in a lock file; the key's length, the key and the error's
/// message follow.
const FAILED: &[u8] = b"cache-file flight failed\n";

/// `get_or_load` with single flight: the caller has already missed.
pub(crate) fn load<V>(
    cache: &FileBasedCache,
    key: &str,
    ttl: Ttl,
    loader: Loader<'_, V>,
) -> Result<V, CacheError>
where
    V: Serialize + DeserializeOwned + Send + Sync + Clone,
{
    let inner = &*cache.inner;
    inner.flights.lead_or_read(
        key,
        loader,
        || reread(inner, key),
        |loader| {
            across_processes(inner, key, loader, |value| {
                Cache::<V>::set(cache, key, value.clone(), ttl)
            })
        },
    )
}

/// The live value of `key`, read without counting a hit or a miss.
fn reread<V: DeserializeOwned>(inner: &Inner, key: &str) -> Result<Option<V>, CacheError> {
    let id = entry_id(key);
    let path = inner.dir.entry_path(&id);
    let live = inner
        .lookup(key, &id, &path)
        .map_err(|e| inner.io_err("reading", key, &path, e))?;
    Ok(live.and_then(|live| {
        let v = codec::decode::<V>(&live.bytes[live.header.payload_offset()..])?;
        if let Some(b) = &inner.bounds {
            b.touch(id, live.bytes.len() as u64, live.header.expires_at());
        }
        Some(v)
    }))
}

/// The cross-process part of a flight this thread leads: wait for the key's lock file, then
/// return what the flight before found, or load and `store`.
fn across_processes<V: DeserializeOwned>(
    inner: &Inner,
    key: &str,
    loader: Loader<'_, V>,
    store: impl FnOnce(&V) -> Result<bool, CacheError>,
) -> Result<V, CacheError> {
    let dir = inner.dir.root().join(FLIGHTS_DIR);
    let path = dir.join(file_name(&entry_id(key)));
    let io_err = |what: &str, e: io::Error| {
        CacheError::io(
            format!(
                "{what} the flight lock of key {} at {}",
                key_ctx(key),
                path.display()
            ),
            e,
        )
    };
    loop {
        let file = open_lock(&dir, &path).map_err(|e| io_err("opening", e))?;
        file.lock().map_err(|e| io_err("locking", e))?;
        if let Some(v) = reread(inner, key)? {
            unlink_if_ours(&path, &file).map_err(|e| io_err("removing", e))?;
            return Ok(v);
        }
        let meta = file.metadata().map_err(|e| io_err("reading", e))?;
        if meta.nlink() == 0 {
            // The flight that held this file is over.
            match read_failure(&file, key).map_err(|e| io_err("reading", e))? {
                Some(message) => return Err(RemoteLoaderError::new(message).into_loader_error(key)),
                None => continue,
            }
        }
        if !names(&path, &meta).map_err(|e| io_err("reading", e))? {
            continue; // replaced after we opened it: lock the current one
        }
        // This process loads. A failure record left by a killed process goes first.
        if meta.len() > 0 {
            file.set_len(0).map_err(|e| io_err("truncating", e))?;
        }
        let result = loader
            .load()
            .map_err(|e| CacheError::loader(key, e))
            .and_then(|v| store(&v).map(|_| v));
        if let Err(CacheError::Loader { source, .. }) = &result {
            // Best effort: without the record, waiters load again rather than fail.
            let _ = write_failure(&file, key, &RemoteLoaderError::message_for(&**source));
        }
        // Unlinked before it is unlocked (closed): callers that open the path from now on
        // start a new flight, those blocked on this file see how this one ended.
        let _ = fs::remove_file(&path);
        drop(file);
        return result;
    }
}

/// Opens (creating if needed) the lock file at `path`, never through a symlink; whatever
/// else was planted under its name is removed.
fn open_lock(dir: &Path, path: &Path) -> io::Result<File> {
    let mut tries = 0;
    loop {
        tries += 1;
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path);
        match opened {
            Ok(f) if f.metadata()?.is_file() => return Ok(f),
            Ok(_) => dir::remove_any(path)?, // a FIFO or device planted there
            Err(e) if tries > 3 => return Err(e),
            Err(e) if e.kind() == io::ErrorKind::NotFound => dir::ensure_dir(dir)?,
            Err(e) if planted(&e) => dir::remove_any(path)?,
            Err(e) => return Err(e),
        }
        if tries > 3 {
            return Err(io::Error::other(
                "the flight lock file keeps being replaced",
            ));
        }
    }
}

/// Whether opening failed because something other than a regular file sits at the path
/// (a symlink, a directory, a FIFO without a reader).
fn planted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ELOOP | libc::EISDIR | libc::ENXIO)
    )
}

/// Whether `path` still names the file whose metadata is `meta`.
fn names(path: &Path, meta: &fs::Metadata) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(m.dev() == meta.dev() && m.ino() == meta.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Unlinks `path` if it names `file`, whose lock the caller holds (so no one else can have
/// unlinked and replaced it).
fn unlink_if_ours(path: &PathBuf, file: &File) -> io::Result<()> {
    let meta = file.metadata()?;
    if meta.nlink() > 0 && names(path, &meta)? {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
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

/// The lock file of an entry id, for tests.
#[cfg(test)]
pub(crate) fn lock_path(root: &Path, id: &crate::dir::EntryId) -> PathBuf {
    root.join(FLIGHTS_DIR).join(file_name(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_records_round_trip_and_belong_to_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), &[7; 16]);
        let file = open_lock(&dir.path().join(FLIGHTS_DIR), &path).unwrap();
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
    fn a_planted_symlink_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let flights = dir.path().join(FLIGHTS_DIR);
        fs::create_dir(&flights).unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"precious").unwrap();
        let path = flights.join("x");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let file = open_lock(&flights, &path).unwrap();
        assert!(file.metadata().unwrap().is_file());
        assert!(!fs::symlink_metadata(&path).unwrap().is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"precious");
    }
}
