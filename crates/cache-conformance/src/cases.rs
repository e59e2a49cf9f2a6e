//! The cases of the suite: each public function checks one behaviour of the contract on the
//! backend behind a [`Harness`]. [`conformance_tests!`](crate::conformance_tests) turns each
//! into a `#[test]`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use cache_core::{Cache, CacheError, CacheExt, CacheStats, MockClock, RemovalCause, Ttl};

use crate::{Harness, Removals, Setup, Time, TypedHarness};

/// The suite's view of one backend: how to build caches and how to let time pass.
struct Env<'h, H: Harness> {
    h: &'h H,
    clock: Option<MockClock>,
}

impl<'h, H: Harness> Env<'h, H> {
    fn new(h: &'h H) -> Self {
        let clock = match h.time() {
            Time::Mock => Some(MockClock::new()),
            Time::Real => None,
        };
        Env { h, clock }
    }

    fn cache(&self) -> H::Cache {
        self.with(None, None)
    }

    fn with(&self, default_ttl: Option<Duration>, max_size: Option<usize>) -> H::Cache {
        self.h.create(Setup {
            default_ttl,
            max_size,
            clock: self.clock.clone(),
        })
    }

    /// A fresh cache of counters, with `default_ttl`.
    fn counters(&self, default_ttl: Option<Duration>) -> Box<dyn Cache<i64>> {
        self.h.counters(Setup {
            default_ttl,
            max_size: None,
            clock: self.clock.clone(),
        })
    }

    /// A TTL long enough to read an entry back before it expires, even on a busy machine.
    fn ttl(&self) -> Duration {
        match self.clock {
            Some(_) => Duration::from_secs(10),
            None => Duration::from_millis(1000),
        }
    }

    /// Lets `d` pass (exactly, on a mock clock).
    fn pass(&self, d: Duration) {
        match &self.clock {
            Some(c) => c.advance(d),
            None => std::thread::sleep(d),
        }
    }

    /// Lets time pass until an entry written now with TTL `ttl` has surely expired.
    fn pass_beyond(&self, ttl: Duration) {
        match self.clock {
            Some(_) => self.pass(ttl),
            None => self.pass(ttl + Duration::from_millis(600)),
        }
    }
}

fn v(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[track_caller]
fn ok<T>(r: Result<T, CacheError>) -> T {
    match r {
        Ok(t) => t,
        Err(e) => panic!("cache operation failed: {e:#}"),
    }
}

/// Polls `done` every millisecond, for at most a minute.
fn wait_until(done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The counters the contract pins down, in one comparable tuple.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    hits: u64,
    misses: u64,
    sets: u64,
    deletes: u64,
}

fn counts(s: &CacheStats) -> Counts {
    Counts {
        hits: s.hits,
        misses: s.misses,
        sets: s.sets,
        deletes: s.deletes,
    }
}

#[track_caller]
fn assert_counts<C: Cache<Vec<u8>> + ?Sized>(
    c: &C,
    hits: u64,
    misses: u64,
    sets: u64,
    deletes: u64,
) {
    assert_eq!(
        counts(&c.stats()),
        Counts {
            hits,
            misses,
            sets,
            deletes
        },
        "stats: {:?}",
        c.stats()
    );
}

/// `set` returns `true` and `get` returns the value stored.
pub fn set_then_get_returns_the_value<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    assert!(ok(c.set("k", v("value"), Ttl::Never)));
    assert_eq!(ok(c.get("k")), Some(v("value")));
}

/// A key never written reads as `None`.
pub fn get_of_absent_key_is_none<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    assert_eq!(ok(c.get("never-written")), None);
    assert!(!ok(c.exists("never-written")));
}

/// A second `set` replaces the value.
pub fn set_replaces_value<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    ok(c.set("k", v("one"), Ttl::Never));
    ok(c.set("k", v("two"), Ttl::Never));
    assert_eq!(ok(c.get("k")), Some(v("two")));
}

/// Overwriting a short-lived entry with `Ttl::Never` makes it permanent.
pub fn set_replaces_ttl_with_longer<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    ok(c.set("k", v("short"), Ttl::After(env.ttl())));
    ok(c.set("k", v("forever"), Ttl::Never));
    env.pass_beyond(env.ttl());
    assert_eq!(ok(c.get("k")), Some(v("forever")));
}

/// Overwriting a permanent entry with a TTL makes it expire.
pub fn set_replaces_ttl_with_shorter<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    ok(c.set("k", v("forever"), Ttl::Never));
    ok(c.set("k", v("short"), Ttl::After(env.ttl())));
    assert_eq!(ok(c.get("k")), Some(v("short")));
    env.pass_beyond(env.ttl());
    assert_eq!(ok(c.get("k")), None);
}

/// `delete` is `true` only when it removed a live entry.
pub fn delete_reports_live_entries_only<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    ok(c.set("k", v("x"), Ttl::Never));
    assert!(ok(c.delete("k")));
    assert!(!ok(c.delete("k")));
    assert_eq!(ok(c.get("k")), None);
    assert!(!ok(c.delete("absent")));
    ok(c.set("short", v("x"), Ttl::After(env.ttl())));
    env.pass_beyond(env.ttl());
    assert!(!ok(c.delete("short")), "an expired entry is not live");
    assert_eq!(c.stats().deletes, 1);
}

/// `clear` removes every entry and keeps the counters.
pub fn clear_removes_every_entry<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    for i in 0..50 {
        ok(c.set(&format!("k{i}"), v("x"), Ttl::Never));
    }
    ok(c.get("k1"));
    ok(c.clear());
    for i in 0..50 {
        assert!(!ok(c.exists(&format!("k{i}"))));
    }
    let s = c.stats();
    assert_eq!((s.hits, s.sets), (1, 50), "clear keeps the counters: {s:?}");
    if let Some(n) = s.entries {
        assert_eq!(n, 0);
    }
    ok(c.set("after", v("y"), Ttl::Never));
    assert_eq!(ok(c.get("after")), Some(v("y")));
}

/// `clear` on one cache leaves another cache of the same backend untouched.
pub fn clear_leaves_other_caches_alone<H: Harness>(h: &H) {
    let env = Env::new(h);
    let a = env.cache();
    let b = env.cache();
    ok(a.set("shared-name", v("a"), Ttl::Never));
    ok(b.set("shared-name", v("b"), Ttl::Never));
    ok(b.set("only-b", v("b"), Ttl::Never));
    ok(a.clear());
    assert_eq!(ok(a.get("shared-name")), None);
    assert_eq!(ok(b.get("shared-name")), Some(v("b")));
    assert_eq!(ok(b.get("only-b")), Some(v("b")));
    assert_eq!(ok(a.delete_pattern("*")), 0);
    assert_eq!(ok(b.get("only-b")), Some(v("b")));
}

