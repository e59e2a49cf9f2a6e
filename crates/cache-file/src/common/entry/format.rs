//! The entry file format (version 2): a fixed 48-byte header, the key's stored name, then
//! the payload (the value as the cache's [`cache_core::codec::Encoding`] stores it). All
//! integers are little-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `FBCACHE\0` |
//! | 8 | 2 | format version (2) |
//! | 10 | 2 | reserved, 0 |
//! | 12 | 4 | name length in bytes |
//! | 16 | 8 | written at, ns since the Unix epoch |
//! | 24 | 8 | TTL in ns, `u64::MAX` = never expires |
//! | 32 | 8 | payload length in bytes |
//! | 40 | 4 | CRC-32 of the payload |
//! | 44 | 4 | CRC-32 of bytes 0..44 and the name |
//! | 48 | name length | the name: the key (UTF-8), then for versions other than 1 `0xFF` and the version in decimal ([`cache_core::codec::versioned_name`]) |
//! | 48 + name length | payload length | the payload: the codec's bytes, or their compressed frame |
//!
//! Version 1 files (the same header, a version-1 envelope as payload) read as corrupt: a miss,
//! and removed.
//!
//! The header checksum covers the key, so a scan (`delete_pattern`, `purge_expired`) can trust
//! a key without reading the payload; the payload checksum catches torn and corrupted values.

use std::time::Duration;

use cache_core::{CacheError, Timestamp};

/// The first eight bytes of every entry file.
pub const MAGIC: [u8; 8] = *b"FBCACHE\0";
/// The format version this crate writes and reads.
pub const VERSION: u16 = 2;
/// Bytes of the fixed header before the key.
pub const HEADER_LEN: usize = 48;
/// The stored TTL that means "never expires".
const NEVER: u64 = u64::MAX;
/// Where the header checksum sits; it covers everything before it, and the key.
const HEADER_CRC_AT: usize = 44;

/// Why a file is not a readable entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Shorter than the header.
    TooShort,
    /// Does not start with [`MAGIC`].
    BadMagic,
    /// A format version this crate does not read.
    UnknownVersion,
    /// The file's size is not what its header announces (torn or truncated).
    BadLength,
    /// The header or key does not match its checksum.
    HeaderChecksum,
    /// The payload does not match its checksum.
    PayloadChecksum,
}

/// The decoded fixed header of an entry file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryHeader {
    /// When the entry was written.
    pub written_at: Timestamp,
    /// Its TTL; `None` never expires.
    pub ttl: Option<Duration>,
    /// Bytes of the key.
    pub key_len: usize,
    /// Bytes of the payload.
    pub payload_len: u64,
    payload_crc: u32,
    header_crc: u32,
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[at..at + 2]);
    u16::from_le_bytes(a)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn header_crc(head: &[u8], key: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&head[..HEADER_CRC_AT]);
    h.update(key);
    h.finalize()
}

impl EntryHeader {
    /// When the entry stops being live.
    pub fn expires_at(&self) -> Timestamp {
        self.written_at.expiry(self.ttl)
    }

    /// Bytes before the payload.
    pub fn payload_offset(&self) -> usize {
        HEADER_LEN + self.key_len
    }

    /// The whole file's size, as the header announces it (`None` on overflow).
    pub fn file_len(&self) -> Option<u64> {
        (HEADER_LEN as u64 + self.key_len as u64).checked_add(self.payload_len)
    }

    /// Parses the fixed header at the start of `head`, checking magic, version and that the
    /// file is `file_len` bytes long, as announced. The key is checked by
    /// [`EntryHeader::check_key`].
    pub fn parse(head: &[u8], file_len: u64) -> Result<Self, Corruption> {
        if head.len() < HEADER_LEN || file_len < HEADER_LEN as u64 {
            return Err(Corruption::TooShort);
        }
        if head[..8] != MAGIC {
            return Err(Corruption::BadMagic);
        }
        if le_u16(head, 8) != VERSION {
            return Err(Corruption::UnknownVersion);
        }
        let ttl = match le_u64(head, 24) {
            NEVER => None,
            n => Some(Duration::from_nanos(n)),
        };
        let header = EntryHeader {
            written_at: Timestamp::from_nanos(le_u64(head, 16)),
            ttl,
            key_len: le_u32(head, 12) as usize,
            payload_len: le_u64(head, 32),
            payload_crc: le_u32(head, 40),
            header_crc: le_u32(head, HEADER_CRC_AT),
        };
        if header.file_len() != Some(file_len) {
            return Err(Corruption::BadLength);
        }
        Ok(header)
    }

    /// Checks the header checksum over the fixed header `head` and the stored `key`.
    pub fn check_key(&self, head: &[u8], key: &[u8]) -> Result<(), Corruption> {
        if header_crc(head, key) == self.header_crc {
            Ok(())
        } else {
            Err(Corruption::HeaderChecksum)
        }
    }

    /// The payload checksum the header announces.
    pub fn payload_crc(&self) -> u32 {
        self.payload_crc
    }

    /// Checks the payload checksum.
    pub fn check_payload(&self, payload: &[u8]) -> Result<(), Corruption> {
        self.check_payload_parts(&[payload])
    }

    /// Checks the payload checksum of a payload read in `parts`, one after the other.
    pub fn check_payload_parts(&self, parts: &[&[u8]]) -> Result<(), Corruption> {
        let mut h = crc32fast::Hasher::new();
        for part in parts {
            h.update(part);
        }
        if h.finalize() == self.payload_crc {
            Ok(())
        } else {
            Err(Corruption::PayloadChecksum)
        }
    }
}

