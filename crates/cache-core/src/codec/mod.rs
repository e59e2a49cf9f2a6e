//! How the serializing backends (file, Redis) turn values into bytes (feature `codec`).
//!
//! A cache stores values through a [`Codec`] chosen on its builder, wrapped in an
//! [`Encoding`] that adds optional lz4 compression:
//!
//! | codec | stored bytes | a value read as another type | who else can read and write them |
//! |---|---|---|---|
//! | [`Postcard`] (default) | the envelope below | a miss | programs whose types have the same serde structure |
//! | [`Json`] | `serde_json` text, nothing else | a miss when the JSON does not fit the type | any language, `redis-cli` |
//! | [`Raw`] | a string's or byte value's exact bytes | whatever the bytes are (no type check) | anyone |
//! | your own | what your [`Codec`] writes | what your `decode` says | |
//!
//! # The default envelope (version 2)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | envelope version, `2` |
//! | 1 | 8 | type tag, little-endian: FNV-1a 64 of the type's shape text ([`type_shape`]) |
//! | 9 | rest | the value in `postcard` |
//!
//! Version 1 (an 8-byte tag over `std::any::type_name`, then postcard) is no longer read: its
//! entries are misses. Decoding refuses a short envelope, another version, another tag, a
//! payload that does not decode, and bytes left over.
//!
//! **Why a structural tag.** The tag must make a value read as the wrong type a miss
//! (postcard alone writes `String` and `Vec<u8>` alike, and `u32` and `u64` alike), while two
//! programs that each define `struct User { name: String, age: u32 }` in their own crate,
//! or the same program built by two compilers, read each other's values. Type names fail the
//! second half (`writer::User` is not `reader::User`, and `type_name` is not promised stable
//! across compilers). So the tag hashes what serde itself sees: this crate's tracer walks
//! `V`'s `Deserialize` (not human-readable, as postcard) over made-up values, again and
//! again, until it has recorded the formats of `V` and of every struct and enum it contains
//! (container names, field names and types, every variant of every enum however deeply it
//! is nested: in a field, an `Option`, a sequence, a map, another enum's variant, a
//! recursive type), rendered as canonical text. A type is traced once per process; every encode and decode
//! then finds its tag in a table keyed by `TypeId` whose slots are written once and then only
//! read (a hash, an acquire load and a compare: no lock, no allocation). Names of containers
//! count (`#[serde(rename)]` sets them) but module paths do not.
//!
//! A type whose `Deserialize` refuses the tracer's first values (zeros, empty text and
//! bytes), such as `NonZeroU32` or a `Uuid` read from 16 bytes, is traced with a second set
//! (ones, an RFC 3339 instant, 16 bytes), and its text starts `checked shape`.
//!
//! **Fallback, the exception.** Types the tracer cannot follow are tagged by their type name
//! without module paths (`Vec<User>` for `alloc::vec::Vec<app::User>`): still the same in
//! two crates, but two such types with the same short name are not told apart, a change of
//! their fields is not seen, and the name may change with the compiler. These are the types
//! whose `Deserialize` lets the data say what it is (`deserialize_any` or an identifier):
//! untagged, internally and adjacently tagged enums, `#[serde(flatten)]`,
//! `serde_json::Value`; and those that refuse both sets of values, or nest more than 128
//! levels deep. Of the 47 types of `tests/type_check.rs` (primitives, std types,
//! nested and recursive enums, sessions of a dozen fields), those 5 kinds fall back.
//! [`type_shape`] says which rule a type got.
//!
//! ```
//! use cache_core::codec;
//!
//! let bytes = codec::encode("k", &"hello".to_string())?;
//! assert_eq!(codec::decode::<String>(&bytes).as_deref(), Some("hello"));
//! assert_eq!(codec::decode::<Vec<u8>>(&bytes), None);
//! # Ok::<(), cache_core::CacheError>(())
//! ```

mod bytes;
mod frame;
mod name;
mod raw;
mod tag;
mod trace;

use std::error::Error;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::CacheError;

pub use bytes::bytes_into;
pub use frame::{FRAME_HEADER_LEN, MAGIC as FRAME_MAGIC};
pub use name::{split_versioned_name, versioned_name, DEFAULT_VERSION, VERSION_MARK};

