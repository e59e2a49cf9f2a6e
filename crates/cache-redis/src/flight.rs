//! Single flight across processes for `get_or_insert_with`, on a lock key per cache key.
//!
//! Inside one instance, a [`FlightGroup`] lets one thread per key lead; the others wait and
//! then read the entry it stored (or share its error). Across processes, the leading thread
//! takes the key's lock, `<prefix>\xFFflight:<key>` (under the prefix, but not a cache key:
//! byte `0xFF` never occurs in UTF-8, so `delete_pattern` never matches it):
//!
//! - `L<token>` while a holder loads, set with `SET NX PX <lease>` semantics by a script
//!   that also reports the current value. Waiters poll it with backoff (2 ms doubling to
//!   50 ms) and take it over when it is gone, which happens when the holder releases it
//!   (compare-and-delete, after storing the value) or when its lease ends (the holder died).
//! - `F<token>\n<message>` after a failed load: the holder swaps its lock for this failure
//!   marker (compare-and-set, living one lease). A waiter that was waiting for `<token>`
//!   returns the message as the loader's error; any other caller overwrites the marker and
//!   starts a new flight, so the next call after a failed flight loads anew.
//!
//! The holder reads the entry once more after taking the lock (the flight before may have
//! just stored it), so a waiter that takes over after a success only reads.
//!
//! A lease that runs out while its holder is still loading lets one waiter take the lock
//! and load too: the loader then runs twice, both values are stored (the last one wins),
//! and the first holder's release or failure marker is dropped, since the lock is no longer
//! its own (the scripts compare the token).

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_core::codec::Codec;
use cache_core::flight::RemoteLoaderError;
use cache_core::{CacheError, Loader, Ttl};
use redis::Value;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{link, value, Cache, RedisCache};

/// Takes the lock (`KEYS[1]`) as `ARGV[1]` for `ARGV[2]` ms, unless a holder is loading
/// (then returns its value) or the failure marker of the flight `ARGV[3]` ended it (then
/// returns the marker). A stale failure marker is overwritten. Returns 1 when taken.
const ACQUIRE: &str = r"
local v = redis.call('GET', KEYS[1])
if v then
  local kind = string.sub(v, 1, 1)
  if kind == 'L' then return v end
  if kind == 'F' and ARGV[3] ~= '' and string.sub(v, 2, 1 + #ARGV[3]) == ARGV[3] then
    return v
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Deletes the lock if it is still `ARGV[1]`.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Replaces the lock with the failure marker `ARGV[2]` for `ARGV[3]` ms if it is still
/// `ARGV[1]`.
const FAIL: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
";

/// The first and the longest pause between two polls of a waiter.
const FIRST_PAUSE: Duration = Duration::from_millis(2);
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// The lock key of the Redis key `redis_key` (the prefix, `prefix_len` bytes, then the key's
/// name in the cache's version): the prefix, `\xFFflight:`, then that name.
pub(crate) fn lock_key(prefix_len: usize, redis_key: &[u8]) -> Vec<u8> {
    const TAG: &[u8] = b"\xFFflight:";
    let (prefix, name) = redis_key.split_at(prefix_len.min(redis_key.len()));
    [prefix, TAG, name].concat()
}

/// A token no other flight uses: 32 hex digits from the process id, the time, a counter and
/// a randomly keyed hash.
fn new_token() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let mut words = [0u64; 2];
    for (i, w) in words.iter_mut().enumerate() {
        let mut h = state.build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
        h.write_usize(i);
        *w = h.finish();
    }
    format!("{:016x}{:016x}", words[0], words[1])
}

fn eval(script: &str, key: &[u8], args: &[&[u8]]) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(1).arg(key);
    for a in args {
        cmd.arg(*a);
    }
    cmd
}

/// `get_or_load` with single flight: the caller has already missed.
pub(crate) fn load<V, C: Codec>(
    cache: &RedisCache<C>,
    key: &str,
    ttl: Ttl,
    loader: Loader<'_, V>,
) -> Result<V, CacheError>
where
    V: Serialize + DeserializeOwned + Send + Sync + Clone + 'static,
{
    cache.inner.flights.lead_or_read(
        key,
        loader,
        || reread(cache, key),
        |loader| {
            across_processes(cache, key, loader, |value| {
                Cache::<V>::set(cache, key, value.clone(), ttl)
            })
        },
    )
}

