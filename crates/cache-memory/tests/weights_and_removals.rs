//! The weigher (against a model with weights) and the removal listener, under both
//! eviction policies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use cache_core::{Cache, CacheError, MockClock, RemovalCause, Ttl};
use cache_memory::{InMemoryCache, Policy};
use proptest::prelude::*;

const MAX_WEIGHT: u64 = 64;

#[derive(Debug, Clone)]
enum Op {
    Set { key: u8, len: u8, ttl: Option<u8> },
    Get(u8),
    Delete(u8),
    Advance(u8),
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..10u8, 0..80u8, proptest::option::of(0..4u8))
            .prop_map(|(key, len, ttl)| Op::Set { key, len, ttl }),
        4 => (0..10u8).prop_map(Op::Get),
        1 => (0..10u8).prop_map(Op::Delete),
        1 => (1..3u8).prop_map(Op::Advance),
        1 => Just(Op::Clear),
    ]
}

/// The exact-LRU model with weights: most recent last; `(key, len, expires at)`.
#[derive(Default)]
struct Model {
    entries: Vec<(u8, u8, Option<u64>)>,
    now: u64,
    evictions: u64,
}

impl Model {
    fn weight(&self) -> u64 {
        self.entries.iter().map(|e| u64::from(e.1)).sum()
    }

    fn position(&self, key: u8) -> Option<usize> {
        self.entries.iter().position(|e| e.0 == key)
    }

    fn live(&self, e: &(u8, u8, Option<u64>)) -> bool {
        !matches!(e.2, Some(at) if at <= self.now)
    }

    fn get(&mut self, key: u8) -> Option<u8> {
        let i = self.position(key)?;
        let e = self.entries.remove(i);
        if !self.live(&e) {
            return None;
        }
        self.entries.push(e);
        Some(e.1)
    }

    fn set(&mut self, key: u8, len: u8, ttl: Option<u8>) {
        if let Some(i) = self.position(key) {
            self.entries.remove(i);
        }
        if ttl == Some(0) || u64::from(len) > MAX_WEIGHT {
            return;
        }
        if self.weight() + u64::from(len) > MAX_WEIGHT {
            let now = self.now;
            self.entries
                .retain(|e| !matches!(e.2, Some(at) if at <= now));
        }
        while self.weight() + u64::from(len) > MAX_WEIGHT {
            self.entries.remove(0);
            self.evictions += 1;
        }
        self.entries
            .push((key, len, ttl.map(|t| self.now + u64::from(t))));
    }
}

fn weighted(policy: Policy, clock: &MockClock) -> InMemoryCache<Vec<u8>> {
    InMemoryCache::builder()
        .max_size(1_000)
        .shards(1)
        .policy(policy)
        .clock(clock.shared())
        .weigher(|_, v: &Vec<u8>| v.len() as u32)
        .max_weight(MAX_WEIGHT)
        .build()
        .expect("valid")
}

