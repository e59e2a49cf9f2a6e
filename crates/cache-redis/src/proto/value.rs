//! How values are stored: by the cache's codec ([`cache_core::codec`]), except `i64`s,
//! which are stored as plain decimal strings whatever the codec. That is the form `INCRBY` reads and writes, so a counter made by `incr` and
//! an `i64` written by `set` are the same thing, `get::<i64>` reads both, and `redis-cli GET`
//! shows the number.

use std::any::{Any, TypeId};

use cache_core::codec::{self, Codec, Encoding};
use cache_core::CacheError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::proto::command::{arg_of_parts, Command};

/// Appends the stored form of `value` to `cmd` as its next argument: a decimal integer for
/// an `i64` (whatever the codec), else what the cache's codec (and compression) makes of it,
/// encoded in the command's scratch buffer; a byte value that is stored as it is goes from
/// its own buffer into the command's. A stored form over `max_bytes` is refused
/// ([`too_large`]) before it is copied into the command.
pub(crate) fn write_arg<C: Codec, V: Serialize + DeserializeOwned + 'static>(
    cmd: &mut Command,
    encoding: &Encoding<C>,
    key: &str,
    value: &V,
    max_bytes: usize,
) -> Result<(), CacheError> {
    let (cmd, scratch) = cmd.parts();
    if let Some(n) = (value as &dyn Any).downcast_ref::<i64>() {
        // Decimal, as `to_string` writes it.
        cmd.arg(*n);
        return Ok(());
    }
    scratch.clear();
    let run = encoding.encode_parts(scratch, key, value)?;
    let len = scratch.len() + run.map_or(0, <[u8]>::len);
    if len > max_bytes {
        return Err(too_large(key, len, max_bytes));
    }
    match run {
        Some(run) => arg_of_parts(cmd, &[scratch, run]),
        None => {
            cmd.arg(&scratch[..]);
        }
    }
    Ok(())
}

/// The error of a value of `len` bytes (encoded) for `key`, over the limit `max_bytes`.
fn too_large(key: &str, len: usize, max_bytes: usize) -> CacheError {
    CacheError::invalid_input(format!(
        "the value for key {:?} is {len} bytes encoded, over the limit of {max_bytes} bytes \
         (RedisConfig::max_value_bytes, for the server's proto-max-bulk-len); it was not sent",
        crate::proto::failure::short(key)
    ))
}

/// The value stored as `bytes`, if it is a `V`: for `V = i64`, a decimal integer as Redis
/// writes them; else (or failing that) what the cache's codec reads. A byte value stored as
/// it is ([`Encoding::byte_run_start`]) keeps the buffer of `bytes`, its head cut off,
/// instead of being copied into one of its own.
pub(crate) fn decode<C: Codec, V: DeserializeOwned + 'static>(
    encoding: &Encoding<C>,
    mut bytes: Vec<u8>,
) -> Option<V> {
    if TypeId::of::<V>() == TypeId::of::<i64>() {
        if let Some(n) = parse_counter(&bytes) {
            let n: Box<dyn Any> = Box::new(n);
            return n.downcast::<V>().ok().map(|v| *v);
        }
    }
    if let Some(at) = encoding.byte_run_start::<V>(&bytes, bytes.len() as u64) {
        bytes.drain(..at);
        return codec::bytes_into(bytes);
    }
    encoding.decode(&bytes)
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
    use cache_core::codec;
    use cache_core::codec::{Json, Postcard, Raw};

    /// The argument [`write_arg`] writes.
    fn encode_with<C: Codec, V: Serialize + DeserializeOwned + 'static>(
        encoding: &Encoding<C>,
        key: &str,
        value: &V,
    ) -> Result<Vec<u8>, CacheError> {
        let mut cmd = Command::new("SET", 1, 0);
        write_arg(&mut cmd, encoding, key, value, usize::MAX)?;
        let arg = match cmd.args_iter().nth(1) {
            Some(redis::Arg::Simple(arg)) => arg.to_vec(),
            _ => panic!("one argument written"),
        };
        Ok(arg)
    }

    fn encode<V: Serialize + DeserializeOwned + 'static>(
        key: &str,
        value: &V,
    ) -> Result<Vec<u8>, CacheError> {
        encode_with(&Encoding::new(Postcard), key, value)
    }

    fn decode<V: DeserializeOwned + 'static>(bytes: &[u8]) -> Option<V> {
        super::decode(&Encoding::new(Postcard), bytes.to_vec())
    }

    #[test]
    fn i64_values_are_decimal_whatever_the_codec() {
        let json = Encoding::new(Json);
        assert_eq!(encode_with(&json, "k", &-5i64).unwrap(), b"-5");
        assert_eq!(super::decode::<_, i64>(&json, b"-5".to_vec()), Some(-5));
        assert_eq!(encode_with(&json, "k", &5u64).unwrap(), b"5");
        assert_eq!(super::decode::<_, u64>(&json, b"5".to_vec()), Some(5));
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
    fn byte_values_are_written_and_read_as_the_codec_stores_them() {
        let postcard = Encoding::new(Postcard);
        let packed = Encoding::new(Postcard).compress_above(100);
        let raw = Encoding::new(Raw);
        for v in [
            Vec::new(),
            vec![7u8; 64],
            vec![0u8; 5000],
            b"\xFFLZ4 frame".to_vec(),
        ] {
            for e in [&postcard, &packed] {
                let stored = encode_with(e, "k", &v).unwrap();
                assert_eq!(stored, e.encode("k", &v).unwrap());
                assert_eq!(
                    super::decode::<_, Vec<u8>>(e, stored.clone()).as_ref(),
                    Some(&v)
                );
                assert_eq!(super::decode::<_, String>(e, stored), None);
            }
            let stored = encode_with(&raw, "k", &v).unwrap();
            assert_eq!(stored, raw.encode("k", &v).unwrap());
            assert_eq!(super::decode::<_, Vec<u8>>(&raw, stored).as_ref(), Some(&v));
        }
        // A value that is not a run of bytes goes through the codec's encoder, and the
        // scratch buffer of the one before does not leak into it.
        let text = encode_with(&postcard, "k", &"abc".to_string()).unwrap();
        assert_eq!(text, postcard.encode("k", &"abc".to_string()).unwrap());
        assert_eq!(
            super::decode::<_, String>(&postcard, text).as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn values_over_the_limit_are_refused_naming_it() {
        let raw = Encoding::new(Raw);
        let fits = |v: &Vec<u8>, max| {
            let mut cmd = Command::new("SET", 1, 0);
            write_arg(&mut cmd, &raw, "big", v, max)
        };
        fits(&vec![1u8; 100], 100).expect("at the limit");
        let err = fits(&vec![1u8; 101], 100).expect_err("over the limit");
        assert!(matches!(err, CacheError::InvalidInput { .. }), "{err:?}");
        let text = err.to_string();
        for part in [
            "\"big\"",
            "101 bytes",
            "limit of 100 bytes",
            "max_value_bytes",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        // Compressed: the size that counts is the one sent.
        let packed = Encoding::new(Raw).compress_above(10);
        let mut cmd = Command::new("SET", 1, 0);
        write_arg(&mut cmd, &packed, "k", &vec![0u8; 1000], 100).expect("compressed under");
        // Counters are decimal: 20 bytes at most.
        let mut cmd = Command::new("SET", 1, 0);
        write_arg(&mut cmd, &raw, "k", &i64::MIN, 20).expect("a counter");
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
