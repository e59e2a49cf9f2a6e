//! `cargo xtask bench [--quick]`: runs the criterion benchmarks of `benches/`, measures memory
//! per entry, and turns the results into `target/bench/report.md` and `target/bench/chart.svg`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::{cargo_env, Result};

/// The caches whose names start with this are ours; every other one is a peer.
const OURS: &str = "cache-";

pub(crate) fn main(args: &[String]) -> Result {
    let quick = args.iter().any(|a| a == "--quick");
    // Rebuild the report and chart from the results already under target/criterion.
    let report_only = args.iter().any(|a| a == "--report-only");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target");
    let criterion = target.join("criterion");
    let out = target.join("bench");
    if !report_only {
        // Stale results of another run must not mix into this report.
        for dir in [&criterion, &out] {
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
        }
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        crate::ensure_redis()?;
        let quick_env = if quick { "1" } else { "0" };
        cargo_env(
            &["bench", "-p", "cache-benches", "--benches"],
            &[("CACHE_BENCH_QUICK", quick_env)],
        )?;
    }
    let per_entry = memory_per_entry(&root)?;
    let mut results = read_criterion(&criterion)?;
    add_redis_benchmark(&mut results, &out);
    let report = render(&results, &out, &per_entry, quick)?;
    std::fs::write(out.join("report.md"), &report).map_err(|e| e.to_string())?;
    std::fs::write(out.join("chart.svg"), chart(&results)).map_err(|e| e.to_string())?;
    println!("{report}");
    println!(
        "wrote {} and {}",
        out.join("report.md").display(),
        out.join("chart.svg").display()
    );
    Ok(())
}

/// One measured benchmark: operations per second of `cache` under `workload`.
struct Measured {
    cache: String,
    ops_per_sec: f64,
}

/// Backend ("memory") -> workload ("zipf-get/1t") -> measurements.
type Results = BTreeMap<String, BTreeMap<String, Vec<Measured>>>;

fn read_criterion(dir: &Path) -> Result<Results> {
    let mut results = Results::new();
    let groups = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for group in groups.flatten() {
        for bench in std::fs::read_dir(group.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let new = bench.path().join("new");
            let (Ok(meta), Ok(est)) = (
                read_json(&new.join("benchmark.json")),
                read_json(&new.join("estimates.json")),
            ) else {
                continue;
            };
            let group_id = meta["group_id"].as_str().unwrap_or_default().to_owned();
            let cache = meta["value_str"]
                .as_str()
                .or_else(|| meta["function_id"].as_str())
                .unwrap_or_default()
                .to_owned();
            let elements = meta["throughput"]["Elements"].as_f64().unwrap_or(1.0);
            let nanos = est["median"]["point_estimate"].as_f64().unwrap_or(f64::NAN);
            let (backend, workload) = group_id.split_once('/').unwrap_or((&group_id, ""));
            results
                .entry(backend.to_owned())
                .or_default()
                .entry(workload.to_owned())
                .or_default()
                .push(Measured {
                    cache,
                    ops_per_sec: elements / (nanos * 1e-9),
                });
        }
    }
    if results.is_empty() {
        return Err(format!("no criterion results under {}", dir.display()));
    }
    for workloads in results.values_mut() {
        for m in workloads.values_mut() {
            // Ours first, then the peers by name.
            m.sort_by_key(|x| (!x.cache.starts_with(OURS), x.cache.clone()));
        }
    }
    Ok(results)
}