/// Bytes of the type tag in an envelope.
pub const TAG_LEN: usize = 8;
/// The version byte that starts every default envelope.
pub const ENVELOPE_VERSION: u8 = 2;
/// Bytes before the postcard payload: the version byte and the tag.
pub const ENVELOPE_HEADER_LEN: usize = 1 + TAG_LEN;

/// How values become bytes and back: the one thing a custom codec implements. `encode`
/// appends to `out` (the caller drops whatever it appended if it fails); `decode` returns
/// `None` for bytes that are not a `V`, which the cache counts as a miss: it must never
/// panic, whatever the bytes.
///
/// A codec is chosen per cache, on its builder (`FileBasedCache::builder(dir).codec(..)`,
/// `RedisConfig::new(url).codec(..)`), and holds whatever settings it needs.
///
/// ```
/// use cache_core::codec::Codec;
/// use serde::{de::DeserializeOwned, Serialize};
///
/// /// JSON with a one-byte schema mark in front.
/// #[derive(Debug, Clone)]
/// struct MarkedJson(u8);
///
/// impl Codec for MarkedJson {
///     fn encode<V: Serialize + DeserializeOwned + 'static>(
///         &self,
///         value: &V,
///         out: &mut Vec<u8>,
///     ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///         out.push(self.0);
///         serde_json::to_writer(out, value)?;
///         Ok(())
///     }
///
///     fn decode<V: DeserializeOwned + 'static>(&self, bytes: &[u8]) -> Option<V> {
///         let (&mark, json) = bytes.split_first()?;
///         (mark == self.0).then(|| serde_json::from_slice(json).ok()).flatten()
///     }
/// }
///
/// let mut out = Vec::new();
/// MarkedJson(3).encode(&vec![1u8, 2], &mut out).unwrap();
/// assert_eq!(out, b"\x03[1,2]");
/// assert_eq!(MarkedJson(3).decode::<Vec<u8>>(&out), Some(vec![1, 2]));
/// assert_eq!(MarkedJson(4).decode::<Vec<u8>>(&out), None);
/// ```
pub trait Codec: fmt::Debug + Clone + Send + Sync + 'static {
    /// Appends the bytes of `value` to `out`. (`V: DeserializeOwned` lets a codec derive a
    /// type check from the type, as the default one does.)
    fn encode<V: Serialize + DeserializeOwned + 'static>(
        &self,
        value: &V,
        out: &mut Vec<u8>,
    ) -> Result<(), Box<dyn Error + Send + Sync>>;

    /// The value in `bytes`, or `None` when they are not one of type `V`.
    fn decode<V: DeserializeOwned + 'static>(&self, bytes: &[u8]) -> Option<V>;

    /// For a `V` that is one run of bytes (`Vec<u8>`, `serde_bytes::ByteBuf`): how many of
    /// this codec's bytes come before that run, `head` being the start of the bytes and
    /// `len` their length in all, when the run is all the rest and [`bytes_into`] of it is
    /// what [`Codec::decode`] would give. A cache then reads the run straight into the
    /// value's own buffer (no copy of a large value). `None`, the default: no shortcut, the
    /// cache decodes as usual.
    ///
    /// ```
    /// use cache_core::codec::{Codec, Json, Postcard, Raw};
    /// let mut out = Vec::new();
    /// Postcard.encode(&vec![7u8; 200], &mut out).unwrap();
    /// let start = Postcard.byte_run_start::<Vec<u8>>(&out, out.len() as u64).unwrap();
    /// assert_eq!(&out[start..], &[7u8; 200][..]);
    /// assert_eq!(Postcard.byte_run_start::<String>(&out, out.len() as u64), None);
    /// assert_eq!(Raw.byte_run_start::<Vec<u8>>(b"abc", 3), Some(0));
    /// assert_eq!(Json.byte_run_start::<Vec<u8>>(b"[1]", 3), None);
    /// ```
    fn byte_run_start<V: DeserializeOwned + 'static>(
        &self,
        head: &[u8],
        len: u64,
    ) -> Option<usize> {
        let _ = (head, len);
        None
    }

    /// The writing twin of [`Codec::byte_run_start`]: for a `V` that is the run of bytes
    /// `run` (`Vec<u8>`, `serde_bytes::ByteBuf`), appends to `out` what this codec writes
    /// before those bytes, and returns `true`, when its bytes for the value are that and
    /// then `run` itself. A cache then writes `run` from the value itself (no copy of a
    /// large value). `false`, the default, with `out` untouched: the cache calls
    /// [`Codec::encode`].
    ///
    /// ```
    /// use cache_core::codec::{Codec, Json, Postcard, Raw};
    /// let value = vec![7u8; 200];
    /// let (mut whole, mut head) = (Vec::new(), Vec::new());
    /// Postcard.encode(&value, &mut whole).unwrap();
    /// assert!(Postcard.byte_run_prefix::<Vec<u8>>(&value, &mut head));
    /// assert_eq!([&head[..], &value[..]].concat(), whole);
    /// assert!(Raw.byte_run_prefix::<Vec<u8>>(&value, &mut head));
    /// assert!(!Json.byte_run_prefix::<Vec<u8>>(&value, &mut head));
    /// ```
    fn byte_run_prefix<V: DeserializeOwned + 'static>(
        &self,
        run: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        let _ = (run, out);
        false
    }
}

