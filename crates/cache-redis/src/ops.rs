//! `add`, `incr`, `touch` and `ttl` on Redis: each one command, or one small Lua script where
//! Redis has no single command for it, so each is atomic on a server and on a cluster (every
//! command names one key).

use std::sync::LazyLock;
use std::time::Duration;

use cache_core::codec::Codec;
use cache_core::{CacheError, Ttl};
use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::keys::Expiry;
use crate::link::{self, Link};
use crate::{set_cmd, value, RedisCache};

/// `INCRBY` that gives a key it creates the default TTL (`ARGV[2]` ms; `PEXPIRE 0` deletes it,
/// for a zero default). Returns the count as Redis's string, exact for every `i64` (Lua
/// numbers are doubles).
const INCR_WITH_TTL: &str = r"
local fresh = redis.call('EXISTS', KEYS[1]) == 0
redis.call('INCRBY', KEYS[1], ARGV[1])
local n = redis.call('GET', KEYS[1])
if fresh then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n
";

/// `PERSIST` that reports whether the key exists (plain `PERSIST` answers 0 for a key without
/// a TTL).
const PERSIST_IF_EXISTS: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('PERSIST', KEYS[1])
return 1
";

/// A Lua script, sent by its hash (`EVALSHA`) and in full (`EVAL`) to a node that does not
/// have it yet.
struct Lua {
    source: &'static str,
    hash: String,
}

impl Lua {
    fn new(source: &'static str) -> Self {
        Lua {
            source,
            hash: redis::Script::new(source).get_hash().to_owned(),
        }
    }

    fn run<T: redis::FromRedisValue>(
        &self,
        link: &mut Link,
        key: &[u8],
        args: &[&[u8]],
    ) -> RedisResult<T> {
        let cmd = |name: &str, body: &str| {
            let mut cmd = redis::cmd(name);
            cmd.arg(body).arg(1).arg(key);
            for a in args {
                cmd.arg(*a);
            }
            cmd
        };
        match link.query(&cmd("EVALSHA", &self.hash)) {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                link.query(&cmd("EVAL", self.source))
            }
            other => other,
        }
    }
}

static INCR: LazyLock<Lua> = LazyLock::new(|| Lua::new(INCR_WITH_TTL));
static PERSIST: LazyLock<Lua> = LazyLock::new(|| Lua::new(PERSIST_IF_EXISTS));

/// An error the server answered with (a command refused), as opposed to a connection that
/// failed: handed back as a value, so that `run` neither retries it nor marks the connection.
fn refused<T>(r: RedisResult<T>) -> RedisResult<Result<T, RedisError>> {
    match r {
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::Server(ServerErrorKind::ResponseError) | ErrorKind::Extension
            ) =>
        {
            Ok(Err(e))
        }
        other => other.map(Ok),
    }
}

/// What an `INCRBY` the server refused means for the caller.
fn counter_error(key: &str, delta: i64, e: RedisError, server: &str) -> CacheError {
    let text = e.to_string();
    if text.contains("overflow") {
        CacheError::counter_overflow(key, delta)
    } else if text.contains("not an integer") || e.code() == Some("WRONGTYPE") {
        CacheError::not_a_counter(key)
    } else {
        crate::failure::backend(format!("INCRBY of key {key:?} on {server}"), e)
    }
}

