//! Behaviour specific to `InMemoryCache`, beyond the shared conformance suite.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use cache_core::{Cache, CacheError, CacheExt, MockClock, Ttl};
use cache_memory::{InMemoryCache, Policy};

#[test]
fn zero_max_size_and_zero_shards_are_config_errors() {
    let err = InMemoryCache::<u8>::new(0, None).unwrap_err();
    assert!(matches!(err, CacheError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("max_size"));
    let err = InMemoryCache::<u8>::builder()
        .shards(0)
        .build()
        .unwrap_err();
    assert!(matches!(err, CacheError::Config { .. }), "{err:?}");
}

#[test]
fn small_caches_have_one_shard_large_ones_several() {
    assert_eq!(
        InMemoryCache::<u8>::new(1_000, None).unwrap().shard_count(),
        1
    );
    let big = InMemoryCache::<u8>::builder()
        .max_size(1 << 20)
        .shards(64)
        .build()
        .unwrap();
    assert_eq!(big.shard_count(), 64);
    let odd = InMemoryCache::<u8>::builder()
        .max_size(1 << 20)
        .shards(48)
        .build()
        .unwrap();
    assert_eq!(odd.shard_count(), 32, "rounded down to a power of two");
    // The default: 32 per CPU (at most 256), as long as each shard keeps 512 entries.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let by_cpu = (cpus * 32).min(256);
    let default = InMemoryCache::<u8>::new(1 << 20, None).unwrap();
    assert_eq!(default.shard_count(), 1 << by_cpu.ilog2());
    let limited = InMemoryCache::<u8>::new(4 * 512, None).unwrap();
    assert_eq!(limited.shard_count(), 4.min(1 << by_cpu.ilog2()));
}

#[test]
fn a_sharded_cache_never_holds_more_than_max_size() {
    let cache = InMemoryCache::<u32>::builder()
        .max_size(5_000)
        .shards(8)
        .build()
        .unwrap();
    assert_eq!(cache.shard_count(), 8);
    for i in 0..50_000u32 {
        cache.set(&format!("k{i}"), i, Ttl::Never).unwrap();
        assert!(cache.len() <= 5_000);
    }
    let s = cache.stats();
    assert_eq!(s.entries, Some(cache.len() as u64));
    assert_eq!(s.evictions + cache.len() as u64, 50_000);
    // Recent keys survive: the last few hundred were written after any eviction of theirs.
    assert!((49_900..50_000).all(|i| cache.exists(&format!("k{i}")).unwrap()));
}

#[test]
fn a_panicking_loader_poisons_nothing_and_waiters_recover() {
    let cache = InMemoryCache::<String>::new(100, None).unwrap();
    let calls = AtomicUsize::new(0);
    let barrier = Barrier::new(4);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        cache.get_or_insert_with("k", Ttl::Never, || {
                            let n = calls.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(30));
                            if n == 0 {
                                panic!("the first loader fails");
                            }
                            format!("value-{n}")
                        })
                    }))
                })
            })
            .collect();
        let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let panicked = outcomes.iter().filter(|o| o.is_err()).count();
        assert_eq!(
            panicked, 1,
            "only the panicking loader's caller sees the panic"
        );
        let values: Vec<String> = outcomes
            .into_iter()
            .filter_map(|o| o.ok())
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(values.len(), 3);
        assert!(values.iter().all(|v| v == &values[0]), "{values:?}");
    });
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one panic, then one loader for the rest"
    );
    // Nothing is left locked or half-done.
    cache.set("other", "x".into(), Ttl::Never).unwrap();
    assert_eq!(cache.get("other").unwrap().as_deref(), Some("x"));
    let again = cache
        .get_or_insert_with("k", Ttl::Never, || unreachable!())
        .unwrap();
    assert!(again.starts_with("value-"));
}