/// The default codec: the value in `postcard` behind a version byte and the structural type
/// tag (see the [module docs](self)). Compact and fast; a value read as a type of another
/// shape is a miss.
///
/// ```
/// use cache_core::codec::{Codec, Postcard};
/// let mut out = Vec::new();
/// Postcard.encode(&7u32, &mut out).unwrap();
/// assert_eq!(out.len(), cache_core::codec::ENVELOPE_HEADER_LEN + 1);
/// assert_eq!(Postcard.decode::<u32>(&out), Some(7));
/// assert_eq!(Postcard.decode::<u64>(&out), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Postcard;

/// Values as JSON text (`serde_json`), with no envelope: what other languages, `redis-cli`
/// and people read and write. JSON carries no type: a value decodes as any type its text
/// fits (`{"name":"ann","age":7}` as any struct with those fields), and is a miss otherwise.
///
/// ```
/// use cache_core::codec::{Codec, Json};
/// let mut out = Vec::new();
/// Json.encode(&vec!["a".to_string()], &mut out).unwrap();
/// assert_eq!(out, br#"["a"]"#);
/// assert_eq!(Json.decode::<u32>(b"42"), Some(42));
/// assert_eq!(Json.decode::<u32>(b"\"42\""), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json;

/// Strings and bytes stored as their exact bytes, so that values any client wrote
/// (`redis-cli SET`, another language) read back. Accepts types that serialize as a string
/// or as bytes (`String`, `&str`-like types, `Vec<u8>`, `[u8; N]`, `serde_bytes` types,
/// newtypes of these), and integers, as decimal text (what `redis-cli INCR` writes, so
/// counters work); anything else is a [`CacheError::Serialize`] on `set`. There is no type
/// check: the same bytes read as `Vec<u8>`, as `String` when they are UTF-8, and as an
/// integer when they are one in decimal.
///
/// ```
/// use cache_core::codec::{Codec, Raw};
/// let mut out = Vec::new();
/// Raw.encode(&"héllo".to_string(), &mut out).unwrap();
/// assert_eq!(out, "héllo".as_bytes());
/// assert_eq!(Raw.decode::<Vec<u8>>(&out), Some("héllo".as_bytes().to_vec()));
/// assert_eq!(Raw.decode::<String>(b"\xff"), None);
/// assert_eq!(Raw.decode::<i64>(b"-42"), Some(-42));
/// assert!(Raw.encode(&5.0f64, &mut Vec::new()).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Raw;

