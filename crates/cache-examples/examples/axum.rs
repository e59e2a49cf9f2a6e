//! A small HTTP service (axum) that caches a slow lookup in Redis with `get_or_insert_with`:
//! `REDIS_URL=redis://127.0.0.1:6379/0 cargo run -p cache-examples
//! --example axum`, then `curl 127.0.0.1:3000/users/7` (twice: the second answer comes from
//! Redis, without the 200 ms lookup). `ADDR` changes the address it listens on.
//!
//! Nothing blocks a runtime worker: the cache is `AsyncRedisCache`, and the loader awaits.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use cache::{AsyncCache, AsyncCacheExt, AsyncRedisCache, RedisConfig, Ttl};

/// What every request handler shares: the cache, and how many slow lookups ran.
#[derive(Clone)]
pub struct AppState {
    /// Any async cache; `main` puts an `AsyncRedisCache` here.
    pub cache: Arc<dyn AsyncCache<String>>,
    /// How many slow lookups ran (cache misses).
    pub lookups: Arc<AtomicU64>,
}

/// The service: `GET /users/{id}` answers the user's name, from the cache when it can.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/users/{id}", get(user))
        .with_state(state)
}

async fn user(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<String, (StatusCode, String)> {
    let key = format!("user:{id}");
    let lookups = Arc::clone(&state.lookups);
    state
        .cache
        .get_or_insert_with(&key, Ttl::After(Duration::from_secs(60)), || async move {
            slow_lookup(id, &lookups).await
        })
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

/// Stands for a database query or a call to another service.
async fn slow_lookup(id: u64, lookups: &AtomicU64) -> String {
    lookups.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    format!("user {id}")
}

#[tokio::main]
async fn main() -> ExitCode {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let config = RedisConfig::new(url)
        .key_prefix("cache-example-axum:")
        .timeouts(Duration::from_secs(1));
    let cache = match AsyncRedisCache::new(config).await {
        Ok(cache) => cache,
        Err(e) => {
            eprintln!("no Redis server answered: {e}");
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
    println!("listening on http://{addr}/users/7");
    let state = AppState {
        cache: Arc::new(cache),
        lookups: Arc::default(),
    };
    match axum::serve(listener, app(state)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
