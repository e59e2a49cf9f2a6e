//! The whole conformance suite on `InMemoryCache`, driven by a mock clock, once per
//! eviction policy (the exact-LRU cases, `Harness::bounded`, only under `Policy::Lru`),
//! through its blocking API and (module `async_api`) through its async one.

use cache_conformance::{Harness, Removals, Setup, Time};
use cache_core::Cache;
use cache_memory::{InMemoryCache, InMemoryCacheBuilder, Policy};

struct Memory(Policy);

impl Memory {
    fn builder(&self, setup: Setup) -> InMemoryCacheBuilder<Vec<u8>> {
        let mut b = InMemoryCache::builder()
            .max_size(setup.max_size.unwrap_or(1_000_000))
            .clock(setup.clock.expect("a mock clock").shared())
            .policy(self.0);
        if let Some(ttl) = setup.default_ttl {
            b = b.default_ttl(ttl);
        }
        b
    }

    fn counter_cache(&self, setup: Setup) -> InMemoryCache<i64> {
        let mut b = InMemoryCache::builder()
            .clock(setup.clock.expect("a mock clock").shared())
            .policy(self.0);
        if let Some(ttl) = setup.default_ttl {
            b = b.default_ttl(ttl);
        }
        b.build().expect("a valid configuration")
    }
}

impl Harness for Memory {
    type Cache = InMemoryCache<Vec<u8>>;

    fn time(&self) -> Time {
        Time::Mock
    }

    /// Exact LRU eviction: only the LRU policy promises it.
    fn bounded(&self) -> bool {
        self.0 == Policy::Lru
    }

    fn single_flight(&self) -> bool {
        true
    }

    fn model_cases(&self) -> u32 {
        512
    }

    fn create(&self, setup: Setup) -> Self::Cache {
        self.builder(setup).build().expect("a valid configuration")
    }

    fn create_listening(&self, setup: Setup, removals: Removals) -> Option<Self::Cache> {
        let cache = self
            .builder(setup)
            .on_removal(move |key, value, cause| removals.record(key, value, cause))
            .build()
            .expect("a valid configuration");
        Some(cache)
    }

    fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
        Box::new(self.counter_cache(setup))
    }
}

/// Replays the committed corpus of the `ops_memory` fuzz target under `policy`, without a
/// fuzzer.
fn replay_fuzz_corpus(policy: Policy) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/ops_memory");
    let n = cache_conformance::fuzz::replay_corpus(dir, |data| {
        cache_conformance::fuzz::ops(&Memory(policy), data)
    });
    assert!(n >= 3, "only {n} corpus files");
}

mod lru {
    use super::*;

    cache_conformance::conformance_tests!(Memory(Policy::Lru), skip: [cross_process]);

    #[test]
    fn fuzz_corpus_ops_memory_replays() {
        replay_fuzz_corpus(Policy::Lru);
    }
}

mod tinylfu {
    use super::*;

    cache_conformance::conformance_tests!(
        Memory(Policy::TinyLfu),
        // TinyLFU admits by frequency: its eviction is not LRU's (tested in tests/memory.rs).
        skip: [
            lru_evicts_least_recently_used,
            lru_drops_expired_entries_first,
            cross_process
        ]
    );

    #[test]
    fn fuzz_corpus_ops_memory_replays() {
        replay_fuzz_corpus(Policy::TinyLfu);
    }
}

/// The same suite on the async API (`AsyncInMemoryCache`), under both policies, each call
/// driven on the calling thread: the in-memory cache needs no runtime.
mod async_api {
    use super::Memory;
    use cache_conformance::blocking::OnRuntime;
    use cache_conformance::{Harness, Removals, Setup, Time};
    use cache_core::Cache;
    use cache_memory::{AsyncInMemoryCache, Policy};

    struct AsyncMemory(Memory);

    fn on_runtime<V>(cache: cache_memory::InMemoryCache<V>) -> OnRuntime<AsyncInMemoryCache<V>> {
        OnRuntime::new(AsyncInMemoryCache::new(cache))
    }

    impl Harness for AsyncMemory {
        type Cache = OnRuntime<AsyncInMemoryCache<Vec<u8>>>;

        fn time(&self) -> Time {
            self.0.time()
        }

        fn bounded(&self) -> bool {
            self.0.bounded()
        }

        fn single_flight(&self) -> bool {
            self.0.single_flight()
        }

        fn create(&self, setup: Setup) -> Self::Cache {
            on_runtime(self.0.create(setup))
        }

        fn create_listening(&self, setup: Setup, removals: Removals) -> Option<Self::Cache> {
            self.0.create_listening(setup, removals).map(on_runtime)
        }

        fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
            Box::new(on_runtime(self.0.counter_cache(setup)))
        }
    }

    mod lru {
        use super::*;
        cache_conformance::conformance_tests!(AsyncMemory(Memory(Policy::Lru)), skip: [cross_process]);
    }

    mod tinylfu {
        use super::*;
        cache_conformance::conformance_tests!(
            AsyncMemory(Memory(Policy::TinyLfu)),
            skip: [
                lru_evicts_least_recently_used,
                lru_drops_expired_entries_first,
                cross_process
            ]
        );
    }
}