impl Codec for Postcard {
    #[inline]
    fn encode<V: Serialize + DeserializeOwned + 'static>(
        &self,
        value: &V,
        out: &mut Vec<u8>,
    ) -> Result<(), Box<dyn Error + Send + Sync>> {
        out.push(ENVELOPE_VERSION);
        out.extend_from_slice(&tag::tag_of::<V>().to_le_bytes());
        // Bytes as postcard writes them (length, bytes), without serde's element-by-element
        // path for `Vec<u8>`.
        if let Some(b) = bytes::as_bytes(value) {
            bytes::push_varint(out, b.len());
            out.extend_from_slice(b);
            return Ok(());
        }
        postcard::to_io(value, &mut *out)?;
        Ok(())
    }

    #[inline]
    fn decode<V: DeserializeOwned + 'static>(&self, bytes: &[u8]) -> Option<V> {
        let payload = envelope_payload::<V>(bytes)?;
        if bytes::is_bytes::<V>() {
            let (len, used) = bytes::take_varint(payload)?;
            let run = &payload[used..];
            return if run.len() == len {
                bytes::bytes_into(run.to_vec())
            } else {
                None
            };
        }
        match postcard::take_from_bytes::<V>(payload) {
            Ok((value, [])) => Some(value),
            _ => None,
        }
    }

    fn byte_run_start<V: DeserializeOwned + 'static>(
        &self,
        head: &[u8],
        len: u64,
    ) -> Option<usize> {
        if !bytes::is_bytes::<V>() {
            return None;
        }
        let (run, used) = bytes::take_varint(envelope_payload::<V>(head)?)?;
        let start = ENVELOPE_HEADER_LEN + used;
        ((start as u64).checked_add(run as u64) == Some(len)).then_some(start)
    }

    fn byte_run_prefix<V: DeserializeOwned + 'static>(
        &self,
        run: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        if !bytes::is_bytes::<V>() {
            return false;
        }
        out.push(ENVELOPE_VERSION);
        out.extend_from_slice(&tag::tag_of::<V>().to_le_bytes());
        bytes::push_varint(out, run.len());
        true
    }
}

/// What follows the version byte and `V`'s tag in a default envelope, if both are right.
#[inline]
fn envelope_payload<V: DeserializeOwned + 'static>(bytes: &[u8]) -> Option<&[u8]> {
    let (&version, rest) = bytes.split_first()?;
    let (tag, payload) = rest.split_first_chunk::<TAG_LEN>()?;
    (version == ENVELOPE_VERSION && u64::from_le_bytes(*tag) == tag::tag_of::<V>())
        .then_some(payload)
}

impl Codec for Json {
    fn encode<V: Serialize + DeserializeOwned + 'static>(
        &self,
        value: &V,
        out: &mut Vec<u8>,
    ) -> Result<(), Box<dyn Error + Send + Sync>> {
        serde_json::to_writer(out, value)?;
        Ok(())
    }

    fn decode<V: DeserializeOwned + 'static>(&self, bytes: &[u8]) -> Option<V> {
        serde_json::from_slice(bytes).ok()
    }
}

impl Codec for Raw {
    fn encode<V: Serialize + DeserializeOwned + 'static>(
        &self,
        value: &V,
        out: &mut Vec<u8>,
    ) -> Result<(), Box<dyn Error + Send + Sync>> {
        value.serialize(raw::RawSerializer { out })?;
        Ok(())
    }

    fn decode<V: DeserializeOwned + 'static>(&self, bytes: &[u8]) -> Option<V> {
        V::deserialize(raw::RawDeserializer { bytes }).ok()
    }

    fn byte_run_start<V: DeserializeOwned + 'static>(&self, _: &[u8], _: u64) -> Option<usize> {
        // A byte value is the bytes themselves.
        bytes::is_bytes::<V>().then_some(0)
    }

    fn byte_run_prefix<V: DeserializeOwned + 'static>(&self, _: &[u8], _: &mut Vec<u8>) -> bool {
        bytes::is_bytes::<V>()
    }
}

/// The type tag of `V` in the default envelope: FNV-1a 64 over [`type_shape`]. Computed once
/// per type and process.
///
/// ```
/// use cache_core::codec::type_tag;
/// assert_eq!(type_tag::<u64>(), type_tag::<u64>());
/// assert_ne!(type_tag::<String>(), type_tag::<Vec<u8>>());
/// assert_ne!(type_tag::<u32>(), type_tag::<u64>());
/// ```
pub fn type_tag<V: DeserializeOwned + 'static>() -> u64 {
    tag::tag_of::<V>()
}

