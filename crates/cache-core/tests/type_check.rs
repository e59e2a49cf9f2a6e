//! The default codec's type check on the types real programs store: enums nested at any
//! depth (fields, `Option`, sequences, maps, other enums' variants), recursive types, types
//! that validate what they read. A struct written by one program and read as a struct with
//! its fields reordered, or one field widened, is a miss, never a wrong value; and the count
//! of types that fall back to their name (the tag the check cannot see into) is held here.
#![cfg(feature = "codec")]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::{Duration, SystemTime};

use cache_core::codec::{self, type_shape, type_tag};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
enum Status {
    Active,
    Suspended { days: u32 },
    Closed(u8),
}

mod writer {
    use super::*;
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Named {
        pub first: String,
        pub last: String,
        pub status: Status,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Order {
        pub qty: u32,
        pub status: Option<Status>,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Deep {
        pub history: Vec<BTreeMap<String, Vec<Option<Status>>>>,
        pub id: u32,
    }
}

mod reader {
    use super::*;
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Named {
        pub last: String,
        pub first: String,
        pub status: Status,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Order {
        pub qty: u64,
        pub status: Option<Status>,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Deep {
        pub history: Vec<BTreeMap<String, Vec<Option<Status>>>>,
        pub id: i32,
    }
}

/// The same `Named` as `writer::Named`, in another module (another crate, to the codec).
mod twin {
    use super::*;
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Named {
        pub first: String,
        pub last: String,
        pub status: Status,
    }
}

#[test]
fn reordered_fields_around_a_nested_enum_are_a_miss() {
    let ann = writer::Named {
        first: "Ann".into(),
        last: "Lee".into(),
        status: Status::Suspended { days: 3 },
    };
    let bytes = codec::encode("k", &ann).unwrap();
    assert_eq!(codec::decode::<reader::Named>(&bytes), None);
    let same: twin::Named = codec::decode(&bytes).expect("the same structure reads back");
    assert_eq!((same.first.as_str(), same.last.as_str()), ("Ann", "Lee"));
    assert_eq!(same.status, Status::Suspended { days: 3 });
    assert_eq!(
        type_shape::<writer::Named>(),
        "shape @Named; Named={first:str,last:str,status:@Status}; \
         Status=enum{0:Active,1:Suspended{days:u32},2:Closed(u8)}"
    );
}

#[test]
fn a_widened_field_beside_an_optional_enum_is_a_miss() {
    let order = writer::Order {
        qty: 5,
        status: Some(Status::Closed(2)),
    };
    let bytes = codec::encode("k", &order).unwrap();
    assert_eq!(codec::decode::<reader::Order>(&bytes), None);
    assert_eq!(codec::decode::<writer::Order>(&bytes), Some(order));
    let deep = writer::Deep {
        history: vec![BTreeMap::from([(
            "a".into(),
            vec![None, Some(Status::Active)],
        )])],
        id: 9,
    };
    let bytes = codec::encode("k", &deep).unwrap();
    assert_eq!(codec::decode::<reader::Deep>(&bytes), None);
    assert_eq!(codec::decode::<writer::Deep>(&bytes), Some(deep));
}

// Enums at several depths, each discovered only inside a variant of the one above it.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Level1 {
    Empty,
    Down(Level2),
}
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Level2 {
    Nothing,
    Pair(u8, Option<Level3>),
}
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Level3 {
    Zero,
    Many { items: Vec<Level4> },
}
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Level4 {
    A,
    B(BTreeMap<Level5, String>),
}
#[derive(Serialize, Deserialize, Debug, PartialEq, PartialOrd, Ord, Eq)]
enum Level5 {
    X,
    Y,
    Z(i64),
}

#[test]
fn enums_nested_inside_variants_are_traced_to_the_bottom() {
    assert_eq!(
        type_shape::<Level1>(),
        "shape @Level1; Level1=enum{0:Empty,1:Down(@Level2)}; \
         Level2=enum{0:Nothing,1:Pair(u8,option<@Level3>)}; \
         Level3=enum{0:Zero,1:Many{items:seq<@Level4>}}; \
         Level4=enum{0:A,1:B(map<@Level5,str>)}; \
         Level5=enum{0:X,1:Y,2:Z(i64)}"
    );
    let value = Level1::Down(Level2::Pair(
        1,
        Some(Level3::Many {
            items: vec![Level4::B(BTreeMap::from([(Level5::Z(-4), "z".into())]))],
        }),
    ));
    let bytes = codec::encode("k", &value).unwrap();
    assert_eq!(codec::decode::<Level1>(&bytes), Some(value));
}

// Recursive types: an enum whose first variant is the base case, a struct of its own kind,
// two enums that name each other.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Tree {
    Leaf(u32),
    Node(Box<Tree>, Box<Tree>),
}
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Dir {
    name: String,
    kind: Status,
    children: Vec<Dir>,
}
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Even {
    Zero,
    Next(Box<Odd>),
}
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Odd {
    One,
    Next(Box<Even>),
}
/// Recursive in its first variant: a tracer that ends a recursion by taking an enum's first
/// variant recursed here until the stack overflowed, aborting the process.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Expr {
    Add(Box<Expr>, Box<Expr>),
    Lit(i64),
}

#[test]
fn recursive_types_are_traced_or_fall_back_without_overflowing() {
    assert_eq!(
        type_shape::<Tree>(),
        "shape @Tree; Tree=enum{0:Leaf(u32),1:Node(@Tree,@Tree)}"
    );
    assert_eq!(
        type_shape::<Dir>(),
        "shape @Dir; Dir={name:str,kind:@Status,children:seq<@Dir>}; \
         Status=enum{0:Active,1:Suspended{days:u32},2:Closed(u8)}"
    );
    assert_eq!(
        type_shape::<Even>(),
        "shape @Even; Even=enum{0:Zero,1:Next(@Odd)}; Odd=enum{0:One,1:Next(@Even)}"
    );
    assert_eq!(
        type_shape::<Expr>(),
        "shape @Expr; Expr=enum{0:Add(@Expr,@Expr),1:Lit(i64)}"
    );
    let expr = Expr::Add(Box::new(Expr::Lit(1)), Box::new(Expr::Lit(2)));
    let bytes = codec::encode("k", &expr).unwrap();
    assert_eq!(codec::decode::<Expr>(&bytes), Some(expr));
}

/// Refuses 0, the tracer's first sample.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
#[serde(try_from = "u32", into = "u32")]
struct Positive(u32);

impl TryFrom<u32> for Positive {
    type Error = &'static str;
    fn try_from(n: u32) -> Result<Self, &'static str> {
        if n == 0 {
            Err("zero")
        } else {
            Ok(Positive(n))
        }
    }
}