/// `exists` reports live entries and counts neither a hit nor a miss.
pub fn exists_is_a_peek<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    ok(c.set("k", v("x"), Ttl::Never));
    assert!(ok(c.exists("k")));
    assert!(!ok(c.exists("absent")));
    ok(c.set("short", v("x"), Ttl::After(env.ttl())));
    assert!(ok(c.exists("short")));
    env.pass_beyond(env.ttl());
    assert!(!ok(c.exists("short")));
    assert_counts(&c, 0, 0, 2, 0);
}

/// `Ttl::Default` takes the cache's default TTL.
pub fn ttl_default_uses_the_cache_default<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.with(Some(env.ttl()), None);
    ok(c.set("k", v("x"), Ttl::Default));
    assert_eq!(ok(c.get("k")), Some(v("x")));
    env.pass_beyond(env.ttl());
    assert_eq!(ok(c.get("k")), None);
    // Without a default, Ttl::Default never expires.
    let forever = env.cache();
    ok(forever.set("k", v("x"), Ttl::Default));
    env.pass_beyond(env.ttl());
    assert_eq!(ok(forever.get("k")), Some(v("x")));
}

/// `Ttl::Never` outlives a cache default.
pub fn ttl_never_outlives_the_default<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.with(Some(env.ttl()), None);
    ok(c.set("k", v("x"), Ttl::Never));
    env.pass_beyond(env.ttl());
    assert_eq!(ok(c.get("k")), Some(v("x")));
}

/// `Ttl::After(d)` overrides the default, and the entry is gone after `d`.
pub fn ttl_after_expires<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.with(Some(env.ttl() * 100), None);
    ok(c.set("k", v("x"), Ttl::After(env.ttl())));
    assert_eq!(ok(c.get("k")), Some(v("x")));
    env.pass_beyond(env.ttl());
    assert_eq!(ok(c.get("k")), None);
    assert!(!ok(c.exists("k")));
}

/// A zero TTL stores nothing and removes the older value.
pub fn zero_ttl_removes_the_old_value<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    ok(c.set("k", v("old"), Ttl::Never));
    assert!(ok(c.set("k", v("new"), Ttl::After(Duration::ZERO))));
    assert_eq!(ok(c.get("k")), None);
    assert!(!ok(c.exists("k")));
    assert!(ok(c.set("fresh", v("x"), Ttl::After(Duration::ZERO))));
    assert_eq!(ok(c.get("fresh")), None);
    assert_eq!(c.stats().sets, 3);
}

/// An entry is live while `now < written_at + ttl`; at the boundary it has expired. On a
/// mock clock this is checked to the nanosecond; with real time, at half the TTL and after it.
pub fn expiry_boundary_is_exclusive<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    let ttl = env.ttl();
    ok(c.set("k", v("x"), Ttl::After(ttl)));
    match &env.clock {
        Some(clock) => {
            clock.advance(ttl - Duration::from_nanos(1));
            assert!(ok(c.exists("k")), "live one nanosecond before the boundary");
            assert_eq!(ok(c.get("k")), Some(v("x")));
            clock.advance(Duration::from_nanos(1));
            assert!(!ok(c.exists("k")), "expired at the boundary");
            assert_eq!(ok(c.get("k")), None);
            // Millisecond TTLs are honoured exactly too.
            ok(c.set("ms", v("x"), Ttl::After(Duration::from_millis(1))));
            clock.advance(Duration::from_micros(999));
            assert!(ok(c.exists("ms")));
            clock.advance(Duration::from_micros(1));
            assert!(!ok(c.exists("ms")));
        }
        None => {
            env.pass(ttl / 4);
            assert!(ok(c.exists("k")), "live well before the boundary");
            env.pass_beyond(ttl);
            assert!(!ok(c.exists("k")), "expired after the boundary");
        }
    }
}

/// An expired entry reads as a miss and is counted once in `expirations`.
pub fn expired_entry_counts_one_expiration<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    ok(c.set("k", v("x"), Ttl::After(env.ttl())));
    env.pass_beyond(env.ttl());
    assert_eq!(ok(c.get("k")), None);
    assert_eq!(ok(c.get("k")), None);
    let s = c.stats();
    assert_eq!((s.hits, s.misses), (0, 2));
    if h.counts_expirations() {
        assert_eq!(s.expirations, 1, "counted once, not per read: {s:?}");
    } else {
        assert_eq!(s.expirations, 0, "{s:?}");
    }
    if let Some(n) = s.entries {
        assert_eq!(n, 0);
    }
}

/// A `set` over an expired entry, overwriting it or removing it with a zero TTL, counts no
/// expiration: a set does not read the entry it replaces.
pub fn set_over_expired_entry_counts_no_expiration<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    ok(c.set("a", v("x"), Ttl::After(env.ttl())));
    ok(c.set("b", v("x"), Ttl::After(env.ttl())));
    env.pass_beyond(env.ttl());
    ok(c.set("a", v("new"), Ttl::Never));
    ok(c.set("b", v("new"), Ttl::After(Duration::ZERO)));
    let s = c.stats();
    assert_eq!((s.sets, s.expirations), (4, 0), "{s:?}");
    assert_eq!(ok(c.get("a")), Some(v("new")));
    assert_eq!(ok(c.get("b")), None);
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.expirations), (1, 1, 0), "{s:?}");
}

/// Each operation moves exactly the counters the contract names.
pub fn stats_follow_each_operation<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    assert_counts(&c, 0, 0, 0, 0);
    ok(c.set("a", v("1"), Ttl::Never));
    assert_counts(&c, 0, 0, 1, 0);
    ok(c.get("a"));
    assert_counts(&c, 1, 0, 1, 0);
    ok(c.get("b"));
    assert_counts(&c, 1, 1, 1, 0);
    ok(c.exists("a"));
    ok(c.exists("b"));
    assert_counts(&c, 1, 1, 1, 0);
    ok(c.set("a", v("2"), Ttl::Never));
    assert_counts(&c, 1, 1, 2, 0);
    ok(c.delete("b"));
    assert_counts(&c, 1, 1, 2, 0);
    ok(c.delete("a"));
    assert_counts(&c, 1, 1, 2, 1);
    ok(c.set("p1", v("x"), Ttl::Never));
    ok(c.set("p2", v("x"), Ttl::Never));
    assert_eq!(ok(c.delete_pattern("p*")), 2);
    assert_counts(&c, 1, 1, 4, 3);
    ok(c.clear());
    assert_counts(&c, 1, 1, 4, 3);
    let s = c.stats();
    assert_eq!(s.evictions, 0);
    if let Some(n) = s.entries {
        assert_eq!(n, 0);
    }
    ok(c.set("e", v("x"), Ttl::Never));
    if let Some(n) = c.stats().entries {
        assert_eq!(n, 1);
    }
    assert_eq!(c.get_stats(), c.stats());
}

