//! The whole conformance suite, and its type-confusion cases, on `FileBasedCache` driven by
//! a mock clock, each cache in a directory of its own.

use cache_conformance::{Harness, Setup, Time, TypedHarness};
use cache_core::Cache;
use cache_file::FileBasedCache;

/// Every cache it makes lives in a fresh directory under one temporary root.
struct Files {
    root: tempfile::TempDir,
}

fn files() -> Files {
    Files {
        root: tempfile::tempdir().expect("a temporary directory"),
    }
}

impl Harness for Files {
    type Cache = FileBasedCache;

    fn single_flight(&self) -> bool {
        true
    }

    fn time(&self) -> Time {
        Time::Mock
    }

    fn model_cases(&self) -> u32 {
        64
    }

    fn create(&self, setup: Setup) -> FileBasedCache {
        let dir = tempfile::tempdir_in(self.root.path())
            .expect("a cache directory")
            .keep();
        let mut b = FileBasedCache::builder(dir).clock(setup.clock.expect("a mock clock").shared());
        if let Some(ttl) = setup.default_ttl {
            b = b.default_ttl(ttl);
        }
        b.build().expect("a usable directory")
    }

    fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
        Box::new(self.create(setup))
    }
}

impl TypedHarness for Files {
    fn as_u64(&self, cache: &FileBasedCache) -> Box<dyn Cache<u64>> {
        Box::new(cache.clone())
    }

    fn as_string(&self, cache: &FileBasedCache) -> Box<dyn Cache<String>> {
        Box::new(cache.clone())
    }

    fn as_i64(&self, cache: &FileBasedCache) -> Box<dyn Cache<i64>> {
        Box::new(cache.clone())
    }
}

cache_conformance::conformance_tests!(files());
cache_conformance::typed_conformance_tests!(files());