/// The text the tag of `V` hashes: `shape ...` (the traced serde structure) or, for types
/// the tracer cannot follow, `name ...` (the type name without module paths). For telling
/// why two programs do not read each other's values.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct User { name: String, age: u32 }
///
/// assert_eq!(
///     cache_core::codec::type_shape::<Vec<User>>(),
///     "shape seq<@User>; User={name:str,age:u32}"
/// );
/// assert_eq!(cache_core::codec::type_shape::<serde_json::Value>(), "name Value");
/// ```
pub fn type_shape<V: DeserializeOwned + 'static>() -> String {
    tag::shape_of::<V>().text.to_string()
}

/// Appends the default envelope of `value` to `buf`. `key` only names the entry in the
/// error.
///
/// ```
/// let mut buf = Vec::new();
/// cache_core::codec::encode_into(&mut buf, "k", &7u32)?;
/// assert_eq!(buf.len(), cache_core::codec::ENVELOPE_HEADER_LEN + 1);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
pub fn encode_into<V: Serialize + DeserializeOwned + 'static>(
    buf: &mut Vec<u8>,
    key: &str,
    value: &V,
) -> Result<(), CacheError> {
    encode_with(&Postcard, buf, key, value)
}

/// The default envelope of `value` as a new buffer.
///
/// ```
/// let bytes = cache_core::codec::encode("k", &vec![1u8, 2, 3])?;
/// assert_eq!(cache_core::codec::decode::<Vec<u8>>(&bytes), Some(vec![1, 2, 3]));
/// # Ok::<(), cache_core::CacheError>(())
/// ```
pub fn encode<V: Serialize + DeserializeOwned + 'static>(
    key: &str,
    value: &V,
) -> Result<Vec<u8>, CacheError> {
    let mut buf = Vec::new();
    encode_into(&mut buf, key, value)?;
    Ok(buf)
}

/// The value in a default envelope, or `None` when the bytes are short, of another envelope
/// version, carry another type's tag, do not decode as `V`, or have bytes left over.
///
/// ```
/// use cache_core::codec;
/// assert_eq!(codec::decode::<u64>(&[]), None);
/// let bytes = codec::encode("k", &5u64)?;
/// assert_eq!(codec::decode::<u32>(&bytes), None);
/// assert_eq!(codec::decode::<u64>(&bytes[..bytes.len() - 1]), None);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
pub fn decode<V: DeserializeOwned + 'static>(bytes: &[u8]) -> Option<V> {
    Postcard.decode(bytes)
}

/// Runs `codec` into `buf`, leaving `buf` as it was on failure.
fn encode_with<C: Codec, V: Serialize + DeserializeOwned + 'static>(
    codec: &C,
    buf: &mut Vec<u8>,
    key: &str,
    value: &V,
) -> Result<(), CacheError> {
    let start = buf.len();
    codec.encode(value, buf).map_err(|e| {
        buf.truncate(start);
        CacheError::Serialize {
            key: key.to_owned(),
            message: e.to_string(),
        }
    })
}

/// A cache's codec and its compression setting: what the file and Redis backends call to
/// store and read values. Values whose codec bytes are longer than the threshold are stored
/// as an lz4 frame (table below) when that is shorter. Reading does not depend on the
/// setting: a frame is recognised by its magic, so instances with and without compression
/// read each other's values.
///
/// | offset | size | compressed frame field (integers little-endian) |
/// |---|---|---|
/// | 0 | 4 | magic `FF 4C 5A 34` (`\xFFLZ4`) |
/// | 4 | 4 | length of the codec's bytes |
/// | 8 | 4 | CRC-32 (IEEE) of the codec's bytes |
/// | 12 | rest | the codec's bytes as one lz4 block (`lz4_flex::block`) |
///
/// `0xFF` starts no UTF-8 text, no JSON and no default envelope, so the magic cannot be
/// confused with those codecs' bytes. Codec bytes that begin with the magic themselves (raw
/// bytes) are always stored framed, so they read back exactly; bytes another client wrote
/// that begin with it are read as themselves unless the whole frame (length, lz4 block, CRC)
/// checks out.
///
/// ```
/// use cache_core::codec::{Encoding, Json};
///
/// let plain = Encoding::new(Json);
/// let packed = Encoding::new(Json).compress_above(64);
/// let big = "x".repeat(10_000);
/// let bytes = packed.encode("k", &big)?;
/// assert!(bytes.len() < 200);
/// assert_eq!(plain.decode::<String>(&bytes), Some(big.clone()));
/// assert_eq!(packed.decode::<String>(&plain.encode("k", &big)?), Some(big));
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoding<C = Postcard> {
    codec: C,
    compress_above: Option<usize>,
}