/// `hit_rate()` is hits / (hits + misses), and 0 before any get.
pub fn hit_rate_is_hits_over_gets<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    assert_eq!(c.stats().hit_rate(), 0.0);
    ok(c.set("k", v("x"), Ttl::Never));
    for _ in 0..3 {
        ok(c.get("k"));
    }
    ok(c.get("absent"));
    assert_eq!(c.stats().hit_rate(), 0.75);
}

fn fill<C: Cache<Vec<u8>>>(c: &C, keys: &[&str]) {
    for k in keys {
        ok(c.set(k, v(k), Ttl::Never));
    }
}

/// What is left of `keys` after a `delete_pattern`.
fn survivors<C: Cache<Vec<u8>>>(c: &C, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .filter(|k| ok(c.exists(k)))
        .map(|k| k.to_string())
        .collect()
}

/// `*` matches any run of characters, including none.
pub fn delete_pattern_star<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    let keys = [
        "user:1",
        "user:",
        "user:1:name",
        "users",
        "xuser:1",
        "",
        "*",
    ];
    fill(&c, &keys);
    assert_eq!(ok(c.delete_pattern("user:*")), 3);
    assert_eq!(survivors(&c, &keys), ["users", "xuser:1", "", "*"]);
    assert_eq!(ok(c.delete_pattern("*1")), 1);
    assert_eq!(ok(c.delete_pattern("nothing*matches")), 0);
    assert_eq!(ok(c.delete_pattern("*")), 3);
    assert!(survivors(&c, &keys).is_empty());
    assert_eq!(c.stats().deletes, 7);
}

/// `?` matches exactly one character, a multi-byte one included.
pub fn delete_pattern_question_mark_is_one_character<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    let keys = ["cafe", "café", "caf", "cafés", "日本", "日本語", "日x語"];
    fill(&c, &keys);
    assert_eq!(ok(c.delete_pattern("caf?")), 2);
    assert_eq!(
        survivors(&c, &keys),
        ["caf", "cafés", "日本", "日本語", "日x語"]
    );
    assert_eq!(ok(c.delete_pattern("日?語")), 2);
    assert_eq!(survivors(&c, &keys), ["caf", "cafés", "日本"]);
    assert_eq!(ok(c.delete_pattern("??")), 1);
    assert_eq!(survivors(&c, &keys), ["caf", "cafés"]);
}

/// `[`, `]` and `\` stand for themselves; they are not classes or escapes.
pub fn delete_pattern_brackets_and_backslash_are_literal<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    let keys = ["a", "b", "[ab]", "[a]", "a\\", "\\*", "x*", "x?", "xy"];
    fill(&c, &keys);
    assert_eq!(ok(c.delete_pattern("[ab]")), 1);
    assert_eq!(
        survivors(&c, &keys),
        ["a", "b", "[a]", "a\\", "\\*", "x*", "x?", "xy"]
    );
    assert_eq!(ok(c.delete_pattern("[?]")), 1);
    assert_eq!(ok(c.delete_pattern("a\\")), 1);
    // `\*` is a backslash then any run: it does not escape the star.
    assert_eq!(ok(c.delete_pattern("\\*")), 1);
    assert_eq!(survivors(&c, &keys), ["a", "b", "x*", "x?", "xy"]);
    assert_eq!(ok(c.delete_pattern("x?")), 3);
    assert_eq!(survivors(&c, &keys), ["a", "b"]);
}

/// Matching is case-sensitive and covers the whole key.
pub fn delete_pattern_is_case_sensitive_and_whole_key<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    let keys = ["Key", "key", "KEY", "a-key-b", "key2"];
    fill(&c, &keys);
    assert_eq!(ok(c.delete_pattern("key")), 1);
    assert_eq!(survivors(&c, &keys), ["Key", "KEY", "a-key-b", "key2"]);
    assert_eq!(ok(c.delete_pattern("K*")), 2);
    assert_eq!(survivors(&c, &keys), ["a-key-b", "key2"]);
}

/// `delete_pattern` counts only live entries, and leaves no expired match behind.
pub fn delete_pattern_skips_expired_entries<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    ok(c.set("p:live", v("x"), Ttl::Never));
    ok(c.set("p:short", v("x"), Ttl::After(env.ttl())));
    ok(c.set("q:other", v("x"), Ttl::Never));
    env.pass_beyond(env.ttl());
    assert_eq!(ok(c.delete_pattern("p:*")), 1);
    assert!(!ok(c.exists("p:live")));
    assert!(!ok(c.exists("p:short")));
    assert!(ok(c.exists("q:other")));
    assert_eq!(c.stats().deletes, 1);
}

/// The key kinds of the contract: empty, Unicode, 64 KiB, path-like, NUL, newlines and glob
/// characters. Each keeps its own entry.
pub fn keys_of_every_kind_are_distinct<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    let long = "k".repeat(64 * 1024);
    let long_other = format!("{}x", "k".repeat(64 * 1024 - 1));
    let keys: Vec<&str> = vec![
        "",
        " ",
        "é",
        "e\u{301}",
        "日本語",
        "🦀",
        "/",
        "a/b",
        "../etc/passwd",
        "..",
        ".",
        "a\0b",
        "a",
        "\n",
        "a\nb",
        "a\r\nb",
        "*",
        "?",
        "[",
        "]",
        "\\",
        "[a-z]*",
        "{a,b}",
        "key with spaces",
        "\t",
        &long,
        &long_other,
    ];
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), keys.len());
    let tag = |k: &str| {
        keys.iter()
            .position(|x| *x == k)
            .unwrap()
            .to_le_bytes()
            .to_vec()
    };
    for k in &keys {
        ok(c.set(k, tag(k), Ttl::Never));
    }
    for k in &keys {
        assert_eq!(
            ok(c.get(k)),
            Some(tag(k)),
            "key {:?}",
            &k[..k.len().min(20)]
        );
    }
    assert!(ok(c.delete("a\0b")));
    assert_eq!(ok(c.get("a")), Some(tag("a")));
    assert_eq!(
        ok(c.delete_pattern("a?b")),
        2,
        "a/b and a\\nb match, a\\r\\nb does not"
    );
    assert_eq!(ok(c.get("a\r\nb")), Some(tag("a\r\nb")));
    assert_eq!(ok(c.delete_pattern(&long)), 1);
    assert_eq!(ok(c.get(&long_other)), Some(tag(&long_other)));
    assert_eq!(ok(c.get(&long)), None);
}

