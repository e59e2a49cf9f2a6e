//! Metrics and spans (`cache_core::observe`): the shared case, and the memory cache's own
//! gauges and loader-failure event. The dev-dependency on `cache-conformance/observe` turns
//! on `cache-core`'s `metrics` and `tracing` features for every test of this crate.

use cache_conformance::observe::{check_observed, Captured, Observed, Recorded};
use cache_core::{Cache, CacheError, CacheExt, Ttl};
use cache_memory::InMemoryCache;

struct Memory;

impl Observed for Memory {
    type Cache = InMemoryCache<String>;
    const BACKEND: &'static str = "memory";

    fn build(&self, name: &str, trace_keys: bool) -> Result<Self::Cache, CacheError> {
        InMemoryCache::builder()
            .max_size(100)
            .name(name)
            .trace_keys(trace_keys)
            .build()
    }

    fn publish(&self, cache: &Self::Cache) {
        cache.publish_metrics();
    }
}

#[test]
fn counters_histograms_and_spans() -> Result<(), CacheError> {
    check_observed(&Memory)
}

#[test]
fn entries_weight_and_evictions_are_published() -> Result<(), CacheError> {
    let recorded = Recorded::default();
    let cache = metrics::with_local_recorder(&recorded, || {
        InMemoryCache::<String>::builder()
            .max_size(2)
            .shards(1)
            .weigher(|_, v: &String| v.len() as u32)
            .max_weight(100)
            .name("weighed")
            .build()
    })?;
    for key in ["a", "b", "c"] {
        cache.set(key, "xyz".to_owned(), Ttl::Never)?;
    }
    cache.publish_metrics();
    let labels = [("backend", "memory"), ("cache", "weighed")];
    assert_eq!(recorded.gauge("cache_entries", &labels), Some(2.0));
    assert_eq!(recorded.gauge("cache_weight", &labels), Some(6.0));
    assert_eq!(recorded.counter("cache_evictions_total", &labels), Some(1));
    assert_eq!(recorded.counter("cache_sets_total", &labels), Some(3));
    Ok(())
}

#[test]
fn a_failing_loader_is_a_debug_event_in_its_span_and_an_error_outcome() -> Result<(), CacheError> {
    let recorded = Recorded::default();
    let captured = Captured::default();
    let cache = metrics::with_local_recorder(&recorded, || {
        InMemoryCache::<String>::builder().name("loads").build()
    })?;
    let result = captured.run(|| {
        cache.try_get_or_insert_with("k", Ttl::Never, || -> Result<String, std::io::Error> {
            Err(std::io::Error::other("database down"))
        })
    });
    assert!(result.is_err());
    let events = captured.events();
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.name == "loader failed")
        .collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(failed[0].level, "DEBUG");
    assert_eq!(failed[0].fields["detail"], "database down");
    assert_eq!(failed[0].fields["cache"], "loads");
    assert_eq!(failed[0].parent.as_deref(), Some("cache_op"));
    let labels = [
        ("backend", "memory"),
        ("cache", "loads"),
        ("operation", "get_or_load"),
        ("outcome", "error"),
    ];
    assert_eq!(
        recorded
            .histogram("cache_operation_duration_seconds", &labels)
            .len(),
        1
    );
    Ok(())
}

#[test]
fn a_bad_name_is_a_configuration_error() {
    for bad in ["", "a\nb"] {
        let err = InMemoryCache::<u8>::builder()
            .name(bad)
            .build()
            .unwrap_err();
        assert!(matches!(err, CacheError::Config { .. }), "{err}");
    }
}

#[test]
fn without_a_recorder_nothing_is_registered_and_operations_still_work() -> Result<(), CacheError> {
    let cache = InMemoryCache::<String>::builder().name("plain").build()?;
    cache.set("k", "v".to_owned(), Ttl::Never)?;
    assert_eq!(cache.get("k")?.as_deref(), Some("v"));
    // Publishing with no recorder installed at build time is a no-op, not a panic.
    cache.publish_metrics();
    let recorded = Recorded::default();
    metrics::with_local_recorder(&recorded, || cache.publish_metrics());
    assert!(recorded.label_values().is_empty());
    Ok(())
}

#[test]
fn a_panicking_loader_records_abandoned_once() -> Result<(), CacheError> {
    let recorded = Recorded::default();
    let captured = Captured::default();
    let cache = metrics::with_local_recorder(&recorded, || {
        InMemoryCache::<String>::builder().name("panics").build()
    })?;
    let unwound = captured.run(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.get_or_insert_with("k", Ttl::Never, || -> String { panic!("loader panicked") })
        }))
    });
    assert!(unwound.is_err());
    let histogram = |outcome| {
        let labels = [
            ("backend", "memory"),
            ("cache", "panics"),
            ("operation", "get_or_load"),
            ("outcome", outcome),
        ];
        recorded
            .histogram("cache_operation_duration_seconds", &labels)
            .len()
    };
    assert_eq!(
        (histogram("abandoned"), histogram("ok"), histogram("error")),
        (1, 0, 0)
    );
    let spans = captured.spans_named("cache_op");
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].fields["outcome"], "abandoned");
    Ok(())
}
