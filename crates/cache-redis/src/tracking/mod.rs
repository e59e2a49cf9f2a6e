//! Server-assisted invalidation (`cache_core::near::Invalidations`) for both caches: one
//! listener implementation on std threads, so that it needs no runtime.
//!
//! On every server that takes the cache's writes (the one server, the primary the sentinels
//! name, or every primary of a cluster) a dedicated connection, named `near:<prefix>`
//! ([`client_name`]), runs Redis's client-side caching in broadcasting mode over RESP2:
//! `CLIENT ID`, `CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <the cache's key
//! prefix>` (no `PREFIX` for an empty prefix: every key), then `SUBSCRIBE
//! __redis__:invalidate`. The server then reports every key under the prefix that any
//! client writes, deletes or expires, as a `message` on that channel whose payload is the
//! array of keys, or nil for `FLUSHDB`/`FLUSHALL`. RESP2 and a redirect to the connection
//! itself, not RESP3 pushes: the cache's connections are RESP2 (as are the clients the
//! connector makes), and redis's blocking pub/sub reader reads messages with a timeout
//! without putting the connection out of step (its plain reply reader counts a timed-out
//! read as a reply to skip).
//!
//! - `listen.rs`: one server's listener: opening it, and its read loop (messages mapped
//!   back to cache keys, a `PING` after a quiet spell whose missing answer is a loss).
//! - `target.rs`: which servers to listen to (`Target`), and a cluster's primaries.
//! - here: [`Tracking`], the subscription thread: it opens a listener per server, then calls
//!   `invalidate_all` and `connected(true)`, runs a thread per listener, and on a loss
//!   (reported by the listener that saw it, `connected(false)`, at once) or a change of a
//!   cluster's primaries, closes them all and opens them again with backoff.
//!
//! May use: `config`, `connection` and `proto`. Used by `blocking` and `aio` alike.

mod listen;
mod target;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use cache_core::near::{InvalidationSink, Subscription};
use cache_core::CacheError;

use crate::config::RedisConfig;
use crate::connection::{Connector, Timeouts};
use crate::proto::failure;
use crate::proto::keys::KeySpace;
use listen::Listener;
pub(crate) use target::Target;

/// How often a listener wakes to see whether it should stop (its read timeout while idle).
const POLL: Duration = Duration::from_millis(50);
/// The first pause before opening the listeners again after a failure.
const BACKOFF_FIRST: Duration = Duration::from_millis(10);
/// The longest pause between two attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// The longest client name sent (`CLIENT SETNAME`).
const MAX_NAME: usize = 100;

/// What a cache's subscriptions need: where to listen, how to map keys back, the timeouts.
pub(crate) struct Tracking {
    target: Target,
    keys: KeySpace,
    prefix: Vec<u8>,
    timeouts: Timeouts,
    name: String,
    /// "redis host:port" and the like, for errors.
    server: String,
}

/// The name of the listener connections of a cache with key prefix `prefix`, as `CLIENT
/// LIST` shows them: `near:` and the prefix, each byte Redis refuses in a name (a space, a
/// control or non-ASCII byte) replaced by `_`, cut at 100 bytes.
pub(crate) fn client_name(prefix: &str) -> String {
    let mut name = String::from("near:");
    name.extend(prefix.bytes().map(|b| {
        if (b'!'..=b'~').contains(&b) {
            char::from(b)
        } else {
            '_'
        }
    }));
    name.truncate(MAX_NAME);
    name
}

impl Tracking {
    /// The tracking of the cache `config` describes, whose clients `connector` holds.
    pub(crate) fn new<C>(
        config: &RedisConfig<C>,
        connector: &Connector,
        server: &str,
    ) -> Result<Self, CacheError> {
        Ok(Tracking {
            target: Target::new(config, connector)?,
            keys: KeySpace::new(&config.key_prefix, config.version),
            prefix: config.key_prefix.as_bytes().to_vec(),
            timeouts: Timeouts::of(config),
            name: client_name(&config.key_prefix),
            server: server.to_owned(),
        })
    }

