//! Values that are one run of bytes (`Vec<u8>`, `serde_bytes::ByteBuf`), handled without
//! serde: postcard writes both as a varint length and the bytes, and serde would read and
//! write a `Vec<u8>` element by element (and copy a `ByteBuf` out of the buffer it was read
//! into). The shortcuts here write and accept exactly postcard's bytes (the tests compare).

use std::any::{Any, TypeId};

use serde_bytes::ByteBuf;

/// Bytes of postcard's longest `usize` varint (64-bit).
const VARINT_MAX: usize = 10;

/// Whether `V` is one of the byte types the shortcuts know.
pub(crate) fn is_bytes<V: 'static>() -> bool {
    let t = TypeId::of::<V>();
    t == TypeId::of::<Vec<u8>>() || t == TypeId::of::<ByteBuf>()
}

/// The bytes of `value` when it is a `Vec<u8>` or a `ByteBuf`.
pub(crate) fn as_bytes<V: 'static>(value: &V) -> Option<&[u8]> {
    let any: &dyn Any = value;
    match any.downcast_ref::<Vec<u8>>() {
        Some(v) => Some(v),
        None => any.downcast_ref::<ByteBuf>().map(|b| b.as_slice()),
    }
}

/// `bytes` as a `V`, without a copy, when `V` is `Vec<u8>` or `ByteBuf`; `None` for any
/// other type.
///
/// ```
/// use cache_core::codec::bytes_into;
/// assert_eq!(bytes_into::<Vec<u8>>(vec![1, 2]), Some(vec![1, 2]));
/// assert_eq!(bytes_into::<serde_bytes::ByteBuf>(vec![3]).map(|b| b.into_vec()), Some(vec![3]));
/// assert_eq!(bytes_into::<String>(b"text".to_vec()), None);
/// ```
pub fn bytes_into<V: 'static>(bytes: Vec<u8>) -> Option<V> {
    let t = TypeId::of::<V>();
    let boxed: Box<dyn Any> = if t == TypeId::of::<Vec<u8>>() {
        Box::new(bytes)
    } else if t == TypeId::of::<ByteBuf>() {
        Box::new(ByteBuf::from(bytes))
    } else {
        return None;
    };
    boxed.downcast::<V>().ok().map(|v| *v)
}