/// Writes a whole entry file image into `buf` (cleared first): header, `name` (the stored
/// name of `key`, which only names it in errors), and the payload that `payload` appends.
pub fn encode_entry(
    buf: &mut Vec<u8>,
    key: &str,
    name: &[u8],
    written_at: Timestamp,
    ttl: Option<Duration>,
    payload: impl FnOnce(&mut Vec<u8>) -> Result<(), CacheError>,
) -> Result<(), CacheError> {
    encode_entry_split(buf, key, name, written_at, ttl, |b| {
        payload(b).map(|()| None)
    })?;
    Ok(())
}

/// [`encode_entry`] of an entry whose payload ends in a run of bytes kept elsewhere: the
/// run that `payload` returns (borrowed from the value) is the end of the payload, left out
/// of `buf` and returned, for the file to be written as `buf` then the run. A payload
/// without one (`None`) is all in `buf`, and the run returned is empty.
pub fn encode_entry_split<'r>(
    buf: &mut Vec<u8>,
    key: &str,
    name: &[u8],
    written_at: Timestamp,
    ttl: Option<Duration>,
    payload: impl FnOnce(&mut Vec<u8>) -> Result<Option<&'r [u8]>, CacheError>,
) -> Result<&'r [u8], CacheError> {
    let key_len = u32::try_from(name.len()).map_err(|_| {
        CacheError::invalid_input(format!(
            "a key of {} bytes is longer than the file format's 4 GiB limit",
            key.len()
        ))
    })?;
    buf.clear();
    buf.resize(HEADER_LEN, 0);
    buf.extend_from_slice(name);
    let payload_at = buf.len();
    let run = payload(buf)?.unwrap_or_default();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&buf[payload_at..]);
    crc.update(run);
    let payload_crc = crc.finalize();
    let payload_len = (buf.len() - payload_at + run.len()) as u64;
    let ttl_nanos = ttl.map_or(NEVER, |d| u64::try_from(d.as_nanos()).unwrap_or(NEVER));
    let (head, rest) = buf.split_at_mut(HEADER_LEN);
    head[..8].copy_from_slice(&MAGIC);
    head[8..10].copy_from_slice(&VERSION.to_le_bytes());
    head[10..12].copy_from_slice(&[0, 0]);
    head[12..16].copy_from_slice(&key_len.to_le_bytes());
    head[16..24].copy_from_slice(&written_at.as_nanos().to_le_bytes());
    head[24..32].copy_from_slice(&ttl_nanos.to_le_bytes());
    head[32..40].copy_from_slice(&payload_len.to_le_bytes());
    head[40..44].copy_from_slice(&payload_crc.to_le_bytes());
    let crc = header_crc(head, &rest[..name.len()]);
    head[44..48].copy_from_slice(&crc.to_le_bytes());
    Ok(run)
}

/// The file image of an entry of `key` holding `payload`, written at 7 ns, for tests.
#[cfg(test)]
pub(crate) fn entry(key: &str, payload: &[u8], ttl: Option<Duration>) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_entry(
        &mut buf,
        key,
        key.as_bytes(),
        Timestamp::from_nanos(7),
        ttl,
        |b| {
            b.extend_from_slice(payload);
            Ok(())
        },
    )
    .unwrap();
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let buf = entry("key", b"payload", Some(Duration::from_millis(3)));
        let h = EntryHeader::parse(&buf, buf.len() as u64).unwrap();
        assert_eq!(h.written_at, Timestamp::from_nanos(7));
        assert_eq!(h.ttl, Some(Duration::from_millis(3)));
        assert_eq!(h.expires_at(), Timestamp::from_nanos(3_000_007));
        assert_eq!(&buf[HEADER_LEN..h.payload_offset()], b"key");
        h.check_key(&buf, b"key").unwrap();
        h.check_payload(&buf[h.payload_offset()..]).unwrap();
        let never = entry("", b"", None);
        let h = EntryHeader::parse(&never, never.len() as u64).unwrap();
        assert_eq!((h.ttl, h.expires_at()), (None, Timestamp::MAX));
    }

    #[test]
    fn every_corruption_is_detected() {
        let good = entry("key", b"payload", None);
        let len = good.len() as u64;
        assert_eq!(
            EntryHeader::parse(&good[..10], 10),
            Err(Corruption::TooShort)
        );
        let mut bad = good.clone();
        bad[0] ^= 1;
        assert_eq!(EntryHeader::parse(&bad, len), Err(Corruption::BadMagic));
        let mut bad = good.clone();
        bad[8] = 1;
        assert_eq!(
            EntryHeader::parse(&bad, len),
            Err(Corruption::UnknownVersion)
        );
        assert_eq!(
            EntryHeader::parse(&good, len - 1),
            Err(Corruption::BadLength)
        );
        let mut bad = good.clone();
        bad[HEADER_LEN] ^= 1;
        let h = EntryHeader::parse(&bad, len).unwrap();
        assert_eq!(
            h.check_key(&bad, &bad[HEADER_LEN..h.payload_offset()]),
            Err(Corruption::HeaderChecksum)
        );
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 1;
        let h = EntryHeader::parse(&bad, len).unwrap();
        assert_eq!(
            h.check_payload(&bad[h.payload_offset()..]),
            Err(Corruption::PayloadChecksum)
        );
        let mut huge = good.clone();
        huge[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(EntryHeader::parse(&huge, len), Err(Corruption::BadLength));
    }
}
