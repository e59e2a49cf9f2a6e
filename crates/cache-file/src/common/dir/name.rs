//! How entries are named on disk: an entry's id (the MD5 of its stored name), its file
//! name (32 hex digits), and its fan-out directory (the first two of them).

use std::ffi::CStr;

/// An entry's identity on disk: the MD5 of its key.
pub type EntryId = [u8; 16];

pub(super) const HEX: &[u8; 16] = b"0123456789abcdef";

/// `ab`, the fan-out subdirectory of an entry id.
pub(super) fn fan_name(byte: u8) -> [u8; 2] {
    [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]
}

pub(super) fn fan_str(byte: &[u8; 2]) -> &str {
    // Two ASCII hex digits.
    std::str::from_utf8(byte).unwrap_or("00")
}

/// The file name of an entry id: 32 lowercase hex digits.
pub fn file_name(id: &EntryId) -> String {
    let mut s = String::with_capacity(32);
    for b in id {
        let [hi, lo] = fan_name(*b);
        s.push(char::from(hi));
        s.push(char::from(lo));
    }
    s
}

/// The file name of an entry id, NUL-terminated on the stack (no allocation per operation).
pub(super) struct Name(pub(super) [u8; 33]);

impl Name {
    pub(super) fn of(id: &EntryId) -> Self {
        let mut n = [0u8; 33];
        for (i, b) in id.iter().enumerate() {
            let [hi, lo] = fan_name(*b);
            n[2 * i] = hi;
            n[2 * i + 1] = lo;
        }
        Name(n)
    }

    pub(super) fn c(&self) -> &CStr {
        CStr::from_bytes_with_nul(&self.0).unwrap_or(c"")
    }
}

/// The entry id a file name spells, if it is one.
pub fn parse_file_name(name: &str) -> Option<EntryId> {
    let bytes = name.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut id = [0u8; 16];
    for (i, out) in id.iter_mut().enumerate() {
        *out = digit(bytes[2 * i])? << 4 | digit(bytes[2 * i + 1])?;
    }
    Some(id)
}