impl<C: Codec> Encoding<C> {
    /// `codec`, without compression.
    ///
    /// ```
    /// let e = cache_core::codec::Encoding::new(cache_core::codec::Raw);
    /// assert_eq!(e.compression_threshold(), None);
    /// ```
    pub fn new(codec: C) -> Self {
        Encoding {
            codec,
            compress_above: None,
        }
    }

    /// Compresses values whose codec bytes are longer than `bytes` (when that makes them
    /// shorter).
    ///
    /// ```
    /// let e = cache_core::codec::Encoding::new(cache_core::codec::Postcard).compress_above(1024);
    /// assert_eq!(e.compression_threshold(), Some(1024));
    /// ```
    #[must_use]
    pub fn compress_above(mut self, bytes: usize) -> Self {
        self.compress_above = Some(bytes);
        self
    }

    /// Sets or removes the compression threshold.
    ///
    /// ```
    /// let e = cache_core::codec::Encoding::new(cache_core::codec::Json).with_threshold(None);
    /// assert_eq!(e.compression_threshold(), None);
    /// ```
    #[must_use]
    pub fn with_threshold(mut self, bytes: Option<usize>) -> Self {
        self.compress_above = bytes;
        self
    }

    /// Values longer than this many bytes are compressed; `None`: none are.
    ///
    /// ```
    /// assert_eq!(cache_core::codec::Encoding::<cache_core::codec::Json>::default().compression_threshold(), None);
    /// ```
    pub fn compression_threshold(&self) -> Option<usize> {
        self.compress_above
    }