/// Appends `n` as postcard writes a `usize` (LEB128, least significant group first).
pub(crate) fn push_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The `usize` varint at the start of `b` and its length in bytes, accepting exactly what
/// postcard's reader accepts (up to 10 bytes, the last carrying at most 1 bit).
pub(crate) fn take_varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut out = 0u64;
    for (i, &byte) in b.iter().take(VARINT_MAX).enumerate() {
        out |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            if i == VARINT_MAX - 1 && byte > 1 {
                return None;
            }
            return Some((usize::try_from(out).ok()?, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const LENS: [usize; 9] = [0, 1, 127, 128, 300, 16_383, 16_384, 70_000, 1 << 20];

    #[test]
    fn varints_are_postcards() {
        for n in LENS.into_iter().chain([usize::MAX, u32::MAX as usize + 1]) {
            let mut ours = Vec::new();
            push_varint(&mut ours, n);
            assert_eq!(ours, postcard::to_stdvec(&n).unwrap(), "{n}");
            assert_eq!(take_varint(&ours), Some((n, ours.len())));
        }
        // What postcard refuses: too long, an 11th byte, a last byte over 1 bit.
        assert_eq!(take_varint(&[0x80; 10]), None);
        assert_eq!(take_varint(&[]), None);
        let mut big = vec![0xFF; 9];
        big.push(2);
        assert!(postcard::from_bytes::<usize>(&big).is_err());
        assert_eq!(take_varint(&big), None);
        // An over-long encoding postcard accepts, so do we.
        assert_eq!(postcard::from_bytes::<usize>(&[0x81, 0x00]).unwrap(), 1);
        assert_eq!(take_varint(&[0x81, 0x00]), Some((1, 2)));
    }

    #[test]
    fn the_shortcuts_are_postcards_bytes() {
        use crate::codec::{Codec, Postcard, ENVELOPE_HEADER_LEN};
        for len in LENS {
            let v: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let b = ByteBuf::from(v.clone());
            let mut ours = Vec::new();
            Postcard.encode(&v, &mut ours).unwrap();
            assert_eq!(
                ours[ENVELOPE_HEADER_LEN..],
                postcard::to_stdvec(&v).unwrap()
            );
            assert_eq!(Postcard.decode::<Vec<u8>>(&ours).as_ref(), Some(&v));
            let start = Postcard.byte_run_start::<Vec<u8>>(&ours, ours.len() as u64);
            assert_eq!(&ours[start.unwrap()..], &v[..]);
            let mut ours = Vec::new();
            Postcard.encode(&b, &mut ours).unwrap();
            assert_eq!(
                ours[ENVELOPE_HEADER_LEN..],
                postcard::to_stdvec(&b).unwrap()
            );
            assert_eq!(Postcard.decode::<ByteBuf>(&ours).as_ref(), Some(&b));
            // Postcard's own reader agrees with what the shortcut reads.
            let theirs: Vec<u8> = postcard::from_bytes(&ours[ENVELOPE_HEADER_LEN..]).unwrap();
            assert_eq!(theirs, v);
            // A byte short, a byte over, or a wrong total: no shortcut, no value.
            let n = ours.len();
            assert_eq!(Postcard.decode::<ByteBuf>(&ours[..n - 1]), None);
            ours.push(0);
            assert_eq!(Postcard.decode::<ByteBuf>(&ours), None);
            assert_eq!(
                Postcard.byte_run_start::<ByteBuf>(&ours, n as u64 + 1),
                None
            );
            assert!(Postcard
                .byte_run_start::<ByteBuf>(&ours, n as u64)
                .is_some());
            // Another type's tag.
            assert_eq!(Postcard.byte_run_start::<Vec<u8>>(&ours, n as u64), None);
        }
    }

    #[test]
    fn split_encodings_are_whole_ones() {
        use crate::codec::{Encoding, Json, Postcard, Raw};
        for len in LENS {
            let v: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let b = ByteBuf::from(v.clone());
            let whole = |e: &Encoding<Postcard>| e.encode("k", &v).unwrap();
            for e in [
                Encoding::new(Postcard),
                Encoding::new(Postcard).compress_above(1 << 30),
            ] {
                let mut head = Vec::new();
                let run = e.encode_split(&mut head, &v).unwrap();
                assert_eq!([&head[..], run].concat(), whole(&e));
                let mut head = Vec::new();
                let run = e.encode_split(&mut head, &b).unwrap();
                assert_eq!([&head[..], run].concat(), e.encode("k", &b).unwrap());
            }
            let raw = Encoding::new(Raw);
            let mut head = Vec::new();
            assert_eq!(raw.encode_split(&mut head, &v), Some(&v[..]));
            assert!(head.is_empty());
            // Compressed, not a byte type, or a codec without the shortcut: not split.
            let mut head = b"kept".to_vec();
            let packed = Encoding::new(Postcard).compress_above(64);
            if len > 64 {
                assert_eq!(packed.encode_split(&mut head, &v), None);
            }
            assert_eq!(Encoding::new(Json).encode_split(&mut head, &v), None);
            assert_eq!(Encoding::new(Postcard).encode_split(&mut head, &len), None);
            assert_eq!(head, b"kept");
        }
        // Raw bytes that look like a frame are framed, so not split.
        let framelike = b"\xFFLZ4 and more".to_vec();
        assert_eq!(
            Encoding::new(Raw).encode_split(&mut Vec::new(), &framelike),
            None
        );
    }

    #[test]
    fn byte_types_are_recognised_and_converted() {
        assert!(is_bytes::<Vec<u8>>() && is_bytes::<ByteBuf>());
        assert!(!is_bytes::<Vec<u16>>() && !is_bytes::<String>());
        let v = vec![1u8, 2, 3];
        assert_eq!(as_bytes(&v), Some(&[1u8, 2, 3][..]));
        assert_eq!(as_bytes(&ByteBuf::from(v.clone())), Some(&[1u8, 2, 3][..]));
        assert_eq!(as_bytes(&"abc".to_string()), None);
        assert_eq!(bytes_into::<Vec<u16>>(v), None);
    }
}
