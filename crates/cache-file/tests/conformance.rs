//! The whole conformance suite, and its type-confusion cases, on `FileBasedCache` driven by
//! a mock clock, each cache in a directory of its own: once per codec (the default envelope,
//! JSON, and raw bytes with compression and a version on top).

use cache_conformance::processes::Handles;
use cache_conformance::{Harness, Setup, Shared, Time, TypedHarness};
use cache_core::codec::{Codec, Json, Postcard, Raw};
use cache_core::Cache;
use cache_file::{FileBasedCache, FileBasedCacheBuilder};

/// Every cache it makes lives in a fresh directory under one temporary root, built with
/// `codec` and then `tune`. With `shared`, the cross-process cases run too, on directories
/// of their own opened with the defaults.
struct Files<C> {
    root: tempfile::TempDir,
    codec: C,
    tune: fn(FileBasedCacheBuilder<C>) -> FileBasedCacheBuilder<C>,
    shared: bool,
}

fn files<C: Codec>(
    codec: C,
    tune: fn(FileBasedCacheBuilder<C>) -> FileBasedCacheBuilder<C>,
) -> Files<C> {
    Files {
        root: tempfile::tempdir().expect("a temporary directory"),
        codec,
        tune,
        shared: false,
    }
}

/// The harness of the whole suite, the cross-process cases included.
fn files_across_processes() -> Files<Postcard> {
    Files {
        shared: true,
        ..files(Postcard, plain)
    }
}

impl<C: Codec> Shared for Files<C> {
    fn fresh(&self) -> (String, Box<dyn std::any::Any>) {
        let dir = tempfile::tempdir_in(self.root.path()).expect("a cache directory");
        let spec = dir.path().to_str().expect("a UTF-8 path").to_owned();
        (spec, Box::new(dir))
    }

    fn open(&self, spec: &str) -> Handles {
        let cache = FileBasedCache::new(spec, None).expect("the shared directory opens");
        (Box::new(cache.clone()), Box::new(cache))
    }
}

impl<C: Codec> Harness for Files<C> {
    type Cache = FileBasedCache<C>;

    fn single_flight(&self) -> bool {
        true
    }

    fn time(&self) -> Time {
        Time::Mock
    }

    fn model_cases(&self) -> u32 {
        64
    }

    fn create(&self, setup: Setup) -> FileBasedCache<C> {
        let dir = tempfile::tempdir_in(self.root.path())
            .expect("a cache directory")
            .keep();
        // The sweep on writes is off: which expired entries it removes first (uncounted) is
        // not something the model can predict; `tests/bounds.rs` checks it.
        let mut b = FileBasedCache::builder(dir)
            .clock(setup.clock.expect("a mock clock").shared())
            .sweep_on_write(false)
            .codec(self.codec.clone());
        if let Some(ttl) = setup.default_ttl {
            b = b.default_ttl(ttl);
        }
        let cache = (self.tune)(b).build().expect("a usable directory");
        // The counts the suite compares with the model are those of the recount's result.
        cache.wait_for_recount();
        cache
    }

    fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
        Box::new(self.create(setup))
    }

    fn shared(&self) -> Option<&dyn Shared> {
        self.shared.then_some(self as &dyn Shared)
    }
}

impl<C: Codec> TypedHarness for Files<C> {
    fn as_u64(&self, cache: &FileBasedCache<C>) -> Box<dyn Cache<u64>> {
        Box::new(cache.clone())
    }

    fn as_string(&self, cache: &FileBasedCache<C>) -> Box<dyn Cache<String>> {
        Box::new(cache.clone())
    }

    fn as_i64(&self, cache: &FileBasedCache<C>) -> Box<dyn Cache<i64>> {
        Box::new(cache.clone())
    }
}

fn plain<C>(b: FileBasedCacheBuilder<C>) -> FileBasedCacheBuilder<C> {
    b
}

// What the file cache does not have: exact LRU eviction under an entry bound (its bounds
// are per directory, `tests/bounds.rs`) and a removal listener. The async harnesses and
// the other codecs leave the cross-process cases to this one.
cache_conformance::conformance_tests!(
    files_across_processes(),
    skip: [
        lru_evicts_least_recently_used,
        lru_drops_expired_entries_first,
        removal_listener_hears_each_removal_once,
    ]
);
cache_conformance::typed_conformance_tests!(files(Postcard, plain));