/// With `single_flight(false)` every caller that misses runs its own loader.
#[test]
fn single_flight_off_runs_every_loader() {
    let cache = InMemoryCache::<u32>::builder()
        .single_flight(false)
        .build()
        .unwrap();
    cache_conformance::flights::loaders_meet(&cache, &cache);
}

#[test]
fn different_keys_load_in_parallel() {
    // Each loader announces itself and then waits for the other one: this completes only if
    // the two loads run at the same time (a lock held across loaders would time out).
    let cache = InMemoryCache::<usize>::new(100, None).unwrap();
    let (to_b, from_a) = std::sync::mpsc::channel::<()>();
    let (to_a, from_b) = std::sync::mpsc::channel::<()>();
    let rendezvous = |tx: std::sync::mpsc::Sender<()>, rx: std::sync::mpsc::Receiver<()>| {
        move || {
            tx.send(()).unwrap();
            rx.recv_timeout(Duration::from_secs(20))
                .expect("the other loader never ran concurrently");
        }
    };
    let (meet_a, meet_b) = (rendezvous(to_b, from_b), rendezvous(to_a, from_a));
    std::thread::scope(|s| {
        let cache = &cache;
        // The loaders are `FnOnce`: each moves its rendezvous in.
        s.spawn(move || {
            cache
                .get_or_insert_with("a", Ttl::Never, move || {
                    meet_a();
                    1
                })
                .unwrap()
        });
        s.spawn(move || {
            cache
                .get_or_insert_with("b", Ttl::Never, move || {
                    meet_b();
                    2
                })
                .unwrap()
        });
    });
    assert_eq!(cache.get("a").unwrap(), Some(1));
    assert_eq!(cache.get("b").unwrap(), Some(2));
}

#[test]
fn purge_expired_frees_entries_and_counts_them() {
    let clock = MockClock::new();
    let cache = InMemoryCache::<u8>::builder()
        .clock(clock.shared())
        .build()
        .unwrap();
    for i in 0..10 {
        let ttl = Duration::from_secs(if i < 6 { 1 } else { 100 });
        cache.set(&format!("k{i}"), i, Ttl::After(ttl)).unwrap();
    }
    clock.advance(Duration::from_secs(1));
    assert_eq!(cache.purge_expired(), 6);
    assert_eq!(cache.len(), 4);
    assert_eq!(cache.stats().expirations, 6);
    assert_eq!(cache.purge_expired(), 0);
}

#[test]
fn works_as_a_trait_object_and_through_arc() {
    let cache: std::sync::Arc<dyn Cache<u8>> =
        std::sync::Arc::new(InMemoryCache::new(10, None).unwrap());
    cache.set("k", 1, Ttl::Never).unwrap();
    let boxed: Box<dyn Cache<u8>> = Box::new(cache.clone());
    assert_eq!(boxed.get("k").unwrap(), Some(1));
    assert_eq!(cache.stats().hits, 1);
}

/// Four threads run random gets, sets (with and without TTLs), deletes, `exists` and pattern
/// deletes on a small sharded cache whose clock moves, so that slots are evicted, expired,
/// removed and reused all the time. Every value read must be the one written for its key,
/// the size bound must hold, and the counters must add up to the operations issued.
#[test]
fn a_busy_bounded_cache_never_mixes_up_slots_and_counts_exactly() {
    busy_bounded_cache(Policy::Lru);
}

/// The same under TinyLFU, whose gets run under the shards' read locks, several at a time:
/// hits and misses counted there still add up exactly.
#[test]
fn a_busy_bounded_tinylfu_cache_never_mixes_up_slots_and_counts_exactly() {
    busy_bounded_cache(Policy::TinyLfu);
}

