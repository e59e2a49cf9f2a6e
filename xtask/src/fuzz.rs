//! `cargo xtask fuzz`: list, run one, or run all cargo-fuzz targets under `fuzz/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{run, Result};

const USAGE: &str = "usage: cargo xtask fuzz list | run TARGET [--seconds N] | all [--seconds N]";

pub(crate) fn main(args: &[String]) -> Result {
    let seconds = match args.iter().position(|a| a == "--seconds") {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| format!("--seconds needs a whole number\n{USAGE}"))?,
        None => 60,
    };
    match args.first().map(String::as_str) {
        Some("list") => {
            for t in targets()? {
                println!("{t}");
            }
            Ok(())
        }
        Some("run") => {
            let target = args.get(1).ok_or(USAGE)?;
            if !targets()?.contains(target) {
                return Err(format!(
                    "no fuzz target {target:?}; `cargo xtask fuzz list`"
                ));
            }
            run_target(target, seconds)
        }
        Some("all") => all(seconds),
        _ => Err(USAGE.to_owned()),
    }
}

/// Runs every target for `seconds` each.
pub(crate) fn all(seconds: u64) -> Result {
    for t in targets()? {
        run_target(&t, seconds)?;
    }
    Ok(())
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The `[[bin]]` names of `fuzz/Cargo.toml`.
fn targets() -> Result<Vec<String>> {
    let manifest = fuzz_dir().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            if let Some(name) = line.strip_prefix("name = ") {
                names.push(name.trim_matches('"').to_owned());
            }
        }
    }
    Ok(names)
}

fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ensure_cargo_fuzz() -> Result {
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    run("cargo", &["install", "cargo-fuzz", "--locked"], &[])
}

fn run_target(target: &str, seconds: u64) -> Result {
    ensure_cargo_fuzz()?;
    let dir = fuzz_dir();
    let corpus = dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
    let max_time = format!("-max_total_time={seconds}");
    let corpus = corpus.to_string_lossy().into_owned();
    let mut args = vec![];
    let nightly = has_nightly();
    if nightly {
        args.push("+nightly");
    }
    args.extend([
        "fuzz",
        "run",
        "--fuzz-dir",
        dir.to_str().ok_or("fuzz dir is not UTF-8")?,
        target,
        &corpus,
        "--",
        &max_time,
        "-max_len=4096",
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
    ]);
    let envs: &[(&str, &str)] = if nightly {
        &[]
    } else {
        &[("RUSTC_BOOTSTRAP", "1")]
    };
    run("cargo", &args, envs)
}