/// JSON text: no envelope, but a value read as a type its text does not fit is still a miss.
/// Of the typed cases, not the counter one: JSON has one kind of number, so a counter (an
/// `i64`) also reads as a `u64`.
mod json {
    use super::*;
    cache_conformance::conformance_tests!(files(Json, plain), skip: [
        lru_evicts_least_recently_used,
        lru_drops_expired_entries_first,
        removal_listener_hears_each_removal_once,
        cross_process,
    ]);

    #[test]
    fn value_read_as_another_type_is_a_miss() {
        cache_conformance::cases::value_read_as_another_type_is_a_miss(&files(Json, plain));
    }

    #[test]
    fn serde_values_round_trip() {
        cache_conformance::cases::serde_values_round_trip(&files(Json, plain));
    }
}

/// Raw bytes (no type check, so no typed cases), compressed above 16 bytes, in version 9.
mod raw_compressed_v9 {
    use super::*;
    fn tuned(b: FileBasedCacheBuilder<Raw>) -> FileBasedCacheBuilder<Raw> {
        b.compress_above(16).version(9)
    }
    cache_conformance::conformance_tests!(files(Raw, tuned), skip: [
        lru_evicts_least_recently_used,
        lru_drops_expired_entries_first,
        removal_listener_hears_each_removal_once,
        cross_process,
    ]);
}

/// The same suite on the async API (`AsyncFileCache`, file I/O on tokio's blocking pool),
/// each call driven on one multi-thread runtime per harness: with the default codec, and
/// with raw bytes, compression and a version.
#[cfg(feature = "tokio")]
mod async_api {
    use super::{files, plain, Files};
    use cache_conformance::blocking::OnRuntime;
    use cache_conformance::{Harness, Setup, Time};
    use cache_core::codec::{Codec, Postcard, Raw};
    use cache_core::Cache;
    use cache_file::{AsyncFileCache, FileBasedCacheBuilder};
    use std::sync::Arc;

    struct AsyncFiles<C> {
        files: Files<C>,
        runtime: Arc<tokio::runtime::Runtime>,
    }

    fn async_files<C: Codec>(
        codec: C,
        tune: fn(FileBasedCacheBuilder<C>) -> FileBasedCacheBuilder<C>,
    ) -> AsyncFiles<C> {
        AsyncFiles {
            files: files(codec, tune),
            runtime: Arc::new(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_time()
                    .build()
                    .expect("a runtime"),
            ),
        }
    }

    impl<C: Codec> AsyncFiles<C> {
        fn on_runtime(&self, setup: Setup) -> OnRuntime<AsyncFileCache<C>, tokio::runtime::Handle> {
            OnRuntime::with_executor(
                AsyncFileCache::new(self.files.create(setup)),
                self.runtime.handle().clone(),
            )
        }
    }

    impl<C: Codec> Harness for AsyncFiles<C> {
        type Cache = OnRuntime<AsyncFileCache<C>, tokio::runtime::Handle>;

        fn single_flight(&self) -> bool {
            true
        }

        fn time(&self) -> Time {
            self.files.time()
        }

        fn model_cases(&self) -> u32 {
            self.files.model_cases()
        }

        fn create(&self, setup: Setup) -> Self::Cache {
            self.on_runtime(setup)
        }

        fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
            Box::new(self.on_runtime(setup))
        }
    }

    cache_conformance::conformance_tests!(async_files(Postcard, plain), skip: [
        lru_evicts_least_recently_used,
        lru_drops_expired_entries_first,
        removal_listener_hears_each_removal_once,
        cross_process,
    ]);

    mod raw_compressed_v9 {
        use super::*;
        fn tuned(b: FileBasedCacheBuilder<Raw>) -> FileBasedCacheBuilder<Raw> {
            b.compress_above(16).version(9)
        }
        cache_conformance::conformance_tests!(async_files(Raw, tuned), skip: [
            lru_evicts_least_recently_used,
            lru_drops_expired_entries_first,
            removal_listener_hears_each_removal_once,
            cross_process,
        ]);
    }
}
