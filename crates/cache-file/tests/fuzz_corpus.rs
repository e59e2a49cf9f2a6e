//! Replays the committed corpora of the file backend's fuzz targets (`file_entry`,
//! `ops_file`) without a fuzzer, so that every crash once found stays fixed.

use cache_conformance::{Harness, Setup, Time};
use cache_file::FileBasedCache;

#[path = "../../../fuzz/fuzz_targets/bodies/file_entry.rs"]
mod file_entry;

fn corpus(target: &str) -> String {
    format!("{}/../../fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn file_entry_corpus_replays() {
    let n = cache_conformance::fuzz::replay_corpus(corpus("file_entry"), file_entry::file_entry);
    assert!(n >= 5, "only {n} corpus files");
}

struct Files(tempfile::TempDir);

impl Harness for Files {
    type Cache = FileBasedCache;
    fn time(&self) -> Time {
        Time::Mock
    }
    fn create(&self, setup: Setup) -> FileBasedCache {
        let dir = tempfile::tempdir_in(self.0.path()).unwrap().keep();
        let mut b = FileBasedCache::builder(dir)
            .clock(setup.clock.expect("mock time").shared())
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

#[test]
fn ops_file_corpus_replays() {
    let files = Files(tempfile::tempdir().unwrap());
    let n = cache_conformance::fuzz::replay_corpus(corpus("ops_file"), |data| {
        cache_conformance::fuzz::ops(&files, data)
    });
    assert!(n >= 3, "only {n} corpus files");
}
