//! Codecs, versions and compression against a real `redis-server`, read and written by the
//! real `redis-cli` too.

use std::io::Write;
use std::process::{Command, Stdio};

use cache_core::codec::{Json, Raw};
use cache_core::{Cache, Ttl};
use cache_redis::{RedisCache, RedisConfig};
use redis_test_support::{shared_server, unique_prefix};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct User {
    name: String,
    age: u32,
}

fn config(prefix: &str) -> RedisConfig {
    RedisConfig::new(shared_server().url()).key_prefix(prefix)
}

/// Runs `redis-cli -p PORT args...` with `stdin`, and returns its standard output.
fn redis_cli(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let port = shared_server().port().to_string();
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli is installed with redis-server");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    out.stdout
}

#[test]
fn json_values_are_shared_with_redis_cli() {
    let p = unique_prefix("json");
    let cache = RedisCache::new(config(&p).codec(Json)).unwrap();
    let key = format!("{p}k");
    assert_eq!(
        redis_cli(&["SET", &key, r#"{"name":"ann","age":7}"#], b""),
        b"OK\n"
    );
    let ann = User {
        name: "ann".into(),
        age: 7,
    };
    assert_eq!(cache.get("k").unwrap(), Some(ann));
    assert_eq!(Cache::<u64>::get(&cache, "k").unwrap(), None);
    let bob = User {
        name: "bob".into(),
        age: 40,
    };
    cache.set("written", bob, Ttl::Never).unwrap();
    assert_eq!(
        redis_cli(&["GET", &format!("{p}written")], b""),
        b"{\"name\":\"bob\",\"age\":40}\n"
    );
}

#[test]
fn raw_values_are_the_bytes_redis_cli_wrote() {
    let p = unique_prefix("raw");
    let cache = RedisCache::new(config(&p).codec(Raw)).unwrap();
    redis_cli(&["SET", &format!("{p}text"), "hello world"], b"");
    assert_eq!(
        Cache::<String>::get(&cache, "text").unwrap().as_deref(),
        Some("hello world")
    );
    // -x: the value is standard input, byte for byte (0xFF and NUL included).
    let bytes = b"\x00\xff\x01binary\xfe".to_vec();
    redis_cli(&["-x", "SET", &format!("{p}bytes")], &bytes);
    assert_eq!(Cache::<Vec<u8>>::get(&cache, "bytes").unwrap(), Some(bytes));
    assert_eq!(
        Cache::<String>::get(&cache, "bytes").unwrap(),
        None,
        "not UTF-8"
    );
    cache
        .set("mine", "from rust".to_string(), Ttl::Never)
        .unwrap();
    assert_eq!(
        redis_cli(&["GET", &format!("{p}mine")], b""),
        b"from rust\n"
    );
}

#[test]
fn version_2_cannot_see_version_1_and_clear_removes_both() {
    let p = unique_prefix("ver");
    let v1 = RedisCache::new(config(&p)).unwrap();
    let v2 = RedisCache::new(config(&p).version(2)).unwrap();
    v1.set("user:1", "one".to_string(), Ttl::Never).unwrap();
    assert_eq!(Cache::<String>::get(&v2, "user:1").unwrap(), None);
    assert!(!v2.exists("user:1").unwrap());
    assert!(!v2.delete("user:1").unwrap());
    v2.set("user:1", "two".to_string(), Ttl::Never).unwrap();
    v2.set("user:2", "two".to_string(), Ttl::Never).unwrap();
    assert_eq!(
        Cache::<String>::get(&v1, "user:1").unwrap().as_deref(),
        Some("one")
    );
    assert_eq!(
        shared_server()
            .query(&[b"EXISTS".as_slice(), format!("{p}user:1").as_bytes()])
            .expect("a reply of the test server")
            .int(),
        Some(1),
        "version 1 keeps the plain key"
    );
    let mut v2_key = format!("{p}user:1").into_bytes();
    v2_key.extend_from_slice(b"\xff2");
    assert_eq!(
        shared_server()
            .query(&[b"EXISTS".as_slice(), &v2_key])
            .expect("a reply of the test server")
            .int(),
        Some(1)
    );
    assert_eq!(v1.count().unwrap(), 3, "count sees every version");
    // A literal pattern and a glob both reach every version.
    assert_eq!(v1.delete_pattern("user:1").unwrap(), 2);
    assert_eq!(v1.delete_pattern("user:*").unwrap(), 1);
    v1.set("a", 1u8, Ttl::Never).unwrap();
    v2.set("b", 2u8, Ttl::Never).unwrap();
    v2.clear().unwrap();
    assert_eq!(v1.count().unwrap(), 0);
    assert_eq!(Cache::<u8>::get(&v1, "a").unwrap(), None);
}

#[test]
fn a_compressible_mib_takes_under_a_quarter_in_redis_and_everyone_reads_it() {
    let p = unique_prefix("lz4");
    let packed = RedisCache::new(config(&p).compress_above(1024)).unwrap();
    let plain = RedisCache::new(config(&p)).unwrap();
    let value = cache_conformance::compressible(1 << 20);
    let memory = |key: &str| {
        shared_server()
            .query(&["MEMORY", "USAGE", &format!("{p}{key}")])
            .expect("a reply of the test server")
            .int()
            .expect("MEMORY USAGE of an existing key")
    };
    packed.set("big", value.clone(), Ttl::Never).unwrap();
    let used = memory("big");
    assert!(used < (1 << 20) / 4, "{used} bytes in Redis");
    assert_eq!(
        Cache::<Vec<u8>>::get(&plain, "big").unwrap(),
        Some(value.clone())
    );
    assert_eq!(
        Cache::<Vec<u8>>::get(&packed, "big").unwrap(),
        Some(value.clone())
    );
    plain.set("big", value.clone(), Ttl::Never).unwrap();
    let used = memory("big");
    assert!(used > 1 << 20, "{used} bytes in Redis uncompressed");
    assert_eq!(Cache::<Vec<u8>>::get(&packed, "big").unwrap(), Some(value));
}
