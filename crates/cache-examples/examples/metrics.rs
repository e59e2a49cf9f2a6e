//! A service that Prometheus watches: an in-memory cache in front of Redis, both named, and
//! `/metrics` in Prometheus's text format (the `metrics` facade and
//! `metrics-exporter-prometheus`): `REDIS_URL=redis://127.0.0.1:6379/0 cargo run -p
//! cache-examples --example metrics`, then `curl 127.0.0.1:3000/users/7` (twice) and `curl
//! 127.0.0.1:3000/metrics`. `ADDR` changes the address it listens on.
//!
//! What to look for: `cache_hits_total{backend="memory",cache="users-local"}`,
//! `cache_misses_total{backend="redis",cache="users"}`, and the latency histogram
//! `cache_operation_duration_seconds_bucket{operation="get",outcome="hit",...}`, which
//! `histogram_quantile` reads. The recorder is installed before the caches are built (they
//! resolve their handles then), and `/metrics` publishes both caches' counters before it
//! renders.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use cache::{AsyncCacheExt, AsyncRedisCache, Cache, InMemoryCache, RedisConfig, Ttl};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// The buckets of `cache_operation_duration_seconds`, in seconds: 1 µs to 2 s. A memory hit
/// takes well under a microsecond, a Redis call about a hundred.
pub const BUCKETS: [f64; 14] = [
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 1e-2, 1e-1, 1.0, 2.0,
];

/// Installs the Prometheus recorder as the process's `metrics` recorder, with histogram
/// buckets for the operation latencies (without buckets it would render summaries, which
/// `histogram_quantile` cannot read). Call it before building the caches.
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("cache_operation_duration_seconds".into()),
            &BUCKETS,
        )?
        .install_recorder()
}

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The near tier, in this process: `users-local`.
    pub local: InMemoryCache<String>,
    /// The shared tier, in Redis: `users`.
    pub shared: AsyncRedisCache,
    /// How many slow lookups ran (misses of both tiers).
    pub lookups: Arc<AtomicU64>,
    /// Renders what the recorder holds.
    pub prometheus: PrometheusHandle,
}

/// The service: `GET /users/{id}` (from memory, else from Redis, else the slow lookup) and
/// `GET /metrics`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/users/{id}", get(user))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn user(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<String, (StatusCode, String)> {
    let key = format!("user:{id}");
    let unavailable = |e: cache::CacheError| (StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    if let Some(name) = state.local.get(&key).map_err(unavailable)? {
        return Ok(name);
    }
    let lookups = Arc::clone(&state.lookups);
    let name = state
        .shared
        .get_or_insert_with(&key, Ttl::After(Duration::from_secs(60)), || async move {
            slow_lookup(id, &lookups).await
        })
        .await
        .map_err(unavailable)?;
    state
        .local
        .set(&key, name.clone(), Duration::from_secs(5))
        .map_err(unavailable)?;
    Ok(name)
}

async fn metrics(State(state): State<AppState>) -> String {
    state.local.publish_metrics();
    state.shared.publish_metrics();
    state.prometheus.render()
}

/// Stands for a database query or a call to another service.
async fn slow_lookup(id: u64, lookups: &AtomicU64) -> String {
    lookups.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(20)).await;
    format!("user {id}")
}

/// The caches, named, after the recorder: `users-local` (memory) and `users` (Redis at
/// `redis_url`, keys under `prefix`).
pub async fn state(
    prometheus: PrometheusHandle,
    redis_url: &str,
    prefix: &str,
) -> Result<AppState, cache::CacheError> {
    let local = InMemoryCache::builder()
        .max_size(10_000)
        .name("users-local")
        .build()?;
    let config = RedisConfig::new(redis_url)
        .key_prefix(prefix)
        .name("users")
        .timeouts(Duration::from_secs(1));
    let shared = AsyncRedisCache::new(config).await?;
    Ok(AppState {
        local,
        shared,
        lookups: Arc::default(),
        prometheus,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let prometheus = match install_recorder() {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("cannot install the Prometheus recorder: {e}");
            return ExitCode::FAILURE;
        }
    };
    let state = match state(prometheus, &url, "cache-example-metrics:").await {
        Ok(state) => state,
        Err(e) => {
            eprintln!("no cache: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on http://{addr}/users/7 and http://{addr}/metrics");
    match axum::serve(listener, app(state)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
