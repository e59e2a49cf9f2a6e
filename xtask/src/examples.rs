//! `cargo xtask examples`: runs every example of the facade (with all features, so that the
//! builds of the tests are reused; each example declares the features it needs);
//! the Redis one against a `redis-server` started here on a free loopback port (through
//! `redis-test-support`), reached through `REDIS_URL` as a user would.

use crate::{cargo, cargo_env, Result};

pub(crate) fn main() -> Result {
    crate::ensure_redis()?;
    cargo(&["run", "-p", "cache", "--example", "quickstart"])?;
    cargo(&["run", "-p", "cache", "--example", "file", "--all-features"])?;
    let server = redis_test_support::RedisServer::start();
    let url = server.url();
    cargo_env(
        &["run", "-p", "cache", "--example", "redis", "--all-features"],
        &[("REDIS_URL", &url)],
    )
}
