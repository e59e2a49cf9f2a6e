//! The async API of the in-memory cache (`AsyncInMemoryCache`): single flight across tasks,
//! cancellation of the loading task, shared loader errors, flights shared with the blocking
//! handles of the same cache.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use cache_conformance::flights;
use cache_core::{AsyncCache, AsyncCacheExt, Cache, CacheError, CacheExt, Ttl};
use cache_memory::{AsyncInMemoryCache, InMemoryCache};

fn cache() -> Arc<dyn AsyncCache<String>> {
    Arc::new(AsyncInMemoryCache::new(
        InMemoryCache::new(10_000, None).expect("valid"),
    ))
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
    let cache: Box<dyn AsyncCache<u64>> = Box::new(AsyncInMemoryCache::new(
        InMemoryCache::new(100, None).unwrap(),
    ));
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
    let cache = AsyncInMemoryCache::new(
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

/// One cache, a count of loader calls, and a runtime: callers of "k" on threads (through the
/// blocking handle) and in tasks (through an async handle on the same cache).
struct Mixed {
    cache: InMemoryCache<String>,
    tasks: AsyncInMemoryCache<String>,
    calls: Arc<AtomicUsize>,
    rt: tokio::runtime::Runtime,
}

type Outcome = Result<&'static str, &'static str>;

impl Mixed {
    fn new() -> Self {
        let cache = InMemoryCache::new(100, None).unwrap();
        Mixed {
            tasks: AsyncInMemoryCache::new(cache.clone()),
            cache,
            calls: Arc::new(AtomicUsize::new(0)),
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap(),
        }
    }

    /// A thread's `try_get_or_insert_with` of "k"; its loader (if it runs) counts the call,
    /// runs `hold`, and returns `outcome`.
    fn thread(
        &self,
        outcome: Outcome,
        hold: impl FnOnce() + Send + 'static,
    ) -> std::thread::JoinHandle<Result<String, CacheError>> {
        let (cache, calls) = (self.cache.clone(), Arc::clone(&self.calls));
        std::thread::spawn(move || {
            cache.try_get_or_insert_with("k", Ttl::Never, || {
                calls.fetch_add(1, Ordering::SeqCst);
                hold();
                outcome.map(str::to_string)
            })
        })
    }

    /// The same from a task, its loader awaiting `hold`.
    fn task(
        &self,
        outcome: Outcome,
        hold: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<String, CacheError>> {
        let (cache, calls) = (self.tasks.clone(), Arc::clone(&self.calls));
        self.rt.spawn(async move {
            cache
                .try_get_or_insert_with("k", Ttl::Never, || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    hold.await;
                    outcome.map(str::to_string)
                })
                .await
        })
    }

    /// Waits (yielding the thread) until `misses` misses were counted: a caller that joins
    /// or starts a flight counts its miss under the shard lock it decides under, so once its
    /// miss shows, the caller is registered.
    fn until_misses(&self, misses: u64) {
        while self.cache.stats().misses < misses {
            std::thread::yield_now();
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// A gate a blocking loader stops at: `hold` tells `started` and waits for `release`.
fn gate() -> (impl FnOnce() + Send, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (started, is_started) = mpsc::channel();
    let (release, released) = mpsc::channel();
    let hold = move || {
        started.send(()).unwrap();
        released.recv().unwrap();
    };
    (hold, is_started, release)
}

#[test]
fn a_blocking_load_serves_async_waiters() {
    let m = Mixed::new();
    let (hold, is_started, release) = gate();
    let leader = m.thread(Ok("from-thread"), hold);
    is_started.recv().unwrap();
    let tasks: Vec<_> = (0..8).map(|_| m.task(Ok("from-task"), async {})).collect();
    m.until_misses(9);
    release.send(()).unwrap();
    assert_eq!(leader.join().unwrap().unwrap(), "from-thread");
    for t in tasks {
        assert_eq!(m.rt.block_on(t).unwrap().unwrap(), "from-thread");
    }
    assert_eq!(m.calls(), 1, "one load for both kinds");
    assert_eq!(m.cache.stats().sets, 1);
}

#[test]
fn an_async_load_serves_blocking_waiters() {
    let m = Mixed::new();
    let (started, is_started) = mpsc::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let leader = m.task(Ok("from-task"), async move {
        started.send(()).unwrap();
        released.await.unwrap();
    });
    is_started.recv().unwrap();
    let threads: Vec<_> = (0..4).map(|_| m.thread(Ok("from-thread"), || {})).collect();
    m.until_misses(5);
    release.send(()).unwrap();
    assert_eq!(m.rt.block_on(leader).unwrap().unwrap(), "from-task");
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), "from-task");
    }
    assert_eq!(m.calls(), 1, "one load for both kinds");
}

#[test]
fn a_failed_load_reaches_blocking_and_async_waiters() {
    let m = Mixed::new();
    let (hold, is_started, release) = gate();
    let leader = m.thread(Err("database down"), hold);
    is_started.recv().unwrap();
    let thread = m.thread(Err("another error"), || {});
    let tasks: Vec<_> = (0..4)
        .map(|_| m.task(Err("another error"), async {}))
        .collect();
    m.until_misses(6);
    release.send(()).unwrap();
    let mut errors = vec![
        leader.join().unwrap().unwrap_err(),
        thread.join().unwrap().unwrap_err(),
    ];
    for t in tasks {
        errors.push(m.rt.block_on(t).unwrap().unwrap_err());
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
    assert_eq!(m.calls(), 1);
    assert!(!m.cache.exists("k").unwrap());
}

#[test]
fn a_dropped_async_load_hands_the_flight_to_a_blocking_waiter() {
    let m = Mixed::new();
    let (started, is_started) = mpsc::channel();
    let leader = m.task(Ok("from-task"), async move {
        started.send(()).unwrap();
        std::future::pending::<()>().await
    });
    is_started.recv().unwrap();
    let waiter = m.thread(Ok("from-thread"), || {});
    m.until_misses(2);
    leader.abort();
    assert!(m.rt.block_on(leader).unwrap_err().is_cancelled());
    assert_eq!(waiter.join().unwrap().unwrap(), "from-thread");
    assert_eq!(m.calls(), 2, "the waiter took over");
    assert_eq!(m.cache.get("k").unwrap().as_deref(), Some("from-thread"));
}

#[tokio::test(flavor = "current_thread")]
async fn get_runs_when_polled_and_allocates_no_future() {
    fn send_and_unpin<F: std::future::Future + Send + Unpin>(f: F) -> F {
        f
    }
    let cache = AsyncInMemoryCache::new(InMemoryCache::<String>::new(100, None).unwrap());
    cache.set("k", "v".to_string(), Ttl::Never).await.unwrap();
    let get = send_and_unpin(cache.get("k"));
    assert!(!get.is_ready(), "{get:?}");
    assert_eq!(
        cache.stats().hits,
        0,
        "nothing happens before the first poll"
    );
    assert_eq!(get.await.unwrap().as_deref(), Some("v"));
    assert_eq!(cache.stats().hits, 1);
    // The writes answer during the call: the future holds the answer, nothing is boxed.
    let set = send_and_unpin(cache.set("k", "w".to_string(), Ttl::Never));
    assert!(set.is_ready(), "{set:?}");
    assert!(set.await.unwrap());
    assert_eq!(format!("{:?}", cache.delete("k")), "CacheFuture::Ready");
}

/// An async handle and the blocking handles it was made from are one cache; the async one
/// clones, gives its blocking handle back, and takes a `Duration` or `Option<Duration>` as
/// the blocking one does.
#[tokio::test(flavor = "current_thread")]
async fn async_and_blocking_handles_are_one_cache() {
    let blocking = InMemoryCache::<u32>::new(100, None).unwrap();
    let cache = AsyncInMemoryCache::from(blocking.clone());
    let other = cache.clone();
    assert!(cache.set("a", 1, Duration::from_secs(60)).await.unwrap());
    assert!(other.set("b", 2, None).await.unwrap());
    assert!(cache
        .add("c", 3, Some(Duration::from_secs(30)))
        .await
        .unwrap());
    other
        .set_many(vec![("d", 4), ("e", 5)], Duration::from_secs(90))
        .await
        .unwrap();
    assert!(cache.touch("b", Duration::from_secs(10)).await.unwrap());
    assert_eq!(blocking.get("a").unwrap(), Some(1));
    assert_eq!(
        blocking
            .ttl("b")
            .unwrap()
            .flatten()
            .map(|d| d <= Duration::from_secs(10)),
        Some(true)
    );
    assert_eq!(
        blocking
            .ttl("c")
            .unwrap()
            .flatten()
            .map(|d| d > Duration::from_secs(10)),
        Some(true)
    );
    assert_eq!(other.get("e").await.unwrap(), Some(5));
    assert_eq!(
        cache
            .get_or_insert_with("f", Duration::from_secs(5), || async { 6 })
            .await
            .unwrap(),
        6
    );
    assert_eq!(blocking.get("f").unwrap(), Some(6));
    assert_eq!(cache.blocking().len(), 6);
    assert_eq!(other.stats(), blocking.stats(), "one set of counters");
    assert_eq!(blocking.stats().hits, 3);
    let counters = AsyncInMemoryCache::new(InMemoryCache::<i64>::new(10, None).unwrap());
    assert_eq!(counters.incr("n", 2).await.unwrap(), 2);
    assert_eq!(counters.decr("n", 5).await.unwrap(), -3);
    assert_eq!(counters.blocking().get("n").unwrap(), Some(-3));
}

/// The shared case of the file and Redis caches: a blocking caller and tasks on a blocking
/// handle and an async handle of one cache run one loader.
#[test]
fn blocking_and_async_handles_share_one_flight() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let blocking = InMemoryCache::<String>::new(100, None).unwrap();
    let tasks: Arc<dyn AsyncCache<String>> = Arc::new(AsyncInMemoryCache::new(blocking.clone()));
    flights::blocking_and_async_callers_share_one_flight(&blocking, tasks, &runtime);
}