    /// Starts delivering news to `sink` (see `cache_core::near::Invalidations::subscribe`):
    /// returns once every listener is up and `sink.connected(true)` was called.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        sink: Arc<dyn InvalidationSink>,
    ) -> Result<Subscription, CacheError> {
        let stop = Arc::new(Stop::default());
        let (ready_tx, ready_rx) = mpsc::channel();
        let tracking = Arc::clone(self);
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("cache-redis-tracking".to_owned())
            .spawn(move || {
                ON_TRACKING_THREAD.with(|on| on.set(true));
                tracking.supervise(&sink, &thread_stop, ready_tx)
            })
            .map_err(|e| {
                CacheError::backend_failure(
                    cache_core::BackendFailure::Other,
                    format!("starting the invalidation listener of {}", self.server),
                    e,
                )
            })?;
        let guard = Guard {
            stop,
            thread: Some(thread),
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Subscription::new(guard)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(CacheError::backend_failure(
                cache_core::BackendFailure::Other,
                format!("starting the invalidation listener of {}", self.server),
                std::io::Error::other("the listener thread ended before it was up"),
            )),
        }
    }

    /// The subscription's thread: open the listeners, run them until one is lost, again.
    fn supervise(
        &self,
        sink: &Arc<dyn InvalidationSink>,
        stop: &Arc<Stop>,
        ready: mpsc::Sender<Result<(), CacheError>>,
    ) {
        let mut ready = Some(ready);
        let mut backoff = BACKOFF_FIRST;
        loop {
            if stop.is_set() {
                return;
            }
            let listeners = match self.open_all() {
                Ok(listeners) => listeners,
                Err(e) => {
                    if let Some(ready) = ready.take() {
                        let context =
                            format!("subscribing to the invalidations of {}", self.server);
                        let _ = ready.send(Err(failure::backend(context, e)));
                        return;
                    }
                    if stop.wait(backoff) {
                        return;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            // Every change from now on is heard; what changed before is covered by this.
            sink.invalidate_all();
            sink.connected(true);
            if let Some(ready) = ready.take() {
                let _ = ready.send(Ok(()));
            }
            backoff = BACKOFF_FIRST;
            self.run(listeners, sink, stop);
        }
    }

    /// Opens a listener on every server of the target.
    fn open_all(&self) -> redis::RedisResult<Round> {
        let (conns, primaries) = self.target.connections(self.timeouts)?;
        let listeners = conns
            .into_iter()
            .map(|(addr, conn)| Listener::open(conn, addr, &self.name, &self.prefix))
            .collect::<redis::RedisResult<Vec<_>>>()?;
        Ok(Round {
            listeners,
            primaries,
        })
    }

    /// Runs one round of listeners until one is lost, the cluster's primaries change, or
    /// the subscription stops; then stops and joins them all.
    fn run(&self, round: Round, sink: &Arc<dyn InvalidationSink>, stop: &Arc<Stop>) {
        let down = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(AtomicBool::new(false));
        let (lost_tx, lost_rx) = mpsc::channel::<()>();
        let mut threads = Vec::new();
        for listener in round.listeners {
            let ctx = listen::Context {
                keys: self.keys.clone(),
                sink: Arc::clone(sink),
                stop: Arc::clone(stop),
                ended: Arc::clone(&ended),
                down: Arc::clone(&down),
                lost: lost_tx.clone(),
                beat: self.timeouts.read,
                read: self.timeouts.read,
            };
            match thread::Builder::new()
                .name("cache-redis-listener".to_owned())
                .spawn(move || {
                    ON_TRACKING_THREAD.with(|on| on.set(true));
                    listener.listen(&ctx)
                }) {
                Ok(t) => threads.push(t),
                Err(_) => {
                    // No thread, no listener: as good as lost.
                    if !down.swap(true, Ordering::SeqCst) {
                        sink.connected(false);
                    }
                    break;
                }
            }
        }
        drop(lost_tx);
        let mut check = self.target.checker(round.primaries);
        let mut since_check = Duration::ZERO;
        loop {
            if down.load(Ordering::SeqCst) || stop.is_set() {
                break;
            }
            match lost_rx.recv_timeout(POLL) {
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            since_check += POLL;
            if since_check >= self.timeouts.read {
                since_check = Duration::ZERO;
                if check.changed(self.timeouts) && !down.swap(true, Ordering::SeqCst) {
                    sink.connected(false);
                    break;
                }
            }
        }
        ended.store(true, Ordering::SeqCst);
        for t in threads {
            let _ = t.join();
        }
    }
}

/// The listeners of one round, and (on a cluster) the primaries they are on.
struct Round {
    listeners: Vec<Listener>,
    primaries: Option<Vec<target::Address>>,
}

/// The stop signal of a subscription, which its waits wake on.
#[derive(Default)]
pub(crate) struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    fn set(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
    }

    pub(crate) fn is_set(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits `d` or until stopped; whether stopped.
    fn wait(&self, d: Duration) -> bool {
        let stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        let (stopped, _) = self
            .wake
            .wait_timeout_while(stopped, d, |s| !*s)
            .unwrap_or_else(PoisonError::into_inner);
        *stopped
    }
}

thread_local! {
    /// Set on the threads of subscriptions (the sink is called from them), where a dropped
    /// subscription must not wait for threads that may be waiting for this one.
    static ON_TRACKING_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// What a [`Subscription`] holds: dropping it stops the thread and waits for it (so that
/// the sink hears nothing after the drop), unless dropped on one of the subscription threads (from
/// a sink's call).
struct Guard {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop.set();
        if let Some(t) = self.thread.take() {
            if !ON_TRACKING_THREAD.with(Cell::get) {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_are_what_redis_takes() {
        assert_eq!(client_name("app:"), "near:app:");
        assert_eq!(client_name(""), "near:");
        assert_eq!(client_name("a b\n\u{e9}"), "near:a_b___");
        assert_eq!(client_name(&"x".repeat(500)).len(), MAX_NAME);
    }

    #[test]
    fn a_stop_wakes_a_wait() {
        let stop = Arc::new(Stop::default());
        assert!(!stop.wait(Duration::from_millis(1)));
        let s = Arc::clone(&stop);
        let t = thread::spawn(move || s.wait(Duration::from_secs(60)));
        stop.set();
        assert!(t.join().unwrap());
        assert!(stop.is_set());
    }
}
