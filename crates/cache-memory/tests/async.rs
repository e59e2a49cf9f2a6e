//! The async API of the in-memory cache: single flight across tasks, cancellation of the
//! loading task, shared loader errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::{AsyncCache, AsyncCacheExt, CacheError, Ttl};
use cache_memory::InMemoryCache;

fn cache() -> Arc<dyn AsyncCache<String>> {
    Arc::new(InMemoryCache::new(10_000, None).expect("valid"))
}

/// 1,000 tasks miss one key together; the loader (a 50 ms timer) runs once and every task
/// gets its value.
async fn thousand_tasks_one_load() {
    let cache = cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let cache = Arc::clone(&cache);
            let calls = Arc::clone(&calls);
            tokio::spawn(async move {
                cache
                    .get_or_insert_with("hot", Ttl::Never, || async move {
                        let n = calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        format!("loaded-{n}")
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("no panic").expect("no error"), "loaded-0");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.get("hot").await.unwrap().as_deref(), Some("loaded-0"));
    let stats = cache.stats();
    assert_eq!(stats.sets, 1);
}

#[test]
fn thousand_tasks_on_a_current_thread_runtime_run_the_loader_once() {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(thousand_tasks_one_load());
}

#[test]
fn thousand_tasks_on_a_multi_thread_runtime_run_the_loader_once() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
        .block_on(thousand_tasks_one_load());
}

/// Starts a task that loads `key` until it is aborted, and returns once its loader runs.
async fn stuck_loader(
    cache: &Arc<dyn AsyncCache<String>>,
    calls: &Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<Result<String, CacheError>> {
    let (started, is_started) = tokio::sync::oneshot::channel();
    let loading = {
        let cache = Arc::clone(cache);
        let calls = Arc::clone(calls);
        tokio::spawn(async move {
            cache
                .get_or_insert_with("k", Ttl::Never, || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    started.send(()).expect("the test waits");
                    std::future::pending::<String>().await
                })
                .await
        })
    };
    is_started.await.expect("the loader started");
    loading
}

#[tokio::test(flavor = "current_thread")]
async fn cancelling_the_loading_task_lets_one_waiter_load() {
    let cache = cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let loading = stuck_loader(&cache, &calls).await;
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let cache = Arc::clone(&cache);
            let calls = Arc::clone(&calls);
            tokio::spawn(async move {
                cache
                    .get_or_insert_with("k", Ttl::Never, || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        format!("from-waiter-{i}")
                    })
                    .await
            })
        })
        .collect();
    // Let every waiter reach the flight and await it.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "waiters do not load");
    loading.abort();
    assert!(loading.await.expect_err("aborted").is_cancelled());
    let mut values = Vec::new();
    for w in waiters {
        values.push(w.await.expect("no panic").expect("no error"));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "exactly one waiter took over"
    );
    assert!(values.iter().all(|v| v == &values[0]), "{values:?}");
    assert!(values[0].starts_with("from-waiter-"));
    assert_eq!(cache.get("k").await.unwrap(), Some(values[0].clone()));
}

#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_load_with_no_waiter_leaves_nothing_locked() {
    let cache = cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let loading = stuck_loader(&cache, &calls).await;
    loading.abort();
    assert!(loading.await.expect_err("aborted").is_cancelled());
    let v = cache
        .get_or_insert_with("k", Ttl::Never, || async { "second".to_string() })
        .await
        .unwrap();
    assert_eq!(v, "second");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_loader_error_reaches_every_waiter_and_stores_nothing() {
    let cache = cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let cache = Arc::clone(&cache);
            let calls = Arc::clone(&calls);
            tokio::spawn(async move {
                cache
                    .try_get_or_insert_with("k", Ttl::Never, || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        Err::<String, _>("database down")
                    })
                    .await
            })
        })
        .collect();
    let mut sources = Vec::new();
    for t in tasks {
        let err = t.await.expect("no panic").expect_err("the loader failed");
        let CacheError::Loader { key, source } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(key, "k");
        assert_eq!(
            format!("{err:#}"),
            "the loader for key \"k\" failed: database down"
        );
        sources.push(Arc::clone(source));
    }
    // One error, shared: every task holds the same `Arc` as the one whose loader ran.
    assert!(sources.iter().all(|s| Arc::ptr_eq(s, &sources[0])));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!cache.exists("k").await.unwrap());
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

// Blocking and async callers of one cache share its flights.

/// Waits (yielding the thread) until `misses` misses were counted: each caller that joins or
/// starts a flight counts its miss under the shard lock it decides under, so once its miss
/// shows, the caller is registered.
fn until_misses(cache: &InMemoryCache<String>, misses: u64) {
    while cache_core::Cache::stats(cache).misses < misses {
        std::thread::yield_now();
    }
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn a_blocking_load_serves_async_waiters() {
    let cache = Arc::new(InMemoryCache::<String>::new(100, None).unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let (started, is_started) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let leader = {
        let (cache, calls) = (Arc::clone(&cache), Arc::clone(&calls));
        std::thread::spawn(move || {
            cache_core::CacheExt::get_or_insert_with(&*cache, "k", Ttl::Never, || {
                calls.fetch_add(1, Ordering::SeqCst);
                started.send(()).unwrap();
                released.recv().unwrap();
                "from-thread".to_string()
            })
        })
    };
    is_started.recv().unwrap();
    let rt = multi_thread();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (cache, calls) = (Arc::clone(&cache), Arc::clone(&calls));
            rt.spawn(async move {
                AsyncCacheExt::get_or_insert_with(&*cache, "k", Ttl::Never, || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    "from-task".to_string()
                })
                .await
            })
        })
        .collect();
    until_misses(&cache, 9);
    release.send(()).unwrap();
    assert_eq!(leader.join().unwrap().unwrap(), "from-thread");
    for t in tasks {
        assert_eq!(rt.block_on(t).unwrap().unwrap(), "from-thread");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one load for both kinds");
    assert_eq!(cache_core::Cache::stats(&*cache).sets, 1);
}

