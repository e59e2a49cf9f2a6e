//! Workload generators shared by the benchmarks: Zipf-distributed key traces and fixed values.
//! The peers (moka, quick_cache, lru, cacache, ...) are dev-dependencies of this crate only.
//!
//! ```
//! let zipf = cache_benches::Zipf::new(1_000, 1.0);
//! let trace = zipf.trace(42, 10);
//! assert_eq!(trace.len(), 10);
//! assert!(trace.iter().all(|&k| k < 1_000));
//! ```
#![forbid(unsafe_code)]

/// The workspace README's examples, compiled and run as doctests. They live here, in a crate
/// that is never published, because that README belongs to no package (the facade has its
/// own, tested by the facade).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct WorkspaceReadmeDoctests;

/// A small, fast, deterministic generator (SplitMix64): the same seed gives the same trace
/// on every machine, so runs compare.
///
/// ```
/// let mut a = cache_benches::SplitMix64(7);
/// let mut b = cache_benches::SplitMix64(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf's law over `0..n` with exponent `s`, sampled exactly by inverting its cumulative
/// distribution (a table of `n` floats, built once).
///
/// ```
/// let zipf = cache_benches::Zipf::new(100, 1.0);
/// let trace = zipf.trace(1, 10_000);
/// let mut counts = vec![0; 100];
/// trace.iter().for_each(|&k| counts[k] += 1);
/// // The top rank of Zipf(100, 1.0) draws 1/H(100) ≈ 19% of the samples.
/// let top = *counts.iter().max().unwrap();
/// assert!((1_700..2_200).contains(&top), "{top}");
/// ```
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
    /// Rank to key index: a fixed shuffle, so that popular keys are not neighbours.
    keys_by_rank: Vec<usize>,
}

impl Zipf {
    /// The distribution over `n` ranks.
    pub fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        let mut keys_by_rank: Vec<usize> = (0..n).collect();
        let mut rng = SplitMix64(0x5eed);
        for i in (1..n).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            keys_by_rank.swap(i, j);
        }
        Zipf { cdf, keys_by_rank }
    }

    /// `len` key indices drawn from the seed `seed`.
    pub fn trace(&self, seed: u64, len: usize) -> Vec<usize> {
        let n = self.cdf.len();
        let mut rng = SplitMix64(seed);
        (0..len)
            .map(|_| {
                let u = rng.next_f64();
                self.keys_by_rank[self.cdf.partition_point(|&c| c < u).min(n - 1)]
            })
            .collect()
    }
}

/// The key names `key:0` .. `key:{n-1}`.
///
/// ```
/// assert_eq!(cache_benches::keys(2), ["key:0", "key:1"]);
/// ```
pub fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key:{i}")).collect()
}

/// Whether the benchmarks run in quick mode (`CACHE_BENCH_QUICK=1`, set by
/// `cargo xtask bench --quick`): smaller data, shorter measurements, rough numbers.
///
/// ```
/// let _ = cache_benches::quick();
/// ```
pub fn quick() -> bool {
    std::env::var_os("CACHE_BENCH_QUICK").is_some_and(|v| v == "1")
}

/// Whether the benchmark runs as a test: `cargo test` runs a benchmark binary without the
/// `--bench` argument `cargo bench` gives it (criterion then runs each benchmark once). The
/// benchmarks that prepare large data take the smallest that still exercises every row, so
/// that the test run checks them in seconds, not minutes of a debug build.
///
/// ```
/// // A doctest is not run by `cargo bench`.
/// assert!(cache_benches::as_test());
/// ```
pub fn as_test() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// Where the benchmarks leave figures criterion does not keep (hit ratios, memory per
/// entry): `target/bench/`, created on demand.
///
/// ```
/// assert!(cache_benches::metrics_dir().ends_with("target/bench"));
/// ```
pub fn metrics_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bench")
}

/// Writes `contents` to `target/bench/{name}`; nothing when the benchmark runs as a test
/// ([`as_test`]: its figures, from the smallest data, belong in no report).
///
/// # Panics
/// When the file cannot be written: a benchmark without its figures is no benchmark.
pub fn write_metric(name: &str, contents: &str) {
    if as_test() {
        return;
    }
    let dir = metrics_dir();
    std::fs::create_dir_all(&dir).expect("create target/bench");
    std::fs::write(dir.join(name), contents).expect("write a metric file");
}

/// Sets a benchmark group's sample count and times: short in quick mode, a few seconds
/// otherwise. Every benchmark file uses it, so runs are comparable across backends.
pub fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.sample_size(10);
    if quick() {
        group.warm_up_time(std::time::Duration::from_millis(100));
        group.measurement_time(std::time::Duration::from_millis(300));
    } else {
        group.warm_up_time(std::time::Duration::from_millis(500));
        group.measurement_time(std::time::Duration::from_secs(3));
    }
}

/// The value envelope before the structural type tag (an 8-byte FNV-1a of
/// `std::any::type_name`, computed on every call, then postcard), kept so that the codec
/// benchmarks and `envelope_cost` measure the new default against it.
pub mod envelope_v1 {
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    fn tag<V: ?Sized>() -> u64 {
        std::any::type_name::<V>()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
    }

