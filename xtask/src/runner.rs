//! The workspace's test binaries, built once by cargo, then run several at a time.
//!
//! `cargo test` runs its test binaries one after the other, and most of this workspace's
//! test time is spent waiting (on Redis servers started and failed over, on timeouts the
//! fault tests provoke, on child processes), not computing: the Redis suites alone took
//! 6.5 minutes one after the other. So the binaries are built with `cargo test --no-run`
//! (cargo's JSON messages name each one), then run [`jobs`] at a time, the longest first (by
//! the times of the last run, kept in `target/xtask/test-times.tsv`; on a first run by the
//! list of known long ones). Each binary runs as cargo would run it (in its package's
//! directory, with `CARGO_MANIFEST_DIR`), its output is gathered and printed whole when it
//! ends, with its time, and read by the [`Tally`].

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use crate::tally::{spawn_merged, Tally};

/// One test binary cargo built.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TestBinary {
    /// What cargo's `Running` line says, with the package: `cache-redis tests/tls.rs`.
    pub(crate) name: String,
    pub(crate) exe: PathBuf,
    /// The package's directory: where cargo runs its tests.
    pub(crate) dir: PathBuf,
}

/// The test binaries known to run longest, for a first run with no times on record (the
/// order they start in: one of each long kind before the next).
const LONG_FIRST: &[&str] = &[
    "cache-macros-ui tests/ui.rs",
    "cache-redis tests/standalone.rs",
    "cache-redis tests/tls.rs",
    "cache-tiered tests/conformance.rs",
    "cache-redis tests/cluster.rs",
    "cache-file tests/conformance.rs",
    "cache-tiered tests/redis_processes.rs",
    "benches benches/observe.rs",
    "cache-redis tests/failover.rs",
];

/// How many test binaries run at once: `XTASK_TEST_JOBS`, else 3 (on the 2-core machine the
/// suites mostly wait; 3 keep both cores busy without the timing tests starving).
pub(crate) fn jobs() -> usize {
    std::env::var("XTASK_TEST_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .filter(|&j| j > 0)
        .unwrap_or(3)
}

/// Builds the test binaries of `cargo test <args> --no-run` and runs them, `jobs` at a time,
/// counting what they report into `tally`. A build that fails is a broken step (the
/// binaries that did build still run).
pub(crate) fn run(tally: &mut Tally, args: &[&str], envs: &[(&str, &str)]) {
    let binaries = match build(args, envs) {
        Ok((binaries, built)) => {
            if !built {
                tally.broken(format!("cargo test {} --no-run", args.join(" ")));
            }
            binaries
        }
        Err(e) => {
            tally.broken(format!("cargo test {} --no-run: {e}", args.join(" ")));
            return;
        }
    };
    let times_file = times_file();
    let mut times = read_times(&times_file);
    let order = longest_first(binaries, &times);
    let jobs = jobs();
    eprintln!(
        "xtask: running {} test binaries, {jobs} at a time",
        order.len()
    );
    let queue = Mutex::new(order.into_iter());
    let done = Mutex::new((std::mem::take(tally), Vec::new()));
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let Some(binary) = queue.lock().unwrap_or_else(|p| p.into_inner()).next() else {
                    break;
                };
                let started = Instant::now();
                let outcome = run_one(&binary, envs);
                let secs = started.elapsed().as_secs_f64();
                let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
                let (tally, finished) = &mut *done;
                let header = format!("     Running {} ({})", binary.name, binary.exe.display());
                match outcome {
                    Ok((lines, success)) => {
                        tally.absorb(&header, &lines, success, &binary.name);
                    }
                    Err(e) => tally.broken(format!("{}: {e}", binary.name)),
                }
                println!("xtask: {} took {secs:.1} s", binary.name);
                finished.push((binary.name, secs));
            });
        }
    });
    let (back, finished) = done.into_inner().unwrap_or_else(|p| p.into_inner());
    *tally = back;
    eprintln!(
        "xtask: the test binaries ran in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    times.extend(finished);
    write_times(&times_file, &times);
}

/// `cargo test <args> --no-run --message-format=json-render-diagnostics`: the test binaries
/// it built, and whether the whole build succeeded.
fn build(args: &[&str], envs: &[(&str, &str)]) -> Result<(Vec<TestBinary>, bool), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    all.extend(["--no-run", "--message-format=json-render-diagnostics"]);
    eprintln!("$ cargo {}", all.join(" "));
    let mut child = Command::new(&cargo)
        .args(&all)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start cargo: {e}"))?;
    let stdout = child.stdout.take().ok_or("cargo's stdout is not a pipe")?;
    let mut binaries = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(binary) = test_binary(&line) {
            binaries.push(binary);
        }
    }
    let status = child.wait().map_err(|e| format!("cannot wait: {e}"))?;
    Ok((binaries, status.success()))
}

/// The test binary a line of cargo's JSON messages announces, if it does.
fn test_binary(line: &str) -> Option<TestBinary> {
    let m: serde_json::Value = serde_json::from_str(line).ok()?;
    if m["reason"] != "compiler-artifact" || m["profile"]["test"] != true {
        return None;
    }
    let exe = PathBuf::from(m["executable"].as_str()?);
    let dir = Path::new(m["manifest_path"].as_str()?)
        .parent()?
        .to_path_buf();
    let src = Path::new(m["target"]["src_path"].as_str()?);
    let package = dir.file_name()?.to_string_lossy().into_owned();
    let kinds = &m["target"]["kind"];
    let relative = src.strip_prefix(&dir).unwrap_or(src).display().to_string();
    let unit = kinds
        .as_array()
        .is_some_and(|k| k.iter().any(|k| k == "lib" || k == "bin"));
    let name = if unit {
        format!("{package} unittests {relative}")
    } else {
        format!("{package} {relative}")
    };
    Some(TestBinary { name, exe, dir })
}

