//! The compressed frame: what [`Encoding::compress_above`](super::Encoding::compress_above)
//! stores instead of a codec's bytes when lz4 makes them smaller. All integers little-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `FF 4C 5A 34` (`\xFFLZ4`) |
//! | 4 | 4 | length of the codec's bytes, uncompressed |
//! | 8 | 4 | CRC-32 (IEEE) of the codec's bytes, uncompressed |
//! | 12 | rest | the codec's bytes, one lz4 block (`lz4_flex::block`) |
//!
//! `0xFF` never starts UTF-8 text, JSON or the default envelope, so a frame is told from a
//! codec's bytes by its magic. Codec bytes that start with the magic themselves (raw bytes)
//! are always stored framed, so they read back exactly; bytes another client wrote that
//! start with it are read as themselves unless the length, the lz4 block and the CRC all
//! check out.

/// The first four bytes of a compressed frame.
pub const MAGIC: [u8; 4] = *b"\xFFLZ4";
/// Bytes before the lz4 block.
pub const FRAME_HEADER_LEN: usize = 12;
/// lz4 cannot expand a block by more than this factor (a 255-byte run per literal byte, plus
/// slack): a length past it is not a frame, whatever it announces.
const MAX_RATIO: usize = 255;

/// Appends the frame of `plain` to `out` if it is shorter than `plain` (or whatever its size
/// when `force`); `false` (and `out` unchanged) when compressing does not pay or `plain` is
/// 4 GiB or larger.
pub(crate) fn compress_into(plain: &[u8], out: &mut Vec<u8>, force: bool) -> bool {
    let Ok(len) = u32::try_from(plain.len()) else {
        return false;
    };
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(plain).to_le_bytes());
    let at = out.len();
    out.resize(
        at + lz4_flex::block::get_maximum_output_size(plain.len()),
        0,
    );
    match lz4_flex::block::compress_into(plain, &mut out[at..]) {
        Ok(n) if force || FRAME_HEADER_LEN + n < plain.len() => {
            out.truncate(at + n);
            true
        }
        _ => {
            out.truncate(start);
            false
        }
    }
}

/// The codec's bytes inside `bytes` if it is a whole, intact frame; `None` otherwise (the
/// bytes are then a codec's own).
pub(crate) fn decompress(bytes: &[u8]) -> Option<Vec<u8>> {
    let rest = bytes.strip_prefix(&MAGIC)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let (crc, block) = rest.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > block.len().saturating_mul(MAX_RATIO).saturating_add(16) {
        return None;
    }
    let plain = lz4_flex::block::decompress(block, len).ok()?;
    (plain.len() == len && crc32fast::hash(&plain) == u32::from_le_bytes(*crc)).then_some(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_only_when_smaller() {
        let plain = b"abcabcabc".repeat(1000);
        let mut out = vec![7];
        assert!(compress_into(&plain, &mut out, false));
        assert!(out.len() < plain.len() / 10);
        assert_eq!(decompress(&out[1..]), Some(plain));
        let mut out = Vec::new();
        assert!(!compress_into(b"short", &mut out, false));
        assert!(out.is_empty());
        assert!(compress_into(b"short", &mut out, true));
        assert_eq!(decompress(&out).as_deref(), Some(&b"short"[..]));
    }

    #[test]
    fn damaged_frames_are_not_frames() {
        let plain = vec![42u8; 4096];
        let mut frame = Vec::new();
        assert!(compress_into(&plain, &mut frame, false));
        let mut bad = frame.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(decompress(&bad), None);
        let mut bad = frame.clone();
        bad[8] ^= 1; // the CRC
        assert_eq!(decompress(&bad), None);
        let mut huge = frame.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decompress(&huge), None);
        assert_eq!(decompress(&frame[..FRAME_HEADER_LEN - 1]), None);
        assert_eq!(decompress(b"plain bytes"), None);
    }
}
