//! Operation sequences on `InMemoryCache` (mock clock, with and without bounds) against the
//! reference model of the conformance suite.
#![no_main]

use cache_conformance::{Harness, Setup, Time};
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
    fn create(&self, setup: Setup) -> Self::Cache {
        let mut b = InMemoryCache::builder()
            .max_size(setup.max_size.unwrap_or(1_000_000))
            .clock(setup.clock.expect("mock time").shared());
        if let Some(ttl) = setup.default_ttl {
            b = b.default_ttl(ttl);
        }
        b.build().expect("valid configuration")
    }
    fn counters(&self, setup: Setup) -> Box<dyn cache_core::Cache<i64>> {
        let mut b = InMemoryCache::builder().clock(setup.clock.expect("mock time").shared());
        if let Some(ttl) = setup.default_ttl {
            b = b.default_ttl(ttl);
        }
        Box::new(b.build().expect("valid configuration"))
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| cache_conformance::fuzz::ops(&Memory, data));
