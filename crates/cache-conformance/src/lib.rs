//! The conformance suite of the cache contract: one public function per behaviour, each taking
//! any backend through a [`Harness`], and a model-based property test
//! ([`cases::model_agrees_on_random_operations`]). A backend's tests expand
//! [`conformance_tests!`] once and get one `#[test]` per case; a third-party backend does
//! the same to show that it implements the contract. [`blocking::OnRuntime`] runs the same
//! suite on a backend's async API.
//!
//! ```
//! use cache_conformance::{Harness, Setup, Time};
//! use cache_core::{Cache, CacheError, CacheStats, Ttl};
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use std::time::Duration;
//!
//! // A third party's backend: a plain map with real-time expiry.
//! struct MapCache {
//!     map: Mutex<HashMap<String, (Vec<u8>, Option<std::time::Instant>)>>,
//!     default_ttl: Option<Duration>,
//!     // ... counters ...
//! }
//! # impl Cache<Vec<u8>> for MapCache {
//! #     fn get(&self, _: &str) -> Result<Option<Vec<u8>>, CacheError> { unimplemented!() }
//! #     fn set(&self, _: &str, _: Vec<u8>, _: Ttl) -> Result<bool, CacheError> { unimplemented!() }
//! #     fn delete(&self, _: &str) -> Result<bool, CacheError> { unimplemented!() }
//! #     fn clear(&self) -> Result<(), CacheError> { unimplemented!() }
//! #     fn exists(&self, _: &str) -> Result<bool, CacheError> { unimplemented!() }
//! #     fn delete_pattern(&self, _: &str) -> Result<u64, CacheError> { unimplemented!() }
//! #     fn stats(&self) -> CacheStats { unimplemented!() }
//! #     fn add(&self, _: &str, _: Vec<u8>, _: Ttl) -> Result<bool, CacheError> { unimplemented!() }
//! #     fn incr(&self, _: &str, _: i64) -> Result<i64, CacheError> { unimplemented!() }
//! #     fn touch(&self, _: &str, _: Ttl) -> Result<bool, CacheError> { unimplemented!() }
//! #     fn ttl(&self, _: &str) -> Result<Option<Option<Duration>>, CacheError> { unimplemented!() }
//! # }
//!
//! struct MapHarness;
//!
//! impl Harness for MapHarness {
//!     type Cache = MapCache;
//!     fn time(&self) -> Time {
//!         Time::Real
//!     }
//!     fn create(&self, setup: Setup) -> MapCache {
//!         MapCache { map: Mutex::default(), default_ttl: setup.default_ttl }
//!     }
//!     fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>> {
//!         // The same backend, holding i64 counters.
//! #       unimplemented!()
//!     }
//! }
//!
//! // In the backend's tests/conformance.rs:
//! // cache_conformance::conformance_tests!(MapHarness);
//! ```
//!
//! Backends that keep their own time declare [`Time::Mock`] and build their cache on the
//! [`MockClock`] that [`Setup::clock`] carries: the suite then steps
//! through expiry exactly. Backends whose server keeps time declare [`Time::Real`] and the
//! suite sleeps through short TTLs instead.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// This crate's README, compiled (and run, unless marked `no_run`) as doctests, so that its
/// crates.io page never lies.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod blocking;
pub mod cases;
mod children;
pub mod flights;
pub mod fuzz;
pub mod model;
#[cfg(feature = "observe")]
#[cfg_attr(docsrs, doc(cfg(feature = "observe")))]
pub mod observe;
pub mod processes;
pub mod reference;
pub mod shared;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::{Cache, MockClock, RemovalCause};