/// The `redis-benchmark` runs of `benches/benches/async.rs` (`async-redis-benchmark.csv`:
/// topology, test, clients, requests per second) as a `redis-benchmark` column of the
/// `async-redis` rows they match (`cluster-get/64tasks`: GET with 64 clients on the cluster),
/// so that the table gives ours / redis-benchmark beside ours / the async peers.
fn add_redis_benchmark(results: &mut Results, out: &Path) {
    let Ok(csv) = std::fs::read_to_string(out.join("async-redis-benchmark.csv")) else {
        return;
    };
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let [topology, test, clients, rps] = cells[..] else {
            continue;
        };
        let Ok(ops_per_sec) = rps.parse::<f64>() else {
            continue;
        };
        let workload = format!("{topology}-{}/{clients}tasks", test.to_lowercase());
        results
            .entry("async-redis".to_owned())
            .or_default()
            .entry(workload)
            .or_default()
            .push(Measured {
                cache: "redis-benchmark".to_owned(),
                ops_per_sec,
            });
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn memory_per_entry(root: &Path) -> Result<Vec<(String, String)>> {
    cargo_env(
        &[
            "build",
            "--release",
            "-p",
            "cache-benches",
            "--example",
            "mem_per_entry",
        ],
        &[],
    )?;
    let bin: PathBuf = root.join("target/release/examples/mem_per_entry");
    let mut rows = Vec::new();
    for cache in [
        "cache-memory",
        "cache-memory-tinylfu",
        "moka",
        "quick_cache",
        "mutex-lru",
        "moka-string",
        "quick_cache-string",
        "mutex-lru-string",
    ] {
        let out = Command::new(&bin)
            .arg(cache)
            .output()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        if !out.status.success() {
            return Err(format!(
                "mem_per_entry {cache} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let (name, bytes) = line
            .split_once(',')
            .ok_or("mem_per_entry printed no figure")?;
        rows.push((name.to_owned(), bytes.to_owned()));
    }
    Ok(rows)
}

fn human(ops: f64) -> String {
    if ops >= 1e6 {
        format!("{:.2} M/s", ops / 1e6)
    } else if ops >= 1e3 {
        format!("{:.1} k/s", ops / 1e3)
    } else {
        format!("{ops:.0} /s")
    }
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "{model}, {cpus} CPUs, {:.0} GiB, {} ({rustc})",
        mem_kib as f64 / 1048576.0,
        std::env::consts::OS
    )
}

fn render(
    results: &Results,
    out: &Path,
    per_entry: &[(String, String)],
    quick: bool,
) -> Result<String> {
    let mut md = String::new();
    let mode = if quick {
        "quick (rough numbers: small data, short runs)"
    } else {
        "full"
    };
    let _ = writeln!(md, "# Benchmark report\n");
    let _ = writeln!(md, "- Machine: {}", machine());
    let _ = writeln!(md, "- Mode: {mode}");
    let _ = writeln!(
        md,
        "- Throughput is operations per second (criterion's median); `ratio` is ours / the peer.\n"
    );
    for (backend, workloads) in results {
        let _ = writeln!(md, "## {backend}\n");
        let caches: Vec<String> = {
            let mut all: Vec<String> = workloads
                .values()
                .flat_map(|m| m.iter().map(|x| x.cache.clone()))
                .collect();
            all.sort_by_key(|c| (!c.starts_with(OURS), c.clone()));
            all.dedup();
            all
        };
        let ours: Vec<&String> = caches.iter().filter(|c| c.starts_with(OURS)).collect();
        let peers: Vec<&String> = caches.iter().filter(|c| !c.starts_with(OURS)).collect();
        let mut header = String::from("| workload |");
        let mut rule = String::from("|---|");
        for c in &caches {
            let _ = write!(header, " {c} |");
            rule.push_str("---:|");
        }
        // One ratio column per (ours, peer); named after ours too when there are several.
        for o in &ours {
            for p in &peers {
                if ours.len() > 1 {
                    let _ = write!(header, " {o} / {p} |");
                } else {
                    let _ = write!(header, " ratio vs {p} |");
                }
                rule.push_str("---:|");
            }
        }
        let _ = writeln!(md, "{header}\n{rule}");
        for (workload, measured) in workloads {
            let find = |c: &str| {
                measured
                    .iter()
                    .find(|m| m.cache == c)
                    .map(|m| m.ops_per_sec)
            };
            let mut row = format!("| {workload} |");
            for c in &caches {
                let _ = write!(row, " {} |", find(c).map(human).unwrap_or_default());
            }
            for o in &ours {
                for p in &peers {
                    let cell = match (find(o), find(p)) {
                        (Some(a), Some(b)) => format!("{:.2}x", a / b),
                        _ => String::new(),
                    };
                    let _ = write!(row, " {cell} |");
                }
            }
            let _ = writeln!(md, "{row}");
        }
        md.push('\n');
        let ratio_file = out.join(format!("{backend}-hit-ratio.csv"));
        if let Ok(csv) = std::fs::read_to_string(&ratio_file) {
            let _ = writeln!(md, "Hit ratio (Zipf get-or-set, after warm-up):\n");
            let _ = writeln!(md, "| cache | hit ratio |\n|---|---:|");
            for line in csv.lines().skip(1) {
                if let Some((c, r)) = line.split_once(',') {
                    let r: f64 = r.parse().unwrap_or(f64::NAN);
                    let _ = writeln!(md, "| {c} | {:.2}% |", r * 100.0);
                }
            }
            md.push('\n');
        }
        paired_table(&mut md, out, backend);
        let storage_file = out.join(format!("{backend}-storage.csv"));
        if let Ok(csv) = std::fs::read_to_string(&storage_file) {
            let _ = writeln!(
                md,
                "Storage (the first part of each workload names where it ran):\n"
            );
            let _ = writeln!(md, "| storage | directory | file system |\n|---|---|---|");
            for line in csv.lines().skip(1) {
                let cells: Vec<&str> = line.splitn(3, ',').collect();
                if let [storage, fs, dir] = cells[..] {
                    let _ = writeln!(md, "| {storage} | `{dir}` | {fs} |");
                }
            }
            md.push('\n');
        }
        if backend == "memory" {
            let _ = writeln!(
                md,
                "Memory per entry, 1,000,000 `u64 -> u64` entries (resident set growth; \
                 `cache-memory` keys are `&str`, so it stores decimal strings, as the \
                 `-string` rows of the peers do):\n"
            );
            let _ = writeln!(md, "| cache | bytes per entry |\n|---|---:|");
            for (c, b) in per_entry {
                let _ = writeln!(md, "| {c} | {b} |");
            }
            md.push('\n');
        }
    }
    hit_ratio_table(&mut md, out);
    invalidation_table(&mut md, out);
    Ok(md)
}

/// The table of `target/bench/invalidation.csv` (from `benches/benches/invalidation.rs`):
/// the invalidation delay of `RedisCache`'s `near::Invalidations` and the write cost of 3
/// listeners. Lines that do not parse are left out; no file, no table.
fn invalidation_table(md: &mut String, out: &Path) {
    let Ok(csv) = std::fs::read_to_string(out.join("invalidation.csv")) else {
        return;
    };
    let rows: Vec<(&str, f64)> = csv
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (metric, value) = line.split_once(',')?;
            Some((metric, value.parse().ok()?))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Redis invalidations (near cache)

A `set` on one `RedisCache` to another's subscribed sink hearing the key (delays in µs);
writes/s and server CPU per write with 3 tracking listeners over without, paired rounds
(`benches/benches/invalidation.rs`).

| metric | value |
|---|---:|"
    );
    for (metric, value) in rows {
        let _ = writeln!(md, "| {metric} | {value:.3} |");
    }
    md.push('\n');
}

/// The table of `target/bench/{backend}-paired.csv` (from `benches/benches/redis.rs`): ours
/// and a peer timed in alternating rounds of one loop, the median of the per-round ratios and
/// the middle half of them. Lines that do not parse are left out.
fn paired_table(md: &mut String, out: &Path, backend: &str) {
    let Ok(csv) = std::fs::read_to_string(out.join(format!("{backend}-paired.csv"))) else {
        return;
    };
    let rows: Vec<String> = csv
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let [workload, cache, peer, rounds, median, q1, q3] = cells[..] else {
                return None;
            };
            let [median, q1, q3] = [median, q1, q3].map(|x| x.parse::<f64>().ok());
            Some(format!(
                "| {workload} | {cache} | {peer} | {:.2}x | {:.2}x to {:.2}x | {rounds} |",
                median?, q1?, q3?
            ))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "Paired (ours and the peer alternated round by round in one loop, so that drift \
         between two rows run seconds apart moves both alike; ours / the peer):\n"
    );
    let _ = writeln!(
        md,
        "| workload | ours | peer | median ratio | middle half of the rounds | rounds |\n\
         |---|---|---|---:|---:|---:|"
    );
    for row in rows {
        let _ = writeln!(md, "{row}");
    }
    md.push('\n');
}

/// The table of `target/bench/hit-ratio.csv` (from `benches/benches/hit_ratio.rs`): one row
/// per workload and capacity, one column per cache, the best of each row in bold.
fn hit_ratio_table(md: &mut String, out: &Path) {
    let Ok(csv) = std::fs::read_to_string(out.join("hit-ratio.csv")) else {
        return;
    };
    // (workload, capacity) in file order -> cache -> ratio.
    let mut rows: Vec<((String, String), BTreeMap<String, f64>)> = Vec::new();
    let mut caches: Vec<String> = Vec::new();
    for line in csv.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let [workload, capacity, cache, ratio] = fields[..] else {
            continue;
        };
        let Ok(ratio) = ratio.parse::<f64>() else {
            continue;
        };
        let key = (workload.to_owned(), capacity.to_owned());
        match rows.iter_mut().find(|r| r.0 == key) {
            Some(r) => {
                r.1.insert(cache.to_owned(), ratio);
            }
            None => rows.push((key, BTreeMap::from([(cache.to_owned(), ratio)]))),
        }
        if !caches.iter().any(|c| c == cache) {
            caches.push(cache.to_owned());
        }
    }
    let _ = writeln!(
        md,
        "## hit ratio

One thread, get then set on a miss, the requests after the warm-up          counted (`benches/benches/hit_ratio.rs`); the best of each row in bold.
"
    );
    let mut header = String::from("| workload | capacity |");
    let mut rule = String::from("|---|---:|");
    for c in &caches {
        let _ = write!(header, " {c} |");
        rule.push_str("---:|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for ((workload, capacity), ratios) in &rows {
        let best = ratios.values().copied().fold(f64::MIN, f64::max);
        let mut row = format!("| {workload} | {capacity} |");
        for c in &caches {
            let cell = match ratios.get(c) {
                Some(&r) if r == best => format!("**{:.1}%**", r * 100.0),
                Some(&r) => format!("{:.1}%", r * 100.0),
                None => String::new(),
            };
            let _ = write!(row, " {cell} |");
        }
        let _ = writeln!(md, "{row}");
    }
    md.push('\n');
}

/// A horizontal bar chart, one panel per backend, bars scaled per workload to its fastest
/// cache, with the figures written on the bars.
fn chart(results: &Results) -> String {
    let palette = [
        "#1b6ca8", "#e4572e", "#76b041", "#ffc914", "#8e44ad", "#555555",
    ];
    let bar_h = 14.0;
    let label_w = 210.0;
    let plot_w = 520.0;
    let mut y = 40.0;
    let mut body = String::new();
    let mut peers: Vec<String> = Vec::new();
    for (backend, workloads) in results {
        let _ = writeln!(
            body,
            r#"<text x="10" y="{y}" font-size="16" font-weight="bold">{backend}</text>"#
        );
        y += 14.0;
        for (workload, measured) in workloads {
            let max = measured.iter().map(|m| m.ops_per_sec).fold(0.0, f64::max);
            let _ = writeln!(
                body,
                r#"<text x="10" y="{}" font-size="12">{workload}</text>"#,
                y + bar_h
            );
            for m in measured {
                // Ours always in the first colour, each peer in one of its own.
                let color = if m.cache.starts_with(OURS) {
                    palette[0]
                } else {
                    if !peers.contains(&m.cache) {
                        peers.push(m.cache.clone());
                    }
                    let i = peers.iter().position(|c| c == &m.cache).unwrap_or(0);
                    palette[1 + i % (palette.len() - 1)]
                };
                let w = if max > 0.0 {
                    plot_w * m.ops_per_sec / max
                } else {
                    0.0
                };
                let _ = writeln!(
                    body,
                    r#"<rect x="{label_w}" y="{y}" width="{w:.1}" height="{}" fill="{color}"/><text x="{:.1}" y="{}" font-size="10">{} {}</text>"#,
                    bar_h - 2.0,
                    label_w + w + 4.0,
                    y + bar_h - 4.0,
                    m.cache,
                    human(m.ops_per_sec)
                );
                y += bar_h;
            }
            y += 6.0;
        }
        y += 16.0;
    }
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="14">Throughput (operations/s), bars scaled to the fastest cache of each workload</text>"#,
        label_w + plot_w + 200.0,
        y + 10.0
    );
    svg.push('\n');
    svg.push_str(&body);
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_benchmark_rates_join_the_async_redis_rows_with_a_ratio_column() {
        let dir =
            std::env::temp_dir().join(format!("xtask-redis-benchmark-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("async-redis-benchmark.csv"),
            "topology,test,clients,requests_per_second\ncluster,GET,64,200000\n\
             standalone,SET,1,garbage\n",
        )
        .unwrap();
        let mut results = Results::new();
        results
            .entry("async-redis".to_owned())
            .or_default()
            .entry("cluster-get/64tasks".to_owned())
            .or_default()
            .push(Measured {
                cache: "cache-redis-async".to_owned(),
                ops_per_sec: 100_000.0,
            });
        add_redis_benchmark(&mut results, &dir);
        let md = render(&results, &dir, &[], true).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            results["async-redis"].len(),
            1,
            "the unparsable line is skipped"
        );
        assert!(
            md.contains(
                "| workload | cache-redis-async | redis-benchmark | ratio vs redis-benchmark |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| cluster-get/64tasks | 100.0 k/s | 200.0 k/s | 0.50x |"),
            "{md}"
        );
    }

    #[test]
    fn the_paired_table_gives_the_median_and_middle_half_and_skips_bad_lines() {
        let dir = std::env::temp_dir().join(format!("xtask-paired-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("redis-paired.csv"),
            "workload,cache,peer,rounds,median,q1,q3\n\
             standalone-incr/2t,cache-redis,bare-connection,200,0.9512,0.9001,1.0049\n\
             standalone-add/2t,cache-redis,bare-connection,200,nope,0.9,1.0\n",
        )
        .unwrap();
        let mut md = String::new();
        paired_table(&mut md, &dir, "redis");
        let mut none = String::new();
        paired_table(&mut none, &dir, "memory");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            md.contains(
                "| standalone-incr/2t | cache-redis | bare-connection | 0.95x | 0.90x to 1.00x | 200 |"
            ),
            "{md}"
        );
        assert!(!md.contains("standalone-add"), "{md}");
        assert!(none.is_empty(), "no file, no table: {none}");
    }

    #[test]
    fn the_invalidation_table_lists_what_parses() {
        let dir = std::env::temp_dir().join(format!("xtask-invalidation-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("invalidation.csv"),
            "metric,value\ndelay_p50_us,28.5\ndelay_p99_us,oops\n",
        )
        .unwrap();
        let mut md = String::new();
        invalidation_table(&mut md, &dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let mut none = String::new();
        invalidation_table(&mut none, &dir);
        assert!(md.contains("| delay_p50_us | 28.500 |"), "{md}");
        assert!(!md.contains("delay_p99_us"), "{md}");
        assert!(none.is_empty(), "no file, no table: {none}");
    }

    #[test]
    fn the_hit_ratio_table_has_a_row_per_workload_and_capacity_and_bolds_the_best() {
        let dir = std::env::temp_dir().join(format!("xtask-hit-ratio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("hit-ratio.csv"),
            "workload,capacity,cache,hit_ratio\nloop,10000,a,0.5\nloop,10000,b,0.25\n\
             zipf,10000,a,0.1\nzipf,10000,b,0.2\n",
        )
        .unwrap();
        let mut md = String::new();
        hit_ratio_table(&mut md, &dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(md.contains("| workload | capacity | a | b |"), "{md}");
        assert!(md.contains("| loop | 10000 | **50.0%** | 25.0% |"), "{md}");
        assert!(md.contains("| zipf | 10000 | 10.0% | **20.0%** |"), "{md}");
    }
}
