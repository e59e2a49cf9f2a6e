//! Keys as the shards store them and look them up. A key's hash is computed once per
//! operation: it picks the shard and the slot in the shard's table, and is stored beside the
//! key so that the table never hashes a key again (not when it grows, not when it evicts).

/// Keys of up to this many bytes are stored inline (the key field stays 24 bytes).
const INLINE: usize = 22;

/// A stored key's bytes: inline when short, sparing an allocation per entry and a cache miss
/// per lookup.
pub(crate) enum KeyBytes {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<str>),
}

impl KeyBytes {
    pub(crate) fn new(key: &str) -> KeyBytes {
        let src = key.as_bytes();
        if src.len() <= INLINE {
            let mut buf = [0; INLINE];
            buf[..src.len()].copy_from_slice(src);
            KeyBytes::Inline {
                len: src.len() as u8,
                buf,
            }
        } else {
            KeyBytes::Heap(key.into())
        }
    }

    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            KeyBytes::Inline { len, buf } => &buf[..usize::from(*len)],
            KeyBytes::Heap(s) => s.as_bytes(),
        }
    }

    /// The key as text (for pattern matching, off the hot path).
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Inline bytes were copied whole from a `&str`, so they are valid UTF-8.
            KeyBytes::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            KeyBytes::Heap(s) => s,
        }
    }
}

/// A key being looked up, with its hash.
#[derive(Clone, Copy)]
pub(crate) struct Probe<'a> {
    pub(crate) hash: u64,
    pub(crate) key: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap_keys_round_trip() {
        let long = "k".repeat(INLINE + 1);
        for s in ["", "a", "ключ", "exactly-22-bytes-long!", long.as_str()] {
            let k = KeyBytes::new(s);
            assert_eq!(k.as_str(), s);
            assert_eq!(k.as_bytes(), s.as_bytes());
            assert_eq!(
                matches!(k, KeyBytes::Inline { .. }),
                s.len() <= INLINE,
                "{s}"
            );
        }
    }
}
