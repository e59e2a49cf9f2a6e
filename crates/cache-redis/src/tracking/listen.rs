//! One server's listener: a connection in broadcasting mode, subscribed to the
//! invalidation channel, and its read loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use cache_core::near::InvalidationSink;
use redis::{RedisResult, Value};

use super::{Stop, POLL};
use crate::proto::keys::KeySpace;

/// The channel Redis reports invalidations on to a redirected client.
pub(super) const CHANNEL: &str = "__redis__:invalidate";

/// A connection subscribed to [`CHANNEL`], with tracking redirected to itself.
pub(super) struct Listener {
    conn: redis::Connection,
    /// "host:port", for nothing but debugging.
    #[allow(dead_code)]
    addr: String,
}

/// What a listener's thread shares with the others of its round.
pub(super) struct Context {
    pub(super) keys: KeySpace,
    pub(super) sink: Arc<dyn InvalidationSink>,
    /// The subscription stops: end without a word to the sink.
    pub(super) stop: Arc<Stop>,
    /// The round ends (another listener was lost, the primaries changed): end quietly.
    pub(super) ended: Arc<AtomicBool>,
    /// Whether `connected(false)` was said in this round (by whoever saw a loss first).
    pub(super) down: Arc<AtomicBool>,
    /// Told when this listener is lost.
    pub(super) lost: mpsc::Sender<()>,
    /// After this long without a word from the server, a `PING`.
    pub(super) beat: Duration,
    /// How long the answer to the `PING` may take.
    pub(super) read: Duration,
}

impl Listener {
    /// Turns `conn` (opened with the cache's timeouts) into a listener: `CLIENT SETNAME
    /// name`, `CLIENT ID`, `CLIENT TRACKING ON REDIRECT <id> BCAST [PREFIX prefix]`,
    /// `SUBSCRIBE __redis__:invalidate`. Once this returns, every later write under the
    /// prefix is reported on it.
    pub(super) fn open(
        mut conn: redis::Connection,
        addr: String,
        name: &str,
        prefix: &[u8],
    ) -> RedisResult<Listener> {
        redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(name)
            .query::<()>(&mut conn)?;
        let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut conn)?;
        let mut tracking = redis::cmd("CLIENT");
        tracking
            .arg("TRACKING")
            .arg("ON")
            .arg("REDIRECT")
            .arg(id)
            .arg("BCAST");
        if !prefix.is_empty() {
            tracking.arg("PREFIX").arg(prefix);
        }
        tracking.query::<()>(&mut conn)?;
        // Sent and confirmed by hand: redis's `PubSub` would leave pub/sub again when
        // dropped, and this connection is handed to a thread of its own first.
        conn.send_packed_command(&redis::cmd("SUBSCRIBE").arg(CHANNEL).get_packed_command())?;
        let confirmed = conn.recv_response()?;
        if !is_subscribed(&confirmed) {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "unexpected reply to SUBSCRIBE",
                format!("{confirmed:?}"),
            )));
        }
        Ok(Listener { conn, addr })
    }

    /// Reads news until the subscription stops, the round ends, or the connection is lost
    /// (an error, or no answer to a `PING` within `read`): then, unless said already this
    /// round, `connected(false)`, and word to the subscription's thread.
    pub(super) fn listen(mut self, ctx: &Context) {
        let lost = self.read_loop(ctx);
        if lost && !ctx.down.swap(true, Ordering::SeqCst) {
            ctx.sink.connected(false);
        }
        if lost {
            let _ = ctx.lost.send(());
        }
    }

    /// Whether the loop ended on a loss (not a stop).
    fn read_loop(&mut self, ctx: &Context) -> bool {
        let mut pubsub = self.conn.as_pubsub();
        if pubsub.set_read_timeout(Some(POLL)).is_err() {
            return true;
        }
        let mut heard = Instant::now();
        loop {
            if ctx.stop.is_set() || ctx.ended.load(Ordering::SeqCst) {
                return false;
            }
            match pubsub.get_message() {
                Ok(msg) => {
                    heard = Instant::now();
                    if msg.get_channel_name() == CHANNEL {
                        match msg.get_payload::<Value>() {
                            Ok(payload) => deliver(payload, &ctx.keys, &*ctx.sink),
                            Err(_) => ctx.sink.invalidate_all(),
                        }
                    }
                }
                Err(e) if e.is_timeout() => {
                    if heard.elapsed() < ctx.beat {
                        continue;
                    }
                    // A quiet spell: the server must answer a PING (in pub/sub mode, a
                    // `pong` array; messages read meanwhile are kept for `get_message`).
                    let answered = pubsub
                        .set_read_timeout(Some(ctx.read))
                        .and_then(|()| pubsub.ping::<Value>())
                        .and_then(|_| pubsub.set_read_timeout(Some(POLL)));
                    if answered.is_err() {
                        return true;
                    }
                    heard = Instant::now();
                }
                Err(_) => return true,
            }
        }
    }
}

