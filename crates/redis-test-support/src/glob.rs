//! A reference of Redis's `MATCH` glob, written from its documented semantics, to check the
//! patterns the Redis backend builds without a server: bytes, not characters; `*` any run,
//! `?` one byte, `[...]` a class (`^` negates, `a-z` ranges, `\` escapes), `\x` the byte `x`.

enum Token {
    Star,
    AnyByte,
    Byte(u8),
    Class { negate: bool, ranges: Vec<(u8, u8)> },
}

fn tokenize(pattern: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'*' => tokens.push(Token::Star),
            b'?' => tokens.push(Token::AnyByte),
            b'\\' if i + 1 < pattern.len() => {
                i += 1;
                tokens.push(Token::Byte(pattern[i]));
            }
            b'[' => {
                i += 1;
                let negate = pattern.get(i) == Some(&b'^');
                if negate {
                    i += 1;
                }
                let mut ranges = Vec::new();
                while i < pattern.len() && pattern[i] != b']' {
                    let lo = if pattern[i] == b'\\' && i + 1 < pattern.len() {
                        i += 1;
                        pattern[i]
                    } else {
                        pattern[i]
                    };
                    if pattern.get(i + 1) == Some(&b'-')
                        && i + 2 < pattern.len()
                        && pattern[i + 2] != b']'
                    {
                        let hi = pattern[i + 2];
                        ranges.push((lo.min(hi), lo.max(hi)));
                        i += 3;
                    } else {
                        ranges.push((lo, lo));
                        i += 1;
                    }
                }
                tokens.push(Token::Class { negate, ranges });
            }
            b => tokens.push(Token::Byte(b)),
        }
        i += 1;
    }
    tokens
}

/// Whether Redis's `MATCH` `pattern` matches the whole key `subject`.
///
/// ```
/// use redis_test_support::glob::redis_matches;
/// assert!(redis_matches(b"user:*", b"user:42"));
/// assert!(!redis_matches(b"caf?", "café".as_bytes()), "? is one byte");
/// assert!(redis_matches(b"a\\*b", b"a*b"));
/// assert!(redis_matches(b"[a-c]x", b"bx"));
/// ```
pub fn redis_matches(pattern: &[u8], subject: &[u8]) -> bool {
    let tokens = tokenize(pattern);
    // row[j]: the tokens so far match the first j bytes of the subject.
    let mut row = vec![false; subject.len() + 1];
    row[0] = true;
    for t in &tokens {
        let mut next = vec![false; subject.len() + 1];
        next[0] = row[0] && matches!(t, Token::Star);
        for j in 1..=subject.len() {
            let b = subject[j - 1];
            next[j] = match t {
                Token::Star => row[j] || next[j - 1],
                Token::AnyByte => row[j - 1],
                Token::Byte(c) => row[j - 1] && *c == b,
                Token::Class { negate, ranges } => {
                    row[j - 1] && (ranges.iter().any(|&(lo, hi)| lo <= b && b <= hi) != *negate)
                }
            };
        }
        row = next;
    }
    row[subject.len()]
}

/// Fuzz target `redis_match`: for any key prefix, pattern and key (the input split at two
/// 0xFF bytes), the `MATCH` pattern that `build(prefix, pattern)` makes selects every key of
/// the cache that the contract's glob matches (a superset, filtered afterwards), and no key
/// outside the cache's prefix.
///
/// ```
/// // A stand-in builder; the real one is cache_redis::match_pattern.
/// let build = |prefix: &str, _pattern: &str| [prefix.as_bytes(), b"*"].concat();
/// redis_test_support::glob::check_match_form(b"p:\xffa*\xffabc", build);
/// ```
pub fn check_match_form(data: &[u8], build: impl Fn(&str, &str) -> Vec<u8>) {
    if data.len() > 600 {
        return; // quadratic checks; long inputs add only time
    }
    let mut parts = data.splitn(3, |&b| b == 0xff);
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or(&[])).into_owned();
    let (prefix, pattern, key) = (next(), next(), next());
    let form = build(&prefix, &pattern);
    let full = [prefix.as_bytes(), key.as_bytes()].concat();
    if cache_core::Pattern::new(&pattern).matches(&key) {
        assert!(
            redis_matches(&form, &full),
            "MATCH {:?} misses key {key:?} of pattern {pattern:?} (prefix {prefix:?})",
            String::from_utf8_lossy(&form)
        );
    }
    // A key of another cache (here: the bare key, or the key under a changed prefix) is
    // selected only if it really lies under this cache's prefix.
    for foreign in [key.as_bytes().to_vec(), [b"x", full.as_slice()].concat()] {
        if redis_matches(&form, &foreign) {
            assert!(
                foreign.starts_with(prefix.as_bytes()),
                "MATCH {:?} selects {:?} outside prefix {prefix:?}",
                String::from_utf8_lossy(&form),
                String::from_utf8_lossy(&foreign)
            );
        }
    }
}
