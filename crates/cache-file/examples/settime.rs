//! Scratch timing, not committed.
use cache_core::{Cache, Ttl};
fn main() {
    let base = std::env::args().nth(1).unwrap();
    let what = std::env::args().nth(2).unwrap();
    let d = tempfile::tempdir_in(base).unwrap();
    let c = cache_file::FileBasedCache::new(d.path(), None).unwrap();
    let keys: Vec<String> = (0..1000).map(|i| format!("bench:key:{i}")).collect();
    for k in &keys {
        c.set(k, vec![1u8; 100], Ttl::Never).unwrap();
    }
    let n = 100_000;
    let t = std::time::Instant::now();
    for i in 0..n {
        match what.as_str() {
            "set" => {
                c.set(&keys[i % 1000], vec![1u8; 100], Ttl::Never).unwrap();
            }
            "hit" => {
                let _: Option<Vec<u8>> = c.get(&keys[i % 1000]).unwrap();
            }
            _ => {
                let _: Option<Vec<u8>> = c.get("absent:key").unwrap();
            }
        }
    }
    println!("{what} {:?}/op", t.elapsed() / n as u32);
}
