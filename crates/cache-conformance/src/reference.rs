//! Reference implementations that the fast code is checked against: plain, obviously
//! correct, and slow.

/// The contract's glob, as a dynamic program over characters: `*` any run, `?` one
/// character, every other character itself.
///
/// ```
/// use cache_conformance::reference::glob_matches;
/// assert!(glob_matches("caf?", "café"));
/// assert!(glob_matches("[a]*", "[a]bc"));
/// assert!(!glob_matches("a", "A"));
/// ```
pub fn glob_matches(pattern: &str, key: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let k: Vec<char> = key.chars().collect();
    // row[j]: does the pattern so far match the first j characters of the key?
    let mut row = vec![false; k.len() + 1];
    row[0] = true;
    for &pc in &p {
        let mut next = vec![false; k.len() + 1];
        next[0] = row[0] && pc == '*';
        for j in 1..=k.len() {
            next[j] = match pc {
                '*' => row[j] || next[j - 1],
                '?' => row[j - 1],
                c => row[j - 1] && c == k[j - 1],
            };
        }
        row = next;
    }
    row[k.len()]
}