fn busy_bounded_cache(policy: Policy) {
    let clock = MockClock::new();
    let cache = InMemoryCache::<(String, u64)>::builder()
        .max_size(2_048)
        .shards(4)
        .clock(clock.shared())
        .policy(policy)
        .build()
        .unwrap();
    assert_eq!(cache.shard_count(), 4);
    let (gets, sets) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (cache, clock, gets, sets) = (&cache, &clock, &gets, &sets);
            s.spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (t + 1);
                for n in 0..40_000u64 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Short keys (stored inline) and long ones (on the heap).
                    let key = if x % 7 == 0 {
                        format!("long-key-{}-{}", x % 5_000, "x".repeat(30))
                    } else {
                        format!("k{}", x % 5_000)
                    };
                    match (x >> 20) % 16 {
                        0..=6 => {
                            gets.fetch_add(1, Ordering::Relaxed);
                            if let Some((k, _)) = cache.get(&key).unwrap() {
                                assert_eq!(k, key, "a value stored under another key");
                            }
                        }
                        7..=11 => {
                            sets.fetch_add(1, Ordering::Relaxed);
                            let ttl = match (x >> 30) % 3 {
                                0 => Ttl::After(Duration::from_millis(1 + (x >> 40) % 50)),
                                _ => Ttl::Never,
                            };
                            cache.set(&key, (key.clone(), n), ttl).unwrap();
                        }
                        12 => {
                            cache.delete(&key).unwrap();
                        }
                        13 => {
                            cache.exists(&key).unwrap();
                        }
                        14 => {
                            cache.delete_pattern(&format!("k{}*", x % 100)).unwrap();
                        }
                        _ => clock.advance(Duration::from_millis(1)),
                    }
                }
            });
        }
    });
    let s = cache.stats();
    assert_eq!(
        s.hits + s.misses,
        gets.load(Ordering::Relaxed) as u64,
        "{s:?}"
    );
    assert_eq!(s.sets, sets.load(Ordering::Relaxed) as u64, "{s:?}");
    assert!(
        s.evictions > 0 && s.expirations > 0 && s.deletes > 0,
        "{s:?}"
    );
    assert_eq!(s.entries, Some(cache.len() as u64));
    assert!(cache.len() <= 2_048);
    // Whatever is left reads back under its own key.
    for i in 0..5_000 {
        let key = format!("k{i}");
        if let Some((k, _)) = cache.get(&key).unwrap() {
            assert_eq!(k, key);
        }
    }
}

