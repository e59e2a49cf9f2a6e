//! The serde side of the [`Raw`](super::Raw) codec: a serializer that accepts a string or
//! bytes (a `&str`, `String`, `Vec<u8>`, `[u8; N]`, `serde_bytes` types, and newtypes of
//! them) and writes them as they are, or an integer as decimal text, and a deserializer that
//! offers stored bytes to those same types.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, SeqAccess, Visitor};
use serde::ser::{self, Impossible, Serialize};

/// Why a value is not raw bytes or text, or bytes are not the asked type.
#[derive(Debug)]
pub(crate) struct RawError(String);

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RawError {}

impl ser::Error for RawError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        RawError(msg.to_string())
    }
}

impl de::Error for RawError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        RawError(msg.to_string())
    }
}

fn unsupported(what: &str) -> RawError {
    RawError(format!(
        "the Raw codec stores only strings and bytes, not {what}"
    ))
}

/// Writes a string's or a byte sequence's bytes to `out`.
pub(crate) struct RawSerializer<'a> {
    pub(crate) out: &'a mut Vec<u8>,
}

/// A sequence (`Vec<u8>`) or tuple (`[u8; N]`) of `u8`, appended one by one.
pub(crate) struct ByteSeq<'a> {
    out: &'a mut Vec<u8>,
}

/// Accepts exactly one `u8`.
struct OneByte<'a> {
    out: &'a mut Vec<u8>,
}

macro_rules! refuse {
    ($($method:ident($($arg:ty),*) $what:literal;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<Self::Ok, RawError> {
            Err(unsupported($what))
        })*
    };
}

/// The methods both serializers refuse alike: options, enums, maps, structs, each with
/// the word for what was refused.
macro_rules! refuse_containers {
    (
        some: $some:literal,
        variant: $variant:literal,
        tuple_struct: $tuple_struct:literal,
        map: $map:literal,
        structure: $structure:literal $(,)?
    ) => {
        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), RawError> {
            Err(unsupported($some))
        }

        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), RawError> {
            Err(unsupported($variant))
        }

        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, RawError> {
            Err(unsupported($tuple_struct))
        }

        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, RawError> {
            Err(unsupported($variant))
        }

        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RawError> {
            Err(unsupported($map))
        }

        fn serialize_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStruct, RawError> {
            Err(unsupported($structure))
        }

        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, RawError> {
            Err(unsupported($variant))
        }
    };
}

/// Integers as decimal text, the form Redis's `INCR` reads and writes.
macro_rules! decimal {
    ($($method:ident($ty:ty))*) => {
        $(fn $method(self, v: $ty) -> Result<(), RawError> {
            self.out.extend_from_slice(v.to_string().as_bytes());
            Ok(())
        })*
    };
}

impl<'a> ser::Serializer for RawSerializer<'a> {
    type Ok = ();
    type Error = RawError;
    type SerializeSeq = ByteSeq<'a>;
    type SerializeTuple = ByteSeq<'a>;
    type SerializeTupleStruct = Impossible<(), RawError>;
    type SerializeTupleVariant = Impossible<(), RawError>;
    type SerializeMap = Impossible<(), RawError>;
    type SerializeStruct = Impossible<(), RawError>;
    type SerializeStructVariant = Impossible<(), RawError>;

    fn serialize_str(self, v: &str) -> Result<(), RawError> {
        self.out.extend_from_slice(v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), RawError> {
        self.out.extend_from_slice(v);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), RawError> {
        value.serialize(self)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<ByteSeq<'a>, RawError> {
        self.out.reserve(len.unwrap_or(0));
        Ok(ByteSeq { out: self.out })
    }

    fn serialize_tuple(self, len: usize) -> Result<ByteSeq<'a>, RawError> {
        self.out.reserve(len);
        Ok(ByteSeq { out: self.out })
    }

    decimal! {
        serialize_i8(i8) serialize_i16(i16) serialize_i32(i32) serialize_i64(i64)
        serialize_i128(i128) serialize_u8(u8) serialize_u16(u16) serialize_u32(u32)
        serialize_u64(u64) serialize_u128(u128)
    }

    refuse! {
        serialize_bool(bool) "a bool";
        serialize_f32(f32) "a float";
        serialize_f64(f64) "a float";
        serialize_char(char) "a char";
        serialize_none() "an Option";
        serialize_unit() "()";
        serialize_unit_struct(&'static str) "a unit struct";
        serialize_unit_variant(&'static str, u32, &'static str) "an enum";
    }

    refuse_containers! {
        some: "an Option",
        variant: "an enum",
        tuple_struct: "a tuple struct",
        map: "a map",
        structure: "a struct",
    }
}

impl ByteSeq<'_> {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RawError> {
        value.serialize(OneByte { out: self.out })
    }
}

impl ser::SerializeSeq for ByteSeq<'_> {
    type Ok = ();
    type Error = RawError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RawError> {
        self.push(value)
    }
    fn end(self) -> Result<(), RawError> {
        Ok(())
    }
}

