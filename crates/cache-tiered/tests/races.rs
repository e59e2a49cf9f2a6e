//! The races a near tier must win, each forced with a far read held at a gate: a far read
//! that started before a change is never filled after the change's invalidation (or this
//! process's write), a fill never replaces a newer copy, and a failed far write leaves no
//! near copy; plus the channel going down (bypass) and one far read per key for all
//! threads.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::thread;

use cache_core::{CacheExt, Ttl};
use cache_memory::InMemoryCache;
use cache_tiered::TieredCache;
use support::Gated;

type Tiered = TieredCache<i64, Gated<i64>>;

fn invalidated() -> (Tiered, Gated<i64>) {
    let far = Gated::new(InMemoryCache::new(10_000, None).unwrap());
    let cache = TieredCache::builder(far.clone())
        .near_max_size(1_000)
        .build_invalidated()
        .unwrap();
    (cache, far)
}

/// Another process writes `key` behind the near tier's back (no invalidation yet).
fn other_process_writes(far: &Gated<i64>, key: &str, v: i64) {
    far.far.cache.set(key, v, Ttl::Never).unwrap();
}

/// How many far reads the tiered cache made so far.
fn far_reads(far: &Gated<i64>) -> u64 {
    far.gets.load(Ordering::SeqCst)
}

#[test]
fn a_far_read_older_than_an_invalidation_is_not_filled() {
    let (cache, far) = invalidated();
    other_process_writes(&far, "k", 1);
    let gate = far.arm();
    let reader = {
        let cache = cache.clone();
        thread::spawn(move || cache.get("k").unwrap())
    };
    gate.entered.recv().unwrap(); // the reader holds 1, read from the far tier
    other_process_writes(&far, "k", 2);
    far.far.report("k"); // the invalidation of 2 arrives before the reader fills
    gate.release.send(()).unwrap();
    assert_eq!(
        reader.join().unwrap(),
        Some(1),
        "the read overlapped the write"
    );
    let before = far_reads(&far);
    assert_eq!(
        cache.get("k").unwrap(),
        Some(2),
        "1 was not filled after 2's invalidation"
    );
    assert_eq!(
        far_reads(&far),
        before + 1,
        "a near miss: nothing was filled"
    );
    assert_eq!(cache.get("k").unwrap(), Some(2));
    assert_eq!(
        far_reads(&far),
        before + 1,
        "2 was filled and is served from the near tier"
    );
}

#[test]
fn a_far_read_older_than_this_processs_write_is_not_filled() {
    let (cache, far) = invalidated();
    other_process_writes(&far, "k", 1);
    far.far.quiet.store(true, Ordering::SeqCst); // the write's own invalidation is late
    let gate = far.arm();
    let reader = {
        let cache = cache.clone();
        thread::spawn(move || cache.get("k").unwrap())
    };
    gate.entered.recv().unwrap();
    cache.set("k", 2, Ttl::Never).unwrap();
    gate.release.send(()).unwrap();
    assert_eq!(reader.join().unwrap(), Some(1));
    assert_eq!(
        cache.get("k").unwrap(),
        Some(2),
        "reads its own write, not the older fill"
    );
    assert_eq!(cache.get("k").unwrap(), Some(2));
}

#[test]
fn a_fill_never_replaces_a_newer_copy() {
    // Private coherence: this process's write keeps its value as the near copy.
    let far = Gated::new(InMemoryCache::new(10_000, None).unwrap());
    let cache = TieredCache::builder(far.clone())
        .build_without_coherence_no_other_writers()
        .unwrap();
    other_process_writes(&far, "k", 1);
    let gate = far.arm();
    let reader = {
        let cache = cache.clone();
        thread::spawn(move || cache.get("k").unwrap())
    };
    gate.entered.recv().unwrap();
    cache.set("k", 2, Ttl::Never).unwrap(); // a newer copy, installed in the near tier
    let before = far_reads(&far);
    assert_eq!(cache.get("k").unwrap(), Some(2));
    assert_eq!(far_reads(&far), before, "served from the near tier");
    gate.release.send(()).unwrap();
    assert_eq!(reader.join().unwrap(), Some(1));
    assert_eq!(
        cache.get("k").unwrap(),
        Some(2),
        "the older read did not replace 2"
    );
    assert_eq!(far_reads(&far), before, "2 is still the near copy");
}

