//! The helpers against real processes: a server, its faults, and a cluster.

use std::time::{Duration, Instant};

use redis_test_support::{RedisCluster, RedisServer, Reply};

#[test]
fn server_answers_and_survives_kill_restart_and_freeze() {
    let s = RedisServer::start();
    assert_eq!(
        s.query(&["SET", "k", "v"])
            .expect("a reply of the test server")
            .text(),
        "OK"
    );
    assert_eq!(
        s.query(&["PING"])
            .expect("a reply of the test server")
            .text(),
        "PONG"
    );
    let pid = s.pid().expect("running");

    s.kill();
    assert!(s.pid().is_none());
    assert!(
        s.query(&["PING"]).is_err(),
        "a killed server is unreachable"
    );
    s.restart();
    assert_ne!(s.pid(), Some(pid));
    assert_eq!(
        s.query(&["GET", "k"]).expect("a reply of the test server"),
        Reply::Bulk(None),
        "nothing is persisted"
    );

    s.freeze();
    let start = Instant::now();
    assert!(
        s.query(&["PING"]).is_err(),
        "a frozen server answers nothing"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    s.thaw();
    assert_eq!(
        s.query(&["PING"])
            .expect("a reply of the test server")
            .text(),
        "PONG"
    );

    let dir = s.dir().to_path_buf();
    drop(s);
    assert!(!dir.exists(), "the directory goes with the server");
}

#[test]
fn cluster_forms_and_routes_keys() {
    let c = RedisCluster::start(3);
    assert_eq!(c.urls().len(), 3);
    let mut seen = [false; 3];
    for i in 0..50 {
        let key = format!("key:{i}");
        let node = c.node_of_key(key.as_bytes());
        seen[node] = true;
        let reply = c.nodes()[node]
            .query(&["SET", &key, "v"])
            .expect("a reply of the test server");
        assert_eq!(reply.text(), "OK", "the owner accepts {key}");
    }
    assert_eq!(seen, [true; 3], "keys spread over every primary");
    c.nodes()[1].kill();
    c.nodes()[1].restart();
    c.wait_healthy();
}
