//! Server-assisted invalidation over TLS (`rediss://`, mutual TLS): on one server and on a
//! cluster's every primary, news reaches the sink, and a killed listener is replaced.

mod near_common;

use std::sync::Arc;
use std::time::Duration;

use cache_core::near::Invalidations;
use cache_core::Ttl;
use cache_redis::{RedisCache, RedisConfig, TlsCertificates};
use near_common::{kill_listener, Event, Recorder};
use redis_test_support::{unique_prefix, RedisServer, TestCertificates};

fn with_client_cert(c: &TestCertificates) -> TlsCertificates {
    TlsCertificates::default()
        .ca_cert(c.ca_pem.clone())
        .client_cert(c.client_cert_pem.clone(), c.client_key_pem.clone())
}

#[test]
fn news_flows_over_mutual_tls() {
    let certs = TestCertificates::generate();
    let server = RedisServer::start_tls(&certs, true);
    let prefix = unique_prefix("inv-tls");
    let config = || {
        RedisConfig::new(server.tls_url())
            .tls(with_client_cert(&certs))
            .key_prefix(&prefix)
            .connect_timeout(Duration::from_secs(5))
    };
    let cache = RedisCache::new(config()).expect("a cache over TLS");
    let sink = Arc::new(Recorder::default());
    let _subscription = cache.subscribe(sink.clone()).expect("subscribed over TLS");
    assert_eq!(sink.events(), [Event::All, Event::Up(true)]);
    let writer = RedisCache::new(config()).unwrap();
    let mark = sink.mark();
    writer.set("a", 1u64, Ttl::Never).unwrap();
    sink.wait_key(mark, "a");
    let mark = sink.mark();
    kill_listener(&server, &prefix);
    sink.wait_recovery(mark);
    let mark = sink.mark();
    writer.set("a", 2u64, Ttl::Never).unwrap();
    sink.wait_key(mark, "a");
}

#[cfg(feature = "cluster")]
#[test]
fn news_flows_from_every_primary_of_a_tls_cluster() {
    let certs = TestCertificates::generate();
    let cluster = redis_test_support::RedisCluster::start_tls(3, &certs);
    let prefix = unique_prefix("inv-tls-cluster");
    let config = || {
        RedisConfig::cluster(cluster.tls_urls())
            .tls(TlsCertificates::default().ca_cert(certs.ca_pem.clone()))
            .key_prefix(&prefix)
            .connect_timeout(Duration::from_secs(5))
    };
    let cache = RedisCache::new(config()).expect("a cache on a TLS cluster");
    let sink = Arc::new(Recorder::default());
    let _subscription = cache.subscribe(sink.clone()).expect("subscribed over TLS");
    let writer = RedisCache::new(config()).unwrap();
    let mut nodes_heard = std::collections::BTreeSet::new();
    for i in 0..200 {
        let key = format!("k{i}");
        let node = cluster.node_of_key(format!("{prefix}{key}").as_bytes());
        if !nodes_heard.insert(node) {
            continue;
        }
        let mark = sink.mark();
        writer.set(&key, 1u64, Ttl::Never).unwrap();
        sink.wait_key(mark, &key);
    }
    assert_eq!(nodes_heard.len(), 3);
}
