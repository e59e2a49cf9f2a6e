//! What a shard hands to the removal listener: each removed entry with its cause, collected
//! under the lock (only while someone listens) and taken by the cache, which calls the
//! listener after releasing the lock.

use cache_core::RemovalCause;

use super::{Contents, Node, Shard};
use crate::key::KeyBytes;

/// An entry that left a shard, and why.
pub(crate) struct Removed<V> {
    key: KeyBytes,
    pub(crate) value: V,
    pub(crate) cause: RemovalCause,
}

impl<V> Removed<V> {
    pub(crate) fn key(&self) -> &str {
        self.key.as_str()
    }
}

/// `Deleted` for a live entry an operation removed, `Expired` for an expired one.
pub(super) fn by_liveness(live: bool) -> RemovalCause {
    if live {
        RemovalCause::Deleted
    } else {
        RemovalCause::Expired
    }
}

impl<V> Shard<V> {
    /// Keeps removed entries for a listener from now on.
    pub(crate) fn listen(mut self) -> Self {
        self.listening = true;
        self
    }

    /// An entry taken out of the shard: kept for the listener, or dropped.
    pub(super) fn retire(&mut self, node: Node<V>, cause: RemovalCause) {
        self.retire_parts(node.key, node.value, cause);
    }

    pub(super) fn retire_parts(&mut self, key: KeyBytes, value: V, cause: RemovalCause) {
        if self.listening {
            self.removed.push(Removed { key, value, cause });
        }
    }

    /// A value replaced in place, whose key stays stored.
    pub(super) fn retire_value(&mut self, key: &str, value: V, cause: RemovalCause) {
        if self.listening {
            self.retire_parts(KeyBytes::new(key), value, cause);
        }
    }

    /// What left the shard since the last call (nothing, and no allocation, when no one
    /// listens).
    pub(crate) fn take_removed(&mut self) -> Vec<Removed<V>> {
        std::mem::take(&mut self.removed)
    }
}

impl<V> Contents<V> {
    /// The entries `clear` took, as removals.
    pub(crate) fn into_removed(self) -> impl Iterator<Item = Removed<V>> {
        self.0.into_iter().map(|n| Removed {
            key: n.key,
            value: n.value,
            cause: RemovalCause::Cleared,
        })
    }
}
