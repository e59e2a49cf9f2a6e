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
//! `AsyncFileCache` runs the same steps (`tasks`, feature `tokio`): its tasks share the
//! instance's flights with its threads, and the one task that leads tries the lock file
//! without blocking, awaiting tokio's timer between tries, so blocking and async callers of
//! one directory meet on the same lock file.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use cache_core::codec::Codec;
use cache_core::flight::{RemoteLoaderError, MAX_REMOTE_MESSAGE};
use cache_core::{Cache, CacheError, Loader, Ttl};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::keylock::{Acquired, KeyLock};
use crate::{key_ctx, FileBasedCache};

/// The extension of a flight's lock file, beside the entry (`ab/<md5>.flight`).
const EXTENSION: &str = "flight";

/// The start of a failure record in a lock file; the key's length, the key and the error's
/// message follow.
const FAILED: &[u8] = b"cache-file flight failed\n";

/// The cross-process part of a flight this thread leads (the `lead` of
/// [`hit_or_lead`](cache_core::flight::hit_or_lead)): wait for the key's flight lock, then
/// return what the flight before stored or failed with, or load and store.
pub(crate) fn across_processes<V, C: Codec>(
    cache: &FileBasedCache<C>,
    key: &str,
    ttl: Ttl,
    loader: Loader<'_, V>,
) -> Result<V, CacheError>
where
    V: Serialize + DeserializeOwned + Send + Sync + Clone + 'static,
{
    let inner = &*cache.inner;
    let id = inner.entry_id(key);
    let lock = match KeyLock::acquire_at(&inner.dir, &id, EXTENSION, |f| ended(cache, key, f)) {
        Ok(Acquired::Held(lock)) => lock,
        Ok(Acquired::Ended(result)) => return result,
        Err(e) => return Err(io_err(cache, key, "locking", e)),
    };
    if let Some(v) = take_over(cache, key, &lock)? {
        return Ok(v);
    }
    let result = loader
        .load()
        .map_err(|e| CacheError::loader(key, e))
        .and_then(|v| Cache::<V>::set(cache, key, v.clone(), ttl).map(|_| v));
    land(key, lock, &result);
    result
}

/// An error of the flight lock of `key`.
fn io_err<C: Codec>(cache: &FileBasedCache<C>, key: &str, what: &str, e: io::Error) -> CacheError {
    let path = cache.entry_path(key).with_extension(EXTENSION);
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
/// before ended, with its value stored, or with the failure it recorded; `None` if neither.
fn ended<V: DeserializeOwned + 'static, C: Codec>(
    cache: &FileBasedCache<C>,
    key: &str,
    file: &File,
) -> io::Result<Option<Result<V, CacheError>>> {
    match cache.read_value(key) {
        Ok(Some(v)) => Ok(Some(Ok(v))),
        Err(e) => Ok(Some(Err(e))),
        Ok(None) => Ok(read_failure(file, key)?
            .map(|message| Err(RemoteLoaderError::new(message).into_loader_error(key)))),
    }
}

/// The first step of a holder: the value, if the flight before stored it just before we got
/// the lock; otherwise this process loads, and a failure record left by a killed process
/// goes first.
fn take_over<V: DeserializeOwned + 'static, C: Codec>(
    cache: &FileBasedCache<C>,
    key: &str,
    lock: &KeyLock,
) -> Result<Option<V>, CacheError> {
    if let Some(v) = cache.read_value(key)? {
        return Ok(Some(v));
    }
    let file = lock.file();
    if file
        .metadata()
        .map_err(|e| io_err(cache, key, "reading", e))?
        .len()
        > 0
    {
        file.set_len(0)
            .map_err(|e| io_err(cache, key, "truncating", e))?;
    }
    Ok(None)
}

/// The last step of a holder: a loader error is recorded in the lock file for the processes
/// waiting on it, then the lock goes.
fn land<V>(key: &str, lock: KeyLock, result: &Result<V, CacheError>) {
    if let Err(CacheError::Loader { source, .. }) = result {
        // Best effort: without the record, waiters load again rather than fail.
        let _ = write_failure(lock.file(), key, &RemoteLoaderError::message_for(&**source));
    }
    // Removed before it is unlocked (closed): callers that come later start a new flight,
    // those blocked on this file see how this one ended.
    drop(lock);
}