impl From<Positive> for u32 {
    fn from(p: Positive) -> u32 {
        p.0
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Stock {
    count: Positive,
    status: Status,
}

#[test]
fn a_type_that_checks_what_it_reads_is_traced_with_other_samples() {
    assert_eq!(type_shape::<Positive>(), "checked shape u32");
    assert_eq!(
        type_shape::<Stock>(),
        "checked shape @Stock; Status=enum{0:Active,1:Suspended{days:u32},2:Closed(u8)}; \
         Stock={count:u32,status:@Status}"
    );
    assert_ne!(type_tag::<Positive>(), type_tag::<u32>());
    let bytes = codec::encode("k", &Positive(3)).unwrap();
    assert_eq!(codec::decode::<Positive>(&bytes), Some(Positive(3)));
    assert_eq!(codec::decode::<u32>(&bytes), None);
}

// The rest of the corpus below: common shapes of stored values.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Loose {
    Number(u64),
    Text(String),
}
#[derive(Serialize, Deserialize)]
#[serde(tag = "type")]
enum Internally {
    A { x: u32 },
    B { y: String },
}
#[derive(Serialize, Deserialize)]
#[serde(tag = "t", content = "c")]
enum Adjacent {
    A(u32),
    B(String),
}
#[derive(Serialize, Deserialize)]
struct Flattened {
    id: u32,
    #[serde(flatten)]
    extra: HashMap<String, String>,
}
#[derive(Serialize, Deserialize)]
struct Renamed {
    #[serde(rename = "userId")]
    user_id: u64,
    #[serde(default)]
    tags: BTreeSet<String>,
    #[serde(skip)]
    #[allow(dead_code)]
    cached: Option<u32>,
}
#[derive(Serialize, Deserialize)]
struct Newtype(Vec<Status>);
#[derive(Serialize, Deserialize)]
struct Tuple(u8, Status, Option<Box<Tuple>>);
#[derive(Serialize, Deserialize)]
struct Unit;
#[derive(Serialize, Deserialize)]
struct Session {
    user: u64,
    roles: Vec<Role>,
    started: SystemTime,
    idle: Duration,
    from: Option<IpAddr>,
    peer: SocketAddr,
    prefs: HashMap<String, Pref>,
}
#[derive(Serialize, Deserialize)]
enum Role {
    Reader,
    Writer { scopes: Vec<String> },
    Admin,
}
#[derive(Serialize, Deserialize)]
enum Pref {
    Flag(bool),
    Level(u8),
    Text(String),
    List(Vec<Pref>),
}
#[derive(Serialize, Deserialize)]
struct WithNonZero {
    id: NonZeroU32,
    role: Role,
}

/// The shape of `V`, and whether it fell back to the type's name.
fn falls_back<V: DeserializeOwned + 'static>() -> (String, bool) {
    let shape = type_shape::<V>();
    let fallback = shape.starts_with("name ");
    (shape, fallback)
}

