//! `delete_pattern` on a real server deletes exactly the keys the contract's glob matches,
//! whatever glob characters and Unicode the prefix, keys and pattern hold; and the server's
//! `MATCH` agrees with the reference matcher the `redis_match` fuzz target relies on.

use std::collections::BTreeSet;

use cache_core::{Pattern, Ttl};
use cache_redis::{match_pattern, RedisCache, RedisConfig};
use proptest::prelude::*;
use redis_test_support::glob::{check_match_form, redis_matches};
use redis_test_support::{shared_server, unique_prefix};

/// Every key under `prefix` that `SCAN ... MATCH form` returns.
fn scan(form: &[u8], prefix: &str) -> BTreeSet<Vec<u8>> {
    let client = redis::Client::open(shared_server().url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let mut found = BTreeSet::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(form)
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)
            .unwrap();
        found.extend(
            keys.into_iter()
                .filter(|k| k.starts_with(prefix.as_bytes())),
        );
        if next == 0 {
            return found;
        }
        cursor = next;
    }
}

/// Short strings over an alphabet of glob characters, a backslash, Unicode and a separator.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::sample::select(vec!['a', 'b', '*', '?', '[', ']', '\\', 'é', '日', ':']),
        0..=max,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

/// A prefix, a set of keys, and a pattern: half the time random, half the time one of the
/// keys with some characters replaced by `?` or `*`, so that patterns often match.
fn cases() -> impl Strategy<Value = (String, BTreeSet<String>, String)> {
    (text(4), proptest::collection::btree_set(text(5), 1..12)).prop_flat_map(|(prefix, keys)| {
        let list: Vec<String> = keys.iter().cloned().collect();
        let derived = (
            proptest::sample::select(list),
            proptest::collection::vec(0u8..4, 1..6),
        )
            .prop_map(|(key, edits)| {
                key.chars()
                    .zip(edits.iter().cycle())
                    .map(|(c, e)| match e {
                        0 => '?',
                        1 => '*',
                        _ => c,
                    })
                    .collect::<String>()
            });
        let pattern = prop_oneof![text(6), derived];
        (Just(prefix), Just(keys), pattern)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn delete_pattern_deletes_what_the_contract_matches(
        (extra_prefix, keys, pattern) in cases(),
    ) {
        let prefix = format!("{}{extra_prefix}", unique_prefix("patterns"));
        let cache = RedisCache::new(RedisConfig::new(shared_server().url()).key_prefix(&prefix)).unwrap();
        for k in &keys {
            cache.set(k, 0u8, Ttl::Never).unwrap();
        }
        // The server's MATCH and the reference agree on the form the backend sends.
        let form = match_pattern(&prefix, &pattern);
        let by_server = scan(&form, &prefix);
        let by_reference: BTreeSet<Vec<u8>> = keys
            .iter()
            .map(|k| format!("{prefix}{k}").into_bytes())
            .filter(|full| redis_matches(&form, full))
            .collect();
        prop_assert_eq!(&by_server, &by_reference, "MATCH {:?}", String::from_utf8_lossy(&form));
        // delete_pattern removes exactly the contract's matches.
        let glob = Pattern::new(&pattern);
        let expected: BTreeSet<&String> = keys.iter().filter(|k| glob.matches(k)).collect();
        prop_assert_eq!(cache.delete_pattern(&pattern).unwrap(), expected.len() as u64);
        for k in &keys {
            prop_assert_eq!(cache.exists(k).unwrap(), !expected.contains(k), "key {:?}", k);
        }
        cache.clear().unwrap();
    }
}

/// The committed corpus of the `redis_match` fuzz target, replayed without a fuzzer.
#[test]
fn fuzz_corpus_redis_match_replays() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/redis_match");
    let n =
        cache_conformance::fuzz::replay_corpus(dir, |data| check_match_form(data, match_pattern));
    assert!(n >= 3, "only {n} corpus files");
}
