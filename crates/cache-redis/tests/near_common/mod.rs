//! What the invalidation tests share: a sink that records what it is told, in order, and
//! waits for it; finding and killing a listener by its client name.
#![allow(dead_code)]

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cache_core::near::InvalidationSink;
use redis_test_support::RedisServer;

/// A generous deadline for news that normally takes milliseconds (and for a reconnection
/// after a fault, which takes at most the backoff's second).
pub const NEWS: Duration = Duration::from_secs(15);

/// What a sink was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Key(String),
    All,
    Up(bool),
}

/// Records every call, in order.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<Event>>,
    changed: Condvar,
}

impl InvalidationSink for Recorder {
    fn invalidate(&self, key: &str) {
        self.push(Event::Key(key.to_owned()));
    }
    fn invalidate_all(&self) {
        self.push(Event::All);
    }
    fn connected(&self, up: bool) {
        self.push(Event::Up(up));
    }
}

impl Recorder {
    fn push(&self, e: Event) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(e);
        self.changed.notify_all();
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many events so far (a mark for [`Recorder::since`]).
    pub fn mark(&self) -> usize {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The events after `mark`.
    pub fn since(&self, mark: usize) -> Vec<Event> {
        self.events()[mark..].to_vec()
    }

    /// Waits (at most [`NEWS`]) until `done` holds of the events after `mark`; panics
    /// naming `what` and the events otherwise.
    #[track_caller]
    pub fn wait_for(&self, mark: usize, what: &str, done: impl Fn(&[Event]) -> bool) {
        let deadline = Instant::now() + NEWS;
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        while !done(&events[mark..]) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{what}: not seen within {NEWS:?}; events: {:?}",
                &events[mark..]
            );
            events = self
                .changed
                .wait_timeout(events, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits until `key` is reported after `mark`.
    #[track_caller]
    pub fn wait_key(&self, mark: usize, key: &str) {
        let want = Event::Key(key.to_owned());
        self.wait_for(mark, &format!("invalidation of {key:?}"), |e| {
            e.contains(&want)
        });
    }

    /// Waits until, after `mark`, the channel went down and came back: `Up(false)`, then
    /// `All`, then `Up(true)`, in that order (nothing but `All` between the last two).
    #[track_caller]
    pub fn wait_recovery(&self, mark: usize) {
        self.wait_for(mark, "down, then invalidate_all, then up", recovered);
    }
}

/// Whether `events` hold `Up(false)`, later `All`, then right after it `Up(true)`.
pub fn recovered(events: &[Event]) -> bool {
    let Some(down) = events.iter().position(|e| *e == Event::Up(false)) else {
        return false;
    };
    let after = &events[down..];
    after
        .windows(2)
        .any(|w| w[0] == Event::All && w[1] == Event::Up(true))
}

/// The ids of the clients of `server` named `name` (`CLIENT LIST`).
pub fn clients_named(server: &RedisServer, name: &str) -> Vec<String> {
    let list = server
        .query(&["CLIENT", "LIST"])
        .expect("CLIENT LIST of the test server")
        .text();
    let field = format!(" name={name} ");
    list.lines()
        .filter(|line| line.contains(&field))
        .filter_map(|line| {
            line.split(' ')
                .find_map(|f| f.strip_prefix("id="))
                .map(str::to_owned)
        })
        .collect()
}

/// Kills the listener of the cache with key prefix `prefix` on `server` (found by its
/// client name, `near:<prefix>`); panics unless there was exactly one.
#[track_caller]
pub fn kill_listener(server: &RedisServer, prefix: &str) {
    let ids = clients_named(server, &format!("near:{prefix}"));
    assert_eq!(ids.len(), 1, "one listener of {prefix:?}: {ids:?}");
    let killed = server
        .query(&["CLIENT", "KILL", "ID", ids[0].as_str()])
        .expect("CLIENT KILL on the test server");
    assert_eq!(killed.int(), Some(1), "CLIENT KILL ID {}", ids[0]);
}

/// Waits until `server` has no client named `name`.
#[track_caller]
pub fn wait_gone(server: &RedisServer, name: &str) {
    redis_test_support::succeeds_within(NEWS, "the listener's connection to close", || {
        let ids = clients_named(server, name);
        if ids.is_empty() {
            Ok(())
        } else {
            Err(format!("still connected: {ids:?}"))
        }
    });
}