/// Runs one test binary as cargo would: its output (stdout and stderr, in the order
/// written) and whether it passed.
fn run_one(binary: &TestBinary, envs: &[(&str, &str)]) -> Result<(Vec<String>, bool), String> {
    let mut command = Command::new(&binary.exe);
    command
        .current_dir(&binary.dir)
        .env("CARGO_MANIFEST_DIR", &binary.dir)
        .envs(envs.iter().copied())
        .stdin(Stdio::null());
    let (mut reader, mut child) = spawn_merged(command)?;
    let mut output = Vec::new();
    let _ = reader.read_to_end(&mut output);
    let status = child.wait().map_err(|e| format!("cannot wait: {e}"))?;
    let lines = String::from_utf8_lossy(&output)
        .lines()
        .map(str::to_owned)
        .collect();
    Ok((lines, status.success()))
}

/// The binaries in the order to start them: the longest first by `times`, then those of
/// [`LONG_FIRST`], then the rest by name.
fn longest_first(mut binaries: Vec<TestBinary>, times: &HashMap<String, f64>) -> Vec<TestBinary> {
    let hint = |b: &TestBinary| {
        LONG_FIRST
            .iter()
            .position(|n| *n == b.name)
            .map_or(0.0, |i| 1e6 - i as f64)
    };
    let key = |b: &TestBinary| times.get(&b.name).copied().unwrap_or_else(|| hint(b));
    binaries.sort_by(|a, b| key(b).total_cmp(&key(a)).then_with(|| a.name.cmp(&b.name)));
    binaries
}

fn times_file() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap_or(Path::new("."))
                .join("target")
        });
    target.join("xtask").join("test-times.tsv")
}

fn read_times(path: &Path) -> HashMap<String, f64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (name, secs) = l.split_once('\t')?;
            Some((name.to_owned(), secs.parse().ok()?))
        })
        .collect()
}

/// Records the times for the next run's order; a failure to write them only costs that
/// order, so it is reported and otherwise ignored.
fn write_times(path: &Path, times: &HashMap<String, f64>) {
    let mut rows: Vec<_> = times.iter().collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let text: String = rows
        .iter()
        .map(|(name, secs)| format!("{name}\t{secs:.1}\n"))
        .collect();
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, text));
    if let Err(e) = written {
        eprintln!(
            "xtask: cannot record the test times in {}: {e}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_test_binary_from_cargo_json() {
        let line = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/cache-redis#0.1.0","manifest_path":"/w/crates/cache-redis/Cargo.toml","target":{"kind":["test"],"crate_types":["bin"],"name":"tls","src_path":"/w/crates/cache-redis/tests/tls.rs"},"profile":{"test":true},"executable":"/w/target/debug/deps/tls-0123","fresh":true}"#;
        assert_eq!(
            test_binary(line),
            Some(TestBinary {
                name: "cache-redis tests/tls.rs".into(),
                exe: "/w/target/debug/deps/tls-0123".into(),
                dir: "/w/crates/cache-redis".into(),
            })
        );
        let unit = line
            .replace(r#""kind":["test"]"#, r#""kind":["lib"]"#)
            .replace("tests/tls.rs", "src/lib.rs");
        assert_eq!(
            test_binary(&unit).map(|b| b.name),
            Some("cache-redis unittests src/lib.rs".into())
        );
        // A library built for the tests, not a test: no executable.
        let lib = line
            .replace(r#""profile":{"test":true}"#, r#""profile":{"test":false}"#)
            .replace(
                r#""executable":"/w/target/debug/deps/tls-0123""#,
                r#""executable":null"#,
            );
        assert_eq!(test_binary(&lib), None);
        assert_eq!(test_binary("not json"), None);
    }

    #[test]
    fn a_binary_runs_in_its_package_directory_with_its_output_gathered() {
        let dir = std::env::temp_dir()
            .canonicalize()
            .expect("a temporary directory");
        let pwd = TestBinary {
            name: "pwd".into(),
            exe: "pwd".into(),
            dir: dir.clone(),
        };
        let (lines, success) = run_one(&pwd, &[]).expect("pwd runs");
        assert!(success);
        assert_eq!(lines, [dir.display().to_string()]);
    }

    #[test]
    fn the_longest_start_first() {
        let b = |name: &str| TestBinary {
            name: name.into(),
            exe: name.into(),
            dir: ".".into(),
        };
        let binaries = vec![b("a"), b("cache-redis tests/tls.rs"), b("c"), b("d")];
        let order = |times: &HashMap<String, f64>| -> Vec<String> {
            longest_first(binaries.clone(), times)
                .into_iter()
                .map(|b| b.name)
                .collect()
        };
        assert_eq!(
            order(&HashMap::new()),
            ["cache-redis tests/tls.rs", "a", "c", "d"]
        );
        let times = HashMap::from([("c".to_owned(), 5.0), ("d".to_owned(), 9.0)]);
        assert_eq!(order(&times), ["cache-redis tests/tls.rs", "d", "c", "a"]);
    }

    #[test]
    fn times_round_trip_through_their_file() {
        let dir = std::env::temp_dir().join(format!("xtask-times-{}", std::process::id()));
        let path = dir.join("t.tsv");
        let times = HashMap::from([("cache-file tests/a.rs".to_owned(), 12.5)]);
        write_times(&path, &times);
        assert_eq!(read_times(&path), times);
        let _ = std::fs::remove_dir_all(dir);
    }
}