/// An empty value and a 16 MiB value come back exactly.
pub fn empty_and_16_mib_values_round_trip<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    ok(c.set("empty", Vec::new(), Ttl::Never));
    assert_eq!(ok(c.get("empty")), Some(Vec::new()));
    assert!(ok(c.exists("empty")));
    let big: Vec<u8> = (0..16 * 1024 * 1024 + 3)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    ok(c.set("big", big.clone(), Ttl::Never));
    assert!(ok(c.get("big")) == Some(big), "16 MiB value differs");
}

/// `get_many`, `set_many` and `delete_many` behave as their single-key counterparts.
pub fn batch_operations<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    ok(c.set_many(
        vec![("a", v("1")), ("b", v("2")), ("c", v("3")), ("a", v("4"))],
        Ttl::Never,
    ));
    assert_eq!(
        ok(c.get_many(&["a", "x", "c", "b"])),
        vec![Some(v("4")), None, Some(v("3")), Some(v("2"))]
    );
    assert_counts(&c, 3, 1, 4, 0);
    assert_eq!(ok(c.delete_many(&["a", "x", "b"])), 2);
    assert_counts(&c, 3, 1, 4, 2);
    assert_eq!(
        ok(c.get_many(&["a", "b", "c"])),
        vec![None, None, Some(v("3"))]
    );
    assert_eq!(ok(c.get_many(&[])), Vec::<Option<Vec<u8>>>::new());
    ok(c.set_many(vec![("t1", v("x")), ("t2", v("y"))], Ttl::After(env.ttl())));
    assert_eq!(
        ok(c.get_many(&["t1", "t2"])),
        vec![Some(v("x")), Some(v("y"))]
    );
    env.pass_beyond(env.ttl());
    assert_eq!(ok(c.get_many(&["t1", "t2"])), vec![None, None]);
}

/// `get_or_insert_with` computes and stores a missing value, and returns a stored one as is.
/// The loader is a `FnOnce` (what it captures moves into the value), also through `dyn Cache`.
pub fn get_or_insert_with_computes_on_miss<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    let mut calls = 0;
    let owned = v("computed");
    let first = ok(c.get_or_insert_with("k", Ttl::Never, || {
        calls += 1;
        owned // moved, not cloned
    }));
    assert_eq!(first, v("computed"));
    let dyn_cache: &dyn Cache<Vec<u8>> = &c;
    let second = ok(dyn_cache.get_or_insert_with("k", Ttl::Never, || {
        calls += 1;
        v("again")
    }));
    assert_eq!(second, v("computed"));
    assert_eq!(calls, 1);
    assert_eq!(ok(c.get("k")), Some(v("computed")));
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.sets), (2, 1, 1), "{s:?}");
}

/// A failing loader yields `CacheError::Loader` and stores nothing.
pub fn try_get_or_insert_with_stores_nothing_on_error<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    let err = c
        .try_get_or_insert_with("k", Ttl::Never, || Err::<Vec<u8>, _>("database down"))
        .expect_err("the loader failed");
    assert!(matches!(err, CacheError::Loader { .. }), "{err:?}");
    // The loader's error is the cause: in the chain, once.
    assert!(format!("{err:#}").contains("database down"), "{err:#}");
    assert!(!ok(c.exists("k")));
    let got = ok(c.try_get_or_insert_with("k", Ttl::Never, || Ok::<_, CacheError>(v("ok"))));
    assert_eq!(got, v("ok"));
    assert_eq!(ok(c.get("k")), Some(v("ok")));
}

/// What eight threads that missed one key together got: the loader's runs, each caller's
/// value, the counters after the calls, and the value stored.
struct Contended {
    runs: usize,
    results: Vec<Vec<u8>>,
    stats: CacheStats,
    stored: Vec<u8>,
}

const CONTENDING: usize = 8;

/// [`CONTENDING`] threads call `get_or_insert_with` on one absent key at once; the loader
/// waits until every caller has started and had 50 ms to reach the flight.
fn contend<H: Harness>(h: &H) -> Contended {
    let c = Env::new(h).cache();
    let threads = CONTENDING;
    let calls = AtomicUsize::new(0);
    let entered = AtomicUsize::new(0);
    let barrier = Barrier::new(threads);
    let results: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    entered.fetch_add(1, Ordering::SeqCst);
                    ok(c.get_or_insert_with("hot", Ttl::Never, || {
                        let n = calls.fetch_add(1, Ordering::SeqCst);
                        wait_until(|| entered.load(Ordering::SeqCst) == threads);
                        std::thread::sleep(Duration::from_millis(50));
                        format!("loaded-{n}").into_bytes()
                    }))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    let stats = c.stats();
    let stored = ok(c.get("hot")).expect("a value is stored");
    Contended {
        runs: calls.load(Ordering::SeqCst),
        results,
        stats,
        stored,
    }
}

/// Many threads missing the same key at once: every caller gets a value some loader
/// produced, one of them stays, and each caller counts one look (a hit or a miss) and
/// nothing more, however it got its value.
pub fn get_or_insert_with_under_contention<H: Harness>(h: &H) {
    let Contended {
        runs,
        results,
        stats,
        stored,
    } = contend(h);
    assert!(runs >= 1);
    for r in &results {
        let s = String::from_utf8(r.clone()).expect("utf8");
        let idx: usize = s["loaded-".len()..].parse().expect("a loader's value");
        assert!(idx < runs);
    }
    // A waiter that re-reads the leader's value counts no hit (8 callers: hits + misses = 8,
    // not 15).
    assert_eq!(
        stats.hits + stats.misses,
        CONTENDING as u64,
        "one look counted per caller: {stats:?}"
    );
    assert_eq!(stats.sets, runs as u64, "one set per load: {stats:?}");
    assert!(results.contains(&stored));
}

/// On a single-flight backend ([`Harness::single_flight`]), the threads that miss one key
/// together run its loader once and all get its value, which is the one stored.
pub fn single_flight_runs_the_loader_once<H: Harness>(h: &H) {
    crate::require(
        h.single_flight(),
        "single_flight()",
        "single_flight_runs_the_loader_once",
    );
    let Contended {
        runs,
        results,
        stored,
        ..
    } = contend(h);
    assert_eq!(runs, 1, "the loader ran {runs} times");
    assert!(results.iter().all(|r| r == &stored), "{results:?}");
}

