//! Server-assisted invalidation on a cluster: a listener on every primary, so that writes on
//! each reach the sink; a killed listener, a killed primary (its replica promoted), a manual
//! failover (the old primary lives on as a replica) and a slot that moves between primaries.

mod near_common;

use std::sync::Arc;
use std::time::Duration;

use cache_core::near::Invalidations;
use cache_core::Ttl;
use cache_redis::{RedisCache, RedisConfig};
use near_common::{clients_named, kill_listener, Event, Recorder, NEWS};
use redis_test_support::{key_slot, succeeds_within, unique_prefix, RedisCluster, RedisServer};

fn cache(cluster: &RedisCluster, prefix: &str) -> RedisCache {
    let config = RedisConfig::cluster(cluster.urls())
        .key_prefix(prefix)
        .timeouts(Duration::from_millis(500))
        .pool_size(2);
    RedisCache::new(config).expect("a cache on the test cluster")
}

/// A key per primary of `cluster` (by the node that serves `prefix` + key).
fn key_per_primary(
    cluster: &RedisCluster,
    prefix: &str,
    primaries: &[usize],
) -> Vec<(usize, String)> {
    let mut found: Vec<(usize, String)> = Vec::new();
    for i in 0.. {
        let key = format!("k{i}");
        let node = cluster.node_of_key(format!("{prefix}{key}").as_bytes());
        if !found.iter().any(|(n, _)| *n == node) {
            found.push((node, key));
        }
        if primaries.iter().all(|p| found.iter().any(|(n, _)| n == p)) {
            return found;
        }
        assert!(i < 1000, "no key found on every primary");
    }
    unreachable!()
}

fn role(node: &RedisServer) -> Option<(String, Option<u16>)> {
    let reply = node.query(&["ROLE"]).ok()?;
    let items = reply.items();
    let role = items.first()?.text();
    let primary_port = items
        .get(2)
        .and_then(|p| p.int())
        .and_then(|p| u16::try_from(p).ok());
    Some((role, primary_port))
}

fn primaries(cluster: &RedisCluster) -> Vec<usize> {
    (0..cluster.nodes().len())
        .filter(|&i| role(&cluster.nodes()[i]).is_some_and(|(r, _)| r == "master"))
        .collect()
}

/// Writes each key and waits for its news.
#[track_caller]
fn every_key_heard(sink: &Recorder, writer: &RedisCache, keys: &[(usize, String)], value: u64) {
    for (_, key) in keys {
        let mark = sink.mark();
        succeeds_within(NEWS, "a write to the cluster", || {
            writer.set(key, value, Ttl::Never)
        });
        sink.wait_key(mark, key);
    }
}

#[test]
fn writes_on_every_primary_reach_the_sink() {
    let cluster = RedisCluster::start(3);
    let prefix = unique_prefix("inv-cluster");
    let cache = cache(&cluster, &prefix);
    let sink = Arc::new(Recorder::default());
    let _subscription = cache.subscribe(sink.clone()).expect("subscribed");
    assert_eq!(sink.events(), [Event::All, Event::Up(true)]);
    let name = format!("near:{prefix}");
    for node in cluster.nodes() {
        assert_eq!(
            clients_named(node, &name).len(),
            1,
            "a listener on {}",
            node.addr()
        );
    }
    let writer = cache_on_cluster_writer(&cluster, &prefix);
    let keys = key_per_primary(&cluster, &prefix, &[0, 1, 2]);
    every_key_heard(&sink, &writer, &keys, 1);

    // One primary's listener killed: the whole channel is down, then back.
    let mark = sink.mark();
    kill_listener(&cluster.nodes()[1], &prefix);
    sink.wait_recovery(mark);
    every_key_heard(&sink, &writer, &keys, 2);

    // A slot that moves to another primary: its keys are still heard there, and the
    // channel stays up (the primaries did not change).
    let (from, key) = keys[0].clone();
    let to = (from + 1) % 3;
    let mark = sink.mark();
    move_slot(
        &cluster,
        key_slot(format!("{prefix}{key}").as_bytes()),
        from,
        to,
    );
    assert_eq!(cluster.node_of_key(format!("{prefix}{key}").as_bytes()), to);
    succeeds_within(NEWS, "a write to the moved slot", || {
        writer.set(&key, 3u64, Ttl::Never)
    });
    sink.wait_key(mark, &key);
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        !sink.since(mark).contains(&Event::Up(false)),
        "{:?}",
        sink.since(mark)
    );
}

