//! The whole conformance suite on `InMemoryCache`, driven by a mock clock, through its
//! blocking API and (module `async_api`) through its async one.

use cache_conformance::{Harness, Setup, Time};
use cache_memory::InMemoryCache;

struct Memory;

impl Memory {
    fn build(&self, setup: Setup) -> InMemoryCache<Vec<u8>> {
        let mut b = InMemoryCache::builder()
            .max_size(setup.max_size.unwrap_or(1_000_000))
            .clock(setup.clock.expect("a mock clock").shared());
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

    fn bounded(&self) -> bool {
        true
    }

    fn single_flight(&self) -> bool {
        true
    }

    fn model_cases(&self) -> u32 {
        512
    }

    fn create(&self, setup: Setup) -> Self::Cache {
        self.build(setup)
    }
}

cache_conformance::conformance_tests!(Memory);

/// The same suite on the async API (`AsyncCache`), each call driven on the calling thread:
/// the in-memory cache needs no runtime.
mod async_api {
    use super::Memory;
    use cache_conformance::blocking::OnRuntime;
    use cache_conformance::{Harness, Setup, Time};
    use cache_memory::InMemoryCache;

    struct AsyncMemory;

    impl Harness for AsyncMemory {
        type Cache = OnRuntime<InMemoryCache<Vec<u8>>>;

        fn time(&self) -> Time {
            Memory.time()
        }

        fn bounded(&self) -> bool {
            Memory.bounded()
        }

        fn single_flight(&self) -> bool {
            Memory.single_flight()
        }

        fn create(&self, setup: Setup) -> Self::Cache {
            OnRuntime::new(Memory.build(setup))
        }
    }

    cache_conformance::conformance_tests!(AsyncMemory);
}

/// The committed corpus of the `ops_memory` fuzz target, replayed without a fuzzer.
#[test]
fn fuzz_corpus_ops_memory_replays() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/ops_memory");
    let n = cache_conformance::fuzz::replay_corpus(dir, |data| {
        cache_conformance::fuzz::ops(&Memory, data)
    });
    assert!(n >= 3, "only {n} corpus files");
}