/// What eight callers of a failing loader got, and how often it ran.
struct Failed {
    runs: usize,
    sources: Vec<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

/// [`CONTENDING`] callers miss one key whose loader fails after a while; then one more call
/// loads anew (checked here for every backend).
fn fail_together<H: Harness>(h: &H) -> Failed {
    let c = Env::new(h).cache();
    let threads = CONTENDING;
    let calls = AtomicUsize::new(0);
    let entered = AtomicUsize::new(0);
    let barrier = Barrier::new(threads);
    let results: Vec<Result<Vec<u8>, CacheError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    entered.fetch_add(1, Ordering::SeqCst);
                    c.try_get_or_insert_with("hot", Ttl::Never, || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        // Every caller has started its call (even on a busy machine) and
                        // has had 200 ms to reach the flight before the loader fails.
                        wait_until(|| entered.load(Ordering::SeqCst) == threads);
                        std::thread::sleep(Duration::from_millis(200));
                        Err::<Vec<u8>, _>("database down")
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    let sources: Vec<_> = results
        .into_iter()
        .map(|r| match r {
            Err(CacheError::Loader { key, source }) => {
                assert_eq!(key, "hot");
                source
            }
            other => panic!("expected the loader's error, got {other:?}"),
        })
        .collect();
    assert!(
        sources.iter().all(|e| e.to_string() == "database down"),
        "{sources:?}"
    );
    assert!(!ok(c.exists("hot")), "a failed load stores nothing");
    let runs = calls.load(Ordering::SeqCst);
    let got = ok(c.try_get_or_insert_with("hot", Ttl::Never, || {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<_, CacheError>(v("recovered"))
    }));
    assert_eq!(got, v("recovered"));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        runs + 1,
        "a new flight loads anew"
    );
    assert_eq!(ok(c.get("hot")), Some(v("recovered")));
    Failed { runs, sources }
}

/// Eight callers miss one key whose loader fails after a while: every caller gets a loader
/// error and nothing is stored; the next call after that runs the loader anew.
pub fn failing_loader_error_reaches_every_caller<H: Harness>(h: &H) {
    let Failed { runs, sources } = fail_together(h);
    assert!(runs >= 1);
    assert_eq!(sources.len(), CONTENDING);
}

/// On a single-flight backend, the loader of eight callers that fails runs once and all
/// eight get its error, the same one (one shared source).
pub fn single_flight_shares_a_failing_loaders_error<H: Harness>(h: &H) {
    crate::require(
        h.single_flight(),
        "single_flight()",
        "single_flight_shares_a_failing_loaders_error",
    );
    let Failed { runs, sources } = fail_together(h);
    assert_eq!(runs, 1, "the loader ran once");
    assert!(
        sources
            .iter()
            .all(|e| std::sync::Arc::ptr_eq(e, &sources[0])),
        "the waiters share the loader's error"
    );
}

/// A bounded cache ([`Harness::bounded`]) evicts the least recently used entry; `get` and
/// `set` refresh recency, `exists` does not.
pub fn lru_evicts_least_recently_used<H: Harness>(h: &H) {
    crate::require(h.bounded(), "bounded()", "lru_evicts_least_recently_used");
    let env = Env::new(h);
    let c = env.with(None, Some(3));
    fill(&c, &["a", "b", "c"]);
    ok(c.get("a")); // order, oldest first: b c a
    ok(c.exists("b")); // no refresh
    ok(c.set("d", v("d"), Ttl::Never)); // evicts b
    assert_eq!(survivors(&c, &["a", "b", "c", "d"]), ["a", "c", "d"]);
    ok(c.set("c", v("c2"), Ttl::Never)); // order: a d c
    ok(c.set("e", v("e"), Ttl::Never)); // evicts a
    assert_eq!(survivors(&c, &["a", "c", "d", "e"]), ["c", "d", "e"]);
    let s = c.stats();
    assert_eq!(s.evictions, 2);
    assert_eq!(s.entries, Some(3));
}

/// A full bounded cache drops expired entries before it evicts a live one.
pub fn lru_drops_expired_entries_first<H: Harness>(h: &H) {
    crate::require(h.bounded(), "bounded()", "lru_drops_expired_entries_first");
    let env = Env::new(h);
    let c = env.with(None, Some(3));
    ok(c.set("old-live", v("x"), Ttl::Never));
    ok(c.set("short", v("x"), Ttl::After(env.ttl())));
    ok(c.set("newer", v("x"), Ttl::Never));
    env.pass_beyond(env.ttl());
    ok(c.set("new", v("x"), Ttl::Never));
    assert_eq!(
        survivors(&c, &["old-live", "newer", "new"]),
        ["old-live", "newer", "new"]
    );
    let s = c.stats();
    assert_eq!(s.evictions, 0, "{s:?}");
    assert_eq!(s.expirations, 1, "{s:?}");
}

/// A cache made without a bound (on every backend) keeps 2,000 live entries and evicts
/// none; an entry past its TTL is gone and the live one beside it stays.
pub fn unbounded_cache_keeps_every_live_entry<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    for i in 0..2_000 {
        ok(c.set(&format!("k{i}"), v("x"), Ttl::Never));
    }
    assert!((0..2_000).all(|i| ok(c.exists(&format!("k{i}")))));
    ok(c.set("short", v("x"), Ttl::After(env.ttl())));
    env.pass_beyond(env.ttl());
    assert_eq!(survivors(&c, &["short", "k0"]), ["k0"]);
    assert_eq!(c.stats().evictions, 0);
}

/// Several threads at once: each thread's own keys read back exactly, shared keys hold a
/// value one of the writers wrote, and the counters add up to the operations made.
pub fn concurrent_use_keeps_values_and_counts_exact<H: Harness>(h: &H) {
    let c = Env::new(h).cache();
    let threads = 4;
    let rounds = 200;
    std::thread::scope(|s| {
        for t in 0..threads {
            let c = &c;
            s.spawn(move || {
                for r in 0..rounds {
                    let own = format!("t{t}:{r}");
                    ok(c.set(&own, v(&own), Ttl::Never));
                    assert_eq!(ok(c.get(&own)), Some(v(&own)));
                    let shared = format!("shared:{}", r % 10);
                    ok(c.set(&shared, format!("{t}:{r}").into_bytes(), Ttl::Never));
                    if let Some(got) = ok(c.get(&shared)) {
                        let s = String::from_utf8(got).expect("a complete value");
                        let (wt, wr) = s.split_once(':').expect("a written value");
                        assert!(wt.parse::<usize>().unwrap() < threads);
                        assert_eq!(wr.parse::<usize>().unwrap() % 10, r % 10);
                    }
                }
            });
        }
    });
    let total = (threads * rounds) as u64;
    let s = c.stats();
    assert_eq!(s.sets, 2 * total);
    assert_eq!(s.hits + s.misses, 2 * total);
    assert!(s.hits >= total, "own keys always hit: {s:?}");
    for t in 0..threads {
        for r in 0..rounds {
            assert!(ok(c.exists(&format!("t{t}:{r}"))));
        }
    }
}

