//! The whole conformance suite on `InMemoryCache`, driven by a mock clock.

use cache_conformance::{Harness, Setup, Time};
use cache_core::Cache;
use cache_memory::InMemoryCache;

struct Memory;

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
        let mut b = InMemoryCache::builder()
            .max_size(setup.max_size.unwrap_or(1_000_000))
            .clock(setup.clock.expect("a mock clock").shared());
        if let Some(ttl) = setup.default_ttl {
            b = b.default_ttl(ttl);
        }
        b.build().expect("a valid configuration")
    }

    fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
        let mut b = InMemoryCache::builder().clock(setup.clock.expect("a mock clock").shared());
        if let Some(ttl) = setup.default_ttl {
            b = b.default_ttl(ttl);
        }
        Box::new(b.build().expect("a valid configuration"))
    }
}

cache_conformance::conformance_tests!(Memory);

/// The committed corpus of the `ops_memory` fuzz target, replayed without a fuzzer.
#[test]
fn fuzz_corpus_ops_memory_replays() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/ops_memory");
    let n = cache_conformance::fuzz::replay_corpus(dir, |data| {
        cache_conformance::fuzz::ops(&Memory, data)
    });
    assert!(n >= 3, "only {n} corpus files");
}
