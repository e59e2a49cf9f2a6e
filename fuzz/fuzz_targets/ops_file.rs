//! Operation sequences on `FileBasedCache` (mock clock) against the reference model of the
//! conformance suite, each sequence in a fresh directory.
#![no_main]

use cache_conformance::{Harness, Setup, Time};
use cache_file::FileBasedCache;

struct Files;

impl Harness for Files {
    type Cache = FileBasedCache;
    fn time(&self) -> Time {
        Time::Mock
    }
    fn create(&self, setup: Setup) -> FileBasedCache {
        // The directory outlives the cache handle only until the next case reuses the slot.
        let dir = std::env::temp_dir().join(format!("cache-fuzz-ops-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut b = FileBasedCache::builder(&dir).clock(setup.clock.expect("mock time").shared())
            // The model cannot predict the sweep on writes (see tests/conformance.rs).
            .sweep_on_write(false);
        if let Some(ttl) = setup.default_ttl {
            b = b.default_ttl(ttl);
        }
        let cache = b.build().expect("a usable directory");
        cache.wait_for_recount();
        cache
    }
    fn counters(&self, setup: Setup) -> Box<dyn cache_core::Cache<i64>> {
        Box::new(self.create(setup))
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| cache_conformance::fuzz::ops(&Files, data));
