//! How values are stored: [`codec`] envelopes, except `i64`s, which are stored as plain
//! decimal strings. That is the form `INCRBY` reads and writes, so a counter made by `incr` and
//! an `i64` written by `set` are the same thing, `get::<i64>` reads both, and `redis-cli GET`
//! shows the number.

use cache_core::{codec, CacheError};
use serde::de::DeserializeOwned;
use serde::Serialize;

fn is_i64<V: ?Sized>() -> bool {
    codec::type_tag::<V>() == codec::type_tag::<i64>()
}

/// The stored form of `value`.
pub(crate) fn encode<V: Serialize>(key: &str, value: &V) -> Result<Vec<u8>, CacheError> {
    let envelope = codec::encode(key, value)?;
    if is_i64::<V>() {
        if let Some(n) = codec::decode::<i64>(&envelope) {
            return Ok(n.to_string().into_bytes());
        }
    }
    Ok(envelope)
}

/// The value stored as `bytes`, if it is a `V`: an envelope of `V`, or, for `V = i64`, a
/// decimal integer as Redis writes them.
pub(crate) fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Option<V> {
    if is_i64::<V>() {
        if let Some(n) = parse_counter(bytes) {
            return codec::decode(&codec::encode("", &n).ok()?);
        }
    }
    codec::decode(bytes)
}

/// A decimal integer in the one form Redis writes: an optional `-`, digits, no leading zero.
pub(crate) fn parse_counter(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let n: i64 = std::str::from_utf8(bytes).ok()?.parse().ok()?;
    (n.to_string().as_bytes() == bytes).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i64_values_are_decimal_and_others_are_envelopes() {
        for n in [0i64, 1, -1, 42, i64::MAX, i64::MIN] {
            let stored = encode("k", &n).unwrap();
            assert_eq!(stored, n.to_string().as_bytes());
            assert_eq!(decode::<i64>(&stored), Some(n));
            assert_eq!(decode::<u64>(&stored), None);
            assert_eq!(decode::<String>(&stored), None);
            // An envelope of an i64 (written by an older version) still reads.
            assert_eq!(decode::<i64>(&codec::encode("k", &n).unwrap()), Some(n));
            assert_eq!(parse_counter(&codec::encode("k", &n).unwrap()), None);
        }
        let text = encode("k", &"12".to_string()).unwrap();
        assert_eq!(text, codec::encode("k", &"12".to_string()).unwrap());
        assert_eq!(decode::<i64>(&text), None);
        assert_eq!(decode::<String>(&text).as_deref(), Some("12"));
    }

    #[test]
    fn only_the_canonical_decimal_form_is_a_counter() {
        for bad in [
            "",
            "-",
            "+1",
            "01",
            "-0",
            " 1",
            "1 ",
            "1.0",
            "9223372036854775808",
            "abc",
        ] {
            assert_eq!(parse_counter(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse_counter(b"-9223372036854775808"), Some(i64::MIN));
    }
}
