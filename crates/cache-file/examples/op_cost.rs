//! What a `get` hit and a `set` + `delete` cost, 100 B values of 1,000 keys, bounded (the
//! default), in one thread, on tmpfs when `/dev/shm` exists (`$SET_DIR` otherwise): the
//! figures to compare when a change touches the read or the removal path (a `get` takes
//! no lock on a hit; a `delete` holds its fan-out directory's keys lock).
//!
//! `cargo run --release -p cache-file --example op_cost`

use std::path::Path;
use std::time::Instant;

use cache_core::{Cache, Ttl};
use cache_file::FileBasedCache;
use serde_bytes::ByteBuf;

fn scratch() -> tempfile::TempDir {
    match std::env::var("SET_DIR") {
        Ok(d) => tempfile::tempdir_in(d),
        Err(_) if Path::new("/dev/shm").is_dir() => tempfile::tempdir_in("/dev/shm"),
        Err(_) => tempfile::tempdir(),
    }
    .expect("a temporary directory")
}

fn main() {
    let value = ByteBuf::from(vec![1u8; 100]);
    let keys: Vec<String> = (0..1_000).map(|i| format!("key:{i}")).collect();
    for _ in 0..3 {
        let dir = scratch();
        let cache = FileBasedCache::new(dir.path(), None).unwrap();
        for k in &keys {
            cache.set(k, value.clone(), Ttl::Never).unwrap();
        }
        let rounds = 20;
        let t = Instant::now();
        for _ in 0..rounds {
            for k in &keys {
                let got: Option<ByteBuf> = cache.get(k).unwrap();
                assert!(got.is_some());
            }
        }
        let get = t.elapsed().as_secs_f64() * 1e6 / (rounds * keys.len()) as f64;
        let t = Instant::now();
        for _ in 0..rounds / 4 {
            for k in &keys {
                cache.set(k, value.clone(), Ttl::Never).unwrap();
                assert!(Cache::<ByteBuf>::delete(&cache, k).unwrap());
            }
        }
        let pair = t.elapsed().as_secs_f64() * 1e6 / (rounds / 4 * keys.len()) as f64;
        println!("100 B get hit {get:.2} us, set + delete {pair:.2} us");
    }
}
