//! The whole conformance suite on tiered caches: over an in-memory far tier (private
//! coherence, and invalidated by a far tier that reports every change), over a file far tier
//! (stamped, checking every hit, and with a max staleness, the cross-process cases
//! included), blocking and async.

mod support;

use cache_conformance::processes::Handles;
use cache_conformance::{Harness, Setup, Shared, Time};
use cache_core::{Cache, MockClock};
use cache_file::FileBasedCache;
use cache_memory::InMemoryCache;
use cache_tiered::TieredCache;
use std::time::Duration;
use support::Reporting;

/// Which coherence the harness builds.
#[derive(Clone, Copy)]
enum Mode {
    Private,
    Invalidated,
}

struct Memory(Mode);

fn memory_far<V: Clone + Send + Sync + 'static>(setup: &Setup) -> (InMemoryCache<V>, MockClock) {
    let clock = setup.clock.clone().expect("a mock clock");
    let mut b = InMemoryCache::builder()
        .max_size(100_000)
        .clock(clock.shared());
    if let Some(ttl) = setup.default_ttl {
        b = b.default_ttl(ttl);
    }
    (b.build().expect("a far tier"), clock)
}

fn over_memory<V: Clone + Send + Sync + 'static>(mode: Mode, setup: &Setup) -> Box<dyn Cache<V>> {
    let (far, clock) = memory_far::<V>(setup);
    match mode {
        Mode::Private => Box::new(
            TieredCache::builder(far)
                .near_max_size(1_000)
                .clock(clock.shared())
                .build_without_coherence_no_other_writers()
                .expect("a tiered cache"),
        ),
        Mode::Invalidated => Box::new(
            TieredCache::builder(Reporting::new(far))
                .near_max_size(1_000)
                .clock(clock.shared())
                .build_invalidated()
                .expect("a tiered cache"),
        ),
    }
}

impl Harness for Memory {
    type Cache = Box<dyn Cache<Vec<u8>>>;

    fn time(&self) -> Time {
        Time::Mock
    }

    fn single_flight(&self) -> bool {
        true
    }

    fn create(&self, setup: Setup) -> Self::Cache {
        over_memory(self.0, &setup)
    }

    fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
        over_memory(self.0, &setup)
    }
}

// A near hit does not refresh the far tier's recency: the far tier's exact LRU order is not
// the tiered cache's (and the near tier has its own bound). No removal listener.
mod memory_private {
    use super::*;
    cache_conformance::conformance_tests!(Memory(Mode::Private), skip: [
        lru_evicts_least_recently_used,
        lru_drops_expired_entries_first,
        removal_listener_hears_each_removal_once,
        cross_process,
    ]);
}

mod memory_invalidated {
    use super::*;
    cache_conformance::conformance_tests!(Memory(Mode::Invalidated), skip: [
        lru_evicts_least_recently_used,
        lru_drops_expired_entries_first,
        removal_listener_hears_each_removal_once,
        cross_process,
    ]);
}

/// Tiered caches over fresh file caches, stamped (with `staleness`, if any).
struct Files {
    root: tempfile::TempDir,
    staleness: Option<Duration>,
    shared: bool,
}

fn files(staleness: Option<Duration>, shared: bool) -> Files {
    Files {
        root: tempfile::tempdir().expect("a temporary directory"),
        staleness,
        shared,
    }
}

fn stamped<V>(
    far: FileBasedCache,
    clock: Option<&MockClock>,
    staleness: Option<Duration>,
) -> TieredCache<V, FileBasedCache>
where
    V: Clone + Send + Sync + 'static,
    FileBasedCache: Cache<V>,
{
    let mut b = TieredCache::builder(far).near_max_size(1_000);
    if let Some(clock) = clock {
        b = b.clock(clock.shared());
    }
    if let Some(d) = staleness {
        b = b.max_staleness(d);
    }
    b.build_stamped().expect("a tiered cache")
}

impl Files {
    fn far(&self, setup: &Setup) -> (FileBasedCache, MockClock) {
        let dir = tempfile::tempdir_in(self.root.path())
            .expect("a cache directory")
            .keep();
        let clock = setup.clock.clone().expect("a mock clock");
        let mut b = FileBasedCache::builder(dir)
            .clock(clock.shared())
            .sweep_on_write(false);
        if let Some(ttl) = setup.default_ttl {
            b = b.default_ttl(ttl);
        }
        let cache = b.build().expect("a usable directory");
        cache.wait_for_recount();
        (cache, clock)
    }
}

impl Shared for Files {
    fn fresh(&self) -> (String, Box<dyn std::any::Any>) {
        let dir = tempfile::tempdir_in(self.root.path()).expect("a cache directory");
        let spec = dir.path().to_str().expect("a UTF-8 path").to_owned();
        (spec, Box::new(dir))
    }

    fn open(&self, spec: &str) -> Handles {
        let far = FileBasedCache::new(spec, None).expect("the shared directory opens");
        (
            Box::new(stamped::<i64>(far.clone(), None, self.staleness)),
            Box::new(stamped::<String>(far, None, self.staleness)),
        )
    }
}

