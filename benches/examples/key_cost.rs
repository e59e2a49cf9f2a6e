//! What building a memoized call's key costs (`cargo run --release -p cache-benches --example key_cost`).
use std::fmt::Write as _;
use std::hint::black_box;

#[allow(unused_imports)]
use cache::__memo::{DisplayArg as _, FastArg as _};
use std::time::Instant;

fn main() {
    const N: u32 = 5_000_000;
    let prefix = "cache_benches::memoize::on_memory#";
    for _ in 0..3 {
        let t = Instant::now();
        for i in 0..N {
            let mut key = cache::__memo::Key::new(black_box(prefix));
            cache::__memo::Arg(&black_box(i % 1000)).write_to(&mut key, false);
            black_box(key.as_str().len());
        }
        let stack = t.elapsed().as_nanos() as f64 / f64::from(N);
        let t = Instant::now();
        for i in 0..N {
            let mut key = String::with_capacity(prefix.len() + 24);
            key.push_str(black_box(prefix));
            let _ = write!(key, "{}", black_box(i % 1000));
            black_box(key.len());
        }
        let heap = t.elapsed().as_nanos() as f64 / f64::from(N);
        let t = Instant::now();
        for i in 0..N {
            black_box(format!("{}{}", black_box(prefix), black_box(i % 1000)).len());
        }
        let format = t.elapsed().as_nanos() as f64 / f64::from(N);
        println!("Key (stack) {stack:.1} ns, String + write! {heap:.1} ns, format! {format:.1} ns");
    }
}
