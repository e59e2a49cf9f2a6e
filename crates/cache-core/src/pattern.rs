use std::fmt;

use wildmatch::WildMatch;

/// A `delete_pattern` glob, matched over whole keys, case-sensitively, character by
/// character: `*` matches any run of characters (none included), `?` exactly one character,
/// and every other character (`[`, `]`, `\` included) only itself.
///
/// Every backend matches with this type, so the same pattern deletes the same keys everywhere.
///
/// ```
/// use cache_core::Pattern;
///
/// let p = Pattern::new("user:*:caf?");
/// assert!(p.matches("user:42:café"));
/// assert!(!p.matches("user:42:cafe!!"));
/// assert!(Pattern::new("[a]").matches("[a]"));
/// assert!(!Pattern::new("[a]").matches("a"));
/// assert_eq!(Pattern::new("user:*").literal_prefix(), "user:");
/// ```
#[derive(Clone)]
pub struct Pattern {
    source: Box<str>,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    /// `*` (or `**`...): every key.
    Any,
    /// No wildcard: one exact key.
    Literal,
    /// `literal*`: a prefix test.
    Prefix(usize),
    General(WildMatch),
}

impl Pattern {
    /// Parses `pattern`; every string is a valid pattern.
    ///
    /// ```
    /// assert!(cache_core::Pattern::new("").matches(""));
    /// ```
    pub fn new(pattern: &str) -> Self {
        let first_wild = pattern.find(['*', '?']);
        let kind = match first_wild {
            None => Kind::Literal,
            Some(_) if pattern.chars().all(|c| c == '*') => Kind::Any,
            Some(i) if i + 1 == pattern.len() && pattern.ends_with('*') => Kind::Prefix(i),
            Some(_) => Kind::General(WildMatch::new(pattern)),
        };
        Pattern {
            source: pattern.into(),
            kind,
        }
    }

    /// Whether `key` matches the whole pattern.
    ///
    /// ```
    /// let p = cache_core::Pattern::new("a?c");
    /// assert!(p.matches("abc"));
    /// assert!(!p.matches("ac"));
    /// ```
    #[inline]
    pub fn matches(&self, key: &str) -> bool {
        match &self.kind {
            Kind::Any => true,
            Kind::Literal => key == &*self.source,
            Kind::Prefix(n) => key.starts_with(&self.source[..*n]),
            Kind::General(w) => w.matches(key),
        }
    }

    /// The pattern as written.
    ///
    /// ```
    /// assert_eq!(cache_core::Pattern::new("a*").as_str(), "a*");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The characters before the first wildcard: every matching key starts with them.
    ///
    /// ```
    /// assert_eq!(cache_core::Pattern::new("ab?d*").literal_prefix(), "ab");
    /// assert_eq!(cache_core::Pattern::new("abc").literal_prefix(), "abc");
    /// ```
    pub fn literal_prefix(&self) -> &str {
        match self.source.find(['*', '?']) {
            Some(i) => &self.source[..i],
            None => &self.source,
        }
    }

    /// Whether the pattern has no wildcard, so that it matches exactly one key.
    ///
    /// ```
    /// assert!(cache_core::Pattern::new("a[b]").is_literal());
    /// assert!(!cache_core::Pattern::new("a?").is_literal());
    /// ```
    pub fn is_literal(&self) -> bool {
        matches!(self.kind, Kind::Literal)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.source).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    /// A direct dynamic-programming matcher over chars, the reference for the fast paths.
    fn reference(p: &[char], k: &[char]) -> bool {
        let mut dp = vec![vec![false; k.len() + 1]; p.len() + 1];
        dp[0][0] = true;
        for i in 1..=p.len() {
            dp[i][0] = dp[i - 1][0] && p[i - 1] == '*';
            for j in 1..=k.len() {
                dp[i][j] = match p[i - 1] {
                    '*' => dp[i - 1][j] || dp[i][j - 1],
                    '?' => dp[i - 1][j - 1],
                    c => dp[i - 1][j - 1] && c == k[j - 1],
                };
            }
        }
        dp[p.len()][k.len()]
    }

    #[test]
    fn agrees_with_reference_on_small_alphabet() {
        let alphabet = ['a', 'é', '*', '?', '[', '\\'];
        let mut strings = vec![String::new()];
        for _ in 0..3 {
            let mut next = Vec::new();
            for s in &strings {
                for c in alphabet {
                    let mut t = s.clone();
                    t.push(c);
                    next.push(t);
                }
            }
            strings.extend(next);
            strings.sort();
            strings.dedup();
        }
        for p in &strings {
            let pat = Pattern::new(p);
            let pc: Vec<char> = p.chars().collect();
            for k in &strings {
                let kc: Vec<char> = k.chars().collect();
                assert_eq!(
                    pat.matches(k),
                    reference(&pc, &kc),
                    "pattern {p:?} key {k:?}"
                );
            }
        }
    }

    #[test]
    fn fast_paths() {
        assert!(Pattern::new("*").matches(""));
        assert!(Pattern::new("**").matches("anything"));
        assert!(Pattern::new("ab*").matches("ab"));
        assert!(!Pattern::new("ab*").matches("a"));
        assert!(Pattern::new("é*").matches("éa"));
        assert!(!Pattern::new("A*").matches("a"));
    }

    #[test]
    fn long_pathological_pattern_finishes() {
        let key = "a".repeat(10_000);
        let pat = Pattern::new(&format!("{}b", "*a".repeat(50)));
        assert!(!pat.matches(&key));
    }
}