#[test]
fn a_failed_far_write_leaves_no_near_copy() {
    let far = Gated::new(InMemoryCache::new(10_000, None).unwrap());
    let cache = TieredCache::builder(far.clone())
        .build_without_coherence_no_other_writers()
        .unwrap();
    cache.set("k", 1, Ttl::Never).unwrap();
    assert_eq!(cache.get("k").unwrap(), Some(1));
    far.fail_writes.store(true, Ordering::SeqCst);
    assert!(cache.set("k", 2, Ttl::Never).is_err());
    assert!(cache.incr("k", 1).is_err());
    // The far write's outcome is unknown to the near tier: its copy is gone, reads go far.
    let before = far_reads(&far);
    assert_eq!(cache.get("k").unwrap(), Some(1), "what the far tier holds");
    assert_eq!(far_reads(&far), before + 1, "no near copy was left");
    for op in [
        &|c: &Tiered| c.delete("k").map(drop),
        &|c: &Tiered| c.touch("k", Ttl::Never).map(drop),
        &|c: &Tiered| c.add("k", 3, Ttl::Never).map(drop),
        &|c: &Tiered| c.delete_many(&["k"]).map(drop),
        &|c: &Tiered| c.delete_pattern("k*").map(drop),
        &|c: &Tiered| c.clear(),
    ] as [&dyn Fn(&Tiered) -> Result<(), cache_core::CacheError>; 6]
    {
        assert_eq!(cache.get("k").unwrap(), Some(1)); // filled again
        let before = far_reads(&far);
        assert!(op(&cache).is_err());
        assert_eq!(cache.get("k").unwrap(), Some(1));
        assert_eq!(
            far_reads(&far),
            before + 1,
            "a failed write dropped the copy"
        );
    }
}

#[test]
fn a_lost_channel_empties_and_bypasses_the_near_tier_until_it_is_back() {
    let (cache, far) = invalidated();
    other_process_writes(&far, "k", 1);
    assert_eq!(cache.get("k").unwrap(), Some(1));
    assert_eq!(cache.get("k").unwrap(), Some(1));
    assert_eq!(far_reads(&far), 1, "the second read was a near hit");
    far.far.connected(false);
    assert!(cache.tier_stats().bypassed);
    other_process_writes(&far, "k", 2); // no invalidation can arrive now
    for _ in 0..3 {
        assert_eq!(
            cache.get("k").unwrap(),
            Some(2),
            "every read goes to the far tier"
        );
    }
    assert_eq!(far_reads(&far), 4, "and nothing is filled");
    assert_eq!(cache.get_or_insert_with("k", Ttl::Never, || 9).unwrap(), 2);
    far.far.connected(true);
    assert!(!cache.tier_stats().bypassed);
    assert_eq!(cache.get("k").unwrap(), Some(2));
    assert_eq!(cache.get("k").unwrap(), Some(2));
    assert_eq!(far_reads(&far), 5, "filled again once the channel is back");
}

#[test]
fn a_far_read_that_spans_a_lost_channel_is_not_filled() {
    let (cache, far) = invalidated();
    other_process_writes(&far, "k", 1);
    let gate = far.arm();
    let reader = {
        let cache = cache.clone();
        thread::spawn(move || cache.get("k").unwrap())
    };
    gate.entered.recv().unwrap();
    far.far.connected(false);
    other_process_writes(&far, "k", 2);
    far.far.connected(true); // back: invalidate_all, then connected(true)
    gate.release.send(()).unwrap();
    assert_eq!(reader.join().unwrap(), Some(1));
    assert_eq!(cache.get("k").unwrap(), Some(2));
}

#[test]
fn one_far_read_per_key_for_all_the_threads_that_miss() {
    let (cache, far) = invalidated();
    other_process_writes(&far, "k", 7);
    let gate = far.arm();
    let threads = 8;
    let start = Arc::new(Barrier::new(threads + 1));
    let readers: Vec<_> = (0..threads)
        .map(|_| {
            let (cache, start) = (cache.clone(), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                cache.get("k").unwrap()
            })
        })
        .collect();
    start.wait();
    gate.entered.recv().unwrap(); // one reader holds the flight
                                  // The others join the flight (or, arriving after it, hit the near copy it fills).
    thread::sleep(std::time::Duration::from_millis(50));
    gate.release.send(()).unwrap();
    for r in readers {
        assert_eq!(r.join().unwrap(), Some(7));
    }
    assert_eq!(far_reads(&far), 1, "one far read for {threads} threads");
    let stats = cache.stats();
    assert_eq!(
        stats.hits, threads as u64,
        "each read counts one hit: {stats:?}"
    );
}

#[test]
fn get_or_insert_with_is_one_flight_across_both_tiers() {
    let (cache, far) = invalidated();
    let gate = far.arm();
    let threads = 8;
    let start = Arc::new(Barrier::new(threads + 1));
    let runs = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let callers: Vec<_> = (0..threads)
        .map(|_| {
            let (cache, start, runs) = (cache.clone(), Arc::clone(&start), Arc::clone(&runs));
            thread::spawn(move || {
                start.wait();
                cache
                    .get_or_insert_with("k", Ttl::Never, || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        42
                    })
                    .unwrap()
            })
        })
        .collect();
    start.wait();
    gate.entered.recv().unwrap();
    thread::sleep(std::time::Duration::from_millis(50));
    gate.release.send(()).unwrap();
    for c in callers {
        assert_eq!(c.join().unwrap(), 42);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the loader ran once");
    assert_eq!(
        far.loads.load(Ordering::SeqCst),
        1,
        "one far call for all threads"
    );
    assert_eq!(far_reads(&far), 0);
}

