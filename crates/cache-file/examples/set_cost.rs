//! What the shared accounting costs a `set`: 100 B overwrites of 1,000 keys, bounded (the
//! default, which records every write under the accounting file's `flock`) against
//! unbounded, in one thread, on tmpfs when `/dev/shm` exists (`$SET_DIR` otherwise).
//!
//! `cargo run --release -p cache-file --example set_cost`

use std::path::Path;
use std::time::Instant;

use cache_core::Ttl;
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

fn per_set(cache: &FileBasedCache) -> f64 {
    let value = ByteBuf::from(vec![1u8; 100]);
    let keys: Vec<String> = (0..1_000).map(|i| format!("key:{i}")).collect();
    for k in &keys {
        cache.set(k, value.clone(), Ttl::Never).unwrap();
    }
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        for k in &keys {
            cache.set(k, value.clone(), Ttl::Never).unwrap();
        }
    }
    t.elapsed().as_secs_f64() * 1e6 / (rounds * keys.len()) as f64
}

fn main() {
    for _ in 0..3 {
        let (a, b) = (scratch(), scratch());
        let bounded = per_set(&FileBasedCache::new(a.path(), None).unwrap());
        let unbounded = per_set(
            &FileBasedCache::builder(b.path())
                .unbounded()
                .build()
                .unwrap(),
        );
        println!("100 B overwrite: bounded {bounded:.2} us, unbounded {unbounded:.2} us");
    }
}