fn ttl_of(ttl: Option<u8>) -> Ttl {
    match ttl {
        None => Ttl::Never,
        Some(s) => Ttl::After(Duration::from_secs(u64::from(s))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Under LRU, a weighted cache answers, weighs and evicts exactly as the model does.
    #[test]
    fn weighted_lru_agrees_with_a_model_with_weights(ops in proptest::collection::vec(op(), 1..120)) {
        let clock = MockClock::new();
        let cache = weighted(Policy::Lru, &clock);
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Set { key, len, ttl } => {
                    let stored = cache
                        .set(&key.to_string(), vec![key; usize::from(len)], ttl_of(ttl))
                        .unwrap();
                    // A zero TTL is accepted (and stores nothing) whatever the weight.
                    prop_assert_eq!(stored, ttl == Some(0) || u64::from(len) <= MAX_WEIGHT);
                    model.set(key, len, ttl);
                }
                Op::Get(key) => {
                    let got = cache.get(&key.to_string()).unwrap();
                    let want = model.get(key).map(|len| vec![key; usize::from(len)]);
                    prop_assert_eq!(got, want);
                }
                Op::Delete(key) => {
                    cache.delete(&key.to_string()).unwrap();
                    if let Some(i) = model.position(key) {
                        model.entries.remove(i);
                    }
                }
                Op::Advance(s) => {
                    clock.advance(Duration::from_secs(u64::from(s)));
                    model.now += u64::from(s);
                }
                Op::Clear => {
                    cache.clear().unwrap();
                    model.entries.clear();
                }
            }
            let weight = cache.weight().unwrap();
            prop_assert!(weight <= MAX_WEIGHT);
            prop_assert_eq!(weight, model.weight());
            prop_assert_eq!(cache.stats().evictions, model.evictions);
        }
    }

    /// Under TinyLFU (which picks its own victims), the weight bound holds after every
    /// operation, a value that fits is found right after its `set`, and a found value is
    /// the last one set for its key.
    #[test]
    fn weighted_tinylfu_keeps_the_bound(ops in proptest::collection::vec(op(), 1..200)) {
        let clock = MockClock::new();
        let cache = weighted(Policy::TinyLfu, &clock);
        let mut last: HashMap<u8, u8> = HashMap::new();
        for op in ops {
            match op {
                Op::Set { key, len, ttl } => {
                    cache
                        .set(&key.to_string(), vec![key; usize::from(len)], ttl_of(ttl))
                        .unwrap();
                    last.insert(key, len);
                    let got = cache.get(&key.to_string()).unwrap();
                    let fits = u64::from(len) <= MAX_WEIGHT && ttl != Some(0);
                    prop_assert_eq!(got.is_some(), fits);
                }
                Op::Get(key) => {
                    if let Some(v) = cache.get(&key.to_string()).unwrap() {
                        prop_assert_eq!(v.len(), usize::from(last[&key]));
                    }
                }
                Op::Delete(key) => {
                    cache.delete(&key.to_string()).unwrap();
                }
                Op::Advance(s) => clock.advance(Duration::from_secs(u64::from(s))),
                Op::Clear => cache.clear().unwrap(),
            }
            prop_assert!(cache.weight().unwrap() <= MAX_WEIGHT);
        }
    }
}

#[test]
fn weigher_and_max_weight_come_together() {
    let no_bound = InMemoryCache::<u8>::builder().weigher(|_, _| 1).build();
    assert!(no_bound.unwrap_err().to_string().contains("max_weight"));
    let no_weigher = InMemoryCache::<u8>::builder().max_weight(5).build();
    assert!(no_weigher.unwrap_err().to_string().contains("weigher"));
    let plain = InMemoryCache::<u8>::new(5, None).unwrap();
    assert_eq!(plain.weight(), None);
}

/// A weight bound of 0 (or below the shard count, leaving a shard a share of 0) stores
/// nothing: a configuration error, as the file cache's `max_bytes(0)` is.
#[test]
fn a_weight_bound_that_stores_nothing_is_refused() {
    let weighed = || InMemoryCache::<u8>::builder().weigher(|_, _| 1);
    let zero = weighed().max_weight(0).build().unwrap_err();
    assert!(matches!(zero, CacheError::Config { .. }), "{zero}");
    assert!(zero.to_string().contains("max_weight"), "{zero}");
    let thin = weighed().shards(4).max_weight(3).build().unwrap_err();
    assert!(thin.to_string().contains("4 shards"), "{thin}");
    let one = weighed().shards(1).max_weight(1).build().unwrap();
    assert!(one.set("a", 1, Ttl::Never).unwrap());
}

