//! Stored keys. A key's hash is computed once per operation: it picks the shard and, through
//! a pass-through hasher, the slot in the shard's table, so the table never hashes a key again
//! (not even the least recently used one it evicts). Short keys live inline in the entry,
//! sparing an allocation per entry and a cache miss per lookup.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash, Hasher};

/// Keys of up to this many bytes are stored inline (the entry's key field stays 32 bytes).
const INLINE: usize = 22;

/// A key as the table stores it.
pub(crate) struct Key {
    hash: u64,
    bytes: Bytes,
}

enum Bytes {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<str>),
}

impl Key {
    pub(crate) fn new(probe: &Probe<'_>) -> Key {
        let src = probe.key.as_bytes();
        let bytes = if src.len() <= INLINE {
            let mut buf = [0; INLINE];
            buf[..src.len()].copy_from_slice(src);
            Bytes::Inline {
                len: src.len() as u8,
                buf,
            }
        } else {
            Bytes::Heap(probe.key.into())
        };
        Key {
            hash: probe.hash,
            bytes,
        }
    }

    /// The key as text (for pattern matching, off the hot path).
    pub(crate) fn as_str(&self) -> &str {
        match &self.bytes {
            // Inline bytes were copied whole from a `&str`, so they are valid UTF-8.
            Bytes::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Bytes::Heap(s) => s,
        }
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Inline { len, buf } => &buf[..usize::from(*len)],
            Bytes::Heap(s) => s.as_bytes(),
        }
    }
}

/// A key being looked up, with its hash.
#[derive(Clone, Copy)]
pub(crate) struct Probe<'a> {
    pub(crate) hash: u64,
    pub(crate) key: &'a str,
}

/// What stored keys and probes have in common, so that the table can find a [`Key`] from a
/// borrowed [`Probe`] without building one.
pub(crate) trait View {
    fn hash(&self) -> u64;
    fn bytes(&self) -> &[u8];
}

impl View for Key {
    #[inline]
    fn hash(&self) -> u64 {
        self.hash
    }
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl View for Probe<'_> {
    #[inline]
    fn hash(&self) -> u64 {
        self.hash
    }
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.key.as_bytes()
    }
}

impl Hash for dyn View + '_ {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(View::hash(self));
    }
}

impl PartialEq for dyn View + '_ {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        View::hash(self) == View::hash(other) && self.bytes() == other.bytes()
    }
}

impl Eq for dyn View + '_ {}

// `Key`'s own `Hash` and `Eq` agree with those of `dyn View`, as `Borrow` requires.
impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl<'a> Borrow<dyn View + 'a> for Key {
    #[inline]
    fn borrow(&self) -> &(dyn View + 'a) {
        self
    }
}

/// The shard tables' hasher: keys arrive already hashed, as one `u64`.
#[derive(Clone, Copy, Default)]
pub(crate) struct PassThrough;

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    #[inline]
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

pub(crate) struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    /// Only `write_u64` is ever called; anything else is mixed in (FNV-1a) to stay a hasher.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(key: &str) -> Probe<'_> {
        Probe {
            hash: lru::DefaultHasher::default().hash_one(key),
            key,
        }
    }

    #[test]
    fn inline_and_heap_keys_round_trip_and_compare() {
        let long = "k".repeat(INLINE + 1);
        for s in ["", "a", "ключ", "exactly-twenty-two-by", long.as_str()] {
            let p = probe(s);
            let k = Key::new(&p);
            assert_eq!(k.as_str(), s);
            assert!(<dyn View>::eq(k.borrow(), &p as &dyn View));
            assert!(<dyn View>::ne(k.borrow(), &probe("other") as &dyn View));
        }
        // Same hash, different bytes: not equal.
        let a = Probe { hash: 1, key: "a" };
        let b = Probe { hash: 1, key: "b" };
        assert!(Key::new(&a) != Key::new(&b));
    }
}
