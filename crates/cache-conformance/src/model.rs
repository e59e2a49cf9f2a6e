//! The reference model of the contract, and the checks that compare a backend with it on
//! operation sequences: the property test ([`check`]) and the fuzz targets
//! ([`crate::fuzz`]) share [`run_case`].

use std::time::Duration;

use cache_core::{Cache, CacheExt, CacheStats, Clock, MockClock, Pattern, Timestamp, Ttl};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::{Harness, Setup, Time};

/// Few keys, so that operations collide; glob characters and Unicode among them.
pub const KEYS: &[&str] = &["a", "b", "ab", "ba", "a*", "é", "[x]", "", "abc", "x?"];
/// The patterns `Op::DeletePattern` picks from.
pub const PATTERNS: &[&str] = &[
    "a*", "*", "?", "a?", "*b", "[x]", "é", "??*", "x?", "a*b*", "zz",
];

/// The TTL of a generated `set`.
#[derive(Debug, Clone, Copy)]
pub enum TtlChoice {
    /// `Ttl::Default`.
    Default,
    /// `Ttl::Never`.
    Never,
    /// `Ttl::After(Duration::ZERO)`.
    Zero,
    /// Seconds on a mock clock; an hour (so never reached) with real time.
    Secs(u64),
}

/// One generated operation; key and pattern numbers index [`KEYS`] and [`PATTERNS`], value
/// bytes `b` stand for the value `vec![b; b % 4]`.
#[derive(Debug, Clone)]
pub enum Op {
    /// `get`.
    Get(usize),
    /// `set`.
    Set(usize, u8, TtlChoice),
    /// `delete`.
    Delete(usize),
    /// `exists`.
    Exists(usize),
    /// `delete_pattern`.
    DeletePattern(usize),
    /// `clear`.
    Clear,
    /// Advance the mock clock by this many milliseconds; ignored with real time.
    Advance(u64),
    /// `get_many`.
    GetMany(Vec<usize>),
    /// `get_or_insert_with`.
    GetOrInsert(usize, u8, TtlChoice),
}

