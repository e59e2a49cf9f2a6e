//! Project chores as Rust, so they run the same on every machine:
//!
//! - `cargo xtask test`: installs what the tests need (where it can), then runs every test of
//!   the workspace, every example and every doctest, each step whatever failed before it,
//!   and ends on one summary (passed, failed, and which). This is the README's test command.
//! - `cargo xtask ci`: (each step whatever failed before it, then one summary)
//!   `cargo fmt --check`, `msrv`, clippy with `-D warnings` (all features,
//!   and the default features of the crates that have optional code), `cargo doc` without
//!   warnings and without a link that resolved nowhere (where the facade inlines its
//!   backends' items too) or a feature name the facade lacks, every fuzz target for 10 seconds, `package`, `examples`, then the tests (the
//!   published crates' doctests ran from their packages; every criterion benchmark runs once
//!   as a test, with its small data). The timed benchmark run is not part of CI: it takes a
//!   release build and minutes of a quiet machine, and its figures belong in the report.
//! - `cargo xtask package`: `cargo package` of every publishable crate, in dependency order,
//!   then their doctests (which build each library), run from the packaged files only.
//! - `cargo xtask examples`: runs the facade's examples (quickstart, file, redis against a
//!   server started on a free loopback port, as `REDIS_URL`).
//! - `cargo xtask docs`: the facade's documentation has no link that resolved nowhere and
//!   names no feature it lacks (also part of `ci`).
//! - `cargo xtask msrv`: every publishable crate's `rust-version` against the `rust-version`
//!   of every dependency it builds (from `cargo metadata` and `cargo tree`, as locked).
//! - `cargo xtask bench [--quick] [--report-only]`: every backend against its peers; writes
//!   `target/bench/report.md` and `target/bench/chart.svg` and prints the tables.
//! - `cargo xtask fuzz list | run TARGET [--seconds N] | all [--seconds N]`: cargo-fuzz on
//!   the targets under `fuzz/` (installed when missing; nightly when there is one, else the
//!   stable toolchain with `RUSTC_BOOTSTRAP=1`).
#![forbid(unsafe_code)]

mod bench;
mod docs;
mod examples;
mod fuzz;
mod msrv;
mod package;
mod runner;
mod tally;

use std::process::{Command, ExitCode};

use tally::Tally;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("ci") => ci(),
        Some("msrv") => msrv::main(),
        Some("package") => package::main(),
        Some("examples") => examples::main(),
        Some("docs") => docs::unresolved_links().and_then(|()| docs::facade_feature_names()),
        Some("fuzz") => fuzz::main(&args[1..]),
        Some("bench") => bench::main(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <test|ci|msrv|package|examples|docs|bench|fuzz>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) type Result<T = ()> = std::result::Result<T, String>;

/// Runs a command, echoing it first; a non-zero exit is an error naming the command.
pub(crate) fn run(program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .status()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

pub(crate) fn cargo(args: &[&str]) -> Result {
    cargo_env(args, &[])
}

pub(crate) fn cargo_env(args: &[&str], envs: &[(&str, &str)]) -> Result {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run(&cargo, args, envs)
}

fn test() -> Result {
    let mut tally = Tally::default();
    run_tests(&mut tally);
    tally.finish("test")
}

/// Every test of the workspace, every example and every doctest, each run whatever failed
/// before it.
fn run_tests(tally: &mut Tally) {
    tally.step("redis-server", ensure_redis());
    tally.step("prometheus", ensure_prometheus());
    test_targets(tally);
    tally.step("examples", examples::main());
    tally.cargo(
        &[
            "test",
            "--workspace",
            "--all-features",
            "--doc",
            "--no-fail-fast",
        ],
        &[],
    );
}

/// Every test target of the workspace (doctests aside).
fn test_targets(tally: &mut Tally) {
    // `--all-targets` runs each criterion benchmark once as a test: with its small data.
    runner::run(
        tally,
        &["--workspace", "--all-features", "--all-targets"],
        &[("CACHE_BENCH_QUICK", "1")],
    );
}

/// The checks, then every test; each step runs whatever failed before it, and the run ends
/// on one summary.
fn ci() -> Result {
    let mut tally = Tally::default();
    tally.step("fmt", cargo(&["fmt", "--all", "--", "--check"]));
    tally.step("msrv", msrv::main());
    let clippy = ["clippy", "--all-targets", "--", "-D", "warnings"];
    tally.step(
        "clippy (all features)",
        cargo(
            &[
                &clippy[..2],
                &["--workspace", "--all-features"],
                &clippy[2..],
            ]
            .concat(),
        ),
    );
    // The crates whose default features leave code out (cache-redis without `cluster`, the
    // facade with `memory` only), as a user with the defaults builds them.
    tally.step(
        "clippy (default features)",
        cargo(
            &[
                &clippy[..2],
                &["-p", "cache-redis", "-p", "cache"],
                &clippy[2..],
            ]
            .concat(),
        ),
    );
    tally.step(
        "doc",
        cargo_env(
            &["doc", "--workspace", "--all-features", "--no-deps"],
            &[("RUSTDOCFLAGS", "-D warnings")],
        ),
    );
    tally.step("doc links", docs::unresolved_links());
    tally.step("doc feature names", docs::facade_feature_names());
    tally.step("fuzz", fuzz::all(10));
    // Every publishable crate packaged, built from its package, and its doctests run from
    // it: the doctests of the published crates run there rather than twice.
    tally.step("package", package::main());
    tally.step("examples", examples::main());
    tally.cargo(
        &[
            "test",
            "--doc",
            "--all-features",
            "--no-fail-fast",
            "-p",
            "cache-benches",
            "-p",
            "redis-test-support",
        ],
        &[],
    );
    tally.step("redis-server", ensure_redis());
    tally.step("prometheus", ensure_prometheus());
    test_targets(&mut tally);
    tally.finish("ci")
}

/// The Redis backend's tests start their own `redis-server` processes (and a cluster, with
/// `redis-cli`): installs them with apt when they are missing and this runs as root, else
/// fails with the command to run. The tests never skip silently.
pub(crate) fn ensure_redis() -> Result {
    ensure_installed("redis-server", &["redis-server", "redis-cli"])
}

/// The metrics example's test (`crates/cache-examples/tests/prometheus.rs`) starts a
/// Prometheus of its own: installs Debian's `prometheus` with apt when it is missing, as
/// [`ensure_redis`] does. The package's own service plays no part (the test runs its own
/// process, on a free port, with its own storage).
pub(crate) fn ensure_prometheus() -> Result {
    ensure_installed("prometheus", &["prometheus"])
}

/// Installs the Debian `package` with apt when one of `bins` is not on `PATH` and this runs
/// as root, else fails with the command to run.
fn ensure_installed(package: &str, bins: &[&str]) -> Result {
    let on_path = |bin: &str| {
        Command::new(bin)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok()
    };
    let missing = || -> Vec<&str> { bins.iter().copied().filter(|b| !on_path(b)).collect() };
    if missing().is_empty() {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        return Err(format!(
            "{} not found; the tests need them. Run as root: \
             apt-get update && apt-get install -y {package}",
            missing().join(" and ")
        ));
    }
    let apt = [("DEBIAN_FRONTEND", "noninteractive")];
    run("apt-get", &["update"], &apt)?;
    run("apt-get", &["install", "-y", package], &apt)?;
    match missing().as_slice() {
        [] => Ok(()),
        still => Err(format!(
            "{} still not found after installing {package}",
            still.join(" and ")
        )),
    }
}