/// `len` bytes that compress well, like a log or a JSON array of similar records (lz4 takes
/// them to about a tenth), for tests of compression.
///
/// ```
/// let v = cache_conformance::compressible(1 << 20);
/// assert_eq!(v.len(), 1 << 20);
/// ```
pub fn compressible(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 80);
    let mut i = 0u32;
    while v.len() < len {
        let line = format!(
            "{{\"id\":{},\"status\":\"active\",\"region\":\"eu-west-{}\",\"tier\":\"gold\"}}\n",
            i % 50,
            i % 3
        );
        v.extend_from_slice(line.as_bytes());
        i += 1;
    }
    v.truncate(len);
    v
}

/// How a backend keeps time, which decides how the suite makes time pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Time {
    /// The cache reads the [`MockClock`] it is given in [`Setup::clock`].
    Mock,
    /// Time passes for real (a server keeps it): the suite sleeps through short TTLs.
    Real,
}

/// What the suite asks of a fresh cache.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// The cache's default TTL.
    pub default_ttl: Option<Duration>,
    /// A bound on the number of entries; only set when [`Harness::bounded`] says the backend
    /// honours one with LRU eviction.
    pub max_size: Option<usize>,
    /// The clock to build the cache on; `Some` exactly when [`Harness::time`] is
    /// [`Time::Mock`].
    pub clock: Option<MockClock>,
}

/// A backend under test, as the suite sees it: how to make a fresh, empty, independent
/// cache, and what the backend can promise beyond the common contract.
///
/// ```
/// # use cache_conformance::{Harness, Setup, Time};
/// # use cache_memory::InMemoryCache;
/// struct Memory;
/// impl Harness for Memory {
///     type Cache = InMemoryCache<Vec<u8>>;
///     fn time(&self) -> Time { Time::Mock }
///     fn bounded(&self) -> bool { true }
///     fn single_flight(&self) -> bool { true }
///     fn create(&self, setup: Setup) -> Self::Cache {
///         let mut b = InMemoryCache::builder()
///             .max_size(setup.max_size.unwrap_or(100_000))
///             .clock(setup.clock.expect("mock time").shared());
///         if let Some(ttl) = setup.default_ttl { b = b.default_ttl(ttl); }
///         b.build().unwrap()
///     }
///     fn counters(&self, setup: Setup) -> Box<dyn cache_core::Cache<i64>> {
///         let mut b = InMemoryCache::builder().clock(setup.clock.expect("mock time").shared());
///         if let Some(ttl) = setup.default_ttl { b = b.default_ttl(ttl); }
///         Box::new(b.build().unwrap())
///     }
/// }
/// cache_conformance::cases::set_then_get_returns_the_value(&Memory);
/// ```
pub trait Harness: Sync {
    /// The cache type under test, storing byte vectors.
    type Cache: Cache<Vec<u8>>;

    /// How the backend keeps time.
    fn time(&self) -> Time;

    /// A fresh, empty cache, independent of every other one this harness made (its own
    /// directory, its own key prefix, ...).
    fn create(&self, setup: Setup) -> Self::Cache;

    /// Whether the backend honours [`Setup::max_size`] with exact LRU eviction (for the
    /// small sizes the suite uses).
    fn bounded(&self) -> bool {
        false
    }

    /// Whether the backend observes and counts expirations itself (not so where a server
    /// expires entries natively).
    fn counts_expirations(&self) -> bool {
        true
    }

    /// Whether `get_or_insert_with` runs the loader once when many threads miss at once, and
    /// the callers that waited for a failing loader all get its error (one shared source).
    fn single_flight(&self) -> bool {
        false
    }

    /// How many random operation sequences the property test runs.
    fn model_cases(&self) -> u32 {
        128
    }

    /// A fresh, empty cache of `i64` values, for the counter cases (`incr`, `decr`), made as
    /// [`Harness::create`] makes its caches. A backend that stores any serde type returns a
    /// handle of the same type as `create`'s, viewed as a `Cache<i64>`.
    fn counters(&self, setup: Setup) -> Box<dyn Cache<i64>>;

