//! `cargo xtask examples`: checks that the quick start stays light (at most
//! [`QUICKSTART_CRATES`] crates to build), runs it, then every example of `cache-examples`;
//! the Redis one against a `redis-server` started here on a free loopback port (through
//! `redis-test-support`), reached through `REDIS_URL` as a user would.

use crate::{cargo, cargo_env, Result};

/// The most crates a fresh `cargo run --example quickstart` may build (the README's promise).
const QUICKSTART_CRATES: usize = 15;

pub(crate) fn main() -> Result {
    crate::ensure_redis()?;
    quickstart_is_light()?;
    cargo(&["run", "--example", "quickstart"])?;
    cargo(&["run", "-p", "cache-examples", "--example", "file"])?;
    let server = redis_test_support::RedisServer::start();
    let url = server.url();
    cargo_env(
        &["run", "-p", "cache-examples", "--example", "redis"],
        &[("REDIS_URL", &url)],
    )
}

/// The packages a bare `cargo run --example quickstart` at the root builds (the workspace's
/// default members, their dependencies of every kind, as `cargo tree` resolves them): at
/// most [`QUICKSTART_CRATES`].
fn quickstart_is_light() -> Result {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(cargo)
        .current_dir(&root)
        .args(["tree", "-e", "normal,build,dev", "--prefix", "none"])
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut crates: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    crates.sort_unstable();
    crates.dedup();
    eprintln!(
        "the quick start builds {} crates: {}",
        crates.len(),
        crates.join(" ")
    );
    if crates.len() > QUICKSTART_CRATES {
        return Err(format!(
            "the quick start builds {} crates, more than {QUICKSTART_CRATES}",
            crates.len()
        ));
    }
    Ok(())
}
