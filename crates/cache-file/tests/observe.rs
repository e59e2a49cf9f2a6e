//! Metrics and spans (`cache_core::observe`): the shared case, the directory gauges, and the
//! event of a corrupt file dropped. The dev-dependency on `cache-conformance/observe` turns
//! on `cache-core`'s `metrics` and `tracing` features for every test of this crate.

use cache_conformance::observe::{check_observed, Captured, Observed, Recorded};
use cache_core::{CacheError, Ttl};
use cache_file::FileBasedCache;

struct File(tempfile::TempDir);

impl Observed for File {
    type Cache = FileBasedCache;
    const BACKEND: &'static str = "file";

    fn build(&self, name: &str, trace_keys: bool) -> Result<Self::Cache, CacheError> {
        let cache = FileBasedCache::builder(self.0.path().join(name))
            .name(name)
            .trace_keys(trace_keys)
            .build()?;
        cache.wait_for_recount();
        Ok(cache)
    }

    fn publish(&self, cache: &Self::Cache) {
        cache.publish_metrics().expect("publishing");
    }
}

fn temp() -> Result<tempfile::TempDir, CacheError> {
    tempfile::tempdir().map_err(|e| CacheError::io("making a temporary directory", e))
}

#[test]
fn counters_histograms_and_spans() -> Result<(), CacheError> {
    check_observed(&File(temp()?))
}

#[test]
fn entries_and_bytes_are_published() -> Result<(), CacheError> {
    let dir = temp()?;
    let recorded = Recorded::default();
    let cache = metrics::with_local_recorder(&recorded, || {
        FileBasedCache::builder(dir.path()).name("pages").build()
    })?;
    cache.wait_for_recount();
    cache.set("a", "one".to_owned(), Ttl::Never)?;
    cache.set("b", "two".to_owned(), Ttl::Never)?;
    cache.publish_metrics()?;
    let (entries, bytes) = cache.directory_usage()?;
    let labels = [("backend", "file"), ("cache", "pages")];
    assert_eq!(entries, 2);
    assert_eq!(recorded.gauge("cache_entries", &labels), Some(2.0));
    assert_eq!(recorded.gauge("cache_bytes", &labels), Some(bytes as f64));
    assert!(bytes > 0);
    assert_eq!(recorded.counter("cache_sets_total", &labels), Some(2));
    Ok(())
}

#[test]
fn a_corrupt_file_dropped_is_an_info_event_without_the_key() -> Result<(), CacheError> {
    let dir = temp()?;
    let captured = Captured::default();
    let cache = FileBasedCache::builder(dir.path()).name("pages").build()?;
    cache.set("secret-user-7", "value".to_owned(), Ttl::Never)?;
    let path = cache.entry_path("secret-user-7");
    let mut bytes = std::fs::read(&path).map_err(|e| CacheError::io("reading", e))?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&path, &bytes).map_err(|e| CacheError::io("writing", e))?;
    let got: Option<String> = captured.run(|| cache.get("secret-user-7"))?;
    assert_eq!(got, None);
    assert_eq!(cache.corruptions(), 1);
    let events = captured.events();
    let dropped: Vec<_> = events
        .iter()
        .filter(|e| e.name == "corrupt entry dropped")
        .collect();
    assert_eq!(dropped.len(), 1, "{events:?}");
    let event = dropped[0];
    assert_eq!(event.level, "INFO");
    assert_eq!(event.target, "cache");
    assert_eq!(event.fields["cache"], "pages");
    assert_eq!(event.fields["backend"], "file");
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    assert_eq!(event.fields["detail"], file_name);
    assert_eq!(event.parent.as_deref(), Some("cache_op"));
    assert!(!format!("{events:?}").contains("secret-user-7"));
    Ok(())
}

#[test]
fn a_load_in_progress_is_in_the_loads_gauge() -> Result<(), CacheError> {
    use cache_core::CacheExt;
    use std::sync::mpsc;
    let dir = temp()?;
    let recorded = Recorded::default();
    let cache = metrics::with_local_recorder(&recorded, || {
        FileBasedCache::builder(dir.path()).name("loads").build()
    })?;
    let labels = [("backend", "file"), ("cache", "loads")];
    let (started, wait_started) = mpsc::channel();
    let (release, wait_release) = mpsc::channel::<()>();
    std::thread::scope(|s| -> Result<(), CacheError> {
        let loading = s.spawn(|| {
            cache.get_or_insert_with("k", Ttl::Never, move || {
                started.send(()).expect("the test waits");
                wait_release.recv().expect("the test releases");
                "v".to_owned()
            })
        });
        wait_started.recv().expect("the loader starts");
        cache.publish_metrics()?;
        assert_eq!(recorded.gauge("cache_loads_in_flight", &labels), Some(1.0));
        release.send(()).expect("the loader waits");
        assert_eq!(loading.join().expect("no panic")?, "v");
        Ok(())
    })?;
    cache.publish_metrics()?;
    assert_eq!(recorded.gauge("cache_loads_in_flight", &labels), Some(0.0));
    Ok(())
}
