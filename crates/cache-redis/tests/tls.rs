//! The conformance suite over TLS (`rediss://`), with certificates generated at test time:
//! a server that only proves who it is, and one that also asks the client (mutual TLS).
//! Clients that do not trust the server's CA, or that bring no certificate to a server that
//! asks for one, fail with a clear error. A cluster is reached over TLS on every node (the
//! cluster code paths themselves are the plain cluster suite's: a TLS handshake in a debug
//! build costs tens of milliseconds, so the suite is not run a third time).

#[macro_use]
mod common;

use std::error::Error;
use std::sync::OnceLock;
use std::time::Duration;

use cache_core::CacheError;
use cache_redis::{RedisCache, RedisConfig, TlsCertificates};
use common::RedisHarness;
#[cfg(feature = "cluster")]
use redis_test_support::RedisCluster;
use redis_test_support::{RedisServer, TestCertificates};

fn certificates() -> &'static TestCertificates {
    static CERTS: OnceLock<TestCertificates> = OnceLock::new();
    CERTS.get_or_init(TestCertificates::generate)
}

fn server_only() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(|| RedisServer::start_tls(certificates(), false))
}

fn mutual() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(|| RedisServer::start_tls(certificates(), true))
}

fn trust_ca() -> TlsCertificates {
    TlsCertificates::default().ca_cert(certificates().ca_pem.clone())
}

fn with_client_cert() -> TlsCertificates {
    let c = certificates();
    trust_ca().client_cert(c.client_cert_pem.clone(), c.client_key_pem.clone())
}

/// A TLS handshake costs more than a plain connect: a generous connect timeout, so that a
/// busy test machine does not fail the suite.
fn server_tls() -> RedisConfig {
    RedisConfig::new(server_only().tls_url())
        .tls(trust_ca())
        .connect_timeout(Duration::from_secs(5))
}

fn mutual_tls() -> RedisConfig {
    RedisConfig::new(mutual().tls_url())
        .tls(with_client_cert())
        .connect_timeout(Duration::from_secs(5))
}

#[cfg(feature = "cluster")]
fn cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| RedisCluster::start_tls(3, certificates()))
}

#[cfg(feature = "cluster")]
fn cluster_tls() -> RedisConfig {
    RedisConfig::cluster(cluster().tls_urls())
        .tls(trust_ca())
        .connect_timeout(Duration::from_secs(5))
}

mod server_only {
    use super::*;
    redis_conformance_tests!(RedisHarness { base: server_tls });
}

mod mutual_tls {
    use super::*;
    redis_conformance_tests!(RedisHarness { base: mutual_tls });
}

/// The async cache connects through the same connector: the suite over mutual TLS.
#[cfg(feature = "tokio")]
mod async_mutual_tls {
    use super::*;
    use common::AsyncRedisHarness;
    redis_conformance_tests!(AsyncRedisHarness { base: mutual_tls });
}

/// The whole chain, each cause once.
fn report(e: &CacheError) -> String {
    format!("{e:#}")
}

#[test]
fn the_traffic_is_encrypted_and_reaches_the_same_server() {
    use cache_core::Ttl;
    let cache = RedisCache::new(server_tls().key_prefix("tls-check:")).unwrap();
    cache.set("k", "over tls".to_string(), Ttl::Never).unwrap();
    // The plain port of the same server sees the entry the TLS client wrote.
    let raw = server_only()
        .query(&["EXISTS", "tls-check:k"])
        .expect("a reply of the test server");
    assert_eq!(raw.int(), Some(1));
    let clients = server_only()
        .query(&["CLIENT", "LIST"])
        .expect("a reply of the test server")
        .text();
    assert!(clients.contains("flags=N"), "{clients}");
}

#[cfg(feature = "cluster")]
#[test]
fn every_cluster_node_is_reached_over_tls() {
    use cache_core::Ttl;
    let cache = RedisCache::new(cluster_tls().key_prefix("tls-nodes:")).unwrap();
    let keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
    for k in &keys {
        cache.set(k, k.clone(), Ttl::Never).unwrap();
    }
    // Every primary holds some of the keys, and each of them saw TLS clients only
    // from the cache (its plain port serves only this test's helper queries).
    for node in cluster().nodes() {
        let keys = node
            .query(&["DBSIZE"])
            .expect("a reply of the test server")
            .int()
            .unwrap();
        assert!(keys > 0, "node {} holds no key", node.addr());
    }
    assert_eq!(cache.count().unwrap(), 100);
    let err =
        RedisCache::new(RedisConfig::cluster(cluster().tls_urls())).expect_err("system roots");
    assert!(format!("{err:#}").contains("certificate"), "{err:#}");
}

