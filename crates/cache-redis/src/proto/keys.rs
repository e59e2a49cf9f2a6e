//! How cache keys become Redis keys and `MATCH` patterns, and TTLs become `PX` arguments.

use std::time::Duration;

use cache_core::{codec, Clock, Pattern, SystemClock, Timestamp};

use crate::proto::command::{arg_of_parts, Command};

/// The most stars a `MATCH` pattern this backend sends has.
pub(crate) const MAX_MATCH_STARS: usize = 32;

/// The Redis keys of one cache: its prefix followed by the key's name in the cache's version
/// (the key's UTF-8 bytes, then for versions other than 1 `0xFF` and the version).
#[derive(Debug, Clone)]
pub(crate) struct KeySpace {
    prefix: Box<[u8]>,
    /// The prefix with the characters `MATCH` interprets escaped.
    match_prefix: Box<[u8]>,
    version: u32,
}

impl KeySpace {
    pub(crate) fn new(prefix: &str, version: u32) -> Self {
        let mut match_prefix = Vec::with_capacity(prefix.len() + 4);
        escape_into(&mut match_prefix, prefix.as_bytes());
        KeySpace {
            prefix: prefix.as_bytes().into(),
            match_prefix: match_prefix.into(),
            version,
        }
    }

    /// The Redis key of `key` in this cache's version.
    #[inline]
    pub(crate) fn redis_key(&self, key: &str) -> Vec<u8> {
        let name = codec::versioned_name(key, self.version);
        let mut k = Vec::with_capacity(self.prefix.len() + name.len());
        k.extend_from_slice(&self.prefix);
        k.extend_from_slice(&name);
        k
    }

    /// The length of [`KeySpace::redis_key`] of `key`, about (for a version other than 1, a
    /// few bytes short).
    #[inline]
    pub(crate) fn key_len(&self, key: &str) -> usize {
        self.prefix.len() + key.len()
    }

    /// Appends the Redis key of `key` to `cmd` as its next argument.
    #[inline]
    pub(crate) fn write_key(&self, cmd: &mut redis::Cmd, key: &str) {
        let name = codec::versioned_name(key, self.version);
        arg_of_parts(cmd, &[&self.prefix, &name]);
    }

    /// The cache key of a Redis key of this cache, in any version; `None` for a key outside
    /// the prefix or that no cache key maps to (not UTF-8, a malformed version).
    pub(crate) fn cache_key<'a>(&self, redis_key: &'a [u8]) -> Option<&'a str> {
        let rest = redis_key.strip_prefix(&*self.prefix)?;
        codec::split_versioned_name(rest).map(|(key, _version)| key)
    }

    /// Whether `redis_key` is the single-flight lock of a key of this cache (see
    /// `proto/flight.rs`): the cache's bookkeeping, not a cache key.
    pub(crate) fn is_flight_lock(&self, redis_key: &[u8]) -> bool {
        redis_key
            .strip_prefix(&*self.prefix)
            .is_some_and(|rest| rest.starts_with(crate::proto::flight::LOCK_TAG))
    }

    /// A `MATCH` pattern for every key of this cache.
    pub(crate) fn match_all(&self) -> Vec<u8> {
        let mut m = self.match_prefix.to_vec();
        m.push(b'*');
        m
    }

    /// A `MATCH` pattern for a superset of the keys of this cache that the glob `pattern`
    /// matches. Redis matches bytes, so its `?` is one byte where the contract's is one
    /// character: `?` is widened to `*`, and the caller filters what Redis returns with
    /// [`cache_core::Pattern`]. Literal characters that `MATCH` would interpret are escaped.
    ///
    /// Redis gives up on patterns with many stars (a guard against abusive patterns that
    /// reports no match), so past [`MAX_MATCH_STARS`] the pattern is cut at its first
    /// wildcard: `prefix` + the literal start + `*`, still a superset.
    ///
    /// It ends with `*`, so that the keys of every version (which carry their version after
    /// the key) are found too.
    pub(crate) fn match_superset(&self, pattern: &str) -> Vec<u8> {
        let mut m = self.match_prefix.to_vec();
        m.reserve(pattern.len());
        let mut stars = 0;
        for b in pattern.bytes() {
            match b {
                // Runs of stars collapse to one, keeping Redis's matcher linear-ish.
                b'*' | b'?' if m.last() == Some(&b'*') && !ends_escaped(&m) => {}
                b'*' | b'?' if stars == MAX_MATCH_STARS => {
                    let mut cut = self.match_prefix.to_vec();
                    escape_into(&mut cut, Pattern::new(pattern).literal_prefix().as_bytes());
                    cut.push(b'*');
                    return cut;
                }
                b'*' | b'?' => {
                    stars += 1;
                    m.push(b'*');
                }
                _ => escape_into(&mut m, &[b]),
            }
        }
        if m.last() != Some(&b'*') || ends_escaped(&m) {
            m.push(b'*');
        }
        m
    }
}

/// A command with one argument, the Redis key of `key` in `keys`, written straight into the
/// command (no Redis key of its own is built).
#[inline]
pub(crate) fn keyed(name: &str, keys: &KeySpace, key: &str) -> Command {
    let mut cmd = Command::new(name, 1, keys.key_len(key));
    keys.write_key(&mut cmd, key);
    cmd
}

