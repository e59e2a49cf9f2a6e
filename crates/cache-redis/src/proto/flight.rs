//! Single flight across processes for `get_or_insert_with`, on a lock key per cache key,
//! for `RedisCache` and `AsyncRedisCache` alike: [`FlightLock`] is the protocol (lock key,
//! token, lease, scripts as [`Call`]s, what each reply means), which the blocking cache runs
//! on its pooled connections with `thread::sleep` between polls (`blocking/flight.rs`) and
//! the async cache on its multiplexed connection with tokio's timer (`aio/flight.rs`).
//!
//! Inside one instance, a [`FlightGroup`](cache_core::flight::FlightGroup) lets one thread
//! (or task) per key lead; the others wait and then read the entry it stored (or share its
//! error). Across processes, the leader takes the key's lock, `<prefix>\xFFflight:<key>`
//! (under the prefix, but not a cache key: byte `0xFF` never occurs in UTF-8, so
//! `delete_pattern` never matches it):
//!
//! - `L<token>` while a holder loads, set with `SET NX PX <lease>` semantics by a script
//!   that also reports the current value. Waiters poll it with backoff
//!   ([`Backoff`]: 2 ms doubling to 50 ms) and take it over when it is gone, which happens when the holder releases it
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
//!
//! An async leader that is cancelled (its future dropped) releases the lock from a task it
//! spawns on the current runtime (the same compare-and-delete), so a waiter takes over
//! after its next poll; outside a runtime, or if that release fails, the lease ends it.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use cache_core::flight::{Backoff, RemoteLoaderError};
use cache_core::CacheError;
use redis::Value;

use crate::proto::ops::{Call, Lua};

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

static ACQUIRE_LUA: LazyLock<Lua> = LazyLock::new(|| Lua::new(ACQUIRE));
static RELEASE_LUA: LazyLock<Lua> = LazyLock::new(|| Lua::new(RELEASE));
static FAIL_LUA: LazyLock<Lua> = LazyLock::new(|| Lua::new(FAIL));

/// What follows the prefix in a lock key (no cache key's name starts with `0xFF`).
pub(crate) const LOCK_TAG: &[u8] = b"\xFFflight:";

/// The lock key of the Redis key `redis_key` (the prefix, `prefix_len` bytes, then the key's
/// name in the cache's version): the prefix, `\xFFflight:`, then that name.
pub(crate) fn lock_key(prefix_len: usize, redis_key: &[u8]) -> Vec<u8> {
    let (prefix, name) = redis_key.split_at(prefix_len.min(redis_key.len()));
    [prefix, LOCK_TAG, name].concat()
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

/// One caller's flight lock on one key, as the blocking and the async cache both run it:
/// send [`FlightLock::acquire`] until [`FlightLock::step`] says `Held` (pausing as it says
/// in between), then load, then send [`FlightLock::end`].
pub(crate) struct FlightLock {
    lock: Vec<u8>,
    /// This caller's lock value, `L<token>`.
    mine: String,
    token: String,
    /// The lease in ms, as Redis's `PX` takes it.
    lease: String,
    /// The token of the flight this caller waits for.
    watched: Vec<u8>,
    backoff: Backoff,
}

/// What a reply to [`FlightLock::acquire`] means for its caller.
pub(crate) enum Step {
    /// This caller holds the lock: it loads.
    Held,
    /// Another caller holds it: poll again after this pause.
    Wait(Duration),
    /// The flight waited for failed: its error, by message.
    Ended(CacheError),
}

impl FlightLock {
    /// A new token for the lock of the Redis key `redis_key`, held for `lease` at most.
    pub(crate) fn new(prefix_len: usize, redis_key: &[u8], lease: Duration) -> Self {
        let token = new_token();
        // Redis refuses a `PX` whose deadline overflows; a lease that long is "forever" anyway.
        let lease = lease.as_millis().clamp(1, (i64::MAX / 4) as u128);
        FlightLock {
            lock: lock_key(prefix_len, redis_key),
            mine: format!("L{token}"),
            token,
            lease: lease.to_string(),
            watched: Vec::new(),
            backoff: Backoff::new(),
        }
    }

    /// Takes the lock, or reports who holds it (see [`FlightLock::step`]).
    pub(crate) fn acquire(&self) -> Call {
        ACQUIRE_LUA.call(
            "flight lock (EVALSHA)",
            &self.lock,
            &[self.mine.as_bytes(), self.lease.as_bytes(), &self.watched],
        )
    }

    /// What `reply` (to [`FlightLock::acquire`], for cache key `key`) means.
    pub(crate) fn step(&mut self, key: &str, reply: Value) -> Result<Step, CacheError> {
        let current = match reply {
            Value::Int(1) => return Ok(Step::Held),
            Value::BulkString(v) => v,
            other => {
                return Err(CacheError::backend(
                    format!("flight lock of key {key:?}"),
                    format!("unexpected reply {other:?}"),
                ))
            }
        };
        // A retried acquire whose first try took the lock (the reply was lost) finds it ours.
        if current == self.mine.as_bytes() {
            return Ok(Step::Held);
        }
        match current.split_first() {
            Some((b'L', holder)) => {
                if holder != self.watched {
                    self.watched = holder.to_vec();
                    self.backoff.reset();
                }
                Ok(Step::Wait(self.backoff.next_pause()))
            }
            Some((b'F', marker)) => {
                let message = marker
                    .splitn(2, |&b| b == b'\n')
                    .nth(1)
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                Ok(Step::Ended(
                    RemoteLoaderError::new(message).into_loader_error(key),
                ))
            }
            _ => Err(CacheError::backend(
                format!("flight lock of key {key:?}"),
                "a lock value of unknown form",
            )),
        }
    }

    /// Lets go of the lock, if it is still this caller's (compare-and-delete).
    pub(crate) fn release(&self) -> Call {
        RELEASE_LUA.call(
            "flight unlock (EVALSHA)",
            &self.lock,
            &[self.mine.as_bytes()],
        )
    }

    /// How the holder ends its flight with `result`: a loader error becomes the failure
    /// marker (for one lease) that the processes waiting for this flight return; anything
    /// else releases the lock. Best effort: a lock not released or marked ends with its lease.
    pub(crate) fn end<V>(&self, result: &Result<V, CacheError>) -> Call {
        match result {
            Err(CacheError::Loader { source, .. }) => {
                let marker = format!(
                    "F{}\n{}",
                    self.token,
                    RemoteLoaderError::message_for(&**source)
                );
                FAIL_LUA.call(
                    "flight failure marker (EVALSHA)",
                    &self.lock,
                    &[
                        self.mine.as_bytes(),
                        marker.as_bytes(),
                        self.lease.as_bytes(),
                    ],
                )
            }
            _ => self.release(),
        }
    }
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
        let keys = crate::proto::keys::KeySpace::new("app:", 1);
        assert_eq!(keys.cache_key(&k), None, "no cache key maps to it");
    }
}
