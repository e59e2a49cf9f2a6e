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

/// The proxy forwards; a dropped reply closes its connection after the server ran the
/// command; a reset makes the client's next write fail; new connections work throughout.
#[test]
fn fault_proxy_forwards_drops_replies_and_resets() {
    use redis_test_support::FaultProxy;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    let s = RedisServer::start();
    let proxy = FaultProxy::start(s.port()).expect("a proxy");
    let connect = || {
        let c = TcpStream::connect(("127.0.0.1", proxy.port())).expect("a connection");
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c
    };
    let mut c = connect();
    c.write_all(b"INCR n\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b":1\r\n");

    proxy.drop_next_reply();
    c.write_all(b"INCR n\r\n").unwrap();
    assert_eq!(c.read(&mut buf).unwrap(), 0, "closed without the reply");
    assert_eq!(proxy.dropped_replies(), 1);
    assert_eq!(
        s.query(&["GET", "n"]).expect("GET n").text(),
        "2",
        "the server ran it"
    );

    let mut c = connect();
    c.write_all(b"PING\r\n").unwrap();
    let n = c.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"+PONG\r\n");
    assert_eq!(proxy.reset_clients().expect("reset"), 1);
    assert!(c.write_all(b"INCR n\r\n").is_err(), "a reset connection");
    assert_eq!(
        s.query(&["GET", "n"]).expect("GET n").text(),
        "2",
        "nothing reached the server"
    );
    let mut c = connect();
    c.write_all(b"INCR n\r\n").unwrap();
    let n = c.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b":3\r\n");
}