    /// A fresh cache, as [`create`](Harness::create) makes it, whose removal listener
    /// records into `removals`; `None` (the default) for a backend without one.
    fn create_listening(&self, setup: Setup, removals: Removals) -> Option<Self::Cache> {
        let _ = (setup, removals);
        None
    }

    /// For a backend that several processes share (a directory, a Redis key prefix): how
    /// the cross-process cases make fresh shared storage and open it, here and in the child
    /// processes they start. `None` (the default): a backend of one process.
    fn shared(&self) -> Option<&dyn Shared> {
        None
    }
}

/// Shared storage for the cross-process cases ([`shared`](mod@shared)): what a child process
/// needs to open the storage the parent made.
///
/// ```
/// use cache_conformance::{processes::Handles, Shared};
/// use cache_memory::InMemoryCache;
///
/// // A stand-in: a real `Shared` opens storage that other processes share (a directory, a
/// // Redis URL and prefix) from `spec`; cache-file's tests/conformance.rs has one.
/// struct Stores;
/// impl Shared for Stores {
///     fn fresh(&self) -> (String, Box<dyn std::any::Any>) {
///         ("store-1".to_owned(), Box::new(()))
///     }
///     fn open(&self, _spec: &str) -> Handles {
///         let counters = InMemoryCache::<i64>::new(100, None).unwrap();
///         let strings = InMemoryCache::<String>::new(100, None).unwrap();
///         (Box::new(counters), Box::new(strings))
///     }
/// }
/// let (spec, _keep) = Stores.fresh();
/// let (counters, _) = Stores.open(&spec);
/// assert_eq!(counters.incr("n", 2).unwrap(), 2);
/// ```
pub trait Shared: Sync {
    /// Fresh, empty shared storage for one case: the text a child process opens it from
    /// (a directory's path; a Redis URL and key prefix), and what the parent keeps while the
    /// case runs (a temporary directory; `Box::new(())` when nothing needs keeping).
    fn fresh(&self) -> (String, Box<dyn std::any::Any>);

    /// Handles, with the backend's single flight, on the storage `spec` names: one for
    /// counters and one for strings. Called in the parent and in every child.
    fn open(&self, spec: &str) -> processes::Handles;
}

/// Panics unless the harness declares the capability that `case` checks, saying how to
/// declare it or to opt out of the case by name.
pub(crate) fn require(declared: bool, capability: &str, case: &str) {
    assert!(
        declared,
        "the harness does not declare {capability}, which the case `{case}` checks: declare \
         it, or opt out by name and the case is reported as ignored: \
         conformance_tests!(harness, skip: [{case}])"
    );
}

/// A log of the removals a cache's listener heard, for
/// [`Harness::create_listening`]: a cheap handle, cloned into the listener.
///
/// ```
/// use cache_conformance::Removals;
/// use cache_core::RemovalCause;
/// let log = Removals::default();
/// let listener = {
///     let log = log.clone();
///     move |key: &str, value: &Vec<u8>, cause| log.record(key, value, cause)
/// };
/// listener("k", &b"v".to_vec(), RemovalCause::Deleted);
/// assert_eq!(log.count(RemovalCause::Deleted), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Removals(Arc<Mutex<Vec<Removal>>>);

/// One removal a listener heard: key, value, cause.
pub type Removal = (String, Vec<u8>, RemovalCause);

impl Removals {
    /// Records one removal.
    pub fn record(&self, key: &str, value: &[u8], cause: RemovalCause) {
        self.lock().push((key.to_owned(), value.to_vec(), cause));
    }

    /// The removals recorded so far, in order.
    pub fn all(&self) -> Vec<Removal> {
        self.lock().clone()
    }