fn cache_on_cluster_writer(cluster: &RedisCluster, prefix: &str) -> RedisCache {
    let config = RedisConfig::cluster(cluster.urls())
        .key_prefix(prefix)
        .timeouts(Duration::from_secs(2))
        .cluster_retries(3);
    RedisCache::new(config).expect("a writer on the test cluster")
}

fn node_id(node: &RedisServer) -> String {
    node.query(&["CLUSTER", "MYID"])
        .expect("CLUSTER MYID")
        .text()
}

/// Moves `slot` (with its keys) from node `from` to node `to`.
fn move_slot(cluster: &RedisCluster, slot: u16, from: usize, to: usize) {
    let (src, dst) = (&cluster.nodes()[from], &cluster.nodes()[to]);
    let slot = slot.to_string();
    let (src_id, dst_id) = (node_id(src), node_id(dst));
    let ok = |node: &RedisServer, args: &[&str]| {
        let reply = node.query(args).expect("a reply of the cluster");
        assert_eq!(reply.text(), "OK", "{args:?}: {reply:?}");
    };
    ok(dst, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &src_id]);
    ok(src, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &dst_id]);
    loop {
        let keys = src
            .query(&["CLUSTER", "GETKEYSINSLOT", &slot, "100"])
            .expect("GETKEYSINSLOT");
        let Some(key) = keys.items().first().map(|k| k.text()) else {
            break;
        };
        let port = dst.port().to_string();
        ok(src, &["MIGRATE", "127.0.0.1", &port, &key, "0", "5000"]);
    }
    for node in [dst, src] {
        ok(node, &["CLUSTER", "SETSLOT", &slot, "NODE", &dst_id]);
    }
    let third = (0..3).find(|i| *i != from && *i != to).unwrap();
    ok(
        &cluster.nodes()[third],
        &["CLUSTER", "SETSLOT", &slot, "NODE", &dst_id],
    );
}

/// A killed primary: its listener's connection drops (`connected(false)` at once); once its
/// replica is promoted, the listeners are on the new primaries. Then a manual failover
/// (`CLUSTER FAILOVER` on a replica): the old primary lives on, demoted; the primaries
/// changed (seen on the listeners' side connection, if the demotion did not close the
/// listener itself), and the channel is rebuilt on the new ones.
#[test]
fn cluster_failovers_move_the_listeners() {
    let cluster = RedisCluster::start_with_replicas(3, 1);
    let prefix = unique_prefix("inv-failover");
    let cache = cache(&cluster, &prefix);
    let sink = Arc::new(Recorder::default());
    let _subscription = cache.subscribe(sink.clone()).expect("subscribed");
    let writer = cache_on_cluster_writer(&cluster, &prefix);
    let name = format!("near:{prefix}");
    let before = primaries(&cluster);
    assert_eq!(before.len(), 3);
    let keys = key_per_primary(&cluster, &prefix, &before);
    every_key_heard(&sink, &writer, &keys, 1);

    let mark = sink.mark();
    let (victim, _) = keys[0].clone();
    cluster.nodes()[victim].kill();
    sink.wait_for(mark, "the loss of a killed primary", |e| {
        e.contains(&Event::Up(false))
    });
    cluster.wait_failover();
    sink.wait_recovery(mark);
    let after = primaries(&cluster);
    assert!(!after.contains(&victim));
    for &p in &after {
        succeeds_within(NEWS, "a listener on each primary", || match clients_named(
            &cluster.nodes()[p],
            &name,
        )
        .len()
        {
            1 => Ok(()),
            n => Err(format!("{n} listeners on {}", cluster.nodes()[p].addr())),
        });
    }
    every_key_heard(&sink, &writer, &keys, 2);

    // A manual failover of another primary.
    let old = after[0];
    let old_port = cluster.nodes()[old].port();
    let replica = (0..cluster.nodes().len())
        .find(|&i| {
            role(&cluster.nodes()[i])
                .is_some_and(|(r, port)| r == "slave" && port == Some(old_port))
        })
        .expect("a replica of the primary");
    let mark = sink.mark();
    let reply = cluster.nodes()[replica]
        .query(&["CLUSTER", "FAILOVER"])
        .expect("CLUSTER FAILOVER");
    assert_eq!(reply.text(), "OK");
    succeeds_within(NEWS, "the replica's promotion", || {
        match role(&cluster.nodes()[replica]) {
            Some((r, _)) if r == "master" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    cluster.wait_failover();
    sink.wait_recovery(mark);
    succeeds_within(
        NEWS,
        "the listener on the promoted replica",
        || match clients_named(&cluster.nodes()[replica], &name).len() {
            1 => Ok(()),
            n => Err(format!("{n} listeners")),
        },
    );
    every_key_heard(&sink, &writer, &keys, 3);
}