/// Whether `reply` confirms a subscription to [`CHANNEL`].
fn is_subscribed(reply: &Value) -> bool {
    match reply {
        Value::Array(items) => {
            matches!(items.first(), Some(Value::BulkString(k)) if k == b"subscribe")
                && matches!(items.get(1), Some(Value::BulkString(c)) if c == CHANNEL.as_bytes())
        }
        _ => false,
    }
}

/// Tells `sink` what an invalidation message's `payload` says: nil (a flush) or a key that
/// maps to no cache key: every key; else each key, as the user wrote it. The keys of the
/// cache's own flight locks (`<prefix>\xFFflight:...`, no cache key) are not news.
pub(super) fn deliver(payload: Value, keys: &KeySpace, sink: &dyn InvalidationSink) {
    let one = |key: &[u8]| match keys.cache_key(key) {
        Some(k) => {
            sink.invalidate(k);
            true
        }
        None if keys.is_flight_lock(key) => true,
        None => {
            sink.invalidate_all();
            false
        }
    };
    match payload {
        Value::Array(items) => {
            for item in items {
                let handled = match item {
                    Value::BulkString(key) => one(&key),
                    Value::SimpleString(key) => one(key.as_bytes()),
                    _ => {
                        sink.invalidate_all();
                        false
                    }
                };
                if !handled {
                    return;
                }
            }
        }
        Value::BulkString(key) => {
            one(&key);
        }
        _ => sink.invalidate_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Heard(Mutex<Vec<String>>);

    impl InvalidationSink for Heard {
        fn invalidate(&self, key: &str) {
            self.0.lock().unwrap().push(key.to_owned());
        }
        fn invalidate_all(&self) {
            self.0.lock().unwrap().push("*ALL*".to_owned());
        }
        fn connected(&self, up: bool) {
            self.0.lock().unwrap().push(format!("*UP {up}*"));
        }
    }

    fn heard(payload: Value, keys: &KeySpace) -> Vec<String> {
        let sink = Heard::default();
        deliver(payload, keys, &sink);
        sink.0.into_inner().unwrap()
    }

    fn bulk(b: &[u8]) -> Value {
        Value::BulkString(b.to_vec())
    }

    #[test]
    fn keys_are_mapped_back_to_cache_keys() {
        let ks = KeySpace::new("app:", 1);
        let keys = Value::Array(vec![bulk(b"app:a"), bulk(b"app:b\xff7"), bulk(b"app:")]);
        assert_eq!(heard(keys, &ks), ["a", "b", ""]);
        // A flush, a key no cache key maps to, a payload of unknown form: every key.
        assert_eq!(heard(Value::Nil, &ks), ["*ALL*"]);
        let odd = Value::Array(vec![bulk(b"app:a"), bulk(b"app:\xfe"), bulk(b"app:c")]);
        assert_eq!(heard(odd, &ks), ["a", "*ALL*"]);
        assert_eq!(heard(Value::Int(3), &ks), ["*ALL*"]);
        assert_eq!(heard(bulk(b"app:z"), &ks), ["z"]);
        // The cache's own flight locks are not news.
        let lock = crate::proto::flight::lock_key(4, b"app:a");
        assert_eq!(
            heard(Value::Array(vec![bulk(&lock)]), &ks),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_subscription_is_confirmed() {
        let yes = Value::Array(vec![
            bulk(b"subscribe"),
            bulk(CHANNEL.as_bytes()),
            Value::Int(1),
        ]);
        assert!(is_subscribed(&yes));
        let other = Value::Array(vec![bulk(b"subscribe"), bulk(b"x"), Value::Int(1)]);
        assert!(!is_subscribed(&other));
        assert!(!is_subscribed(&Value::Okay));
    }
}