/// A removal listener ([`Harness::create_listening`]) hears every removal once, with its
/// cause, and its counts by cause equal the statistics (`evictions`, `expirations`,
/// `deletes`). Every value written is heard exactly once by the end (the run ends with
/// `clear`).
pub fn removal_listener_hears_each_removal_once<H: Harness>(h: &H) {
    let env = Env::new(h);
    let removals = Removals::default();
    let setup = Setup {
        default_ttl: None,
        max_size: h.bounded().then_some(3),
        clock: env.clock.clone(),
    };
    let listening = h.create_listening(setup, removals.clone());
    crate::require(
        listening.is_some(),
        "a removal listener (create_listening)",
        "removal_listener_hears_each_removal_once",
    );
    let Some(c) = listening else { return };
    let mut written = Vec::new();
    let mut set = |key: &str, ttl: Ttl| {
        let value = format!("{key}#{}", written.len()).into_bytes();
        written.push(value.clone());
        ok(c.set(key, value, ttl));
    };
    set("a", Ttl::Never);
    set("b", Ttl::Never);
    set("c", Ttl::After(env.ttl()));
    set("a", Ttl::Never); // replaces a#0
    assert!(ok(c.delete("b")));
    env.pass_beyond(env.ttl());
    assert_eq!(ok(c.get("c")), None); // expired
    for k in ["d", "e", "f", "g"] {
        set(k, Ttl::Never); // a bounded cache evicts
    }
    let matched = ok(c.delete_pattern("*"));
    set("h", Ttl::Never);
    set("i", Ttl::After(env.ttl()));
    set("i", Ttl::After(Duration::ZERO)); // ends i#10 (a zero TTL stores nothing)
    ok(c.clear());
    let s = c.stats();
    assert_eq!(s.deletes, 1 + matched, "{s:?}");
    assert_eq!(removals.count(RemovalCause::Evicted), s.evictions, "{s:?}");
    assert_eq!(
        removals.count(RemovalCause::Expired),
        s.expirations,
        "{s:?}"
    );
    assert_eq!(removals.count(RemovalCause::Deleted), s.deletes, "{s:?}");
    assert_eq!(removals.count(RemovalCause::Replaced), 2);
    assert_eq!(removals.count(RemovalCause::Cleared), 1);
    if h.bounded() {
        assert_eq!(s.evictions, 2, "{s:?}"); // a#3 and d#4
    }
    let all = removals.all();
    for (key, value, cause) in &all {
        let text = String::from_utf8(value.clone()).expect("a written value");
        assert!(
            text.starts_with(&format!("{key}#")),
            "{key} heard with {text}"
        );
        if *cause == RemovalCause::Expired {
            assert_eq!(text, "c#2");
        }
    }
    let mut heard: Vec<Vec<u8>> = all.into_iter().map(|r| r.1).collect();
    heard.sort();
    // Every value but the zero-TTL one, which was never stored, exactly once.
    written.retain(|v| v != b"i#10");
    written.sort();
    assert_eq!(heard, written);
}

/// Random sequences of operations give the same answers and counters as a reference model.
pub fn model_agrees_on_random_operations<H: Harness>(h: &H) {
    crate::model::check(h);
}

/// An entry written as one type and read as another is a miss, never a wrong value.
pub fn value_read_as_another_type_is_a_miss<H: TypedHarness>(h: &H) {
    let c = Env::new(h).cache();
    let as_u64 = h.as_u64(&c);
    let as_string = h.as_string(&c);
    // Vec<u8> and String share postcard's encoding: only a type check tells them apart.
    ok(c.set("bytes", v("hello"), Ttl::Never));
    assert_eq!(ok(as_string.get("bytes")), None);
    assert_eq!(ok(as_u64.get("bytes")), None);
    ok(as_u64.set("number", 5, Ttl::Never));
    assert_eq!(ok(as_string.get("number")), None);
    assert_eq!(ok(c.get("number")), None);
    assert_eq!(ok(as_u64.get("number")), Some(5));
    ok(as_string.set("text", "hi".to_string(), Ttl::Never));
    assert_eq!(ok(c.get("text")), None);
    assert_eq!(ok(as_string.get("text")).as_deref(), Some("hi"));
    assert!(c.stats().misses >= 2);
}

/// Values of other serde types than bytes round-trip through the same storage.
pub fn serde_values_round_trip<H: TypedHarness>(h: &H) {
    let c = Env::new(h).cache();
    let as_u64 = h.as_u64(&c);
    let as_string = h.as_string(&c);
    for n in [0, 1, 127, 128, u64::MAX] {
        ok(as_u64.set("n", n, Ttl::Never));
        assert_eq!(ok(as_u64.get("n")), Some(n));
    }
    for s in ["", "plain", "日本語 🦀", "a\0b"] {
        ok(as_string.set("s", s.to_string(), Ttl::Never));
        assert_eq!(ok(as_string.get("s")).as_deref(), Some(s));
    }
}

/// `add` stores only when no live entry exists (an expired one counts as absent), and counts
/// a set only when it stores.
pub fn add_stores_only_when_no_live_entry<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    assert!(ok(c.add("k", v("first"), Ttl::Never)));
    assert!(!ok(c.add("k", v("second"), Ttl::Never)));
    assert_eq!(ok(c.get("k")), Some(v("first")));
    assert_counts(&c, 1, 0, 1, 0);
    ok(c.set("short", v("old"), Ttl::After(env.ttl())));
    assert!(!ok(c.add("short", v("new"), Ttl::Never)));
    env.pass_beyond(env.ttl());
    assert!(
        ok(c.add("short", v("new"), Ttl::Never)),
        "an expired entry is absent"
    );
    assert_eq!(ok(c.get("short")), Some(v("new")));
    // A zero TTL stores nothing, like `set`, and still reports that nothing live was there.
    assert!(ok(c.add("zero", v("x"), Ttl::After(Duration::ZERO))));
    assert!(!ok(c.exists("zero")));
    assert!(!ok(c.add("k", v("x"), Ttl::After(Duration::ZERO))));
    assert_eq!(ok(c.get("k")), Some(v("first")));
    assert_counts(&c, 3, 0, 4, 0);
}