/// Through `Arc<dyn Cache>` and `Box<dyn Cache>` (the forwarding impls), `get_or_insert_with`
/// is still the backend's: eight callers missing together run one loader, whose captured
/// (non-`Clone`) value moves into the cache.
#[test]
fn single_flight_survives_arc_and_box_of_dyn_cache() {
    struct NotClone(String);
    let shared: std::sync::Arc<dyn Cache<String>> =
        std::sync::Arc::new(InMemoryCache::<String>::new(100, None).unwrap());
    let boxed: Box<dyn Cache<String>> = Box::new(std::sync::Arc::clone(&shared));
    let calls = AtomicUsize::new(0);
    let entered = AtomicUsize::new(0);
    let barrier = Barrier::new(8);
    std::thread::scope(|s| {
        for i in 0..8 {
            let (shared, boxed, calls, barrier) = (&shared, &boxed, &calls, &barrier);
            let entered = &entered;
            s.spawn(move || {
                let captured = NotClone(format!("from-{i}"));
                barrier.wait();
                entered.fetch_add(1, Ordering::SeqCst);
                let load = move || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    while entered.load(Ordering::SeqCst) < 8 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                    captured.0 // moved out of a value that cannot be cloned
                };
                let got = if i % 2 == 0 {
                    shared.get_or_insert_with("k", Ttl::Never, load)
                } else {
                    boxed.get_or_insert_with("k", Ttl::Never, load)
                };
                assert!(got.unwrap().starts_with("from-"));
            });
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Clones are handles on one cache: the same entries, counters and removal listener, and the
/// entries live until the last handle is dropped.
#[test]
fn clones_are_handles_on_one_cache() {
    use std::sync::{Arc, Mutex};
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&heard);
    let cache = InMemoryCache::<Arc<u8>>::builder()
        .max_size(10)
        .on_removal(move |key, _, cause| log.lock().unwrap().push((key.to_owned(), cause)))
        .build()
        .unwrap();
    let other = cache.clone();
    let value = Arc::new(7);
    assert!(other.set("a", Arc::clone(&value), Ttl::Never).unwrap());
    assert_eq!(cache.get("a").unwrap().as_deref(), Some(&7));
    assert_eq!(other.stats().hits, 1, "one set of counters");
    assert_eq!(cache.stats(), other.stats());
    assert!(cache.delete("a").unwrap());
    assert!(!other.exists("a").unwrap());
    assert_eq!(
        *heard.lock().unwrap(),
        [("a".to_owned(), cache_core::RemovalCause::Deleted)],
        "one listener, heard through either handle"
    );
    other.set("b", Arc::clone(&value), Ttl::Never).unwrap();
    drop(cache);
    assert_eq!(other.len(), 1, "dropping a handle drops no entry");
    assert_eq!(Arc::strong_count(&value), 2);
    drop(other);
    assert_eq!(
        Arc::strong_count(&value),
        1,
        "the last handle drops the entries"
    );
    // Handles move to other threads.
    let cache = InMemoryCache::<u32>::new(10, None).unwrap();
    let handle = cache.clone();
    std::thread::spawn(move || handle.set("t", 1, Ttl::Never).unwrap())
        .join()
        .unwrap();
    assert_eq!(cache.get("t").unwrap(), Some(1));
}

/// `set`, `add`, `touch`, `set_many` (inherent) and `get_or_insert_with` (`CacheExt`) take
/// a `Duration`, an `Option<Duration>` or a `Ttl`; `None` never expires.
#[test]
fn ttl_arguments_convert() {
    let clock = MockClock::new();
    let cache = InMemoryCache::<u32>::builder()
        .clock(clock.shared())
        .default_ttl(Duration::from_secs(5))
        .build()
        .unwrap();
    let secs = Duration::from_secs;
    assert!(cache.set("duration", 1, secs(10)).unwrap());
    assert!(cache.set("some", 2, Some(secs(20))).unwrap());
    assert!(cache.set("none", 3, None).unwrap());
    assert!(cache.set("default", 4, Ttl::Default).unwrap());
    assert!(cache.add("added", 5, secs(30)).unwrap());
    assert!(!cache.add("added", 6, secs(30)).unwrap());
    cache
        .set_many(vec![("m1", 7), ("m2", 8)], Some(secs(40)))
        .unwrap();
    assert_eq!(
        cache.get_or_insert_with("loaded", secs(50), || 9).unwrap(),
        9
    );
    let ttl = |k| cache.ttl(k).unwrap();
    assert_eq!(ttl("duration"), Some(Some(secs(10))));
    assert_eq!(ttl("some"), Some(Some(secs(20))));
    assert_eq!(ttl("none"), Some(None));
    assert_eq!(ttl("default"), Some(Some(secs(5))));
    assert_eq!(ttl("added"), Some(Some(secs(30))));
    assert_eq!(ttl("m1"), Some(Some(secs(40))));
    assert_eq!(ttl("m2"), Some(Some(secs(40))));
    assert_eq!(ttl("loaded"), Some(Some(secs(50))));
    assert!(cache.touch("none", secs(60)).unwrap());
    assert_eq!(ttl("none"), Some(Some(secs(60))));
    assert!(cache.touch("duration", None).unwrap());
    assert_eq!(ttl("duration"), Some(None));
    clock.advance(secs(45));
    assert_eq!(cache.get("some").unwrap(), None);
    assert_eq!(cache.get("duration").unwrap(), Some(1));
    assert_eq!(cache.get("loaded").unwrap(), Some(9));
}
