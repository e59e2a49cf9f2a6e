//! Replays the committed fuzz corpora of the targets whose bodies live in this crate.

use cache_conformance::fuzz::{codecs, glob, replay_corpus, type_confusion};

fn corpus(target: &str) -> String {
    format!("{}/../../fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn glob_corpus_replays() {
    assert!(replay_corpus(corpus("glob"), glob) >= 3);
}

#[test]
fn type_confusion_corpus_replays() {
    assert!(replay_corpus(corpus("type_confusion"), type_confusion) >= 3);
}

#[test]
fn codecs_corpus_replays() {
    assert!(replay_corpus(corpus("codecs"), codecs) >= 3);
}