#[test]
fn a_near_copy_never_outlives_the_far_entry() {
    let clock = cache_core::MockClock::new();
    let far = Gated::new(
        InMemoryCache::builder()
            .clock(clock.shared())
            .build()
            .unwrap(),
    );
    let cache = TieredCache::builder(far.clone())
        .clock(clock.shared())
        .build_invalidated()
        .unwrap();
    far.far
        .cache
        .set("k", 1, std::time::Duration::from_secs(10))
        .unwrap();
    clock.advance(std::time::Duration::from_secs(4));
    assert_eq!(cache.get("k").unwrap(), Some(1)); // filled with the 6 s left
    clock.advance(std::time::Duration::from_millis(5_999));
    assert_eq!(cache.get("k").unwrap(), Some(1));
    assert_eq!(far_reads(&far), 1, "a near hit up to the far entry's end");
    clock.advance(std::time::Duration::from_millis(1));
    assert_eq!(
        cache.get("k").unwrap(),
        None,
        "gone from both tiers at the same instant"
    );
    assert_eq!(far_reads(&far), 2);
}

#[test]
fn a_read_after_this_processs_write_does_not_take_an_older_flights_value() {
    let (cache, far) = invalidated();
    other_process_writes(&far, "k", 1);
    far.far.quiet.store(true, Ordering::SeqCst);
    let gate = far.arm();
    let reader = {
        let cache = cache.clone();
        thread::spawn(move || cache.get("k").unwrap())
    };
    gate.entered.recv().unwrap(); // a flight holds 1
    cache.set("k", 2, Ttl::Never).unwrap();
    let after_write = {
        let cache = cache.clone();
        thread::spawn(move || cache.get("k").unwrap()) // joins the flight of 1, or leads
    };
    thread::sleep(std::time::Duration::from_millis(50));
    gate.release.send(()).unwrap();
    assert_eq!(reader.join().unwrap(), Some(1));
    assert_eq!(
        after_write.join().unwrap(),
        Some(2),
        "never older than its own write"
    );
}

/// Writers in "other processes" (straight to the far tier, their invalidations delivered
/// late or at once) and in this one, readers on many threads: no thread ever reads a value
/// of a key older than one any thread of the process had read before its read began.
#[test]
fn reads_never_go_back_in_time_under_mixed_writes() {
    use std::sync::atomic::{AtomicBool, AtomicI64};
    let (cache, far) = invalidated();
    far.far.quiet.store(true, Ordering::SeqCst); // invalidations are delivered by hand
    let keys = ["a", "b", "c"];
    for k in keys {
        cache.set(k, 0, Ttl::Never).unwrap();
    }
    let next = Arc::new(AtomicI64::new(1)); // values only grow, whoever writes
                                            // The newest value the process has returned per key, updated after each read.
    let seen: Arc<Vec<AtomicI64>> = Arc::new(keys.iter().map(|_| AtomicI64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for r in 0..4 {
        let (cache, seen, stop) = (cache.clone(), Arc::clone(&seen), Arc::clone(&stop));
        threads.push(thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::SeqCst) {
                for (i, k) in keys.iter().enumerate() {
                    let floor = seen[i].load(Ordering::SeqCst);
                    let v = cache.get(k).unwrap().unwrap_or(i64::MAX);
                    assert!(
                        v >= floor,
                        "reader {r}: {k} read {v} after {floor} was read"
                    );
                    if v != i64::MAX {
                        seen[i].fetch_max(v, Ordering::SeqCst);
                    }
                    reads += 1;
                }
            }
            reads
        }));
    }
    // The writers take values under one lock, so that each key's far value only grows.
    let order = Arc::new(std::sync::Mutex::new(()));
    {
        // Another process: writes, then its invalidation arrives (sometimes after a while).
        let (far, next, stop, order) = (
            far.clone(),
            Arc::clone(&next),
            Arc::clone(&stop),
            Arc::clone(&order),
        );
        threads.push(thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let k = keys[(n % 3) as usize];
                {
                    let _order = order.lock().unwrap();
                    let v = next.fetch_add(1, Ordering::SeqCst);
                    far.far.cache.set(k, v, Ttl::Never).unwrap();
                }
                if n % 4 == 0 {
                    thread::yield_now();
                }
                far.far.report(k);
                n += 1;
            }
            n
        }));
    }
    {
        // This process writes too, through the tiered cache.
        let (cache, next, stop, order) = (
            cache.clone(),
            Arc::clone(&next),
            Arc::clone(&stop),
            Arc::clone(&order),
        );
        threads.push(thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let k = keys[(n % 3) as usize];
                {
                    let _order = order.lock().unwrap();
                    let v = next.fetch_add(1, Ordering::SeqCst);
                    cache.set(k, v, Ttl::Never).unwrap();
                }
                n += 1;
                thread::yield_now();
            }
            n
        }));
    }
    thread::sleep(std::time::Duration::from_millis(1_500));
    stop.store(true, Ordering::SeqCst);
    let counts: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        counts.iter().all(|&c| c > 100),
        "every thread ran: {counts:?}"
    );
}
