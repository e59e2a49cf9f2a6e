//! The async API of the in-memory cache: single flight across tasks, cancellation of the
//! loading task, shared loader errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cache_conformance::flights;
use cache_core::{AsyncCache, AsyncCacheExt, Ttl};
use cache_memory::InMemoryCache;

fn cache() -> Arc<dyn AsyncCache<String>> {
    Arc::new(InMemoryCache::new(10_000, None).expect("valid"))
}

/// 1,000 tasks miss one key together; the loader (a 50 ms timer) runs once and every task
/// gets its value (the case is shared with the file and Redis caches).
#[test]
fn thousand_tasks_on_a_current_thread_runtime_run_the_loader_once() {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(flights::thousand_tasks_run_the_loader_once(cache()));
}

#[test]
fn thousand_tasks_on_a_multi_thread_runtime_run_the_loader_once() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
        .block_on(flights::thousand_tasks_run_the_loader_once(cache()));
}

#[tokio::test(flavor = "current_thread")]
async fn cancelling_the_loading_task_lets_one_waiter_load() {
    flights::cancelled_leader_lets_a_waiter_load(cache()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_loader_error_reaches_every_waiter_and_stores_nothing() {
    flights::failing_loader_error_reaches_every_task(cache()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn every_operation_through_a_box_dyn() {
    let cache: Box<dyn AsyncCache<u64>> = Box::new(InMemoryCache::new(100, None).unwrap());
    assert!(cache.set("a", 1, Ttl::Never).await.unwrap());
    cache
        .set_many(vec![("b", 2), ("c", 3)], Ttl::Never)
        .await
        .unwrap();
    assert_eq!(
        cache.get_many(&["a", "b", "x"]).await.unwrap(),
        vec![Some(1), Some(2), None]
    );
    assert!(cache.exists("c").await.unwrap());
    assert!(cache.delete("c").await.unwrap());
    assert_eq!(cache.delete_many(&["a", "c"]).await.unwrap(), 1);
    assert_eq!(cache.delete_pattern("*").await.unwrap(), 1);
    cache.set("d", 4, Ttl::Never).await.unwrap();
    cache.clear().await.unwrap();
    assert_eq!(cache.get("d").await.unwrap(), None);
    let s = cache.get_stats();
    assert_eq!((s.hits, s.misses, s.sets, s.deletes), (2, 2, 4, 3));
}

/// `single_flight(false)` holds for the async API too: two tasks that miss at the same time
/// both run their loader (the second starts while the first is still loading).
#[tokio::test(flavor = "current_thread")]
async fn without_single_flight_every_missing_task_loads() {
    let cache = Arc::new(
        InMemoryCache::<u64>::builder()
            .single_flight(false)
            .build()
            .unwrap(),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let (release, released) = tokio::sync::watch::channel(false);
    let tasks: Vec<_> = (0..2)
        .map(|i| {
            let (cache, calls, mut released) = (cache.clone(), calls.clone(), released.clone());
            tokio::spawn(async move {
                cache
                    .get_or_insert_with("k", Ttl::Never, || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let _ = released.wait_for(|r| *r).await;
                        i
                    })
                    .await
            })
        })
        .collect();
    // Both tasks get to run (a single flight would keep the second waiting, not loading).
    for _ in 0..1_000 {
        if calls.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::task::yield_now().await;
    }
    release.send(true).unwrap();
    for t in tasks {
        t.await.expect("no panic").expect("a value");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(cache.exists("k").await.unwrap());
}