#[test]
fn an_async_load_serves_blocking_waiters() {
    let cache = Arc::new(InMemoryCache::<String>::new(100, None).unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let rt = multi_thread();
    let (started, is_started) = std::sync::mpsc::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let leader = {
        let (cache, calls) = (Arc::clone(&cache), Arc::clone(&calls));
        rt.spawn(async move {
            AsyncCacheExt::get_or_insert_with(&*cache, "k", Ttl::Never, || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                started.send(()).unwrap();
                released.await.unwrap();
                "from-task".to_string()
            })
            .await
        })
    };
    is_started.recv().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (cache, calls) = (Arc::clone(&cache), Arc::clone(&calls));
            std::thread::spawn(move || {
                cache_core::CacheExt::get_or_insert_with(&*cache, "k", Ttl::Never, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    "from-thread".to_string()
                })
            })
        })
        .collect();
    until_misses(&cache, 5);
    release.send(()).unwrap();
    assert_eq!(rt.block_on(leader).unwrap().unwrap(), "from-task");
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), "from-task");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one load for both kinds");
}

#[test]
fn a_failed_load_reaches_blocking_and_async_waiters() {
    let cache = Arc::new(InMemoryCache::<String>::new(100, None).unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let (started, is_started) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let blocking = |cache: Arc<InMemoryCache<String>>, calls: Arc<AtomicUsize>| {
        move || {
            cache_core::CacheExt::try_get_or_insert_with(&*cache, "k", Ttl::Never, || {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<String, _>("database down")
            })
        }
    };
    let leader = {
        let (cache, calls) = (Arc::clone(&cache), Arc::clone(&calls));
        std::thread::spawn(move || {
            cache_core::CacheExt::try_get_or_insert_with(&*cache, "k", Ttl::Never, || {
                calls.fetch_add(1, Ordering::SeqCst);
                started.send(()).unwrap();
                released.recv().unwrap();
                Err::<String, _>("database down")
            })
        })
    };
    is_started.recv().unwrap();
    let thread = std::thread::spawn(blocking(Arc::clone(&cache), Arc::clone(&calls)));
    let rt = multi_thread();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (cache, calls) = (Arc::clone(&cache), Arc::clone(&calls));
            rt.spawn(async move {
                AsyncCacheExt::try_get_or_insert_with(&*cache, "k", Ttl::Never, || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err::<String, _>("database down")
                })
                .await
            })
        })
        .collect();
    until_misses(&cache, 6);
    release.send(()).unwrap();
    let mut errors = vec![
        leader.join().unwrap().unwrap_err(),
        thread.join().unwrap().unwrap_err(),
    ];
    for t in tasks {
        errors.push(rt.block_on(t).unwrap().unwrap_err());
    }
    let sources: Vec<_> = errors
        .iter()
        .map(|err| match err {
            CacheError::Loader { key, source } if key == "k" => Arc::clone(source),
            other => panic!("{other:?}"),
        })
        .collect();
    // One error, shared: the thread that loaded, the thread and the tasks that waited.
    assert!(sources.iter().all(|s| Arc::ptr_eq(s, &sources[0])));
    assert_eq!(sources[0].to_string(), "database down");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!cache_core::Cache::exists(&*cache, "k").unwrap());
}

#[test]
fn a_dropped_async_load_hands_the_flight_to_a_blocking_waiter() {
    let cache = Arc::new(InMemoryCache::<String>::new(100, None).unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let rt = multi_thread();
    let (started, is_started) = std::sync::mpsc::channel();
    let leader = {
        let (cache, calls) = (Arc::clone(&cache), Arc::clone(&calls));
        rt.spawn(async move {
            AsyncCacheExt::get_or_insert_with(&*cache, "k", Ttl::Never, || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                started.send(()).unwrap();
                std::future::pending::<String>().await
            })
            .await
        })
    };
    is_started.recv().unwrap();
    let waiter = {
        let (cache, calls) = (Arc::clone(&cache), Arc::clone(&calls));
        std::thread::spawn(move || {
            cache_core::CacheExt::get_or_insert_with(&*cache, "k", Ttl::Never, || {
                calls.fetch_add(1, Ordering::SeqCst);
                "from-thread".to_string()
            })
        })
    };
    until_misses(&cache, 2);
    leader.abort();
    assert!(rt.block_on(leader).unwrap_err().is_cancelled());
    assert_eq!(waiter.join().unwrap().unwrap(), "from-thread");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the waiter took over");
    assert_eq!(
        cache_core::Cache::get(&*cache, "k").unwrap().as_deref(),
        Some("from-thread")
    );
}