#[test]
fn a_client_with_the_wrong_ca_fails_clearly() {
    let other = TestCertificates::generate();
    let config = RedisConfig::new(server_only().tls_url())
        .tls(TlsCertificates::default().ca_cert(other.ca_pem.clone()));
    let err = RedisCache::new(config).expect_err("a server signed by another CA");
    let text = report(&err);
    assert!(matches!(err, CacheError::Backend { .. }), "{text}");
    assert!(
        text.contains("certificate"),
        "names the certificate: {text}"
    );
    assert!(
        text.contains(&server_only().tls_port().unwrap().to_string()),
        "{text}"
    );
    assert!(
        !err.is_unavailable() && !err.is_timeout() && !err.is_auth(),
        "{text}"
    );
    assert!(err.is_misconfigured(), "{text}");
    assert_eq!(
        text.matches("certificate").count(),
        1,
        "the cause once: {text}"
    );
    assert!(err.source().is_some());
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let err = RedisCache::new(RedisConfig::new(mutual().tls_url()).tls(trust_ca()))
        .expect_err("no client certificate");
    assert!(
        matches!(err, CacheError::Backend { .. }),
        "{}",
        report(&err)
    );
    let c = certificates();
    let mut half = trust_ca().client_cert(c.client_cert_pem.clone(), Vec::new());
    half.client_key_pem = None;
    let err = RedisCache::new(RedisConfig::new(mutual().tls_url()).tls(half)).unwrap_err();
    assert!(matches!(err, CacheError::Config { .. }), "{err}");
}

#[test]
fn certificates_need_a_rediss_url_and_must_parse() {
    let err = RedisCache::new(RedisConfig::new(server_only().url()).tls(trust_ca())).unwrap_err();
    assert!(matches!(err, CacheError::Config { .. }), "{err}");
    assert!(err.to_string().contains("rediss://"), "{err}");
    let garbage = TlsCertificates::default().ca_cert(b"not a certificate".to_vec());
    let err = RedisCache::new(RedisConfig::new(server_only().tls_url()).tls(garbage)).unwrap_err();
    assert!(
        matches!(err, CacheError::Config { .. } | CacheError::Backend { .. }),
        "{err}"
    );
}

/// The TLS setups that cannot work, each with the config that shows it: a server signed by
/// a CA the client does not trust, a client that brings no certificate to a server that
/// asks for one, and a plain `redis://` client on a TLS-only port.
fn misconfigured() -> Vec<(&'static str, RedisConfig)> {
    let other = TestCertificates::generate();
    let tls_port = server_only().tls_port().unwrap();
    vec![
        (
            "a server certificate signed by an unknown CA",
            RedisConfig::new(server_only().tls_url())
                .tls(TlsCertificates::default().ca_cert(other.ca_pem.clone())),
        ),
        (
            "no client certificate for a server that asks for one",
            RedisConfig::new(mutual().tls_url()).tls(trust_ca()),
        ),
        (
            "a client certificate signed by a CA the server does not trust",
            RedisConfig::new(mutual().tls_url()).tls(
                trust_ca().client_cert(other.client_cert_pem.clone(), other.client_key_pem.clone()),
            ),
        ),
        (
            "a plain client on a TLS-only port",
            RedisConfig::new(format!("redis://127.0.0.1:{tls_port}/")),
        ),
    ]
}

/// How long a refused setup may take to fail: far less than a timeout (they are 2 s here),
/// as the handshake fails at once; no retry.
const AT_ONCE: Duration = Duration::from_millis(1500);

/// Each is `Misconfigured` (not an outage, a timeout or a refused login), at once.
#[test]
fn tls_setups_that_cannot_work_are_misconfigured_at_once() {
    for (what, config) in misconfigured() {
        let start = std::time::Instant::now();
        let err = RedisCache::new(config.timeouts(Duration::from_secs(2))).expect_err(what);
        let took = start.elapsed();
        eprintln!("blocking, {what}: {took:?}: {err:#}");
        assert!(err.is_misconfigured(), "{what}: {}", report(&err));
        assert!(
            !err.is_unavailable() && !err.is_timeout() && !err.is_auth(),
            "{what}: {}",
            report(&err)
        );
        assert!(took < AT_ONCE, "{what}: took {took:?}");
    }
}

/// The async cache: the same kinds, and `new` fails at once, without retrying.
#[cfg(feature = "tokio")]
#[tokio::test(flavor = "current_thread")]
async fn async_tls_setups_that_cannot_work_are_misconfigured_at_once() {
    for (what, config) in misconfigured() {
        let start = std::time::Instant::now();
        let err = cache_redis::AsyncRedisCache::new(config.timeouts(Duration::from_secs(2)))
            .await
            .expect_err(what);
        let took = start.elapsed();
        eprintln!("async, {what}: {took:?}: {err:#}");
        assert!(err.is_misconfigured(), "{what}: {}", report(&err));
        assert!(
            !err.is_unavailable() && !err.is_timeout() && !err.is_auth(),
            "{what}: {}",
            report(&err)
        );
        assert!(took < AT_ONCE, "{what}: took {took:?}");
    }
}