impl ser::SerializeTuple for ByteSeq<'_> {
    type Ok = ();
    type Error = RawError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RawError> {
        self.push(value)
    }
    fn end(self) -> Result<(), RawError> {
        Ok(())
    }
}

impl ser::Serializer for OneByte<'_> {
    type Ok = ();
    type Error = RawError;
    type SerializeSeq = Impossible<(), RawError>;
    type SerializeTuple = Impossible<(), RawError>;
    type SerializeTupleStruct = Impossible<(), RawError>;
    type SerializeTupleVariant = Impossible<(), RawError>;
    type SerializeMap = Impossible<(), RawError>;
    type SerializeStruct = Impossible<(), RawError>;
    type SerializeStructVariant = Impossible<(), RawError>;

    fn serialize_u8(self, v: u8) -> Result<(), RawError> {
        self.out.push(v);
        Ok(())
    }

    refuse! {
        serialize_bool(bool) "a sequence of bools";
        serialize_i8(i8) "a sequence of i8";
        serialize_i16(i16) "a sequence of integers wider than u8";
        serialize_i32(i32) "a sequence of integers wider than u8";
        serialize_i64(i64) "a sequence of integers wider than u8";
        serialize_u16(u16) "a sequence of integers wider than u8";
        serialize_u32(u32) "a sequence of integers wider than u8";
        serialize_u64(u64) "a sequence of integers wider than u8";
        serialize_f32(f32) "a sequence of floats";
        serialize_f64(f64) "a sequence of floats";
        serialize_char(char) "a sequence of chars";
        serialize_str(&str) "a sequence of strings";
        serialize_bytes(&[u8]) "a sequence of byte strings";
        serialize_none() "a sequence of Options";
        serialize_unit() "a sequence of ()";
        serialize_unit_struct(&'static str) "a sequence of unit structs";
        serialize_unit_variant(&'static str, u32, &'static str) "a sequence of enums";
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), RawError> {
        Err(unsupported("a sequence of structs"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, RawError> {
        Err(unsupported("nested sequences"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, RawError> {
        Err(unsupported("nested sequences"))
    }

    refuse_containers! {
        some: "a sequence of Options",
        variant: "a sequence of enums",
        tuple_struct: "nested sequences",
        map: "a sequence of maps",
        structure: "a sequence of structs",
    }
}

/// Offers stored bytes as a string (if UTF-8), as bytes, or as a sequence of `u8`.
pub(crate) struct RawDeserializer<'a> {
    pub(crate) bytes: &'a [u8],
}

/// The stored bytes as a sequence of `u8`.
struct Bytes<'a> {
    rest: std::slice::Iter<'a, u8>,
}

impl<'de> SeqAccess<'de> for Bytes<'_> {
    type Error = RawError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, RawError> {
        match self.rest.next() {
            Some(&b) => seed.deserialize(b.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.rest.len())
    }
}

/// Integers from decimal text: an optional `-`, digits, no leading zero (the one form
/// [`decimal!`] and Redis write).
macro_rules! parse_decimal {
    ($($method:ident($ty:ty) $visit:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
            let n = std::str::from_utf8(self.bytes)
                .ok()
                .and_then(|t| t.parse::<$ty>().ok().filter(|n| n.to_string() == t))
                .ok_or_else(|| RawError("the stored bytes are not a decimal integer".into()))?;
            visitor.$visit(n)
        })*
    };
}

impl<'de> de::Deserializer<'de> for RawDeserializer<'_> {
    type Error = RawError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_bytes(self.bytes)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        match std::str::from_utf8(self.bytes) {
            Ok(s) => visitor.visit_str(s),
            Err(_) => Err(RawError("the stored bytes are not UTF-8".into())),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_bytes(self.bytes)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_bytes(self.bytes)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        let mut seq = Bytes {
            rest: self.bytes.iter(),
        };
        let value = visitor.visit_seq(&mut seq)?;
        if seq.rest.len() == 0 {
            Ok(value)
        } else {
            Err(RawError("bytes left over".into()))
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, RawError> {
        if len != self.bytes.len() {
            return Err(RawError(format!(
                "{} bytes stored, {len} asked for",
                self.bytes.len()
            )));
        }
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, RawError> {
        visitor.visit_newtype_struct(self)
    }

    parse_decimal! {
        deserialize_i8(i8) visit_i8, deserialize_i16(i16) visit_i16,
        deserialize_i32(i32) visit_i32, deserialize_i64(i64) visit_i64,
        deserialize_i128(i128) visit_i128, deserialize_u8(u8) visit_u8,
        deserialize_u16(u16) visit_u16, deserialize_u32(u32) visit_u32,
        deserialize_u64(u64) visit_u64, deserialize_u128(u128) visit_u128,
    }

    serde::forward_to_deserialize_any! {
        bool f32 f64 char
        option unit unit_struct tuple_struct map struct enum identifier ignored_any
    }
}