#[test]
fn few_types_fall_back_to_their_name() {
    let corpus = [
        falls_back::<u8>(),
        falls_back::<i64>(),
        falls_back::<f64>(),
        falls_back::<bool>(),
        falls_back::<char>(),
        falls_back::<()>(),
        falls_back::<String>(),
        falls_back::<Vec<u8>>(),
        falls_back::<[u8; 32]>(),
        falls_back::<(u8, String)>(),
        falls_back::<Option<Box<String>>>(),
        falls_back::<HashMap<String, Vec<u64>>>(),
        falls_back::<BTreeSet<Level5>>(),
        falls_back::<SystemTime>(),
        falls_back::<Duration>(),
        falls_back::<IpAddr>(),
        falls_back::<SocketAddr>(),
        falls_back::<std::path::PathBuf>(),
        falls_back::<NonZeroU32>(),
        falls_back::<std::ops::Range<u32>>(),
        falls_back::<Status>(),
        falls_back::<Option<Status>>(),
        falls_back::<Vec<Status>>(),
        falls_back::<BTreeMap<String, Status>>(),
        falls_back::<BTreeMap<Level5, Vec<Status>>>(),
        falls_back::<writer::Named>(),
        falls_back::<writer::Order>(),
        falls_back::<writer::Deep>(),
        falls_back::<Level1>(),
        falls_back::<Tree>(),
        falls_back::<Dir>(),
        falls_back::<Even>(),
        falls_back::<Positive>(),
        falls_back::<Stock>(),
        falls_back::<Renamed>(),
        falls_back::<Newtype>(),
        falls_back::<Tuple>(),
        falls_back::<Unit>(),
        falls_back::<Session>(),
        falls_back::<WithNonZero>(),
        falls_back::<Vec<Session>>(),
        falls_back::<Expr>(),
        // The fallbacks: untagged, internally and adjacently tagged enums and `flatten`
        // read through `deserialize_any` or an identifier (the data says what it is, which
        // the tracer cannot make up), as does `serde_json::Value`.
        falls_back::<Adjacent>(),
        falls_back::<Loose>(),
        falls_back::<Internally>(),
        falls_back::<Flattened>(),
        falls_back::<serde_json::Value>(),
    ];
    // The count `cache_core::codec`'s docs give.
    assert_eq!(corpus.len(), 47);
    let fell: Vec<&str> = corpus
        .iter()
        .filter(|(_, fell)| *fell)
        .map(|(shape, _)| shape.as_str())
        .collect();
    assert_eq!(
        fell,
        [
            "name Adjacent",
            "name Loose",
            "name Internally",
            "name Flattened",
            "name Value"
        ],
        "{} of {} types fell back",
        fell.len(),
        corpus.len()
    );
    // No two of these types share a tag but those that serde sees as one: `String` and
    // `PathBuf` are both text, `NonZeroU32` and `Positive` both a `u32` that refuses 0.
    let mut tags: Vec<&str> = corpus.iter().map(|(shape, _)| shape.as_str()).collect();
    tags.sort_unstable();
    let shared: Vec<&str> = tags
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    assert_eq!(shared, ["checked shape u32", "shape str"]);
}

#[test]
fn session_like_structs_carry_every_nested_enum() {
    let shape = type_shape::<Session>();
    for part in [
        "Role=enum{0:Reader,1:Writer{scopes:seq<str>},2:Admin}",
        "Pref=enum{0:Flag(bool),1:Level(u8),2:Text(str),3:List(seq<@Pref>)}",
        "IpAddr=enum{0:V4([u8;4]),1:V6([u8;16])}",
        "SocketAddr=enum{0:V4(([u8;4],u16)),1:V6(([u8;16],u16))}",
    ] {
        assert!(shape.contains(part), "{part} missing from {shape}");
    }
}