/// Sixteen threads `add` one key at once: exactly one wins, and its value is stored.
pub fn add_races_have_exactly_one_winner<H: Harness>(h: &H) {
    let env = Env::new(h);
    for round in 0..3 {
        let c = env.cache();
        let key = format!("race{round}");
        if round == 2 {
            // An expired entry in the way: still exactly one winner.
            ok(c.set(&key, v("stale"), Ttl::After(env.ttl())));
            env.pass_beyond(env.ttl());
        }
        let threads = 16;
        let barrier = Barrier::new(threads);
        let won: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (c, barrier, key) = (&c, &barrier, &key);
                    s.spawn(move || {
                        barrier.wait();
                        ok(c.add(key, format!("thread-{t}").into_bytes(), Ttl::Never))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect()
        });
        let winners: Vec<usize> = (0..threads).filter(|&t| won[t]).collect();
        assert_eq!(winners.len(), 1, "winners: {winners:?}");
        let stored = ok(c.get(&key));
        assert_eq!(stored, Some(format!("thread-{}", winners[0]).into_bytes()));
        assert_eq!(c.stats().sets, 1 + u64::from(round == 2));
    }
}

/// `incr` on an absent key starts from 0; `decr` subtracts; `get` reads the count back as an
/// `i64`, and a value written by `set` is a counter too. Each write counts one set.
pub fn incr_starts_at_zero_and_reads_back_as_i64<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.counters(None);
    assert_eq!(ok(c.incr("n", 1)), 1);
    assert_eq!(ok(c.incr("n", 41)), 42);
    assert_eq!(ok(c.get("n")), Some(42));
    assert_eq!(ok(c.decr("n", 50)), -8);
    assert_eq!(ok(c.incr("n", 0)), -8);
    assert_eq!(ok(c.get("n")), Some(-8));
    assert_eq!(ok(c.decr("fresh", 3)), -3);
    ok(c.set("set", 5, Ttl::Never));
    assert_eq!(ok(c.incr("set", 1)), 6);
    assert_eq!(ok(c.get("set")), Some(6));
    assert!(ok(c.add("added", 10, Ttl::Never)));
    assert_eq!(ok(c.incr("added", -10)), 0);
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.sets), (3, 0, 9), "{s:?}");
    assert_eq!(ok(c.ttl("n")), Some(None), "no default TTL: never expires");
}

/// A new counter takes the cache's default TTL; `incr` keeps an existing counter's TTL.
pub fn incr_keeps_the_ttl_and_new_counters_take_the_default<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.counters(Some(env.ttl()));
    ok(c.set("forever", 1, Ttl::Never));
    assert_eq!(ok(c.incr("forever", 1)), 2);
    assert_eq!(ok(c.incr("new", 1)), 1);
    assert!(matches!(ok(c.ttl("new")), Some(Some(d)) if d <= env.ttl()));
    ok(c.set("long", 1, Ttl::After(env.ttl() * 100)));
    env.pass(env.ttl() / 4);
    assert_eq!(ok(c.incr("new", 1)), 2, "still live");
    env.pass_beyond(env.ttl());
    assert_eq!(
        ok(c.get("new")),
        None,
        "the TTL from the first incr was kept"
    );
    assert_eq!(ok(c.incr("long", 1)), 2);
    assert!(
        matches!(ok(c.ttl("long")), Some(Some(d)) if d > env.ttl() * 50),
        "not reset to the default: {:?}",
        ok(c.ttl("long"))
    );
    assert_eq!(ok(c.incr("forever", 1)), 3);
    assert_eq!(ok(c.ttl("forever")), Some(None));
    assert_eq!(
        ok(c.incr("new", 5)),
        5,
        "an expired counter starts again from 0"
    );
}

/// Overflow is an error that leaves the counter unchanged.
pub fn incr_overflow_is_an_error_that_changes_nothing<H: Harness>(h: &H) {
    let c = Env::new(h).counters(None);
    ok(c.set("max", i64::MAX, Ttl::Never));
    let err = c.incr("max", 1).expect_err("i64::MAX + 1 overflows");
    assert!(matches!(err, CacheError::CounterOverflow { .. }), "{err:?}");
    assert_eq!(ok(c.get("max")), Some(i64::MAX));
    ok(c.set("min", i64::MIN, Ttl::Never));
    let err = c.decr("min", 1).expect_err("i64::MIN - 1 overflows");
    assert!(matches!(err, CacheError::CounterOverflow { .. }), "{err:?}");
    assert_eq!(ok(c.get("min")), Some(i64::MIN));
    let err = c.decr("zero", i64::MIN).expect_err("-i64::MIN overflows");
    assert!(matches!(err, CacheError::CounterOverflow { .. }), "{err:?}");
    assert!(!ok(c.exists("zero")));
    assert_eq!(ok(c.incr("min", i64::MAX)), -1);
    assert_eq!(c.stats().sets, 3, "errors count nothing");
}

/// `decr(k, i64::MIN)` is the subtraction it says: `count - i64::MIN` fits for a negative
/// count (`-1` becomes `i64::MAX`, `i64::MIN` becomes 0) and overflows for 0 or more (an
/// absent counter is 0), where negating `i64::MIN` first called every case an overflow.
pub fn decr_by_i64_min<H: Harness>(h: &H) {
    let c = Env::new(h).counters(None);
    ok(c.set("minus-one", -1, Ttl::Never));
    assert_eq!(ok(c.decr("minus-one", i64::MIN)), i64::MAX);
    assert_eq!(ok(c.get("minus-one")), Some(i64::MAX));
    ok(c.set("min", i64::MIN, Ttl::Never));
    assert_eq!(ok(c.decr("min", i64::MIN)), 0);
    ok(c.set("zero", 0, Ttl::Never));
    let err = c
        .decr("zero", i64::MIN)
        .expect_err("0 - i64::MIN overflows");
    assert!(matches!(err, CacheError::CounterOverflow { .. }), "{err:?}");
    assert_eq!(ok(c.get("zero")), Some(0));
    let err = c
        .decr("absent", i64::MIN)
        .expect_err("0 - i64::MIN overflows");
    assert!(matches!(err, CacheError::CounterOverflow { .. }), "{err:?}");
    assert!(!ok(c.exists("absent")));
    assert_eq!(ok(c.decr("absent", i64::MIN + 1)), i64::MAX);
}