    /// The codec.
    ///
    /// ```
    /// use cache_core::codec::{Encoding, Raw};
    /// assert_eq!(*Encoding::new(Raw).codec(), Raw);
    /// ```
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// Appends the stored form of `value` to `buf`: the codec's bytes, or their compressed
    /// frame. `key` only names the entry in the error; on error `buf` is left as it was.
    ///
    /// ```
    /// use cache_core::codec::{Encoding, Raw};
    /// let mut buf = b"head:".to_vec();
    /// Encoding::new(Raw).encode_into(&mut buf, "k", &b"abc".to_vec())?;
    /// assert_eq!(buf, b"head:abc");
    /// assert!(Encoding::new(Raw).encode_into(&mut buf, "k", &1.5f32).is_err());
    /// assert_eq!(buf, b"head:abc");
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn encode_into<V: Serialize + DeserializeOwned + 'static>(
        &self,
        buf: &mut Vec<u8>,
        key: &str,
        value: &V,
    ) -> Result<(), CacheError> {
        let start = buf.len();
        encode_with(&self.codec, buf, key, value)?;
        // Bytes that would pass for a frame are framed whatever their size, so that they
        // read back as themselves.
        let ambiguous = buf[start..].starts_with(&FRAME_MAGIC);
        let large = self
            .compress_above
            .is_some_and(|limit| buf.len() - start > limit);
        if large || ambiguous {
            let mut packed = Vec::new();
            if frame::compress_into(&buf[start..], &mut packed, ambiguous) {
                buf.truncate(start);
                buf.extend_from_slice(&packed);
            }
        }
        Ok(())
    }

    /// [`Encoding::encode_into`] split in two for a value that is one run of bytes stored
    /// as it is ([`Codec::byte_run_prefix`], not compressed): appends what comes before the
    /// run to `buf` and returns the run, borrowed from `value`, for the caller to write
    /// after `buf` without copying it. `None`, with `buf` untouched, for every other value:
    /// call `encode_into`.
    ///
    /// ```
    /// use cache_core::codec::{Encoding, Postcard};
    /// let (e, value) = (Encoding::new(Postcard), vec![1u8, 2, 3]);
    /// let mut head = Vec::new();
    /// let run = e.encode_split(&mut head, &value).unwrap();
    /// assert_eq!([&head[..], run].concat(), e.encode("k", &value)?);
    /// assert_eq!(e.encode_split(&mut Vec::new(), &"text".to_string()), None);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn encode_split<'v, V: Serialize + DeserializeOwned + 'static>(
        &self,
        buf: &mut Vec<u8>,
        value: &'v V,
    ) -> Option<&'v [u8]> {
        let run = bytes::as_bytes(value)?;
        let start = buf.len();
        if !self.codec.byte_run_prefix::<V>(run, buf) {
            return None;
        }
        // What `encode_into` would frame (compress) is not split.
        let head = &buf[start..];
        let ambiguous = head
            .iter()
            .chain(run)
            .take(FRAME_MAGIC.len())
            .eq(FRAME_MAGIC.iter());
        let large = self
            .compress_above
            .is_some_and(|limit| head.len() + run.len() > limit);
        if ambiguous || large {
            buf.truncate(start);
            return None;
        }
        Some(run)
    }

    /// [`Encoding::encode_into`], leaving a value that is one run of bytes stored as it is
    /// where it is ([`Encoding::encode_split`]): appends the stored form of `value` to `buf`
    /// and returns `None`, or appends what comes before the run and returns the run, for the
    /// caller to write after `buf` without copying it.
    ///
    /// ```
    /// use cache_core::codec::{Encoding, Postcard};
    /// let e = Encoding::new(Postcard);
    /// let (mut head, value) = (Vec::new(), vec![1u8, 2, 3]);
    /// let run = e.encode_parts(&mut head, "k", &value)?.unwrap();
    /// assert_eq!([&head[..], run].concat(), e.encode("k", &value)?);
    /// let mut whole = Vec::new();
    /// assert_eq!(e.encode_parts(&mut whole, "k", &"text".to_string())?, None);
    /// assert_eq!(whole, e.encode("k", &"text".to_string())?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn encode_parts<'v, V: Serialize + DeserializeOwned + 'static>(
        &self,
        buf: &mut Vec<u8>,
        key: &str,
        value: &'v V,
    ) -> Result<Option<&'v [u8]>, CacheError> {
        match self.encode_split(buf, value) {
            Some(run) => Ok(Some(run)),
            None => self.encode_into(buf, key, value).map(|()| None),
        }
    }

    /// The stored form of `value` as a new buffer.
    ///
    /// ```
    /// use cache_core::codec::{Encoding, Json};
    /// assert_eq!(Encoding::new(Json).encode("k", &(1, "a".to_string()))?, br#"[1,"a"]"#);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn encode<V: Serialize + DeserializeOwned + 'static>(
        &self,
        key: &str,
        value: &V,
    ) -> Result<Vec<u8>, CacheError> {
        let mut buf = Vec::new();
        self.encode_into(&mut buf, key, value)?;
        Ok(buf)
    }

    /// [`Codec::byte_run_start`] of stored bytes: `None` for a compressed frame (and for
    /// anything that starts as one), else the codec's answer.
    ///
    /// ```
    /// use cache_core::codec::{Encoding, Raw};
    /// assert_eq!(Encoding::new(Raw).byte_run_start::<Vec<u8>>(b"abc", 3), Some(0));
    /// assert_eq!(Encoding::new(Raw).byte_run_start::<Vec<u8>>(b"\xFFLZ4", 4), None);
    /// ```
    #[inline]
    pub fn byte_run_start<V: DeserializeOwned + 'static>(
        &self,
        head: &[u8],
        len: u64,
    ) -> Option<usize> {
        match head.first() {
            Some(&b) if b == FRAME_MAGIC[0] => None,
            _ => self.codec.byte_run_start::<V>(head, len),
        }
    }

    /// The value in stored bytes (a compressed frame or the codec's bytes), or `None`.
    ///
    /// ```
    /// use cache_core::codec::{Encoding, Postcard};
    /// assert_eq!(Encoding::new(Postcard).decode::<u8>(b"\xFFLZ4 not a frame"), None);
    /// ```
    #[inline]
    pub fn decode<V: DeserializeOwned + 'static>(&self, bytes: &[u8]) -> Option<V> {
        match bytes.first() {
            Some(&b) if b == FRAME_MAGIC[0] => match frame::decompress(bytes) {
                Some(plain) => self.codec.decode(&plain),
                None => self.codec.decode(bytes),
            },
            _ => self.codec.decode(bytes),
        }
    }
}