impl Harness for Files {
    type Cache = TieredCache<Vec<u8>, FileBasedCache>;

    fn time(&self) -> Time {
        Time::Mock
    }

    fn single_flight(&self) -> bool {
        true
    }

    fn model_cases(&self) -> u32 {
        32
    }

    fn create(&self, setup: Setup) -> Self::Cache {
        let (far, clock) = self.far(&setup);
        stamped(far, Some(&clock), self.staleness)
    }

    fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
        let (far, clock) = self.far(&setup);
        Box::new(stamped::<i64>(far, Some(&clock), self.staleness))
    }

    fn shared(&self) -> Option<&dyn Shared> {
        self.shared.then_some(self as &dyn Shared)
    }
}

mod files_stamped {
    use super::*;
    cache_conformance::conformance_tests!(files(None, true), skip: [
        lru_evicts_least_recently_used,
        lru_drops_expired_entries_first,
        removal_listener_hears_each_removal_once,
    ]);
}

mod files_max_staleness {
    use super::*;
    cache_conformance::conformance_tests!(files(Some(Duration::from_millis(50)), false), skip: [
        lru_evicts_least_recently_used,
        lru_drops_expired_entries_first,
        removal_listener_hears_each_removal_once,
        cross_process,
    ]);
}

/// The same suite on the async API: `AsyncTieredCache` over `AsyncFileCache` (stamped) and
/// over `AsyncInMemoryCache` (private), each call driven on one tokio runtime per harness.
mod async_api {
    use super::*;
    use cache_conformance::blocking::OnRuntime;
    use cache_file::AsyncFileCache;
    use cache_memory::AsyncInMemoryCache;
    use cache_tiered::AsyncTieredCache;
    use std::sync::Arc;

    fn runtime() -> Arc<tokio::runtime::Runtime> {
        Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_time()
                .build()
                .expect("a runtime"),
        )
    }

    struct AsyncFiles {
        files: Files,
        runtime: Arc<tokio::runtime::Runtime>,
    }

    type OverFiles<V> = OnRuntime<AsyncTieredCache<V, AsyncFileCache>, tokio::runtime::Handle>;

    impl AsyncFiles {
        fn make<V>(&self, setup: Setup) -> OverFiles<V>
        where
            V: Clone + Send + Sync + 'static,
            AsyncFileCache: cache_core::AsyncCache<V>,
        {
            let (far, clock) = self.files.far(&setup);
            let mut b = AsyncTieredCache::builder(AsyncFileCache::new(far))
                .near_max_size(1_000)
                .clock(clock.shared());
            if let Some(d) = self.files.staleness {
                b = b.max_staleness(d);
            }
            let cache = b.build_stamped().expect("a tiered cache");
            OnRuntime::with_executor(cache, self.runtime.handle().clone())
        }
    }

    impl Harness for AsyncFiles {
        type Cache = OverFiles<Vec<u8>>;

        fn time(&self) -> Time {
            Time::Mock
        }

        fn single_flight(&self) -> bool {
            true
        }

        fn model_cases(&self) -> u32 {
            32
        }

        fn create(&self, setup: Setup) -> Self::Cache {
            self.make(setup)
        }

        fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
            Box::new(self.make::<i64>(setup))
        }
    }

    mod files_stamped {
        use super::*;
        cache_conformance::conformance_tests!(
            AsyncFiles { files: files(None, false), runtime: runtime() },
            skip: [
                lru_evicts_least_recently_used,
                lru_drops_expired_entries_first,
                removal_listener_hears_each_removal_once,
                cross_process,
            ]
        );
    }

    struct AsyncMemory(Arc<tokio::runtime::Runtime>);

    type OverMemory<V> =
        OnRuntime<AsyncTieredCache<V, AsyncInMemoryCache<V>>, tokio::runtime::Handle>;

    impl AsyncMemory {
        fn make<V: Clone + Send + Sync + 'static>(&self, setup: Setup) -> OverMemory<V> {
            let (far, clock) = memory_far::<V>(&setup);
            let cache = AsyncTieredCache::builder(AsyncInMemoryCache::new(far))
                .near_max_size(1_000)
                .clock(clock.shared())
                .build_without_coherence_no_other_writers()
                .expect("a tiered cache");
            OnRuntime::with_executor(cache, self.0.handle().clone())
        }
    }

    impl Harness for AsyncMemory {
        type Cache = OverMemory<Vec<u8>>;

        fn time(&self) -> Time {
            Time::Mock
        }

        fn single_flight(&self) -> bool {
            true
        }

        fn create(&self, setup: Setup) -> Self::Cache {
            self.make(setup)
        }

        fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
            Box::new(self.make::<i64>(setup))
        }
    }

    mod memory_private {
        use super::*;
        cache_conformance::conformance_tests!(AsyncMemory(runtime()), skip: [
            lru_evicts_least_recently_used,
            lru_drops_expired_entries_first,
            removal_listener_hears_each_removal_once,
            cross_process,
        ]);
    }
}
