//! Faults under the async API, on a current-thread runtime, where one blocked call would stop
//! every task: a frozen server (SIGSTOP) makes calls fail within their timeout while a 1 ms
//! ticker keeps ticking; after SIGCONT, and after a restart on the same port, the same
//! `AsyncRedisCache` works again. The server is this test's own, since it breaks it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::{AsyncCache, CacheError, Ttl};
use cache_redis::{AsyncRedisCache, RedisConfig};
use redis_test_support::{unique_prefix, RedisServer};

/// The timeout of the cache; errors must come within it plus this slack.
const TIMEOUT: Duration = Duration::from_millis(300);
const SLACK: Duration = Duration::from_millis(1000);
/// The longest the ticker may go without a tick, not counting the time its thread waited
/// for a CPU (see [`ticker`]).
const MAX_GAP: Duration = Duration::from_millis(50);

/// The gaps between a ticker's ticks: the longest, and the longest once the time its thread
/// spent runnable but waiting for a CPU is taken out of each.
#[derive(Debug, Default)]
struct Gaps {
    longest: Duration,
    longest_running: Duration,
    ticks: u64,
}

/// A task that ticks every millisecond until stopped, and measures the gaps between ticks.
///
/// On a busy machine (two cores, parallel builds) the OS may leave the runtime's thread
/// waiting for a CPU for tens of milliseconds, and no code of this crate can help that; a
/// stall of the runtime by this crate (blocking work on the runtime thread: a synchronous
/// connect, lookup, lock or sleep) is time the thread runs or sleeps instead. So each gap
/// is also measured without the thread's wait for a CPU, which Linux reports in
/// `/proc/thread-self/schedstat` (its second field, `run_delay`, in nanoseconds); where it
/// does not, that wait counts as 0 and the gaps are the plain ones.
fn ticker(stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Gaps> {
    tokio::spawn(async move {
        let mut last = (Instant::now(), run_delay());
        let mut gaps = Gaps::default();
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let now = (Instant::now(), run_delay());
            let gap = now.0 - last.0;
            gaps.longest = gaps.longest.max(gap);
            gaps.longest_running = gaps
                .longest_running
                .max(gap.saturating_sub(now.1.saturating_sub(last.1)));
            last = now;
            gaps.ticks += 1;
        }
        gaps
    })
}

/// How long this thread has waited for a CPU while runnable, so far (0 where the system
/// does not say).
fn run_delay() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Awaits `op`, checks that it fails as a backend error naming the server in time.
async fn fails_in_time<T: std::fmt::Debug>(
    server: &str,
    op: impl std::future::Future<Output = Result<T, CacheError>>,
) {
    let start = Instant::now();
    let result = op.await;
    let took = start.elapsed();
    let err = result.expect_err("the server is frozen");
    assert!(took < TIMEOUT + SLACK, "failed only after {took:?}: {err}");
    assert!(matches!(err, CacheError::Backend { .. }), "{err:?}");
    assert!(err.to_string().contains(server), "{err}");
}

async fn works(cache: &AsyncRedisCache, value: &str) {
    assert!(cache
        .set("k", value.to_string(), Ttl::Never)
        .await
        .expect("a set"));
    let got: Option<String> = cache.get("k").await.expect("a get");
    assert_eq!(got.as_deref(), Some(value));
}

#[tokio::test(flavor = "current_thread")]
async fn a_frozen_server_fails_calls_in_time_without_stalling_the_runtime() {
    let server = RedisServer::start();
    let config = RedisConfig::new(server.url())
        .key_prefix(unique_prefix("async-faults"))
        .timeouts(TIMEOUT);
    let cache = AsyncRedisCache::new(config).await.expect("a cache");
    works(&cache, "before").await;
    let name = server.addr();

    server.freeze();
    let stop = Arc::new(AtomicBool::new(false));
    let ticking = ticker(Arc::clone(&stop));
    fails_in_time(&name, AsyncCache::<String>::get(&cache, "k")).await;
    fails_in_time(&name, cache.set("k", "frozen".to_string(), Ttl::Never)).await;
    // Many calls at once, multiplexed on the one connection: each fails in time.
    let calls: Vec<_> = (0..16)
        .map(|i| {
            let (cache, name) = (cache.clone(), name.clone());
            tokio::spawn(async move {
                let key = format!("k{i}");
                fails_in_time(&name, AsyncCache::<String>::get(&cache, &key)).await;
            })
        })
        .collect();
    for call in calls {
        call.await.expect("no panic");
    }
    fails_in_time(&name, AsyncCache::<String>::delete_pattern(&cache, "k*")).await;
    stop.store(true, Ordering::Relaxed);
    let gaps = ticking.await.expect("no panic");
    assert!(gaps.ticks > 0);
    assert!(
        gaps.longest_running <= MAX_GAP,
        "the runtime stalled for {:?} ({gaps:?})",
        gaps.longest_running
    );

    server.thaw();
    works(&cache, "after SIGCONT").await;

    server.kill();
    server.restart();
    works(&cache, "after a restart").await;
    assert_eq!(AsyncCache::<String>::stats(&cache).sets, 3);
}