/// Random traffic (`add` and `touch` too) on small caches with TTLs, a weigher and both
/// policies: the listener
/// hears each value once (every value is unique; the run ends with `clear`), and its counts
/// by cause equal the statistics.
#[test]
fn the_listener_hears_every_removal_once_under_both_policies() {
    for policy in [Policy::Lru, Policy::TinyLfu] {
        for weighted in [false, true] {
            let clock = MockClock::new();
            let heard: Arc<Mutex<Vec<(String, u64, RemovalCause)>>> = Arc::default();
            let log = Arc::clone(&heard);
            let mut b = InMemoryCache::builder()
                .max_size(40)
                .shards(1)
                .policy(policy)
                .clock(clock.shared())
                .on_removal(move |key, value: &u64, cause| {
                    log.lock().unwrap().push((key.to_owned(), *value, cause));
                });
            if weighted {
                b = b.weigher(|_, v: &u64| (v % 7) as u32).max_weight(60);
            }
            let cache = b.build().unwrap();
            let mut stored = Vec::new();
            let mut rng = 0x2545_f491_4f6c_dd1du64;
            for value in 0..5_000u64 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let key = format!("k{}", rng % 97);
                match rng >> 60 {
                    0..=7 => {
                        let ttl = match (rng >> 8) % 4 {
                            0 => Ttl::After(Duration::from_secs((rng >> 12) % 5)),
                            _ => Ttl::Never,
                        };
                        let kept = cache.set(&key, value, ttl).unwrap();
                        if kept && ttl != Ttl::After(Duration::ZERO) {
                            stored.push(value);
                        }
                    }
                    8..=11 => {
                        cache.get(&key).unwrap();
                    }
                    12 => match (rng >> 8) % 3 {
                        0 => {
                            cache.exists(&key).unwrap();
                        }
                        1 => {
                            if cache.add(&key, value, Ttl::Never).unwrap() {
                                stored.push(value);
                            }
                        }
                        _ => {
                            let ttl = Duration::from_secs((rng >> 12) % 3);
                            cache.touch(&key, Ttl::After(ttl)).unwrap();
                        }
                    },
                    13 => {
                        cache.delete(&key).unwrap();
                    }
                    14 => {
                        cache.delete_pattern("k1*").unwrap();
                    }
                    _ => clock.advance(Duration::from_secs(1)),
                }
                if value % 1_000 == 999 {
                    cache.purge_expired();
                }
            }
            cache.clear().unwrap();
            let heard = heard.lock().unwrap();
            let s = cache.stats();
            let count = |c| heard.iter().filter(|r| r.2 == c).count() as u64;
            assert_eq!(
                count(RemovalCause::Evicted),
                s.evictions,
                "{policy:?} {s:?}"
            );
            assert_eq!(
                count(RemovalCause::Expired),
                s.expirations,
                "{policy:?} {s:?}"
            );
            assert_eq!(count(RemovalCause::Deleted), s.deletes, "{policy:?} {s:?}");
            assert!(s.evictions > 100 && s.expirations > 100, "{policy:?} {s:?}");
            let mut values: Vec<u64> = heard.iter().map(|r| r.1).collect();
            values.sort_unstable();
            assert_eq!(values, stored, "{policy:?} weighted: {weighted}");
        }
    }
}

/// The listener runs after the shard's lock is released: it may use the cache itself
/// (with the lock held, this would deadlock).
#[test]
fn the_listener_may_use_the_cache() {
    let me: Arc<OnceLock<Weak<InMemoryCache<u32>>>> = Arc::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (me2, seen2) = (Arc::clone(&me), Arc::clone(&seen));
    let cache = Arc::new(
        InMemoryCache::builder()
            .max_size(2)
            .on_removal(move |key, _: &u32, cause| {
                let cache = me2.get().and_then(Weak::upgrade).expect("the cache");
                // Locks every shard, including the one whose entry just left.
                let len = cache.len();
                seen2.lock().unwrap().push((key.to_owned(), cause, len));
            })
            .build()
            .unwrap(),
    );
    me.set(Arc::downgrade(&cache)).unwrap();
    for (i, k) in ["a", "b", "c"].iter().enumerate() {
        cache.set(k, i as u32, Ttl::Never).unwrap();
    }
    cache.clear().unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0], ("a".to_owned(), RemovalCause::Evicted, 2));
    assert_eq!(seen.len(), 3);
    assert!(seen[1..].iter().all(|s| s.1 == RemovalCause::Cleared));
}