impl<C: Codec> RedisCache<C> {
    pub(crate) fn add_value<V: Serialize + DeserializeOwned + 'static>(
        &self,
        key: &str,
        value: &V,
        ttl: Ttl,
    ) -> Result<bool, CacheError> {
        let rk = self.inner.keys.redis_key(key);
        let stored = match Expiry::of(ttl.resolve(self.inner.default_ttl)) {
            // Nothing to store: `true` iff nothing live was there, as for any `add`.
            Expiry::Gone => !self.exists(key)?,
            expiry => {
                let mut cmd = set_cmd(&rk, value::encode(&self.encoding, key, value)?, expiry);
                cmd.arg("NX");
                let reply: Value = self.run("SET NX", Some(key), |l| l.query(&cmd))?;
                reply != Value::Nil
            }
        };
        if stored {
            self.inner.stats.set();
        }
        Ok(stored)
    }

    /// [`Cache::incr`](cache_core::Cache::incr) without naming a value type: `INCRBY` on the
    /// key, whose value is a plain decimal integer (what `redis-cli GET` shows). A key it
    /// creates takes the default TTL in the same atomic step (a small Lua script; a plain
    /// `INCRBY` when there is no default TTL); an existing counter keeps its TTL.
    ///
    /// ```no_run
    /// use cache_core::Cache;
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// let n = cache.incr("visits", 1)?;
    /// assert_eq!(Cache::<i64>::get(&cache, "visits")?, Some(n));
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        let rk = self.inner.keys.redis_key(key);
        let count = match Expiry::of(self.inner.default_ttl) {
            Expiry::Never => {
                let cmd = redis::cmd("INCRBY").arg(&rk).arg(delta).to_owned();
                self.run("INCRBY", Some(key), |l| refused(l.query::<i64>(&cmd)))?
            }
            expiry => {
                let ms = if let Expiry::Millis(ms) = expiry {
                    ms
                } else {
                    0
                };
                let args = [delta.to_string(), ms.to_string()];
                let reply = self.run("INCRBY (script)", Some(key), |l| {
                    let args = [args[0].as_bytes(), args[1].as_bytes()];
                    refused(INCR.run::<Vec<u8>>(l, &rk, &args))
                })?;
                reply.and_then(|b| {
                    value::parse_counter(&b).ok_or_else(|| {
                        RedisError::from((ErrorKind::Parse, "INCRBY left a non-integer"))
                    })
                })
            }
        };
        let count = count.map_err(|e| counter_error(key, delta, e, &self.inner.server))?;
        self.inner.stats.set();
        Ok(count)
    }

    /// [`Cache::decr`](cache_core::Cache::decr) without naming a value type.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// let left = cache.decr("stock", 1)?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        match delta.checked_neg() {
            Some(up) => self.incr(key, up),
            None => Err(CacheError::counter_overflow(key, delta)),
        }
    }

    /// [`Cache::touch`](cache_core::Cache::touch) without naming a value type: `PEXPIRE`,
    /// `PERSIST` (for [`Ttl::Never`]) or, for a zero TTL, `UNLINK`.
    ///
    /// ```no_run
    /// use cache_core::Ttl;
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// let extended = cache.touch("session:1", Ttl::After(std::time::Duration::from_secs(1800)))?;
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        let rk = self.inner.keys.redis_key(key);
        let n: u64 = match Expiry::of(ttl.resolve(self.inner.default_ttl)) {
            Expiry::Millis(ms) => {
                let cmd = redis::cmd("PEXPIRE").arg(&rk).arg(ms).to_owned();
                self.run("PEXPIRE", Some(key), |l| l.query(&cmd))?
            }
            Expiry::Never => {
                self.run("PERSIST (script)", Some(key), |l| PERSIST.run(l, &rk, &[]))?
            }
            Expiry::Gone => {
                let cmd = link::single("UNLINK", &rk);
                self.run("UNLINK", Some(key), |l| l.query(&cmd))?
            }
        };
        Ok(n > 0)
    }

    /// [`Cache::ttl`](cache_core::Cache::ttl) without naming a value type: `PTTL`.
    ///
    /// ```no_run
    /// let cache = cache_redis::RedisCache::open("redis://127.0.0.1/")?;
    /// if let Some(Some(left)) = cache.ttl("session:1")? {
    ///     println!("{left:?} left");
    /// }
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        let cmd = link::single("PTTL", &self.inner.keys.redis_key(key));
        let ms: i64 = self.run("PTTL", Some(key), |l| l.query(&cmd))?;
        Ok(match ms {
            -1 => Some(None),
            ms if ms >= 0 => Some(Some(Duration::from_millis(ms as u64))),
            _ => None,
        })
    }
}
