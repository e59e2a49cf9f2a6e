//! What `cargo doc` does not refuse but a reader trips on:
//! - an intra-doc link that resolved nowhere shows as `[name]` in the facade's pages
//!   (rustdoc warns about a broken link in the crate that wrote it, but not about one that
//!   resolved to an item it has no page to link to: a dependency's, where the facade
//!   inlines its backends' items);
//! - a feature name in the facade's docs (its own, and its backends' inlined into it) that
//!   the facade does not have: a user who adds it to `cache`'s features gets an error.

use std::path::{Path, PathBuf};

use crate::Result;

/// The crates whose doc comments the facade shows (its own, and its backends' items).
const FACADE_SOURCES: [&str; 5] = [
    "crates/cache",
    "crates/cache-core",
    "crates/cache-memory",
    "crates/cache-file",
    "crates/cache-redis",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file under `dir` whose name ends with `ext`.
fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.to_string_lossy().ends_with(ext) {
            out.push(path);
        }
    }
}

/// The links of the facade's documentation that resolved nowhere (`[<code>name</code>]` in
/// a page's own docs; the blanket implementations at the end of a page are other crates').
/// The facade is documented again first, after its backends' docs exist (rustdoc links to
/// another crate only when that crate's docs are there as it runs: in one `cargo doc` of the
/// workspace, which crate comes first is not fixed).
pub(crate) fn unresolved_links() -> Result {
    let lib = root().join("crates/cache/src/lib.rs");
    std::fs::File::options()
        .append(true)
        .open(&lib)
        .and_then(|f| f.set_modified(std::time::SystemTime::now()))
        .map_err(|e| format!("touching {}: {e}", lib.display()))?;
    crate::cargo(&["doc", "-p", "cache", "--all-features", "--no-deps"])?;
    let mut pages = Vec::new();
    files(&root().join("target/doc/cache"), ".html", &mut pages);
    if pages.is_empty() {
        return Err("no documentation of the facade in target/doc/cache".into());
    }
    let mut found = Vec::new();
    for page in pages {
        let text = std::fs::read_to_string(&page)
            .map_err(|e| format!("reading {}: {e}", page.display()))?;
        let own = text
            .split("id=\"blanket-implementations\"")
            .next()
            .unwrap_or("");
        for (i, _) in own.match_indices("[<code>") {
            let rest = &own[i + "[<code>".len()..];
            let name = rest.split("</code>").next().unwrap_or(rest);
            found.push(format!("{}: [{name}]", page.display()));
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        found.sort();
        found.dedup();
        Err(format!(
            "links that resolved nowhere:\n{}",
            found.join("\n")
        ))
    }
}

/// The features a `Cargo.toml` declares.
fn declared_features(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_features = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_features = line == "[features]";
        } else if in_features && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once('=') {
                names.push(name.trim().to_owned());
            }
        }
    }
    names
}

fn is_feature_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The feature names a line of documentation names: `feature = "x"`, `` `x` feature``,
/// ``feature `x` ``, `features = ["x", "y"]`, `--features x,y`.
fn named_features(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut push = |s: &str| {
        if is_feature_name(s) {
            names.push(s.to_owned());
        }
    };
    for (i, _) in line.match_indices("feature = \"") {
        let rest = &line[i + "feature = \"".len()..];
        push(rest.split('"').next().unwrap_or(""));
    }
    for (i, _) in line.match_indices("` feature") {
        let before = &line[..i];
        if let Some(start) = before.rfind('`') {
            push(&before[start + 1..]);
        }
    }
    for (i, _) in line.match_indices("feature `") {
        let rest = &line[i + "feature `".len()..];
        push(rest.split('`').next().unwrap_or(""));
    }
    for (i, _) in line.match_indices("features = [") {
        let rest = &line[i + "features = [".len()..];
        for item in rest.split(']').next().unwrap_or("").split(',') {
            push(item.trim().trim_matches('"'));
        }
    }
    for (i, _) in line.match_indices("--features ") {
        let rest = &line[i + "--features ".len()..];
        for item in rest
            .split(|c: char| c.is_whitespace() || c == '`')
            .next()
            .unwrap_or("")
            .split(',')
        {
            push(item.trim_matches('"'));
        }
    }
    names
}

/// The lines of a source file that become documentation: doc comments, and `doc(cfg(..))`
/// attributes (the "available on feature" badges).
fn doc_lines(source: &str) -> impl Iterator<Item = &str> {
    source.lines().filter(|l| {
        let t = l.trim_start();
        t.starts_with("///") || t.starts_with("//!") || t.contains("doc(cfg(")
    })
}

/// Every feature name in the documentation the facade shows is one of the facade's.
pub(crate) fn facade_feature_names() -> Result {
    let manifest = root().join("crates/cache/Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("reading {}: {e}", manifest.display()))?;
    let declared = declared_features(&manifest);
    let mut wrong = Vec::new();
    for krate in FACADE_SOURCES {
        let mut sources = Vec::new();
        files(&root().join(krate).join("src"), ".rs", &mut sources);
        for file in sources {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("reading {}: {e}", file.display()))?;
            for line in doc_lines(&text) {
                for name in named_features(line) {
                    if !declared.contains(&name) {
                        wrong.push(format!("{}: `{name}` in {}", file.display(), line.trim()));
                    }
                }
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "feature names the facade (`cache`) does not have, in docs it shows:\n{}",
            wrong.join("\n")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_name_in_the_facades_docs_is_one_of_its_own() {
        facade_feature_names().unwrap();
    }

    #[test]
    fn feature_names_are_read_in_every_form() {
        assert_eq!(
            named_features(r#"#[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]"#),
            ["cluster"]
        );
        assert_eq!(
            named_features("/// with the `tls-rustls` feature on"),
            ["tls-rustls"]
        );
        assert_eq!(named_features("/// (feature `tokio`)"), ["tokio"]);
        assert_eq!(
            named_features(r#"//! cache = { version = "0.1", features = ["redis", "tokio"] }"#),
            ["redis", "tokio"]
        );
        assert_eq!(
            named_features("/// `cargo run --features file,redis`"),
            ["file", "redis"]
        );
        assert!(named_features("/// a feature to come").is_empty());
        assert_eq!(
            declared_features("[features]\ndefault = [\"memory\"]\n# x\nredis = []\n[deps]\na = 1"),
            ["default", "redis"]
        );
    }
}
