//! The codecs on their own: structural tags, every codec's round trip and refusals,
//! compression, versioned names.
#![cfg(feature = "codec")]

use std::collections::BTreeMap;

use cache_core::codec::{self, type_shape, type_tag, Codec, Encoding, Json, Postcard, Raw};
use serde::{Deserialize, Serialize};

/// Two crates' `User`: same serde structure, different Rust paths.
mod writer {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
    pub struct User {
        pub name: String,
        pub age: u32,
    }
}
mod reader {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
    pub struct User {
        pub name: String,
        pub age: u32,
    }
}

mod signed {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    pub struct Point {
        pub x: i32,
        pub y: i32,
    }
}
mod unsigned {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    pub struct Point {
        pub x: u32,
        pub y: u32,
    }
}
mod flat {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    pub struct Point {
        pub x: i32,
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Shape {
    Circle { r: f64 },
    Square(u32),
    Empty,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum List {
    Nil,
    Cons(u32, Box<List>),
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(untagged)]
enum Loose {
    Number(u64),
    Text(String),
}

#[test]
fn same_structure_in_two_crates_reads_back() {
    assert_eq!(type_tag::<writer::User>(), type_tag::<reader::User>());
    let ann = writer::User {
        name: "ann".into(),
        age: 7,
    };
    let bytes = codec::encode("k", &ann).unwrap();
    let read: reader::User = codec::decode(&bytes).unwrap();
    assert_eq!((read.name.as_str(), read.age), ("ann", 7));
}

#[test]
fn other_structures_are_misses() {
    let p = signed::Point { x: 1, y: 2 };
    let bytes = codec::encode("k", &p).unwrap();
    assert_eq!(codec::decode::<unsigned::Point>(&bytes), None);
    assert_eq!(codec::decode::<flat::Point>(&bytes), None);
    assert_eq!(codec::decode::<String>(&bytes), None);
    assert_eq!(codec::decode::<(i32, i32)>(&bytes), None);
    assert_eq!(codec::decode::<signed::Point>(&bytes), Some(p));
    let tags = [
        type_tag::<signed::Point>(),
        type_tag::<unsigned::Point>(),
        type_tag::<flat::Point>(),
        type_tag::<String>(),
        type_tag::<Vec<u8>>(),
        type_tag::<u32>(),
        type_tag::<u64>(),
        type_tag::<Option<u64>>(),
        type_tag::<BTreeMap<String, u64>>(),
        type_tag::<[u8; 4]>(),
        type_tag::<Shape>(),
        type_tag::<List>(),
    ];
    for (i, a) in tags.iter().enumerate() {
        for b in &tags[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn shapes_name_fields_variants_and_containers() {
    assert_eq!(
        type_shape::<Shape>(),
        "shape @Shape; Shape=enum{0:Circle{r:f64},1:Square(u32),2:Empty}"
    );
    assert_eq!(
        type_shape::<List>(),
        "shape @List; List=enum{0:Nil,1:Cons(u32,@List)}"
    );
    assert_eq!(
        type_shape::<(u8, Option<String>)>(),
        "shape (u8,option<str>)"
    );
    // The fallback: no module path, so two crates still agree.
    assert_eq!(type_shape::<Loose>(), "name Loose");
    assert_eq!(type_shape::<Vec<Loose>>(), "name Vec<Loose>");
    // Types that check what they read, nested enums, recursion: `tests/type_check.rs`.
}

#[test]
fn recursive_and_enum_values_round_trip() {
    let list = List::Cons(1, Box::new(List::Cons(2, Box::new(List::Nil))));
    let bytes = codec::encode("k", &list).unwrap();
    assert_eq!(codec::decode::<List>(&bytes), Some(list));
    for s in [Shape::Circle { r: 1.5 }, Shape::Square(3), Shape::Empty] {
        let bytes = codec::encode("k", &s).unwrap();
        assert_eq!(codec::decode::<Shape>(&bytes), Some(s));
    }
}

#[test]
fn tags_are_the_same_on_every_thread() {
    let here = type_tag::<writer::User>();
    let there = std::thread::spawn(type_tag::<reader::User>).join().unwrap();
    assert_eq!(here, there);
}

#[test]
fn the_envelope_is_version_tag_postcard() {
    let bytes = codec::encode("k", &300u32).unwrap();
    assert_eq!(bytes[0], codec::ENVELOPE_VERSION);
    assert_eq!(bytes[1..9], type_tag::<u32>().to_le_bytes());
    assert_eq!(bytes[9..], [0xac, 0x02]); // postcard's varint of 300
                                          // A version-1 envelope (tag, then postcard) of the same value is a miss.
    let mut old = bytes[1..].to_vec();
    assert_eq!(codec::decode::<u32>(&old), None);
    old.insert(0, 1);
    assert_eq!(codec::decode::<u32>(&old), None);
}

#[test]
fn json_is_plain_text_any_language_can_read() {
    let ann = writer::User {
        name: "ann".into(),
        age: 7,
    };
    let mut out = Vec::new();
    Json.encode(&ann, &mut out).unwrap();
    assert_eq!(out, br#"{"name":"ann","age":7}"#);
    assert_eq!(Json.decode::<reader::User>(&out).unwrap().age, 7);
    assert_eq!(Json.decode::<flat::Point>(&out), None);
    assert_eq!(Json.decode::<reader::User>(b"{\"name\":1}"), None);
    assert_eq!(Json.decode::<u8>(b"256"), None);
}

#[test]
fn raw_keeps_exact_bytes_and_refuses_the_rest() {
    let mut out = Vec::new();
    Raw.encode(&vec![0u8, 255, 10], &mut out).unwrap();
    Raw.encode(&"é".to_string(), &mut out).unwrap();
    Raw.encode(&[1u8, 2], &mut out).unwrap();
    assert_eq!(out, [0, 255, 10, 0xc3, 0xa9, 1, 2]);
    assert_eq!(Raw.decode::<Vec<u8>>(b""), Some(Vec::new()));
    assert_eq!(Raw.decode::<String>(b"plain").as_deref(), Some("plain"));
    assert_eq!(Raw.decode::<Box<str>>(b"boxed").as_deref(), Some("boxed"));
    assert_eq!(Raw.decode::<[u8; 2]>(b"ab"), Some(*b"ab"));
    assert_eq!(Raw.decode::<[u8; 2]>(b"abc"), None);
    assert_eq!(Raw.decode::<String>(b"\xc3"), None);
    assert_eq!(Raw.decode::<u64>(b"12345678"), Some(12_345_678));
    assert_eq!(Raw.decode::<u64>(b"012"), None);
    assert_eq!(Raw.decode::<u8>(b"256"), None);
    assert_eq!(Raw.decode::<i64>(b"-9223372036854775808"), Some(i64::MIN));
    let mut n = Vec::new();
    Raw.encode(&-17i64, &mut n).unwrap();
    assert_eq!(n, b"-17");
    assert_eq!(Raw.decode::<reader::User>(b"{}"), None);
    for refused in [
        Raw.encode(&1.5f64, &mut Vec::new()),
        Raw.encode(&vec![1u32], &mut Vec::new()),
        Raw.encode(&Some("x".to_string()), &mut Vec::new()),
        Raw.encode(&vec!["a".to_string()], &mut Vec::new()),
    ] {
        let e = refused.unwrap_err().to_string();
        assert!(e.contains("Raw codec"), "{e}");
    }
    let e = Encoding::new(Raw).encode(
        "the key",
        &writer::User {
            name: String::new(),
            age: 1,
        },
    );
    let e = e.unwrap_err().to_string();
    assert!(e.contains("the key") && e.contains("struct"), "{e}");
}

#[test]
fn compression_is_read_whatever_the_reader_setting() {
    let big = "all work and no play ".repeat(50_000).into_bytes();
    for_each_codec_bytes(&big);
    let packed = Encoding::new(Postcard).compress_above(100);
    let plain = Encoding::new(Postcard);
    let small = packed.encode("k", &vec![1u8; 50]).unwrap();
    assert!(
        small == plain.encode("k", &vec![1u8; 50]).unwrap(),
        "under the threshold"
    );
    // Incompressible values stay as they are.
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let stored = packed.encode("k", &noise).unwrap();
    assert!(stored == plain.encode("k", &noise).unwrap(), "stored as is");
}

fn for_each_codec_bytes(big: &[u8]) {
    fn check<C: Codec>(codec: C, big: &[u8]) {
        let packed = Encoding::new(codec.clone()).compress_above(1024);
        let plain = Encoding::new(codec);
        let stored = packed.encode("k", &big.to_vec()).unwrap();
        let unpacked = plain.encode("k", &big.to_vec()).unwrap();
        assert!(stored.len() * 4 < big.len(), "{} bytes", stored.len());
        assert_eq!(&stored[..4], codec::FRAME_MAGIC);
        assert_eq!(plain.decode::<Vec<u8>>(&stored).as_deref(), Some(big));
        assert_eq!(packed.decode::<Vec<u8>>(&unpacked).as_deref(), Some(big));
    }
    check(Postcard, big);
    check(Json, big);
    check(Raw, big);
}

#[test]
fn raw_bytes_that_look_like_a_frame_still_read_as_themselves() {
    let fake = b"\xFFLZ4 and then some".to_vec();
    let e = Encoding::new(Raw).compress_above(0);
    assert_eq!(e.decode::<Vec<u8>>(&fake), Some(fake.clone()));
    // Even a whole valid frame, stored as a raw value, reads back as itself: it is framed.
    let frame = e.encode("k", &b"hello".repeat(10)).unwrap();
    for writer in [Encoding::new(Raw), e] {
        let stored = writer.encode("k", &frame).unwrap();
        assert_eq!(writer.decode::<Vec<u8>>(&stored), Some(frame.clone()));
    }
}
