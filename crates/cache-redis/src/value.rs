//! How values are stored: by the cache's codec ([`cache_core::codec`]), except `i64`s,
//! which are stored as plain decimal strings whatever the codec. That is the form `INCRBY` reads and writes, so a counter made by `incr` and
//! an `i64` written by `set` are the same thing, `get::<i64>` reads both, and `redis-cli GET`
//! shows the number.

use std::any::{Any, TypeId};

use cache_core::codec::{Codec, Encoding};
use cache_core::CacheError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The stored form of `value`: a decimal integer for an `i64` (whatever the codec), else
/// what the cache's codec (and compression) makes of it.
pub(crate) fn encode<C: Codec, V: Serialize + DeserializeOwned + 'static>(
    encoding: &Encoding<C>,
    key: &str,
    value: &V,
) -> Result<Vec<u8>, CacheError> {
    match (value as &dyn Any).downcast_ref::<i64>() {
        Some(n) => Ok(n.to_string().into_bytes()),
        None => encoding.encode(key, value),
    }
}

/// The value stored as `bytes`, if it is a `V`: for `V = i64`, a decimal integer as Redis
/// writes them; else (or failing that) what the cache's codec reads.
pub(crate) fn decode<C: Codec, V: DeserializeOwned + 'static>(
    encoding: &Encoding<C>,
    bytes: &[u8],
) -> Option<V> {
    if TypeId::of::<V>() == TypeId::of::<i64>() {
        if let Some(n) = parse_counter(bytes) {
            let n: Box<dyn Any> = Box::new(n);
            return n.downcast::<V>().ok().map(|v| *v);
        }
    }
    encoding.decode(bytes)
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
    use cache_core::codec::{self, Json, Postcard};

    fn encode<V: Serialize + DeserializeOwned + 'static>(
        key: &str,
        value: &V,
    ) -> Result<Vec<u8>, CacheError> {
        super::encode(&Encoding::new(Postcard), key, value)
    }

    fn decode<V: DeserializeOwned + 'static>(bytes: &[u8]) -> Option<V> {
        super::decode(&Encoding::new(Postcard), bytes)
    }

    #[test]
    fn i64_values_are_decimal_whatever_the_codec() {
        let json = Encoding::new(Json);
        assert_eq!(super::encode(&json, "k", &-5i64).unwrap(), b"-5");
        assert_eq!(super::decode::<_, i64>(&json, b"-5"), Some(-5));
        assert_eq!(super::encode(&json, "k", &5u64).unwrap(), b"5");
        assert_eq!(super::decode::<_, u64>(&json, b"5"), Some(5));
    }

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
