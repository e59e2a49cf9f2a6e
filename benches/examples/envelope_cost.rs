//! Instruction counts of the default envelope against the one before the structural tag,
//! for `valgrind --tool=callgrind` (deterministic where timings on a shared machine are not):
//!
//! ```text
//! cargo build --release -p cache-benches --example envelope_cost
//! valgrind --tool=callgrind target/release/examples/envelope_cost MODE N
//! ```
//!
//! MODE is `v1` or `v2` (N encode+decode round trips of a 100-byte `ByteBuf`, the value of
//! the file get/set rows, with the old envelope or the default codec), `file-get` or
//! `file-set` (N operations on a `FileBasedCache` in `/dev/shm`, 100-byte values),
//! `redis-get` or `redis-set` (the same on a `RedisCache` at `$REDIS_URL`; client side), or
//! `sizes` (prints the encoded sizes of the codec benchmark's values). Run each with two N
//! and divide the difference of the totals by the difference of N: the instructions of one
//! operation, without start-up.

use std::hint::black_box;

use cache_benches::envelope_v1;
use cache_core::codec::{self, Codec, Postcard};
use cache_core::{Cache, Ttl};
use serde_bytes::ByteBuf;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: envelope_cost v1|v2|file-get|file-set|redis-get|redis-set|sizes N");
        std::process::exit(2);
    };
    let value = ByteBuf::from(vec![7u8; 100]);
    let mut buf = Vec::with_capacity(256);
    match mode.as_str() {
        "v1" => {
            for _ in 0..n {
                buf.clear();
                envelope_v1::encode(&mut buf, black_box(&value));
                black_box(envelope_v1::decode::<ByteBuf>(black_box(&buf)));
            }
        }
        "v2" => {
            for _ in 0..n {
                buf.clear();
                Postcard
                    .encode(black_box(&value), &mut buf)
                    .expect("encodable");
                black_box(Postcard.decode::<ByteBuf>(black_box(&buf)));
            }
        }
        "file-get" | "file-set" => {
            let dir = tempfile::tempdir_in("/dev/shm").expect("a directory in /dev/shm");
            let cache = cache_file::FileBasedCache::new(dir.path(), None).expect("a cache");
            cache.set("key", value.clone(), Ttl::Never).expect("set");
            for _ in 0..n {
                if mode == "file-get" {
                    black_box(Cache::<ByteBuf>::get(&cache, "key").expect("get"));
                } else {
                    cache.set("key", value.clone(), Ttl::Never).expect("set");
                }
            }
        }
        "redis-get" | "redis-set" => {
            let url = std::env::var("REDIS_URL").expect("REDIS_URL names a server");
            let cache = cache_redis::RedisCache::new(
                cache_redis::RedisConfig::new(url)
                    .key_prefix("envelope-cost:")
                    .pool_size(1),
            )
            .expect("a cache");
            cache.set("key", value.clone(), Ttl::Never).expect("set");
            for _ in 0..n {
                if mode == "redis-get" {
                    black_box(Cache::<ByteBuf>::get(&cache, "key").expect("get"));
                } else {
                    cache.set("key", value.clone(), Ttl::Never).expect("set");
                }
            }
        }
        "sizes" => {
            println!("{}", codec::encode("k", &value).expect("encodable").len());
        }
        _ => {
            eprintln!("unknown mode {mode}");
            std::process::exit(2);
        }
    }
}
