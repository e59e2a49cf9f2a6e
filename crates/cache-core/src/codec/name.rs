//! Versioned names: how a cache's [version](super::DEFAULT_VERSION) becomes part of the name
//! an entry is stored under (the Redis key after the prefix, the key in a file's header).

use std::borrow::Cow;

/// The version of a cache whose builder was given none (Django's `VERSION`). Its entries are
/// stored under the key itself, so other programs read and write them by the plain key.
pub const DEFAULT_VERSION: u32 = 1;

/// The byte between a key and its version: never part of UTF-8 text, so no key is mistaken
/// for a versioned one.
pub const VERSION_MARK: u8 = 0xFF;

/// The name `key` is stored under in a cache of `version`: the key's UTF-8 bytes for
/// [`DEFAULT_VERSION`], else the key, `0xFF`, and the version in decimal.
///
/// ```
/// use cache_core::codec::versioned_name;
/// assert_eq!(&*versioned_name("user:1", 1), b"user:1");
/// assert_eq!(&*versioned_name("user:1", 2), b"user:1\xff2");
/// ```
pub fn versioned_name(key: &str, version: u32) -> Cow<'_, [u8]> {
    if version == DEFAULT_VERSION {
        return Cow::Borrowed(key.as_bytes());
    }
    let mut name = Vec::with_capacity(key.len() + 11);
    name.extend_from_slice(key.as_bytes());
    name.push(VERSION_MARK);
    name.extend_from_slice(version.to_string().as_bytes());
    Cow::Owned(name)
}

/// The key and version a stored name stands for; `None` when it is no name
/// [`versioned_name`] makes (not UTF-8, or a version not in canonical decimal).
///
/// ```
/// use cache_core::codec::split_versioned_name;
/// assert_eq!(split_versioned_name(b"user:1"), Some(("user:1", 1)));
/// assert_eq!(split_versioned_name(b"user:1\xff7"), Some(("user:1", 7)));
/// assert_eq!(split_versioned_name(b"user:1\xff07"), None);
/// ```
pub fn split_versioned_name(name: &[u8]) -> Option<(&str, u32)> {
    let (key, version) = match name.iter().position(|&b| b == VERSION_MARK) {
        None => (name, DEFAULT_VERSION),
        Some(at) => {
            let digits = std::str::from_utf8(&name[at + 1..]).ok()?;
            let version: u32 = digits.parse().ok()?;
            // One spelling per version: no sign, no leading zero, and 1 has none at all.
            if version == DEFAULT_VERSION || version.to_string() != digits {
                return None;
            }
            (&name[..at], version)
        }
    };
    Some((std::str::from_utf8(key).ok()?, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for key in ["", "a", "日本語", "x\0y", "k\u{10ffff}"] {
            for version in [0, 1, 2, 10, u32::MAX] {
                let name = versioned_name(key, version);
                assert_eq!(split_versioned_name(&name), Some((key, version)));
            }
        }
        for bad in [
            &b"k\xff"[..],
            b"k\xff1",
            b"k\xff+2",
            b"k\xff-2",
            b"k\xff4294967296",
            b"\xfe",
        ] {
            assert_eq!(split_versioned_name(bad), None, "{bad:?}");
        }
    }
}
