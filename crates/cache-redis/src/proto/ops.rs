//! `add`, `incr`, `touch` and `ttl` on Redis: each one command, or one small Lua script where
//! Redis has no single command for it, so each is atomic on a server and on a cluster (every
//! command names one key).

use std::sync::LazyLock;
use std::time::Duration;

use cache_core::codec::{Codec, Encoding};
use cache_core::{CacheError, CounterChange};
use redis::{Arg, Cmd, ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::proto::command::Command;
use crate::proto::keys::keyed;
use crate::proto::keys::{Expiry, KeySpace};
use crate::proto::value;

/// `INCRBY` that gives a key it creates the default TTL (`ARGV[2]` ms) in the same atomic
/// step: `SET key 0 NX PX ttl` creates an absent counter with its TTL, then `INCRBY` adds
/// (the configuration refuses a zero default TTL, which `PX` would refuse too). The count
/// comes back as an integer while it is exact as a Lua number (a double: below 2^53 in size),
/// else as Redis's decimal string, exact for every `i64`.
///
/// Two server calls in the common case; the script it replaces (`EXISTS`, `INCRBY`, `GET`,
/// then `PEXPIRE` for a new key) made three, and `redis-benchmark` of the two scripts on one
/// server, pipelined: 478k against 420k scripts per second.
const INCR_WITH_TTL: &str = r"
redis.call('SET', KEYS[1], '0', 'NX', 'PX', ARGV[2])
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n > -9007199254740992 and n < 9007199254740992 then return n end
return redis.call('GET', KEYS[1])
";

/// `decr` of `i64::MIN`, which neither `DECRBY` (it refuses `i64::MIN`) nor `INCRBY` (its
/// negation has no `i64`) can send: `count - i64::MIN` fits exactly when the count is
/// negative, and is then the count plus `i64::MAX` plus 1. Anything else is an overflow (an
/// absent counter counts 0) or not a counter, answered with Redis's own messages. The count
/// comes back as [`INCR_WITH_TTL`]'s does.
const DECR_MIN: &str = r"
local v = redis.call('GET', KEYS[1])
if v and not string.match(v, '^%-?%d+$') then
  return redis.error_reply('ERR value is not an integer or out of range')
end
if not v or string.sub(v, 1, 1) ~= '-' then
  return redis.error_reply('ERR increment or decrement would overflow')
end
redis.call('INCRBY', KEYS[1], '9223372036854775807')
local n = redis.call('INCRBY', KEYS[1], 1)
if n > -9007199254740992 and n < 9007199254740992 then return n end
return redis.call('GET', KEYS[1])
";

/// `PERSIST` that reports whether the key exists (plain `PERSIST` answers 0 for a key without
/// a TTL).
const PERSIST_IF_EXISTS: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('PERSIST', KEYS[1])
return 1
";

/// A Lua script, sent by its hash (`EVALSHA`) and in full (`EVAL`) to a node that does not
/// have it yet (the scripts of `add`/`incr`/`touch` here, of the flight lock in `proto/flight.rs`).
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

    /// The call of this script on `key` with `args` (by its hash: see [`Call`]).
    pub(crate) fn call(&'static self, op: &'static str, key: &[u8], args: &[&[u8]]) -> Call {
        let bytes = key.len() + args.iter().map(|a| a.len()).sum::<usize>();
        let mut cmd = self.evalsha(1 + args.len(), bytes);
        cmd.arg(key);
        for a in args {
            cmd.arg(*a);
        }
        self.with(op, cmd)
    }

    /// `EVALSHA hash 1`, with room for `args` more arguments of `bytes` bytes: the key, then
    /// the script's arguments, come next.
    fn evalsha(&self, args: usize, bytes: usize) -> Command {
        let mut cmd = Command::new("EVALSHA", 2 + args, self.hash.len() + 1 + bytes);
        cmd.arg(&self.hash).arg(1);
        cmd
    }

    /// The call of this script that `evalsha` (from [`Lua::evalsha`]) makes.
    fn with(&'static self, op: &'static str, evalsha: Command) -> Call {
        Call {
            op,
            first: evalsha,
            script: Some(self),
        }
    }

    /// The `EVAL` of this script with the keys and arguments of `evalsha`, its call by hash.
    fn eval_of(&self, evalsha: &Cmd) -> Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(self.source);
        for arg in evalsha.args_iter().skip(2) {
            if let Arg::Simple(a) = arg {
                cmd.arg(a);
            }
        }
        cmd
    }
}

static INCR: LazyLock<Lua> = LazyLock::new(|| Lua::new(INCR_WITH_TTL));
static PERSIST: LazyLock<Lua> = LazyLock::new(|| Lua::new(PERSIST_IF_EXISTS));
static DECR_BY_MIN: LazyLock<Lua> = LazyLock::new(|| Lua::new(DECR_MIN));