    /// How many removals had `cause`.
    pub fn count(&self, cause: RemovalCause) -> u64 {
        self.lock().iter().filter(|r| r.2 == cause).count() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Removal>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A [`Harness`] whose caches store any serde type, so that the same entry can be read back
/// as another type than it was written as.
pub trait TypedHarness: Harness {
    /// A handle on the same storage as `cache` that reads and writes `u64` values.
    fn as_u64(&self, cache: &Self::Cache) -> Box<dyn Cache<u64>>;
    /// A handle on the same storage as `cache` that reads and writes `String` values.
    fn as_string(&self, cache: &Self::Cache) -> Box<dyn Cache<String>>;
    /// A handle on the same storage as `cache` that reads and writes `i64` values (counters).
    fn as_i64(&self, cache: &Self::Cache) -> Box<dyn Cache<i64>>;
}

/// Expands to one `#[test]` per case of the suite, each running on the harness value
/// `$harness` (an expression, evaluated once per test), and a `child` test that the
/// cross-process cases run in the child processes they start (it does nothing in an
/// ordinary run).
///
/// A case of a capability the harness does not declare (`bounded`, `single_flight`, a
/// removal listener through `create_listening`, processes sharing storage through
/// `shared`) fails and says so; a backend without it opts out of the case by name,
/// `skip: [case, ...]`, and the test runner reports the case as ignored, by name (run with
/// `--include-ignored` to see it fail). `cross_process` in the list stands for the five
/// cross-process cases.
///
/// ```
/// # use cache_conformance::{Harness, Setup, Time};
/// # use cache_memory::InMemoryCache;
/// struct Memory;
/// impl Harness for Memory {
///     type Cache = InMemoryCache<Vec<u8>>;
///     fn time(&self) -> Time { Time::Mock }
///     fn create(&self, setup: Setup) -> Self::Cache {
///         InMemoryCache::builder().clock(setup.clock.unwrap().shared()).build().unwrap()
///     }
///     fn counters(&self, setup: Setup) -> Box<dyn cache_core::Cache<i64>> {
///         let mut b = InMemoryCache::builder().clock(setup.clock.unwrap().shared());
///         if let Some(ttl) = setup.default_ttl { b = b.default_ttl(ttl); }
///         Box::new(b.build().unwrap())
///     }
/// }
/// cache_conformance::conformance_tests!(Memory, skip: [
///     lru_evicts_least_recently_used,
///     lru_drops_expired_entries_first,
///     single_flight_runs_the_loader_once,
///     single_flight_shares_a_failing_loaders_error,
///     removal_listener_hears_each_removal_once,
///     cross_process,
/// ]);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::__conformance_tests!(@skip [] ; $harness ;);
    };
    ($harness:expr, skip: [$($skip:ident),* $(,)?]) => {
        $crate::__conformance_tests!(@skip [] ; $harness ; $($skip)*);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    // The opt-out list, `cross_process` expanded.
    (@skip [$($done:ident)*] ; $harness:expr ; cross_process $($rest:ident)*) => {
        $crate::__conformance_tests!(@skip [$($done)*
            incr_across_processes
            add_across_processes
            loader_runs_once_across_processes
            failing_loader_runs_once_across_processes
            killed_holder_blocks_no_one
        ] ; $harness ; $($rest)*);
    };
    (@skip [$($done:ident)*] ; $harness:expr ; $next:ident $($rest:ident)*) => {
        $crate::__conformance_tests!(@skip [$($done)* $next] ; $harness ; $($rest)*);
    };
    (@skip [$($done:ident)*] ; $harness:expr ;) => {
        $crate::__conformance_tests!(@emit [$($done)*] ; $harness ; $);
    };
    // One local macro that writes a case's test: ignored for the names opted out.
    (@emit [$($skip:ident)*] ; $harness:expr ; $d:tt) => {
        macro_rules! __conformance_case {
            $(
                ($skip, $d h:expr, $d kind:ident) => {
                    #[test]
                    #[ignore = "opted out by this backend: not checked"]
                    fn $skip() {
                        $crate::__conformance_case_body!($skip, $d h, $d kind);
                    }
                };
            )*
            ($d case:ident, $d h:expr, $d kind:ident) => {
                #[test]
                fn $d case() {
                    $crate::__conformance_case_body!($d case, $d h, $d kind);
                }
            };
        }
        $crate::__for_each_case!(__conformance_case, $harness);

        /// The part of a child process of the cross-process cases; nothing in an ordinary run.
        #[test]
        fn child() {
            $crate::shared::child(&$harness);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_case_body {
    ($case:ident, $h:expr, plain) => {
        $crate::cases::$case(&$h)
    };
    ($case:ident, $h:expr, shared) => {
        $crate::shared::$case(&$h, &$crate::shared::child_test_name(module_path!()))
    };
}

/// Expands to one `#[test]` per type-confusion case, for a [`TypedHarness`].
///
/// The harness also implements [`TypedHarness`]; see the file backend's tests.
#[macro_export]
macro_rules! typed_conformance_tests {
    ($harness:expr) => {
        $crate::__one_test!(value_read_as_another_type_is_a_miss, $harness);
        $crate::__one_test!(serde_values_round_trip, $harness);
        $crate::__one_test!(
            incr_of_another_type_is_an_error_that_changes_nothing,
            $harness
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __one_test {
    ($case:ident, $harness:expr) => {
        #[test]
        fn $case() {
            $crate::cases::$case(&$harness);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_case {
    ($m:path, $h:expr) => {
        $crate::__for_each_case!(@each $m, $h, plain,
            set_then_get_returns_the_value
            get_of_absent_key_is_none
            set_replaces_value
            set_replaces_ttl_with_longer
            set_replaces_ttl_with_shorter
            delete_reports_live_entries_only
            clear_removes_every_entry
            clear_leaves_other_caches_alone
            exists_is_a_peek
            ttl_default_uses_the_cache_default
            ttl_never_outlives_the_default
            ttl_after_expires
            zero_ttl_removes_the_old_value
            expiry_boundary_is_exclusive
            expired_entry_counts_one_expiration
            set_over_expired_entry_counts_no_expiration
            stats_follow_each_operation
            hit_rate_is_hits_over_gets
            delete_pattern_star
            delete_pattern_question_mark_is_one_character
            delete_pattern_brackets_and_backslash_are_literal
            delete_pattern_is_case_sensitive_and_whole_key
            delete_pattern_skips_expired_entries
            keys_of_every_kind_are_distinct
            empty_and_16_mib_values_round_trip
            batch_operations
            get_or_insert_with_computes_on_miss
            try_get_or_insert_with_stores_nothing_on_error
            get_or_insert_with_under_contention
            single_flight_runs_the_loader_once
            failing_loader_error_reaches_every_caller
            single_flight_shares_a_failing_loaders_error
            lru_evicts_least_recently_used
            lru_drops_expired_entries_first
            unbounded_cache_keeps_every_live_entry
            concurrent_use_keeps_values_and_counts_exact
            removal_listener_hears_each_removal_once
            add_stores_only_when_no_live_entry
            add_races_have_exactly_one_winner
            incr_starts_at_zero_and_reads_back_as_i64
            incr_keeps_the_ttl_and_new_counters_take_the_default
            incr_overflow_is_an_error_that_changes_nothing
            decr_by_i64_min
            incr_under_contention_is_exact
            touch_extends_live_entries_only
            ttl_reports_the_time_left
            ttl_past_the_end_of_time_is_never
            model_agrees_on_random_operations
            model_agrees_on_counters
        );
        $crate::__for_each_case!(@each $m, $h, shared,
            incr_across_processes
            add_across_processes
            loader_runs_once_across_processes
            failing_loader_runs_once_across_processes
            killed_holder_blocks_no_one
        );
    };
    (@each $m:path, $h:expr, $kind:ident, $($case:ident)*) => {
        $( $m!($case, $h, $kind); )*
    };
}
