//! Stamped coherence over the file cache: a copy is served while the entry's file is the
//! one it was read from; another handle's (another process's) write is seen at once, or,
//! with a max staleness, once the staleness has passed since the copy's last check.

use std::time::Duration;

use cache_core::near::EntryStamps;
use cache_core::{MockClock, Ttl};
use cache_file::FileBasedCache;
use cache_tiered::TieredCache;

fn far(dir: &std::path::Path, clock: &MockClock) -> FileBasedCache {
    FileBasedCache::builder(dir)
        .clock(clock.shared())
        .build()
        .expect("a file cache")
}

#[test]
fn copies_are_served_while_their_file_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::new();
    let cache = TieredCache::<u64, _>::builder(far(dir.path(), &clock))
        .clock(clock.shared())
        .build_stamped()
        .unwrap();
    let other = far(dir.path(), &clock); // another process's handle on the directory
    other.set("k", 1u64, Ttl::Never).unwrap();
    assert_eq!(cache.get("k").unwrap(), Some(1));
    assert_eq!(cache.get("k").unwrap(), Some(1));
    assert_eq!(cache.get("k").unwrap(), Some(1));
    let tiers = cache.tier_stats();
    assert_eq!(tiers.near_hits_served, 2, "{tiers:?}");
    assert_eq!(tiers.far.hits, 1, "one far read: {tiers:?}");
    for v in 2..50u64 {
        other.set("k", v, Ttl::Never).unwrap(); // the same size each time
        assert_eq!(
            cache.get("k").unwrap(),
            Some(v),
            "the other's write is seen at once"
        );
        assert_eq!(cache.get("k").unwrap(), Some(v));
    }
    other.delete("k").unwrap();
    assert_eq!(cache.get("k").unwrap(), None);
}

#[test]
fn every_write_gives_a_new_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::new();
    // Two instances: files kept for reuse come back to the path from either one.
    let (a, b) = (far(dir.path(), &clock), far(dir.path(), &clock));
    let mut seen = std::collections::HashSet::new();
    for i in 0..2_000u64 {
        let writer = if i % 3 == 0 { &b } else { &a };
        writer.set("k", 7u64, Ttl::Never).unwrap(); // same value, same size
        let stamp = a.stamp("k").unwrap().expect("a file");
        assert!(seen.insert(stamp), "write {i} repeated an earlier stamp");
        assert_eq!(b.stamp("k").unwrap(), Some(stamp), "one file, one stamp");
    }
}

#[test]
fn max_staleness_serves_a_copy_until_it_is_due_for_a_check() {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::new();
    let cache = TieredCache::<u64, _>::builder(far(dir.path(), &clock))
        .clock(clock.shared())
        .max_staleness(Duration::from_millis(100))
        .build_stamped()
        .unwrap();
    let other = far(dir.path(), &clock);
    other.set("k", 1u64, Ttl::Never).unwrap();
    assert_eq!(cache.get("k").unwrap(), Some(1));
    other.set("k", 2u64, Ttl::Never).unwrap();
    clock.advance(Duration::from_millis(99));
    assert_eq!(
        cache.get("k").unwrap(),
        Some(1),
        "within the staleness: not checked"
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        cache.get("k").unwrap(),
        Some(2),
        "due for a check: the new file is seen"
    );
    // A check that finds the file unchanged restarts the staleness window.
    clock.advance(Duration::from_millis(100));
    assert_eq!(cache.get("k").unwrap(), Some(2)); // checked, unchanged
    other.set("k", 3u64, Ttl::Never).unwrap();
    clock.advance(Duration::from_millis(99));
    assert_eq!(
        cache.get("k").unwrap(),
        Some(2),
        "the window restarted at the check"
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(cache.get("k").unwrap(), Some(3));
    // This process's own writes are seen at once, staleness or not.
    cache.set("k", 4, Ttl::Never).unwrap();
    assert_eq!(cache.get("k").unwrap(), Some(4));
}

#[test]
fn max_staleness_is_refused_where_it_means_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::new();
    let err = TieredCache::<u64, _>::builder(far(dir.path(), &clock))
        .max_staleness(Duration::from_millis(100))
        .build_without_coherence_no_other_writers()
        .unwrap_err();
    assert!(err.to_string().contains("max_staleness"), "{err}");
    let err = TieredCache::<u64, _>::builder(far(dir.path(), &clock))
        .max_staleness(Duration::ZERO)
        .build_stamped()
        .unwrap_err();
    assert!(err.to_string().contains("max_staleness"), "{err}");
    assert!(TieredCache::<u64, _>::builder(far(dir.path(), &clock))
        .near_max_size(0)
        .build_stamped()
        .is_err());
}
