//! `add`, `incr`, `touch` and `ttl` on Redis: each one command, or one small Lua script where
//! Redis has no single command for it, so each is atomic on a server and on a cluster (every
//! command names one key).

use std::sync::LazyLock;
use std::time::Duration;

use cache_core::codec::Codec;
use cache_core::{CacheError, Ttl};
use redis::{Cmd, ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};
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
/// have it yet (the scripts of `add`/`incr`/`touch` here, of the flight lock in `flight.rs`).
pub(crate) struct Lua {
    source: &'static str,
    hash: String,
}

impl Lua {
    pub(crate) fn new(source: &'static str) -> Self {
        Lua {
            source,
            hash: redis::Script::new(source).get_hash().to_owned(),
        }
    }

    /// The call of this script on `key` with `args`.
    pub(crate) fn call(&self, op: &'static str, key: &[u8], args: &[&[u8]]) -> Call {
        let cmd = |name: &str, body: &str| {
            let mut cmd = redis::cmd(name);
            cmd.arg(body).arg(1).arg(key);
            for a in args {
                cmd.arg(*a);
            }
            cmd
        };
        Call {
            op,
            first: cmd("EVALSHA", &self.hash),
            unknown_script: Some(cmd("EVAL", self.source)),
        }
    }
}

static INCR: LazyLock<Lua> = LazyLock::new(|| Lua::new(INCR_WITH_TTL));
static PERSIST: LazyLock<Lua> = LazyLock::new(|| Lua::new(PERSIST_IF_EXISTS));

/// What `add`, `incr` and `touch` send, built once for the blocking and the async cache: one
/// command, or a script by its hash with its full text for a node that does not know it.
pub(crate) struct Call {
    /// The operation's name in error messages.
    pub(crate) op: &'static str,
    first: Cmd,
    /// `EVAL` of the script, sent when the `EVALSHA` of `first` finds no script.
    unknown_script: Option<Cmd>,
}

impl Call {
    fn plain(op: &'static str, cmd: Cmd) -> Self {
        Call {
            op,
            first: cmd,
            unknown_script: None,
        }
    }

    /// The command to send after `first` failed with `e`, if any.
    fn then(&self, e: &RedisError) -> Option<&Cmd> {
        let no_script = e.kind() == ErrorKind::Server(ServerErrorKind::NoScript);
        self.unknown_script.as_ref().filter(|_| no_script)
    }

    /// Sends the call on a blocking link.
    pub(crate) fn query<T: redis::FromRedisValue>(&self, link: &mut Link) -> RedisResult<T> {
        match link.query(&self.first) {
            Err(e) => match self.then(&e) {
                Some(eval) => link.query(eval),
                None => Err(e),
            },
            ok => ok,
        }
    }

    /// Sends the call on an async link.
    #[cfg(feature = "tokio")]
    pub(crate) async fn query_async<T: redis::FromRedisValue>(
        &self,
        link: crate::async_link::AsyncLink,
    ) -> RedisResult<T> {
        match link.clone().query(&self.first).await {
            Err(e) => match self.then(&e) {
                Some(eval) => link.query(eval).await,
                None => Err(e),
            },
            ok => ok,
        }
    }
}

/// `SET key value [PX ms] NX`: `add` of an entry that is stored (not a zero TTL); the reply
/// is nil when a live entry was there.
pub(crate) fn add_cmd(rk: &[u8], bytes: Vec<u8>, expiry: Expiry) -> Cmd {
    let mut cmd = set_cmd(rk, bytes, expiry);
    cmd.arg("NX");
    cmd
}

/// `incr` of `delta` on `rk`: `INCRBY`, or, when new counters take a default TTL, a script
/// that gives a key it creates that TTL in the same atomic step. Its reply goes through
/// [`counted`].
pub(crate) fn incr_call(rk: &[u8], delta: i64, default_ttl: Option<Duration>) -> Call {
    match Expiry::of(default_ttl) {
        Expiry::Never => Call::plain("INCRBY", redis::cmd("INCRBY").arg(rk).arg(delta).to_owned()),
        expiry => {
            let ms = if let Expiry::Millis(ms) = expiry {
                ms
            } else {
                0
            };
            let (delta, ms) = (delta.to_string(), ms.to_string());
            INCR.call("INCRBY (script)", rk, &[delta.as_bytes(), ms.as_bytes()])
        }
    }
}

/// The count an [`incr_call`] answered (`INCRBY`'s integer or the script's decimal string),
/// or what a refusal means for the caller.
pub(crate) fn counted(
    reply: Result<Value, RedisError>,
    key: &str,
    delta: i64,
    server: &str,
) -> Result<i64, CacheError> {
    let count = reply.and_then(|reply| match reply {
        Value::Int(n) => Ok(n),
        Value::BulkString(b) => value::parse_counter(&b)
            .ok_or_else(|| RedisError::from((ErrorKind::Parse, "INCRBY left a non-integer"))),
        _ => Err(RedisError::from((
            ErrorKind::Parse,
            "INCRBY answered something other than a count",
        ))),
    });
    count.map_err(|e| counter_error(key, delta, e, server))
}

/// `touch` of `rk` with `expiry`: `PEXPIRE`, `PERSIST` (a script that also tells whether the
/// key exists) or, for a zero TTL, `UNLINK`. The reply is a count, positive iff a live entry
/// was there.
pub(crate) fn touch_call(rk: &[u8], expiry: Expiry) -> Call {
    match expiry {
        Expiry::Millis(ms) => {
            Call::plain("PEXPIRE", redis::cmd("PEXPIRE").arg(rk).arg(ms).to_owned())
        }
        Expiry::Never => PERSIST.call("PERSIST (script)", rk, &[]),
        Expiry::Gone => Call::plain("UNLINK", link::single("UNLINK", rk)),
    }
}

/// What `PTTL`'s reply means: `None` for no key, `Some(None)` for no expiry.
pub(crate) fn time_left(ms: i64) -> Option<Option<Duration>> {
    match ms {
        -1 => Some(None),
        ms if ms >= 0 => Some(Some(Duration::from_millis(ms as u64))),
        _ => None,
    }
}

/// An error the server answered with (a command refused), as opposed to a connection that
/// failed: handed back as a value, so that `run` neither retries it nor marks the connection.
pub(crate) fn refused<T>(r: RedisResult<T>) -> RedisResult<Result<T, RedisError>> {
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
                let cmd = add_cmd(&rk, value::encode(&self.encoding, key, value)?, expiry);
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
        let call = incr_call(
            &self.inner.keys.redis_key(key),
            delta,
            self.inner.default_ttl,
        );
        let reply = self.run(call.op, Some(key), |l| refused(call.query::<Value>(l)))?;
        let count = counted(reply, key, delta, &self.inner.server)?;
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
        let call = touch_call(&rk, Expiry::of(ttl.resolve(self.inner.default_ttl)));
        let n: u64 = self.run(call.op, Some(key), |l| call.query(l))?;
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
        Ok(time_left(ms))
    }
}
