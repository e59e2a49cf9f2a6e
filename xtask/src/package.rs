//! `cargo xtask package`: what `cargo publish` would upload, checked without uploading.
//!
//! 1. `cargo package` of every publishable crate at once, in dependency order: cargo puts each
//!    packaged crate in a local registry the next ones resolve against (crates.io has none of
//!    them yet). `--no-verify`: step 2 builds every crate from its unpacked `.crate` alone,
//!    with all features and with the default ones, so cargo's own verification build would
//!    only repeat it.
//! 2. The `.crate` files are unpacked (into `target/package-doctests`), as a workspace of their own
//!    whose `[patch.crates-io]` points each crate at its unpacked sibling, with this
//!    workspace's `Cargo.lock`; there `cargo test --doc --all-features` runs every doctest
//!    (each crate's README included) from the packaged files only, and again with the default
//!    features for the crates that have optional code (cache-redis, the facade). A file a crate reads from
//!    outside its package (`include_str!("../../README.md")`) fails here. A dev-dependency
//!    on another of our crates given by path alone (packaging drops it: it would make a
//!    publish cycle, as cache-macros's doctests on the facade) is put back, on the unpacked
//!    sibling, so that those doctests run here too.

use std::path::{Path, PathBuf};

use crate::{cargo, msrv, run, Result};

pub(crate) fn main() -> Result {
    let crates = msrv::publishable()?;
    // Not published, only packaged: uncommitted changes are what CI and the author want checked.
    let mut args = vec!["package", "--allow-dirty", "--no-verify"];
    for c in &crates {
        args.extend(["-p", c.name.as_str()]);
    }
    cargo(&args)?;

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let packaged = root.join("target/package");
    // A workspace of its own (cargo stops at the first `[workspace]` above a crate), at a
    // fixed place so that its builds are reused from one run to the next.
    let unpacked = root.join("target/package-doctests");
    let _ = std::fs::remove_dir_all(&unpacked);
    std::fs::create_dir_all(&unpacked).map_err(|e| format!("{}: {e}", unpacked.display()))?;
    doctests(&crates, &root, &packaged, &unpacked)
}

fn doctests(crates: &[msrv::Crate], root: &Path, packaged: &Path, unpacked: &Path) -> Result {
    let mut members = Vec::new();
    let mut patches = Vec::new();
    for c in crates {
        let file = packaged.join(format!("{}-{}.crate", c.name, c.version));
        let (file, dir) = (path_str(&file)?, path_str(unpacked)?);
        run("tar", &["-xzf", file, "-C", dir], &[])?;
        let member = format!("{}-{}", c.name, c.version);
        restore_path_dev_deps(c, crates, &unpacked.join(&member))?;
        patches.push(format!("{} = {{ path = \"{member}\" }}", c.name));
        members.push(format!("\"{member}\""));
    }
    let manifest = format!(
        "# The packaged crates, each built from its .crate alone (cargo xtask package).\n\
         [workspace]\nresolver = \"2\"\nmembers = [{}]\n\n[patch.crates-io]\n{}\n",
        members.join(", "),
        patches.join("\n")
    );
    write(&unpacked.join("Cargo.toml"), &manifest)?;
    let lock = std::fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| format!("reading Cargo.lock: {e}"))?;
    write(&unpacked.join("Cargo.lock"), &lock)?;
    // The workspace's target directory: the crates.io dependencies the tests built already
    // are reused (only the packaged crates themselves build again).
    let target: PathBuf = root.join("target");
    let manifest = unpacked.join("Cargo.toml");
    let doctest = |features: &[&str]| -> Result {
        let mut args = vec!["test", "--doc", "--manifest-path", path_str(&manifest)?];
        args.extend(["--target-dir", path_str(&target)?]);
        cargo(&[&args[..], features].concat())
    };
    doctest(&["--workspace", "--all-features"])?;
    // The crates whose default features leave code out, as a user with the defaults tests them.
    doctest(&["-p", "cache-redis", "-p", "cache"])
}

/// Appends to the unpacked crate's manifest the dev-dependencies packaging dropped
/// ([`msrv::Crate::path_dev_deps`]), each on its unpacked sibling.
fn restore_path_dev_deps(c: &msrv::Crate, crates: &[msrv::Crate], dir: &Path) -> Result {
    if c.path_dev_deps.is_empty() {
        return Ok(());
    }
    let manifest = dir.join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("reading {}: {e}", manifest.display()))?;
    for (name, features) in &c.path_dev_deps {
        let Some(dep) = crates.iter().find(|d| &d.name == name) else {
            continue;
        };
        let features: Vec<String> = features.iter().map(|f| format!("{f:?}")).collect();
        text.push_str(&format!(
            "\n[dev-dependencies.{name}]\npath = \"../{name}-{}\"\nfeatures = [{}]\n",
            dep.version,
            features.join(", ")
        ));
    }
    write(&manifest, &text)
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", p.display()))
}

fn write(path: &Path, text: &str) -> Result {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}