/// What `add`, `incr` and `touch` send, built once for the blocking and the async cache: one
/// command, or a script by its hash with its full text for a node that does not know it.
pub(crate) struct Call {
    /// The operation's name in error messages.
    pub(crate) op: &'static str,
    first: Command,
    /// The script that `first` calls by its hash (`EVALSHA`): sent in full (`EVAL`, built
    /// then, so that the common call does not build it) to a node that does not know it.
    script: Option<&'static Lua>,
}

impl Call {
    fn plain(op: &'static str, cmd: Command) -> Self {
        Call {
            op,
            first: cmd,
            script: None,
        }
    }

    /// The command to send first (the links send a call: `Link::call`, `AsyncLink::call`).
    pub(crate) fn first(&self) -> &Cmd {
        &self.first
    }

    /// The command to send after [`Call::first`] failed with `e`, if any.
    pub(crate) fn then(&self, e: &RedisError) -> Option<Cmd> {
        let no_script = e.kind() == ErrorKind::Server(ServerErrorKind::NoScript);
        let lua = self.script.filter(|_| no_script)?;
        Some(lua.eval_of(&self.first))
    }
}

/// `SET key value [PX ms]` of `value` under `key`, encoded by `encoding`; a plain `SET` also
/// clears an older TTL. A value over `max_value` bytes encoded is refused
/// ([`CacheError::InvalidInput`]): the server would refuse it by closing the connection.
pub(crate) fn set_cmd<C: Codec, V: Serialize + DeserializeOwned + 'static>(
    keys: &KeySpace,
    encoding: &Encoding<C>,
    key: &str,
    value: &V,
    expiry: Expiry,
    max_value: usize,
) -> Result<Command, CacheError> {
    // The key, a small value, "PX", up to 20 digits, "NX".
    let mut cmd = Command::new("SET", 5, keys.key_len(key) + 64 + 24);
    keys.write_key(&mut cmd, key);
    value::write_arg(&mut cmd, encoding, key, value, max_value)?;
    if let Expiry::Millis(ms) = expiry {
        cmd.arg("PX").arg(ms);
    }
    Ok(cmd)
}

/// `SET key value [PX ms] NX`, from the `SET` of [`set_cmd`]: `add` of an entry that
/// is stored (not a zero TTL); the reply is nil when a live entry was there.
pub(crate) fn add_cmd(mut set: Command) -> Command {
    set.arg("NX");
    set
}

/// `incr` or `decr` of `key`: `INCRBY` of the amount added, or, when new counters take a
/// default TTL, a script that gives a key it creates that TTL in the same atomic step; for
/// `decr` of `i64::MIN`, the script [`DECR_MIN`]. Its reply goes through [`counted`].
pub(crate) fn incr_call(
    keys: &KeySpace,
    key: &str,
    change: CounterChange,
    default_ttl: Option<Duration>,
) -> Call {
    let delta = match change {
        CounterChange::Add(n) => n,
        CounterChange::Sub(n) if n != i64::MIN => -n,
        CounterChange::Sub(_) => {
            let mut cmd = DECR_BY_MIN.evalsha(1, keys.key_len(key));
            keys.write_key(&mut cmd, key);
            return DECR_BY_MIN.with("DECRBY (script)", cmd);
        }
    };
    match Expiry::of(default_ttl) {
        Expiry::Never => {
            let mut cmd = Command::new("INCRBY", 2, keys.key_len(key) + 20);
            keys.write_key(&mut cmd, key);
            cmd.arg(delta);
            Call::plain("INCRBY", cmd)
        }
        expiry => {
            let ms = if let Expiry::Millis(ms) = expiry {
                ms
            } else {
                0
            };
            // The key, the delta and the TTL, in decimal.
            let mut cmd = INCR.evalsha(3, keys.key_len(key) + 40);
            keys.write_key(&mut cmd, key);
            cmd.arg(delta).arg(ms);
            INCR.with("INCRBY (script)", cmd)
        }
    }
}

/// The count an [`incr_call`] answered (an integer, or the script's decimal string for a count
/// beyond 2^53 in size), or what a refusal means for the caller.
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

/// `touch` of `key` with `expiry`: `PEXPIRE`, `PERSIST` (a script that also tells whether
/// the key exists) or, for a zero TTL, `UNLINK`. The reply is a count, positive iff a live
/// entry was there.
pub(crate) fn touch_call(keys: &KeySpace, key: &str, expiry: Expiry) -> Call {
    match expiry {
        Expiry::Millis(ms) => {
            let mut cmd = keyed("PEXPIRE", keys, key);
            cmd.arg(ms);
            Call::plain("PEXPIRE", cmd)
        }
        Expiry::Never => {
            let mut cmd = PERSIST.evalsha(1, keys.key_len(key));
            keys.write_key(&mut cmd, key);
            PERSIST.with("PERSIST (script)", cmd)
        }
        Expiry::Gone => Call::plain("UNLINK", keyed("UNLINK", keys, key)),
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
        crate::proto::failure::backend(format!("INCRBY of key {key:?} on {server}"), e)
    }
}
