//! `cargo xtask msrv`: every publishable crate states a `rust-version`, and none of the
//! dependencies it builds (normal and build dependencies, transitively, with all its features,
//! at the versions of `Cargo.lock`) asks for a newer Rust than the crate states.
//!
//! Only the installed toolchains are reachable here, so this reads `cargo metadata` and
//! `cargo tree` instead of compiling with an old compiler. Our own code is held to the same
//! version by clippy's `incompatible_msrv` lint (part of `clippy::all`, denied in CI), which
//! flags any standard library item stabilized after the crate's `rust-version`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

use crate::Result;

/// A `rust-version` as numbers: `"1.85"` and `"1.85.0"` compare equal.
type Version = Vec<u64>;

fn parse(v: &str) -> Result<Version> {
    let mut parts = v
        .split('.')
        .map(|p| p.parse::<u64>())
        .collect::<std::result::Result<Version, _>>()
        .map_err(|e| format!("bad rust-version {v:?}: {e}"))?;
    while parts.len() < 3 {
        parts.push(0);
    }
    Ok(parts)
}

fn show(v: &Version) -> String {
    let end = if v.get(2) == Some(&0) { 2 } else { v.len() };
    v[..end]
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn cargo_output(args: &[&str]) -> Result<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(&cargo)
        .args(args)
        .output()
        .map_err(|e| format!("cannot start cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("`cargo {}`: {e}", args.join(" ")))
}

/// A publishable workspace crate: its name, version and stated `rust-version`.
pub(crate) struct Crate {
    pub(crate) name: String,
    pub(crate) version: String,
    rust_version: Option<String>,
    /// Dev-dependencies on other publishable crates given by path alone (no version), which
    /// packaging drops to break a publish cycle (the facade's users, e.g. cache-macros's
    /// doctests): name and features.
    pub(crate) path_dev_deps: Vec<(String, Vec<String>)>,
}

/// The workspace's publishable crates (those without `publish = false`), in dependency order:
/// every crate comes after the workspace crates it depends on (dev-dependencies excluded).
pub(crate) fn publishable() -> Result<Vec<Crate>> {
    let metadata = metadata()?;
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("cargo metadata: no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages: Vec<&Value> = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata: no packages")?
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
        .filter(|p| p["publish"].as_array().is_none_or(|r| !r.is_empty()))
        .collect();
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    // name -> the publishable workspace crates it needs first.
    let mut needs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for p in &packages {
        let name = p["name"].as_str().unwrap_or_default();
        let deps = p["dependencies"].as_array().into_iter().flatten();
        let firsts = deps
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .filter_map(|d| d["name"].as_str())
            .filter(|d| names.contains(d))
            .collect();
        needs.insert(name, firsts);
    }
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    while done.len() < needs.len() {
        let ready: Vec<&str> = needs
            .iter()
            .filter(|(n, deps)| !done.contains(*n) && deps.is_subset(&done))
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            return Err("the publishable crates depend on each other in a cycle".to_owned());
        }
        for n in ready {
            done.insert(n);
            let p = packages.iter().find(|p| p["name"] == n).expect("listed");
            order.push(Crate {
                name: n.to_owned(),
                version: p["version"].as_str().unwrap_or_default().to_owned(),
                rust_version: p["rust_version"].as_str().map(str::to_owned),
                path_dev_deps: p["dependencies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|d| d["kind"] == "dev" && d["req"] == "*" && d["path"].is_string())
                    .filter_map(|d| {
                        let name = d["name"].as_str().filter(|d| names.contains(d))?;
                        let features = d["features"].as_array().into_iter().flatten();
                        let features = features.filter_map(Value::as_str).map(str::to_owned);
                        Some((name.to_owned(), features.collect()))
                    })
                    .collect(),
            });
        }
    }
    Ok(order)
}

fn metadata() -> Result<Value> {
    let text = cargo_output(&["metadata", "--format-version", "1", "--all-features"])?;
    serde_json::from_str(&text).map_err(|e| format!("cargo metadata: {e}"))
}

/// `name version` -> the `rust-version` it declares, for every package of the lock file.
fn declared_versions() -> Result<BTreeMap<(String, String), Version>> {
    let metadata = metadata()?;
    let mut map = BTreeMap::new();
    for p in metadata["packages"].as_array().into_iter().flatten() {
        if let (Some(n), Some(v), Some(r)) = (
            p["name"].as_str(),
            p["version"].as_str(),
            p["rust_version"].as_str(),
        ) {
            map.insert((n.to_owned(), v.to_owned()), parse(r)?);
        }
    }
    Ok(map)
}

/// The packages `krate` builds with all its features, as `(name, version)`: its normal and
/// build dependencies, transitively, as `cargo tree` resolves them for this crate alone.
fn build_closure(krate: &str) -> Result<BTreeSet<(String, String)>> {
    let text = cargo_output(&[
        "tree",
        "-p",
        krate,
        "--all-features",
        "-e",
        "normal,build",
        "--prefix",
        "none",
        "--format",
        "{p}",
    ])?;
    let mut set = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if let (Some(name), Some(version)) = (words.next(), words.next()) {
            if name != krate {
                set.insert((name.to_owned(), version.trim_start_matches('v').to_owned()));
            }
        }
    }
    Ok(set)
}

/// Checks every publishable crate's `rust-version` against its dependencies' and prints one
/// line per crate; an error names every dependency that needs a newer Rust.
pub(crate) fn main() -> Result {
    let declared = declared_versions()?;
    let mut problems = Vec::new();
    for krate in publishable()? {
        let Some(stated) = &krate.rust_version else {
            problems.push(format!("{} states no rust-version", krate.name));
            continue;
        };
        let stated = parse(stated)?;
        let mut highest: Option<(Version, String)> = None;
        for (name, version) in build_closure(&krate.name)? {
            let Some(needs) = declared.get(&(name.clone(), version.clone())) else {
                continue;
            };
            let who = format!("{name} {version}");
            if *needs > stated {
                problems.push(format!(
                    "{} states rust-version {} but {who} needs {}",
                    krate.name,
                    show(&stated),
                    show(needs)
                ));
            }
            if highest.as_ref().is_none_or(|(h, _)| needs > h) {
                highest = Some((needs.clone(), who));
            }
        }
        let (floor, by) = highest.unwrap_or((parse("1.0")?, "nothing".to_owned()));
        let note = if floor < stated {
            " (above its dependencies' floor: its own code needs it; see its Cargo.toml)"
        } else {
            ""
        };
        println!(
            "msrv: {:<18} rust-version {:<5} dependencies need {:<5} ({by}){note}",
            krate.name,
            show(&stated),
            show(&floor),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "rust-version too low:\n  {}\nRaise the crate's rust-version, or lock an older \
             dependency (`cargo update -p NAME --precise VERSION`).",
            problems.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(parse("1.85").unwrap(), parse("1.85.0").unwrap());
        assert!(parse("1.100").unwrap() > parse("1.99.9").unwrap());
        assert_eq!(show(&parse("1.89").unwrap()), "1.89");
        assert_eq!(show(&parse("1.71.1").unwrap()), "1.71.1");
        assert!(parse("1.x").is_err());
    }
}
