//! `cargo xtask examples`: checks that the quick start stays light (at most
//! [`QUICKSTART_CRATES`] crates to build), runs it, then every example of `cache-examples`;
//! the Redis ones against servers started here on free loopback ports (through
//! `redis-test-support`: a server, a 3-primary cluster, a Sentinel group, a server that
//! requires a client certificate), reached through environment variables as a user would.

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
    )?;
    cluster()?;
    sentinel()?;
    tls()
}

/// The cluster example against a 3-primary cluster of its own.
fn cluster() -> Result {
    let cluster = redis_test_support::RedisCluster::start(3);
    let urls = cluster.urls().join(",");
    cargo_env(
        &["run", "-p", "cache-examples", "--example", "cluster"],
        &[("REDIS_CLUSTER_URLS", &urls)],
    )
}

/// The Sentinel example against a primary, a replica and three sentinels of its own.
fn sentinel() -> Result {
    let group = redis_test_support::SentinelGroup::start(1, 3);
    let urls = group.sentinel_urls().join(",");
    cargo_env(
        &["run", "-p", "cache-examples", "--example", "sentinel"],
        &[
            ("REDIS_SENTINEL_URLS", &urls),
            (
                "REDIS_SENTINEL_MASTER",
                redis_test_support::SentinelGroup::MASTER_NAME,
            ),
        ],
    )
}

/// The TLS example against a server that requires a client certificate (mutual TLS), with a
/// CA, a server and a client certificate made here, in PEM files as a user has them.
fn tls() -> Result {
    let certificates = redis_test_support::TestCertificates::generate();
    let server = redis_test_support::RedisServer::start_tls(&certificates, true);
    let dir = std::env::temp_dir().join(format!("cache-example-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, pem: &[u8]| -> Result<String> {
        let path = dir.join(name);
        std::fs::write(&path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path.to_string_lossy().into_owned())
    };
    let ca = write("ca.pem", &certificates.ca_pem)?;
    let cert = write("client.pem", &certificates.client_cert_pem)?;
    let key = write("client.key", &certificates.client_key_pem)?;
    let url = server.tls_url();
    let ran = cargo_env(
        &["run", "-p", "cache-examples", "--example", "tls"],
        &[
            ("REDIS_TLS_URL", &url),
            ("REDIS_CA_CERT", &ca),
            ("REDIS_CLIENT_CERT", &cert),
            ("REDIS_CLIENT_KEY", &key),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    ran
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
