//! The near tier's settings, shared by both builders.

use std::sync::Arc;
use std::time::Duration;

use cache_core::{CacheError, MonotonicClock, SharedClock};
use cache_memory::{InMemoryCache, Policy};

use crate::core::{Coherence, Core, Slot};

/// The default bound of the near tier, in entries.
pub const DEFAULT_NEAR_MAX_SIZE: usize = 10_000;

/// What a builder collects before a `build_*` method chooses the coherence.
#[derive(Clone)]
pub(crate) struct NearSettings {
    pub(crate) max_size: usize,
    pub(crate) policy: Policy,
    pub(crate) shards: Option<usize>,
    pub(crate) max_ttl: Option<Duration>,
    pub(crate) clock: Option<SharedClock>,
    pub(crate) max_staleness: Option<Duration>,
}

impl Default for NearSettings {
    fn default() -> Self {
        NearSettings {
            max_size: DEFAULT_NEAR_MAX_SIZE,
            policy: Policy::default(),
            shards: None,
            max_ttl: None,
            clock: None,
            max_staleness: None,
        }
    }
}

impl std::fmt::Debug for NearSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearSettings")
            .field("max_size", &self.max_size)
            .field("policy", &self.policy)
            .field("shards", &self.shards)
            .field("max_ttl", &self.max_ttl)
            .field("max_staleness", &self.max_staleness)
            .finish_non_exhaustive()
    }
}

/// Which `build_*` method was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chosen {
    Invalidated,
    Stamped,
    Private,
}

impl NearSettings {
    /// The near tier and its state, for the coherence `chosen`.
    pub(crate) fn core<V: Clone + Send + Sync + 'static>(
        self,
        chosen: Chosen,
    ) -> Result<Arc<Core<V>>, CacheError> {
        if let Some(d) = self.max_staleness {
            if chosen != Chosen::Stamped {
                return Err(CacheError::config(
                    "TieredCache max_staleness applies to build_stamped only (invalidated and \
                     private near tiers are never stale by a bound)",
                ));
            }
            if d.is_zero() {
                return Err(CacheError::config(
                    "TieredCache max_staleness must be above zero (leave it unset to check \
                     every hit)",
                ));
            }
        }
        if self.max_ttl.is_some_and(|d| d.is_zero()) {
            return Err(CacheError::config(
                "TieredCache near_max_ttl must be above zero (it would keep nothing)",
            ));
        }
        let coherence = match chosen {
            Chosen::Invalidated => Coherence::Invalidated,
            Chosen::Private => Coherence::Private,
            Chosen::Stamped => Coherence::Stamped {
                max_staleness: self
                    .max_staleness
                    .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            },
        };
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(MonotonicClock::new()));
        let mut near = InMemoryCache::<Slot<V>>::builder()
            .max_size(self.max_size)
            .policy(self.policy)
            .clock(Arc::clone(&clock))
            .single_flight(false);
        if let Some(n) = self.shards {
            near = near.shards(n);
        }
        let near = near.build()?;
        Ok(Arc::new(Core::new(near, clock, coherence, self.max_ttl)))
    }
}

/// The setters both builders share.
macro_rules! near_setters {
    () => {
        /// The near tier's bound, in entries (default
        /// [`DEFAULT_NEAR_MAX_SIZE`](crate::DEFAULT_NEAR_MAX_SIZE)); zero is an error at
        /// build.
        pub fn near_max_size(mut self, max_size: usize) -> Self {
            self.settings.max_size = max_size;
            self
        }

        /// The near tier's eviction policy (default LRU; `Policy::TinyLfu` keeps hot keys
        /// better under scans).
        pub fn near_policy(mut self, policy: cache_memory::Policy) -> Self {
            self.settings.policy = policy;
            self
        }

        /// The near tier's shard count (default: the in-memory cache's own choice).
        pub fn near_shards(mut self, shards: usize) -> Self {
            self.settings.shards = Some(shards);
            self
        }

        /// The longest a near copy lives, whatever the far entry's TTL (default: as long as
        /// the far entry). A safety net, not the coherence: see the `build_*` methods.
        pub fn near_max_ttl(mut self, ttl: std::time::Duration) -> Self {
            self.settings.max_ttl = Some(ttl);
            self
        }

        /// The clock of the near tier's expiry (default: monotonic). Give the far tier's
        /// clock when it has one you control (tests with a `MockClock`).
        pub fn clock(mut self, clock: cache_core::SharedClock) -> Self {
            self.settings.clock = Some(clock);
            self
        }

        /// With `build_stamped`: a near copy is served without asking the far tier again
        /// within `d` of its last check (another process's write may then go unseen for up
        /// to `d`). Unset (the default), every near hit checks the entry's stamp. Only for
        /// `build_stamped`: the other `build_*` methods refuse it.
        pub fn max_staleness(mut self, d: std::time::Duration) -> Self {
            self.settings.max_staleness = Some(d);
            self
        }
    };
}
pub(crate) use near_setters;