fn ttl_choice() -> impl Strategy<Value = TtlChoice> {
    prop_oneof![
        2 => Just(TtlChoice::Default),
        2 => Just(TtlChoice::Never),
        1 => Just(TtlChoice::Zero),
        3 => (1u64..=4).prop_map(TtlChoice::Secs),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    prop_oneof![
        4 => key.clone().prop_map(Op::Get),
        4 => (key.clone(), any::<u8>(), ttl_choice()).prop_map(|(k, v, t)| Op::Set(k, v, t)),
        2 => key.clone().prop_map(Op::Delete),
        2 => key.clone().prop_map(Op::Exists),
        1 => (0..PATTERNS.len()).prop_map(Op::DeletePattern),
        1 => Just(Op::Clear),
        3 => prop_oneof![Just(0u64), Just(1), Just(999), Just(1000), Just(2500)].prop_map(Op::Advance),
        1 => proptest::collection::vec(key.clone(), 0..4).prop_map(Op::GetMany),
        1 => (key, any::<u8>(), ttl_choice()).prop_map(|(k, v, t)| Op::GetOrInsert(k, v, t)),
    ]
}

/// The contract as a plain list: entries in recency order, oldest first, with lazy expiry.
struct Model {
    entries: Vec<(String, Vec<u8>, Timestamp)>,
    cap: Option<usize>,
    default_ttl: Option<Duration>,
    stats: CacheStats,
}

impl Model {
    fn find(&mut self, key: &str, now: Timestamp) -> Option<usize> {
        let i = self.entries.iter().position(|e| e.0 == key)?;
        if self.entries[i].2.is_live_at(now) {
            Some(i)
        } else {
            self.entries.remove(i);
            self.stats.expirations += 1;
            None
        }
    }

    fn get(&mut self, key: &str, now: Timestamp) -> Option<Vec<u8>> {
        match self.find(key, now) {
            Some(i) => {
                self.stats.hits += 1;
                let e = self.entries.remove(i);
                let v = e.1.clone();
                self.entries.push(e);
                Some(v)
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    fn exists(&mut self, key: &str, now: Timestamp) -> bool {
        self.find(key, now).is_some()
    }

    fn set(&mut self, key: &str, value: Vec<u8>, ttl: Ttl, now: Timestamp) {
        self.stats.sets += 1;
        let expires = now.expiry(ttl.resolve(self.default_ttl));
        if let Some(i) = self.find(key, now) {
            self.entries.remove(i);
        }
        if !expires.is_live_at(now) {
            return;
        }
        if let Some(cap) = self.cap {
            if self.entries.len() >= cap {
                let before = self.entries.len();
                self.entries.retain(|e| e.2.is_live_at(now));
                self.stats.expirations += (before - self.entries.len()) as u64;
            }
            if self.entries.len() >= cap {
                self.entries.remove(0);
                self.stats.evictions += 1;
            }
        }
        self.entries.push((key.to_owned(), value, expires));
    }

    fn delete(&mut self, key: &str, now: Timestamp) -> bool {
        match self.find(key, now) {
            Some(i) => {
                self.entries.remove(i);
                self.stats.deletes += 1;
                true
            }
            None => false,
        }
    }

    fn delete_pattern(&mut self, pattern: &str, now: Timestamp) -> u64 {
        let p = Pattern::new(pattern);
        let mut removed = 0;
        let mut expired = 0;
        self.entries.retain(|e| {
            if !p.matches(&e.0) {
                return true;
            }
            if e.2.is_live_at(now) {
                removed += 1;
            } else {
                expired += 1;
            }
            false
        });
        self.stats.deletes += removed;
        self.stats.expirations += expired;
        removed
    }
}

/// The property test: `h.model_cases()` random sequences, each on a fresh cache.
pub fn check<H: Harness>(h: &H) {
    let caps: Vec<Option<usize>> = if h.bounded() {
        vec![Some(2), Some(4), Some(1000)]
    } else {
        vec![None]
    };
    let strategy = (
        proptest::sample::select(caps),
        any::<bool>(),
        proptest::collection::vec(op(), 1..60),
    );
    let mut runner = TestRunner::new(Config {
        cases: h.model_cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |(cap, with_default, ops)| {
        run_case(h, cap, with_default, &ops)
    });
    if let Err(e) = result {
        panic!("the backend disagrees with the model: {e}");
    }
}

/// Runs `ops` on a fresh cache from `h` (bounded by `cap`, with a default TTL of two time
/// units when `with_default`) and on the model, failing at the first disagreement in a
/// result or a counter.
pub fn run_case<H: Harness>(
    h: &H,
    cap: Option<usize>,
    with_default: bool,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mock = h.time() == Time::Mock;
    let clock = mock.then(MockClock::new);
    let unit = if mock {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(3600)
    };
    let default_ttl = with_default.then_some(unit * 2);
    let cache = h.create(Setup {
        default_ttl,
        max_size: cap,
        clock: clock.clone(),
    });
    let mut model = Model {
        entries: Vec::new(),
        cap,
        default_ttl,
        stats: CacheStats::default(),
    };
    let now = || clock.as_ref().map_or(Timestamp::ZERO, |c| c.now());
    let ttl = |t: TtlChoice| match t {
        TtlChoice::Default => Ttl::Default,
        TtlChoice::Never => Ttl::Never,
        TtlChoice::Zero => Ttl::After(Duration::ZERO),
        TtlChoice::Secs(s) => Ttl::After(unit * s as u32),
    };
    let val = |b: u8| vec![b; usize::from(b % 4)];
    let fail = |e: cache_core::CacheError| TestCaseError::fail(format!("backend error: {e}"));
    for (step, op) in ops.iter().enumerate() {
        let at = format!("step {step}: {op:?}");
        match op {
            Op::Get(k) => {
                let got = cache.get(KEYS[*k]).map_err(fail)?;
                prop_assert_eq!(got, model.get(KEYS[*k], now()), "{}", at);
            }
            Op::Set(k, b, t) => {
                prop_assert!(
                    cache.set(KEYS[*k], val(*b), ttl(*t)).map_err(fail)?,
                    "{}",
                    at
                );
                model.set(KEYS[*k], val(*b), ttl(*t), now());
            }
            Op::Delete(k) => {
                let got = cache.delete(KEYS[*k]).map_err(fail)?;
                prop_assert_eq!(got, model.delete(KEYS[*k], now()), "{}", at);
            }
            Op::Exists(k) => {
                let got = cache.exists(KEYS[*k]).map_err(fail)?;
                prop_assert_eq!(got, model.exists(KEYS[*k], now()), "{}", at);
            }
            Op::DeletePattern(p) => {
                let got = cache.delete_pattern(PATTERNS[*p]).map_err(fail)?;
                prop_assert_eq!(got, model.delete_pattern(PATTERNS[*p], now()), "{}", at);
            }
            Op::Clear => {
                cache.clear().map_err(fail)?;
                model.entries.clear();
            }
            Op::Advance(ms) => {
                if let Some(c) = &clock {
                    c.advance(Duration::from_millis(*ms));
                }
            }
            Op::GetMany(ks) => {
                let keys: Vec<&str> = ks.iter().map(|k| KEYS[*k]).collect();
                let got = cache.get_many(&keys).map_err(fail)?;
                let want: Vec<_> = keys.iter().map(|k| model.get(k, now())).collect();
                prop_assert_eq!(got, want, "{}", at);
            }
            Op::GetOrInsert(k, b, t) => {
                let got = cache
                    .get_or_insert_with(KEYS[*k], ttl(*t), || val(*b))
                    .map_err(fail)?;
                let want = match model.get(KEYS[*k], now()) {
                    Some(v) => v,
                    None => {
                        model.set(KEYS[*k], val(*b), ttl(*t), now());
                        val(*b)
                    }
                };
                prop_assert_eq!(got, want, "{}", at);
            }
        }
        let (got, want) = (cache.stats(), model.stats);
        prop_assert_eq!(
            (got.hits, got.misses, got.sets, got.deletes, got.evictions),
            (
                want.hits,
                want.misses,
                want.sets,
                want.deletes,
                want.evictions
            ),
            "counters after {}",
            at
        );
        if h.counts_expirations() {
            prop_assert_eq!(
                got.expirations,
                want.expirations,
                "expirations after {}",
                at
            );
        }
        if let Some(n) = got.entries {
            prop_assert_eq!(n, model.entries.len() as u64, "entries after {}", at);
        }
    }
    Ok(())
}