/// Whether the last byte of `m` is escaped by a backslash (an odd run of them before it).
fn ends_escaped(m: &[u8]) -> bool {
    let before = &m[..m.len().saturating_sub(1)];
    before.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// Appends `bytes` to `out`, with a backslash before each byte `MATCH` interprets.
fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// What a resolved TTL means for a `SET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// No expiry: a plain `SET` (which also clears an older TTL).
    Never,
    /// `SET ... PX millis`.
    Millis(u64),
    /// A zero TTL: nothing is stored and the older value is removed.
    Gone,
}

impl Expiry {
    /// The expiry of a write now with the resolved TTL `ttl` (see [`Expiry::at`]).
    pub(crate) fn of(ttl: Option<Duration>) -> Expiry {
        Expiry::at(SystemClock.now(), ttl)
    }

    /// The expiry of a write at `now` with the resolved TTL `ttl`. Sub-millisecond TTLs round
    /// up to 1 ms (Redis refuses `PX 0`, and a positive TTL must leave the entry live for a
    /// moment). A TTL whose deadline is at or past [`Timestamp::MAX`] (in 2554) means no
    /// expiry, as for every backend (an expiry time saturates to `Timestamp::MAX`, which
    /// stands for "never"); anything shorter is at most about 584 years, whose milliseconds
    /// Redis takes (it refuses a deadline past `i64::MAX` ms).
    pub(crate) fn at(now: Timestamp, ttl: Option<Duration>) -> Expiry {
        match ttl {
            None => Expiry::Never,
            Some(d) if d.is_zero() => Expiry::Gone,
            Some(d) if now.expiry(Some(d)) == Timestamp::MAX => Expiry::Never,
            Some(d) => {
                let millis = d.as_nanos().div_ceil(1_000_000);
                Expiry::Millis(u64::try_from(millis).unwrap_or(u64::MAX))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefix_then_key() {
        let ks = KeySpace::new("app:", 1);
        assert_eq!(ks.redis_key("a\0b"), b"app:a\0b");
        assert_eq!(ks.cache_key(b"app:x"), Some("x"));
        assert_eq!(ks.cache_key(b"app:"), Some(""));
        assert_eq!(ks.cache_key(b"other:x"), None);
        assert_eq!(ks.cache_key(b"app:\xff"), None);
        let v7 = KeySpace::new("app:", 7);
        assert_eq!(v7.redis_key("x"), b"app:x\xff7");
        // Both versions' keys are this cache's keys.
        assert_eq!(ks.cache_key(b"app:x\xff7"), Some("x"));
        assert_eq!(v7.cache_key(b"app:x"), Some("x"));
        assert_eq!(v7.cache_key(b"app:x\xff01"), None);
    }

    #[test]
    fn prefix_glob_characters_are_escaped() {
        let ks = KeySpace::new("a*?[]\\:", 1);
        assert_eq!(ks.match_all(), b"a\\*\\?\\[\\]\\\\:*");
    }

    #[test]
    fn pattern_superset_widens_question_marks_and_escapes_literals() {
        let ks = KeySpace::new("p:", 1);
        assert_eq!(ks.match_superset("caf?"), b"p:caf*");
        assert_eq!(ks.match_superset("[ab]"), b"p:\\[ab\\]*");
        assert_eq!(ks.match_superset("\\*"), b"p:\\\\*");
        assert_eq!(ks.match_superset("a**?*b"), b"p:a*b*");
        assert_eq!(ks.match_superset(""), b"p:*");
        assert_eq!(ks.match_superset("\\"), b"p:\\\\*");
        // Too many stars: cut at the first wildcard.
        let many = "ab?".to_owned() + &"x*".repeat(MAX_MATCH_STARS);
        assert_eq!(ks.match_superset(&many), b"p:ab*");
        let enough = "x*".repeat(MAX_MATCH_STARS - 1);
        assert_eq!(
            ks.match_superset(&enough),
            [b"p:", enough.as_bytes()].concat()
        );
        // An escaped star in the prefix is not a run to collapse into.
        let ks = KeySpace::new("*", 1);
        assert_eq!(ks.match_superset("*"), b"\\**");
    }

    #[test]
    fn ttls_map_to_px() {
        let now = Timestamp::from_nanos(1_700_000_000_000_000_000);
        let at = |ttl| Expiry::at(now, ttl);
        assert_eq!(at(None), Expiry::Never);
        assert_eq!(at(Some(Duration::ZERO)), Expiry::Gone);
        assert_eq!(at(Some(Duration::from_nanos(1))), Expiry::Millis(1));
        assert_eq!(at(Some(Duration::from_micros(1500))), Expiry::Millis(2));
        assert_eq!(at(Some(Duration::from_secs(60))), Expiry::Millis(60_000));
        // Past the end of time: never, as on every backend.
        assert_eq!(at(Some(Duration::MAX)), Expiry::Never);
        assert_eq!(at(Some(Duration::from_nanos(u64::MAX))), Expiry::Never);
        let left = u64::MAX - now.as_nanos();
        assert_eq!(at(Some(Duration::from_nanos(left))), Expiry::Never);
        assert_eq!(
            at(Some(Duration::from_nanos(left - 1))),
            Expiry::Millis((left - 1).div_ceil(1_000_000))
        );
        assert_eq!(
            Expiry::of(Some(Duration::from_nanos(u64::MAX))),
            Expiry::Never
        );
    }
}
