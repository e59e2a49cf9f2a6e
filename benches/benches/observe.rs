//! What `cache_core::observe` costs a memory `get` (a hit on one thread, Zipf keys).
//!
//! The features are cache-core's and unify across a build, so each build of this file measures
//! one setting; run it in each and compare (`CACHE_BENCH_QUICK=1` for a quick run):
//! - `cargo bench -p cache-benches --bench observe`: features off (the guards compile away);
//! - `--features observe-metrics`: `metrics` on, a cache built with no recorder, and one
//!   built under the Prometheus recorder (`metrics-exporter-prometheus`);
//! - `--features observe-tracing`: `tracing` on, no subscriber.
//!
//! Criterion rows (`observe/get/<setting>`) and paired rows: each setting's get timed
//! alternately with a fixed reference in one loop (a `HashMap` lookup under a `RwLock`,
//! the same in every build), round by round; the median of the per-round ratios
//! (`get / reference`) is comparable across builds where two criterion rows taken minutes
//! apart on a shared machine are not. In the `metrics` build, the Prometheus cache is also
//! paired with the no-recorder cache directly. Figures go to `target/bench/observe-<build>.csv`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::RwLock;
use std::time::Instant;

use cache_benches::{as_test, configure, keys, quick, write_metric, Zipf};
use cache_core::{Cache, Ttl};
use cache_memory::InMemoryCache;
use criterion::{criterion_group, criterion_main, Criterion};

type Value = [u8; 64];

/// This build's setting, as the rows name it.
const BUILD: &str = if cfg!(all(
    feature = "observe-metrics",
    feature = "observe-tracing"
)) {
    "metrics+tracing"
} else if cfg!(feature = "observe-metrics") {
    "metrics"
} else if cfg!(feature = "observe-tracing") {
    "tracing"
} else {
    "off"
};

struct Setup {
    keys: Vec<String>,
    trace: Vec<usize>,
    reference: RwLock<HashMap<String, Value>>,
    /// The caches measured: (row name, cache).
    caches: Vec<(String, InMemoryCache<Value>)>,
}

fn filled(keys: &[String], build: impl FnOnce() -> InMemoryCache<Value>) -> InMemoryCache<Value> {
    let cache = build();
    for k in keys {
        cache.set(k, [7; 64], Ttl::Never).expect("infallible");
    }
    cache
}

fn setup() -> Setup {
    let n = if as_test() {
        1_000
    } else if quick() {
        10_000
    } else {
        100_000
    };
    let keys = keys(n);
    let trace = Zipf::new(n, 1.0).trace(7, 4 * n);
    let reference = RwLock::new(keys.iter().map(|k| (k.clone(), [7u8; 64])).collect());
    let build = || {
        InMemoryCache::builder()
            .max_size(n)
            .name("bench")
            .build()
            .expect("a cache")
    };
    #[cfg_attr(not(feature = "observe-metrics"), allow(unused_mut))]
    let mut caches = vec![(
        format!(
            "{BUILD}{}",
            if BUILD == "off" {
                ""
            } else {
                ", none installed"
            }
        ),
        filled(&keys, build),
    )];
    #[cfg(feature = "observe-metrics")]
    {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let cache = metrics::with_local_recorder(&recorder, || filled(&keys, build));
        caches.push((format!("{BUILD}, prometheus recorder"), cache));
    }
    Setup {
        keys,
        trace,
        reference,
        caches,
    }
}

/// One pass of `batch` gets from `start` in the trace.
fn gets(s: &Setup, cache: &InMemoryCache<Value>, start: usize, batch: usize) {
    for i in start..start + batch {
        let key = &s.keys[s.trace[i % s.trace.len()]];
        black_box(Cache::get(cache, key).expect("infallible"));
    }
}

fn reference_gets(s: &Setup, start: usize, batch: usize) {
    for i in start..start + batch {
        let key = &s.keys[s.trace[i % s.trace.len()]];
        black_box(
            s.reference
                .read()
                .expect("unpoisoned")
                .get(key.as_str())
                .copied(),
        );
    }
}

/// The median (and quartiles) over alternating rounds of `a`'s time / `b`'s.
fn pair(rounds: usize, mut a: impl FnMut(usize), mut b: impl FnMut(usize)) -> [f64; 3] {
    let time = |f: &mut dyn FnMut(usize), round: usize| {
        let t0 = Instant::now();
        f(round);
        t0.elapsed().as_secs_f64()
    };
    for round in 0..rounds / 10 {
        time(&mut a, round);
        time(&mut b, round);
    }
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|round| {
            if round % 2 == 0 {
                let ta = time(&mut a, round);
                ta / time(&mut b, round)
            } else {
                let tb = time(&mut b, round);
                time(&mut a, round) / tb
            }
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let q = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    [q(0.25), q(0.5), q(0.75)]
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let batch = if as_test() { 100 } else { 10_000 };
    let mut group = c.benchmark_group("observe");
    configure(&mut group);
    group.throughput(criterion::Throughput::Elements(batch as u64));
    for (name, cache) in &s.caches {
        let mut start = 0;
        group.bench_function(format!("get/{name}"), |b| {
            b.iter(|| {
                gets(&s, cache, start, batch);
                start += batch;
            })
        });
    }
    group.finish();

    let rounds = if as_test() {
        2
    } else if quick() {
        600
    } else {
        2_000
    };
    let mut csv = String::from("build,row,q25,median,q75\n");
    let mut row = |name: String, [q25, q50, q75]: [f64; 3]| {
        println!("paired observe/{name} = {q50:.3}x (middle half {q25:.3}x to {q75:.3}x)");
        csv.push_str(&format!("{BUILD},{name},{q25:.4},{q50:.4},{q75:.4}\n"));
    };
    for (name, cache) in &s.caches {
        let ratio = pair(
            rounds,
            |r| gets(&s, cache, r * batch, batch),
            |r| reference_gets(&s, r * batch, batch),
        );
        row(format!("get ({name}) / reference"), ratio);
    }
    if let [(none, plain), (with, recorded)] = &s.caches[..] {
        let ratio = pair(
            rounds,
            |r| gets(&s, recorded, r * batch, batch),
            |r| gets(&s, plain, r * batch, batch),
        );
        row(format!("get ({with}) / get ({none})"), ratio);
    }
    write_metric(&format!("observe-{}.csv", BUILD.replace('+', "-")), &csv);
}

criterion_group!(benches, bench);
criterion_main!(benches);
