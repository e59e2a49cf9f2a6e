//! `incr` and `add` raced by two processes of eight threads on one directory (the suite's
//! [`cache_conformance::processes`]; the test binary re-invokes itself for the children).

use cache_conformance::processes::{self, Handles};
use cache_file::FileBasedCache;

const CHILD: &str = "CACHE_FILE_OPS_CHILD";

fn open(dir: &str) -> Handles {
    let cache = FileBasedCache::new(dir, None).expect("open");
    (Box::new(cache.clone()), Box::new(cache))
}

/// The children's side; a no-op in an ordinary test run.
#[test]
fn child() {
    processes::child(CHILD, open);
}

#[test]
fn two_processes_of_eight_threads_count_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().to_str().unwrap();
    let (counters, _) = open(spec);
    processes::incr_across_processes(CHILD, spec, &*counters);
    let cache = FileBasedCache::new(spec, None).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(cache.entry_path("count").parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "only the entry, no lock file: {leftovers:?}"
    );
}

#[test]
fn two_processes_racing_add_have_one_winner_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().to_str().unwrap();
    let (_, strings) = open(spec);
    processes::add_across_processes(CHILD, spec, &*strings);
}