/// Sixteen threads each `incr` one key 1,000 times: the count is exactly 16,000.
pub fn incr_under_contention_is_exact<H: Harness>(h: &H) {
    let c = Env::new(h).counters(None);
    let (threads, rounds) = (16, 1_000);
    let barrier = Barrier::new(threads);
    let last_seen: Vec<i64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (c, barrier) = (&c, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let mut prev = 0;
                    for _ in 0..rounds {
                        let n = ok(c.incr("hits", 1));
                        assert!(n > prev, "a thread's counts only grow: {n} after {prev}");
                        prev = n;
                    }
                    prev
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    let total = (threads * rounds) as i64;
    assert_eq!(ok(c.get("hits")), Some(total));
    assert!(last_seen.contains(&total), "someone saw the final count");
    assert_eq!(c.stats().sets, total as u64);
}

/// `touch` gives a live entry a new TTL and keeps its value; it fails on an absent or expired
/// key, and counts nothing.
pub fn touch_extends_live_entries_only<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    let ttl = env.ttl();
    ok(c.set("k", v("x"), Ttl::After(ttl)));
    env.pass(ttl / 2);
    assert!(
        ok(c.touch("k", Ttl::After(ttl * 2))),
        "about to expire: extended"
    );
    env.pass_beyond(ttl);
    assert_eq!(
        ok(c.get("k")),
        Some(v("x")),
        "outlived its first TTL, value unchanged"
    );
    assert!(ok(c.touch("k", Ttl::Never)));
    env.pass_beyond(ttl);
    assert_eq!(ok(c.ttl("k")), Some(None));
    assert!(ok(c.touch("k", Ttl::After(ttl))));
    assert!(matches!(ok(c.ttl("k")), Some(Some(d)) if d <= ttl));
    env.pass_beyond(ttl);
    assert!(!ok(c.touch("k", Ttl::Never)), "expired: nothing to touch");
    assert!(!ok(c.exists("k")));
    assert!(!ok(c.touch("absent", Ttl::Never)));
    assert!(!ok(c.exists("absent")), "touch creates nothing");
    ok(c.set("gone", v("x"), Ttl::Never));
    assert!(ok(c.touch("gone", Ttl::After(Duration::ZERO))));
    assert!(!ok(c.exists("gone")), "a zero TTL removes the entry");
    let with_default = env.with(Some(ttl), None);
    ok(with_default.set("d", v("x"), Ttl::Never));
    assert!(ok(with_default.touch("d", Ttl::Default)));
    assert!(matches!(ok(with_default.ttl("d")), Some(Some(d)) if d <= ttl));
    assert_counts(&c, 1, 0, 2, 0);
}

/// `ttl` reports the time a live entry has left, within its TTL and decreasing;
/// `Some(None)` for an entry that never expires, `None` for none. It is a peek.
pub fn ttl_reports_the_time_left<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    let ttl = env.ttl();
    assert_eq!(ok(c.ttl("absent")), None);
    ok(c.set("forever", v("x"), Ttl::Never));
    assert_eq!(ok(c.ttl("forever")), Some(None));
    ok(c.set("k", v("x"), Ttl::After(ttl)));
    let first = ok(c.ttl("k")).expect("live").expect("expires");
    assert!(first <= ttl && first > ttl / 2, "{first:?} of {ttl:?}");
    env.pass(ttl / 4);
    let later = ok(c.ttl("k")).expect("live").expect("expires");
    assert!(later < first, "{later:?} after {first:?}");
    if env.clock.is_some() {
        assert_eq!(later, ttl - ttl / 4, "exact on a mock clock");
    }
    env.pass_beyond(ttl);
    assert_eq!(ok(c.ttl("k")), None, "expired");
    assert_counts(&c, 0, 0, 2, 0);
}

/// A TTL that reaches past the end of time from now (past [`Timestamp::MAX`], in 2554:
/// `Duration::from_nanos(u64::MAX)`, `Duration::MAX`) means "never", as [`Ttl::Never`]
/// does, whether given to `set`, `add` or `touch` or as the default TTL of entries and new
/// counters: `ttl` reports `Some(None)`. A long TTL short of it (a century) still expires.
///
/// [`Timestamp::MAX`]: cache_core::Timestamp::MAX
pub fn ttl_past_the_end_of_time_is_never<H: Harness>(h: &H) {
    let env = Env::new(h);
    let c = env.cache();
    for (i, d) in [Duration::from_nanos(u64::MAX), Duration::MAX]
        .into_iter()
        .enumerate()
    {
        let k = format!("set{i}");
        ok(c.set(&k, v("x"), Ttl::After(d)));
        assert_eq!(ok(c.ttl(&k)), Some(None), "set with {d:?}");
        let k = format!("add{i}");
        assert!(ok(c.add(&k, v("x"), Ttl::After(d))));
        assert_eq!(ok(c.ttl(&k)), Some(None), "add with {d:?}");
        let k = format!("touch{i}");
        ok(c.set(&k, v("x"), Ttl::After(env.ttl())));
        assert!(ok(c.touch(&k, Ttl::After(d))));
        assert_eq!(ok(c.ttl(&k)), Some(None), "touch with {d:?}");
        let with_default = env.with(Some(d), None);
        ok(with_default.set("d", v("x"), Ttl::Default));
        assert_eq!(ok(with_default.ttl("d")), Some(None), "default {d:?}");
        let counters = env.counters(Some(d));
        assert_eq!(ok(counters.incr("n", 1)), 1);
        assert_eq!(ok(counters.ttl("n")), Some(None), "counter, default {d:?}");
    }
    let century = Duration::from_secs(100 * 365 * 24 * 3600);
    ok(c.set("century", v("x"), Ttl::After(century)));
    let left = ok(c.ttl("century")).expect("live").expect("expires");
    assert!(
        left <= century && left > century - Duration::from_secs(60),
        "{left:?} of {century:?}"
    );
}

/// Random sequences of operations on counters (`incr`, `decr` with `set`, `add`, `touch`,
/// `ttl`) give the same answers and counters as the reference model.
pub fn model_agrees_on_counters<H: Harness>(h: &H) {
    crate::model::check_counters(h);
}

/// `incr` on a live entry of another type is [`CacheError::NotACounter`] and leaves it as it
/// was.
pub fn incr_of_another_type_is_an_error_that_changes_nothing<H: TypedHarness>(h: &H) {
    let c = Env::new(h).cache();
    let as_i64 = h.as_i64(&c);
    let as_string = h.as_string(&c);
    ok(as_string.set("text", "12".to_string(), Ttl::Never));
    let err = as_i64
        .incr("text", 1)
        .expect_err("a string is not a counter");
    assert!(matches!(err, CacheError::NotACounter { .. }), "{err:?}");
    assert_eq!(ok(as_string.get("text")).as_deref(), Some("12"));
    ok(c.set("bytes", v("1"), Ttl::Never));
    assert!(as_i64.incr("bytes", 1).is_err());
    assert_eq!(ok(c.get("bytes")), Some(v("1")));
    assert_eq!(ok(as_i64.incr("n", 2)), 2);
    assert_eq!(
        ok(h.as_u64(&c).get("n")),
        None,
        "a counter is an i64, not a u64"
    );
    assert_eq!(ok(as_i64.get("n")), Some(2));
}