/// The value of `key`, read without counting a hit or a miss.
fn reread<V: DeserializeOwned + 'static, C: Codec>(
    cache: &RedisCache<C>,
    key: &str,
) -> Result<Option<V>, CacheError> {
    let cmd = link::single("GET", &cache.inner.keys.redis_key(key));
    let bytes: Option<Vec<u8>> = cache.run("GET", Some(key), |l| l.query(&cmd))?;
    Ok(bytes.and_then(|b| value::decode(&cache.encoding, &b)))
}

/// The cross-process part of a flight this thread leads: wait for the key's lock, then
/// return what the flight before stored or failed with, or load and `store`.
fn across_processes<V: DeserializeOwned + 'static, C: Codec>(
    cache: &RedisCache<C>,
    key: &str,
    loader: Loader<'_, V>,
    store: impl FnOnce(&V) -> Result<bool, CacheError>,
) -> Result<V, CacheError> {
    let inner = &*cache.inner;
    let lock = lock_key(inner.prefix.len(), &inner.keys.redis_key(key));
    let token = new_token();
    let mine = format!("L{token}");
    // Redis refuses a `PX` whose deadline overflows; a lease that long is "forever" anyway.
    let lease = inner
        .flight_lease
        .as_millis()
        .clamp(1, (i64::MAX / 4) as u128);
    let lease = lease.to_string();
    // The token of the flight this caller waits for.
    let mut watched = String::new();
    let mut pause = FIRST_PAUSE;
    loop {
        let cmd = eval(
            ACQUIRE,
            &lock,
            &[mine.as_bytes(), lease.as_bytes(), watched.as_bytes()],
        );
        let reply: Value = cache.run("flight lock (EVAL)", Some(key), |l| l.query(&cmd))?;
        let current = match reply {
            Value::Int(1) => break,
            Value::BulkString(v) => v,
            other => {
                return Err(CacheError::backend(
                    format!("flight lock of key {key:?}"),
                    format!("unexpected reply {other:?}"),
                ))
            }
        };
        match current.split_first() {
            Some((b'L', holder)) => {
                if holder != watched.as_bytes() {
                    watched = String::from_utf8_lossy(holder).into_owned();
                    pause = FIRST_PAUSE;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(MAX_PAUSE);
            }
            Some((b'F', marker)) => {
                // The flight we waited for failed: its error, by message.
                let message = marker
                    .splitn(2, |&b| b == b'\n')
                    .nth(1)
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                return Err(RemoteLoaderError::new(message).into_loader_error(key));
            }
            _ => {
                return Err(CacheError::backend(
                    format!("flight lock of key {key:?}"),
                    "a lock value of unknown form",
                ))
            }
        }
    }
    // This process holds the lock: the flight before may have stored the value just now.
    let result = reread(cache, key).and_then(|found| match found {
        Some(v) => Ok(v),
        None => {
            let v = loader.load().map_err(|e| CacheError::loader(key, e))?;
            store(&v)?;
            Ok(v)
        }
    });
    // Best effort: a lock that cannot be released or marked ends with its lease.
    let end = match &result {
        Err(CacheError::Loader { source, .. }) => {
            let marker = format!("F{token}\n{}", RemoteLoaderError::message_for(&**source));
            eval(
                FAIL,
                &lock,
                &[mine.as_bytes(), marker.as_bytes(), lease.as_bytes()],
            )
        }
        _ => eval(RELEASE, &lock, &[mine.as_bytes()]),
    };
    let _ = cache.run("flight unlock (EVAL)", Some(key), |l| {
        l.query::<Value>(&end)
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_and_lock_keys_are_not_cache_keys() {
        let a = new_token();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_token());
        let k = lock_key(4, b"app:user:1");
        assert_eq!(k, b"app:\xFFflight:user:1");
        let keys = crate::keys::KeySpace::new("app:", 1);
        assert_eq!(keys.cache_key(&k), None, "no cache key maps to it");
    }
}