/// The async single flight of `AsyncFileCache`: the same lock file, failure record and
/// steps as the blocking one, each step on tokio's blocking pool; a task that waits for
/// another process tries the lock without blocking (`LOCK_NB`) and awaits tokio's timer
/// between tries ([`Backoff`](cache_core::flight::Backoff)), so no thread waits in the kernel
/// and a cancelled waiter holds nothing.
#[cfg(feature = "tokio")]
pub(crate) mod tasks {
    use cache_core::flight::Backoff;
    use cache_core::AsyncLoader;

    use super::*;
    use crate::async_cache::blocking;
    use crate::keylock::Attempt;

    /// The cross-process part of a flight this task leads (see the blocking one).
    pub(crate) async fn across_processes<V, C: Codec>(
        cache: &FileBasedCache<C>,
        key: &str,
        ttl: Ttl,
        loader: AsyncLoader<'_, V>,
    ) -> Result<V, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + Clone + 'static,
    {
        let mut backoff = Backoff::new();
        let mut tried = None;
        let lock = loop {
            let k = key.to_owned();
            let attempt = blocking(cache.clone(), move |c| {
                let id = c.inner.entry_id(&k);
                KeyLock::try_acquire_at(&c.inner.dir, &id, EXTENSION, tried, |f| ended(&c, &k, f))
                    .map_err(|e| io_err(&c, &k, "locking", e))
            })
            .await?;
            match attempt {
                Attempt::Done(Acquired::Held(lock)) => break lock,
                Attempt::Done(Acquired::Ended(result)) => return result,
                Attempt::Busy(Some(file)) => {
                    tried = Some(file);
                    tokio::time::sleep(backoff.next_pause()).await;
                }
                Attempt::Busy(None) => tried = None,
            }
        };
        let k = key.to_owned();
        let taken = blocking(cache.clone(), move |c| {
            // A value stored just before we got the lock: the lock goes here, on the pool.
            Ok(match take_over::<V, C>(&c, &k, &lock)? {
                Some(v) => Err(v),
                None => Ok(lock),
            })
        })
        .await?;
        let lock = match taken {
            Ok(lock) => lock,
            Err(stored) => return Ok(stored),
        };
        // If this task is cancelled while it loads, `held` lets go of the lock.
        let held = Held(Some(lock));
        let result = loader().await.map_err(|e| CacheError::loader(key, e));
        let lock = held.take();
        let k = key.to_owned();
        blocking(cache.clone(), move |c| {
            let result = result.and_then(|v| Cache::<V>::set(&c, &k, v.clone(), ttl).map(|_| v));
            land(&k, lock, &result);
            Ok(result)
        })
        .await?
    }

    /// The lock a task holds while it loads: dropped (the task was cancelled) on the blocking
    /// pool, or here outside a runtime.
    struct Held(Option<KeyLock>);

    impl Held {
        fn take(mut self) -> KeyLock {
            self.0.take().expect("held until taken")
        }
    }

    impl Drop for Held {
        fn drop(&mut self) {
            if let Some(lock) = self.0.take() {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn_blocking(move || drop(lock));
                }
            }
        }
    }
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
    use cache_core::CacheExt;

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

    /// A symlink planted under a flight lock's name is removed, never followed; the lock
    /// file is gone once the flight is over.
    #[test]
    fn a_planted_symlink_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileBasedCache::new(dir.path().join("c"), None).unwrap();
        let lock = cache.entry_path("k").with_extension(EXTENSION);
        std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"precious").unwrap();
        std::os::unix::fs::symlink(&target, &lock).unwrap();
        let v = cache.get_or_insert_with("k", Ttl::Never, || 7u32).unwrap();
        assert_eq!(v, 7);
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        assert!(
            std::fs::symlink_metadata(&lock).is_err(),
            "no lock file is left"
        );
    }
}
