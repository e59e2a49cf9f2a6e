//! The r2d2 pool, and in front of it the connection the last call gave back, kept for the
//! next call.
//!
//! r2d2's checkout and checkin take its pool lock twice, clone and drop its `Arc`, read the
//! clock twice and call its event handlers: about 110 ns on one thread, and with two threads
//! taking turns, every one of those cache lines crosses between cores on every call. Measured
//! with two client threads on two cores against one server, that made our `incr` 0.87x–0.93x
//! a bare connection; with this slot in front, 0.98x–0.99x. Taking the slot's connection and
//! putting it back is one uncontended lock each.
//!
//! The slot never keeps a connection from a caller who needs one:
//! - A caller that finds neither the slot's connection nor an idle one in r2d2 announces
//!   itself (`waiting`) and looks in the slot once more before it waits in r2d2. While anyone
//!   is announced, connections go back to r2d2, where the waiter gets them. Both steps happen
//!   under the slot's lock, so a connection put in the slot after a waiter looked is never
//!   stranded (with a pool of one connection, that would stall the waiter until its timeout).
//! - The slot holds one connection at most; r2d2 still bounds them all (`pool_size`).
//! - A connection marked broken goes back to r2d2, which drops it. So does one older than
//!   `max_lifetime`, which r2d2's reaper then closes as it does any other.
//!
//! The one difference from a pool of only r2d2: the slot's connection, being in use from
//! r2d2's view, is not closed by `idle_timeout`. One connection stays open while the cache
//! is idle (a server's own `timeout` may still close it; the next call then reconnects, as it
//! does for a stale pooled connection).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use r2d2::{ManageConnection, Pool, PooledConnection};

use super::link::Manager;

/// A connection of the pool, checked out.
pub(crate) type Pooled = PooledConnection<Manager>;

/// The r2d2 pool, and the slot in front of it.
pub(crate) struct HotSlot {
    pool: Pool<Manager>,
    conn: Mutex<Option<Pooled>>,
    /// Callers that found no connection and are about to wait, or waiting, in r2d2.
    waiting: AtomicUsize,
}

impl HotSlot {
    pub(crate) fn new(pool: Pool<Manager>) -> Self {
        HotSlot {
            pool,
            conn: Mutex::new(None),
            waiting: AtomicUsize::new(0),
        }
    }

    /// The connections open and, of those, the idle ones (the pool's, and the slot's).
    pub(crate) fn connections(&self) -> (u32, u32) {
        let state = self.pool.state();
        let slot = u32::from(self.slot().is_some());
        (state.connections, state.idle_connections + slot)
    }

    /// The slot's connection, else an idle one of the pool, else one that the pool gives
    /// within its timeout.
    pub(crate) fn checkout(&self) -> Result<Pooled, r2d2::Error> {
        if let Some(conn) = self.slot().take() {
            return Ok(conn);
        }
        if let Some(conn) = self.pool.try_get() {
            return Ok(conn);
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _announced = Announced(&self.waiting);
        // Announced first, looked second: a `give_back` after this look sees the announcement
        // and gives its connection to r2d2 instead of the slot.
        if let Some(conn) = self.slot().take() {
            return Ok(conn);
        }
        self.pool.get()
    }

    /// Keeps `conn` for the next call if the slot is free, nobody waits in r2d2, and the
    /// connection is sound and young enough; otherwise it goes back to r2d2 (dropped here).
    pub(crate) fn give_back(&self, manager: &Manager, mut conn: Pooled) {
        let sound = !manager.has_broken(&mut conn)
            && self
                .pool
                .max_lifetime()
                .is_none_or(|max| conn.born.elapsed() < max);
        if !sound {
            return;
        }
        let mut slot = self.slot();
        if slot.is_none() && self.waiting.load(Ordering::SeqCst) == 0 {
            *slot = Some(conn);
        }
    }

    fn slot(&self) -> MutexGuard<'_, Option<Pooled>> {
        // Nothing panics while the lock is held: a poisoned slot is still a sound one.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Withdraws a caller's announcement when its checkout ends, however it ends.
struct Announced<'a>(&'a AtomicUsize);

impl Drop for Announced<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::link::Tracked;
    use crate::connection::{Connector, Timeouts};
    use crate::RedisConfig;
    use std::time::Duration;

    /// A slot in front of a pool of `size` connections to the shared test server, with
    /// `max_lifetime`, and the pool's manager.
    fn slot_and_manager(size: u32, max_lifetime: Option<Duration>) -> (HotSlot, Manager) {
        let config = RedisConfig::new(redis_test_support::shared_server().url());
        let manager = Manager {
            connector: Connector::from_config(&config).unwrap().0,
            timeouts: Timeouts::of(&config),
        };
        let pool = Pool::builder()
            .max_size(size)
            .max_lifetime(max_lifetime)
            .connection_timeout(Duration::from_secs(5))
            .build(manager.clone())
            .unwrap();
        (HotSlot::new(pool), manager)
    }

    #[test]
    fn the_last_connection_is_kept_and_taken_next() {
        let (slot, manager) = slot_and_manager(2, None);
        let conn = slot.checkout().unwrap();
        let first: *const Tracked = &**conn;
        slot.give_back(&manager, conn);
        assert!(slot.slot().is_some());
        let again = slot.checkout().unwrap();
        assert_eq!(&**again as *const Tracked, first, "the same connection");
        assert!(slot.slot().is_none(), "taken out while in use");
        slot.give_back(&manager, again);
    }

    #[test]
    fn broken_old_or_awaited_connections_go_back_to_the_pool() {
        let (slot, manager) = slot_and_manager(2, None);
        let mut conn = slot.checkout().unwrap();
        conn.broken = true;
        slot.give_back(&manager, conn);
        assert!(slot.slot().is_none(), "broken: not kept");

        let (young, manager_of_young) = slot_and_manager(1, Some(Duration::from_millis(1)));
        let conn = young.checkout().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        young.give_back(&manager_of_young, conn);
        assert!(young.slot().is_none(), "past max_lifetime: not kept");

        let conn = slot.checkout().unwrap();
        slot.waiting.fetch_add(1, Ordering::SeqCst);
        slot.give_back(&manager, conn);
        assert!(slot.slot().is_none(), "someone waits in r2d2: not kept");
        assert_eq!(
            slot.pool.state().idle_connections,
            2,
            "both back in the pool"
        );
    }

    /// One connection, four threads: a connection put in the slot while another thread
    /// waits in r2d2 would stall that thread until the pool's timeout and fail it.
    #[test]
    fn one_connection_serves_many_threads_without_stalls() {
        let (slot, manager) = slot_and_manager(1, None);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..2_000 {
                        let mut conn = slot.checkout().expect("no stall");
                        let pong: String = conn.link.query(&redis::cmd("PING")).unwrap();
                        assert_eq!(pong, "PONG");
                        slot.give_back(&manager, conn);
                    }
                });
            }
        });
        assert_eq!(slot.waiting.load(Ordering::SeqCst), 0);
    }
}
