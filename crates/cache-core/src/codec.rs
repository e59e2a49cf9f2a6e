//! The value envelope of the serializing backends (feature `codec`): an 8-byte type tag, then
//! the value in `postcard`. The tag makes a value read as another type than it was written as
//! a miss (postcard alone encodes `String` and `Vec<u8>` alike); decoding also refuses
//! trailing bytes.
//!
//! ```
//! use cache_core::codec;
//!
//! let bytes = codec::encode("k", &"hello".to_string())?;
//! assert_eq!(codec::decode::<String>(&bytes).as_deref(), Some("hello"));
//! assert_eq!(codec::decode::<Vec<u8>>(&bytes), None);
//! # Ok::<(), cache_core::CacheError>(())
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::CacheError;

/// Bytes of the type tag at the start of an envelope.
pub const TAG_LEN: usize = 8;

/// A fingerprint of `V`'s type: FNV-1a over `std::any::type_name::<V>()`. Type names are not
/// promised stable across compiler versions; where one changes, old entries read as misses,
/// never as wrong values.
///
/// ```
/// use cache_core::codec::type_tag;
/// assert_eq!(type_tag::<u64>(), type_tag::<u64>());
/// assert_ne!(type_tag::<String>(), type_tag::<Vec<u8>>());
/// ```
pub fn type_tag<V: ?Sized>() -> u64 {
    std::any::type_name::<V>()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// Appends the envelope of `value` to `buf`. `key` only names the entry in the error.
///
/// ```
/// let mut buf = Vec::new();
/// cache_core::codec::encode_into(&mut buf, "k", &7u32)?;
/// assert_eq!(buf.len(), cache_core::codec::TAG_LEN + 1);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
pub fn encode_into<V: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    key: &str,
    value: &V,
) -> Result<(), CacheError> {
    let start = buf.len();
    buf.extend_from_slice(&type_tag::<V>().to_le_bytes());
    if let Err(e) = postcard::to_io(value, &mut *buf) {
        buf.truncate(start);
        return Err(CacheError::Serialize {
            key: key.to_owned(),
            message: e.to_string(),
        });
    }
    Ok(())
}

/// The envelope of `value` as a new buffer.
///
/// ```
/// let bytes = cache_core::codec::encode("k", &vec![1u8, 2, 3])?;
/// assert_eq!(cache_core::codec::decode::<Vec<u8>>(&bytes), Some(vec![1, 2, 3]));
/// # Ok::<(), cache_core::CacheError>(())
/// ```
pub fn encode<V: Serialize + ?Sized>(key: &str, value: &V) -> Result<Vec<u8>, CacheError> {
    let mut buf = Vec::new();
    encode_into(&mut buf, key, value)?;
    Ok(buf)
}

/// The value in an envelope, or `None` when the bytes are short, carry another type's tag,
/// do not decode as `V`, or have bytes left over.
///
/// ```
/// use cache_core::codec;
/// assert_eq!(codec::decode::<u64>(&[]), None);
/// let bytes = codec::encode("k", &5u64)?;
/// assert_eq!(codec::decode::<u32>(&bytes), None);
/// assert_eq!(codec::decode::<u64>(&bytes[..bytes.len() - 1]), None);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
pub fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Option<V> {
    let (tag, payload) = bytes.split_first_chunk::<TAG_LEN>()?;
    if u64::from_le_bytes(*tag) != type_tag::<V>() {
        return None;
    }
    match postcard::take_from_bytes::<V>(payload) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}