    /// Appends the old envelope of `value` to `buf`.
    ///
    /// ```
    /// let mut buf = Vec::new();
    /// cache_benches::envelope_v1::encode(&mut buf, &7u32);
    /// assert_eq!(buf.len(), 9);
    /// assert_eq!(cache_benches::envelope_v1::decode::<u32>(&buf), Some(7));
    /// assert_eq!(cache_benches::envelope_v1::decode::<u64>(&buf), None);
    /// ```
    pub fn encode<V: Serialize>(buf: &mut Vec<u8>, value: &V) {
        buf.extend_from_slice(&tag::<V>().to_le_bytes());
        postcard::to_io(value, &mut *buf).expect("a value postcard encodes");
    }

    /// The value in an old envelope, or `None` (another tag, bad payload, bytes left over).
    ///
    /// ```
    /// assert_eq!(cache_benches::envelope_v1::decode::<u32>(&[]), None);
    /// ```
    pub fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Option<V> {
        let (t, payload) = bytes.split_first_chunk::<8>()?;
        if u64::from_le_bytes(*t) != tag::<V>() {
            return None;
        }
        match postcard::take_from_bytes::<V>(payload) {
            Ok((value, [])) => Some(value),
            _ => None,
        }
    }
}

/// Ours and a peer timed alternately, round by round, in one loop: each round's ratio
/// compares two runs made milliseconds apart, so drift that moves two criterion rows run
/// seconds apart (where the scheduler put the threads, a server's state, the CPU's clock)
/// moves both sides of a round alike. The report's ratio columns come from these.
///
/// ```
/// use cache_benches::Paired;
///
/// let (mut a, mut b) = (0u64, 0u64);
/// let p = Paired::measure("sum/1t", "ours", "peer", 10, || a += 1, || b += 1);
/// assert_eq!(p.ratios.len(), 10);
/// assert!(p.quantile(0.5) > 0.0);
/// ```
#[derive(Debug, Clone)]
pub struct Paired {
    /// The row: `{workload}/{threads}t`.
    pub workload: String,
    /// Ours.
    pub cache: String,
    /// What ours is compared with.
    pub peer: String,
    /// Ours / the peer (throughput: the peer's time over ours) of each round, sorted.
    pub ratios: Vec<f64>,
}

impl Paired {
    /// Runs `ours` and `peer` alternately for `rounds` rounds (ours first in even rounds,
    /// the peer first in odd ones), after `rounds / 10` rounds of warm-up, and prints the
    /// median and middle half.
    pub fn measure(
        workload: &str,
        cache: &str,
        peer: &str,
        rounds: usize,
        mut ours: impl FnMut(),
        mut peer_op: impl FnMut(),
    ) -> Paired {
        let mut time = |ours_side: bool| {
            let t0 = std::time::Instant::now();
            if ours_side {
                ours();
            } else {
                peer_op();
            }
            t0.elapsed().as_secs_f64()
        };
        for _ in 0..rounds / 10 {
            time(true);
            time(false);
        }
        let mut ratios: Vec<f64> = (0..rounds.max(1))
            .map(|round| {
                let (a, b) = if round % 2 == 0 {
                    let a = time(true);
                    (a, time(false))
                } else {
                    let b = time(false);
                    (time(true), b)
                };
                b / a.max(f64::MIN_POSITIVE)
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        let p = Paired {
            workload: workload.to_owned(),
            cache: cache.to_owned(),
            peer: peer.to_owned(),
            ratios,
        };
        println!(
            "paired {workload}: {cache} / {peer} = {:.3}x (middle half of {} rounds {:.3}x to {:.3}x)",
            p.quantile(0.5),
            p.ratios.len(),
            p.quantile(0.25),
            p.quantile(0.75)
        );
        p
    }

    /// The ratio at quantile `q` of the rounds (0.5: the median).
    pub fn quantile(&self, q: f64) -> f64 {
        self.ratios[((self.ratios.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize]
    }
}

/// Writes `rows` to `target/bench/{backend}-paired.csv` (`workload,cache,peer,rounds,median,
/// q1,q3`), the table `cargo xtask bench` reports for `backend`; nothing for no rows.
///
/// ```
/// cache_benches::write_paired("none", &[]);
/// ```
pub fn write_paired(backend: &str, rows: &[Paired]) {
    if rows.is_empty() {
        return;
    }
    let mut csv = String::from("workload,cache,peer,rounds,median,q1,q3\n");
    for p in rows {
        csv.push_str(&format!(
            "{},{},{},{},{:.4},{:.4},{:.4}\n",
            p.workload,
            p.cache,
            p.peer,
            p.ratios.len(),
            p.quantile(0.5),
            p.quantile(0.25),
            p.quantile(0.75)
        ));
    }
    write_metric(&format!("{backend}-paired.csv"), &csv);
}

/// Whether `id` is among the benchmarks the command line asks for: no filter, or one that
/// matches it (criterion's filters are regular expressions; so are these).
///
/// ```
/// // Under `cargo test` the arguments are the test harness's, and filter nothing here.
/// let _ = cache_benches::selected("memory/zipf-get/1t");
/// ```
pub fn selected(id: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty()
        || filters
            .iter()
            .any(|f| regex::Regex::new(f).map_or(id.contains(f.as_str()), |r| r.is_match(id)))
}
