//! The operations beyond get/set/delete (`add`, `incr`, `touch`, `ttl`), each one critical
//! section on the shard, built from the shard's own primitives.

use std::time::Duration;

use cache_core::{Clock, CounterChange, CounterValue, Timestamp};

use super::Shard;
use crate::key::Probe;

/// Why an `incr` changed nothing.
pub(crate) enum CounterFault {
    NotACounter,
    Overflow,
}

impl<V> Shard<V> {
    /// The slot of the live entry of `key`; an expired one is removed and counted.
    fn live_slot(&mut self, key: Probe<'_>, clock: &dyn Clock) -> Option<u32> {
        if self.peek_live(key, clock) {
            self.find(key)
        } else {
            None
        }
    }

    /// `add`: stores like `insert` only if no live entry exists; `true` iff it stored.
    pub(crate) fn add(
        &mut self,
        key: Probe<'_>,
        value: V,
        expires: Timestamp,
        now: Option<Timestamp>,
        clock: &dyn Clock,
    ) -> bool {
        if self.peek_live(key, clock) {
            return false;
        }
        self.insert(key, value, expires, now, clock);
        true
    }

    /// `incr` and `decr`: applies `change` to the live counter (its expiry kept), or to 0
    /// and stores the result with `expires` when there is none. Counts a set when it writes.
    pub(crate) fn add_to_counter(
        &mut self,
        key: Probe<'_>,
        change: CounterChange,
        expires: Timestamp,
        now: Option<Timestamp>,
        clock: &dyn Clock,
    ) -> Result<i64, CounterFault>
    where
        V: CounterValue,
    {
        let Some(i) = self.live_slot(key, clock) else {
            let count = change.apply(0).ok_or(CounterFault::Overflow)?;
            self.insert(key, V::from_counter(count), expires, now, clock);
            return Ok(count);
        };
        let node = &self.nodes[i as usize];
        let count = node.value.to_counter().ok_or(CounterFault::NotACounter)?;
        let count = change.apply(count).ok_or(CounterFault::Overflow)?;
        let kept = node.expires;
        // An update in place through `insert`: same key, same expiry, a set counted.
        self.insert(key, V::from_counter(count), kept, None, clock);
        Ok(count)
    }

    /// `touch`: gives the live entry of `key` the expiry `expires` (computed at `now`) and
    /// marks it used; a zero TTL removes it. `true` iff a live entry was there.
    pub(crate) fn retime(
        &mut self,
        key: Probe<'_>,
        expires: Timestamp,
        now: Option<Timestamp>,
        clock: &dyn Clock,
    ) -> bool {
        let Some(i) = self.live_slot(key, clock) else {
            return false;
        };
        if now.is_some_and(|now| !expires.is_live_at(now)) {
            // Like a `set` with a zero TTL: the value ends, uncounted, as replaced.
            let old = self.remove_at(i);
            self.retire(old, cache_core::RemovalCause::Replaced);
            return true;
        }
        let old = std::mem::replace(&mut self.nodes[i as usize].expires, expires);
        if old != Timestamp::MAX {
            self.expiring.remove(&(old, i));
        }
        if expires != Timestamp::MAX {
            self.expiring.insert((expires, i));
        }
        self.touch(i);
        true
    }

    /// `ttl`: the time the live entry of `key` has left (`Some(None)`: never expires).
    pub(crate) fn time_left(
        &mut self,
        key: Probe<'_>,
        clock: &dyn Clock,
    ) -> Option<Option<Duration>> {
        let i = self.live_slot(key, clock)?;
        let expires = self.nodes[i as usize].expires;
        Some((expires != Timestamp::MAX).then(|| expires.remaining_since(clock.now())))
    }
}
