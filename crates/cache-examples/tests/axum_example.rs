//! The axum example (`examples/axum.rs`), exercised: requests through
//! `tower::ServiceExt::oneshot` against a real `redis-server` of this test's own.

#[path = "../examples/axum.rs"]
#[allow(dead_code)] // Its `main` is the example's, not this test's.
mod example;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cache::{AsyncCache, AsyncRedisCache, RedisConfig};
use tower::ServiceExt;

async fn request(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let request = Request::get(uri).body(Body::empty()).expect("a request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    (status, String::from_utf8(body.to_vec()).expect("utf8"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_answers_from_redis_after_the_first_lookup() {
    let server = redis_test_support::RedisServer::start();
    let config = RedisConfig::new(server.url())
        .key_prefix(redis_test_support::unique_prefix("axum-example"));
    let cache = Arc::new(AsyncRedisCache::new(config).await.expect("a cache"));
    let state = example::AppState {
        cache: cache.clone(),
        lookups: Arc::default(),
    };
    let app = example::app(state.clone());

    assert_eq!(
        request(&app, "/users/7").await,
        (StatusCode::OK, "user 7".into())
    );
    assert_eq!(state.lookups.load(Ordering::Relaxed), 1);
    // Stored in Redis, under the example's key.
    let stored: Option<String> = cache.get("user:7").await.expect("a get");
    assert_eq!(stored.as_deref(), Some("user 7"));
    // The second request is a hit: no lookup.
    assert_eq!(
        request(&app, "/users/7").await,
        (StatusCode::OK, "user 7".into())
    );
    assert_eq!(state.lookups.load(Ordering::Relaxed), 1);
    assert_eq!(AsyncCache::<String>::stats(&*cache).hits, 2);

    // Another user is another lookup; a malformed id is the client's error.
    assert_eq!(
        request(&app, "/users/8").await,
        (StatusCode::OK, "user 8".into())
    );
    assert_eq!(state.lookups.load(Ordering::Relaxed), 2);
    assert_eq!(request(&app, "/users/x").await.0, StatusCode::BAD_REQUEST);

    // With the server gone, the service answers 503 with the cache's error.
    server.kill();
    let (status, body) = request(&app, "/users/9").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains(&server.addr()), "{body}");
}
