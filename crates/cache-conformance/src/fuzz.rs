//! The bodies of the fuzz targets under `fuzz/`, kept here so that an ordinary `cargo test`
//! replays each target's committed corpus without a nightly toolchain.

use cache_core::Pattern;

use crate::model::{run_case, Op, TtlChoice, KEYS, PATTERNS};
use crate::Harness;

/// Splits fuzz input at the first 0xFF byte (never part of valid UTF-8)
/// into a pattern and a key, lossily decoded so every input is used.
fn split_pattern_key(data: &[u8]) -> (String, String) {
    let cut = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    let pattern = String::from_utf8_lossy(&data[..cut]).into_owned();
    let key = String::from_utf8_lossy(data.get(cut + 1..).unwrap_or(&[])).into_owned();
    (pattern, key)
}

/// Fuzz target `glob`: [`Pattern`] agrees with the reference matcher on any pattern and key.
///
/// ```
/// cache_conformance::fuzz::glob(b"ca*\xffcafe");
/// ```
pub fn glob(data: &[u8]) {
    if data.len() > 512 {
        return; // the reference is quadratic; long inputs add nothing but time
    }
    let (pattern, key) = split_pattern_key(data);
    let fast = Pattern::new(&pattern).matches(&key);
    let slow = crate::reference::glob_matches(&pattern, &key);
    assert_eq!(fast, slow, "pattern {pattern:?} key {key:?}");
}

/// Decodes fuzz input into a cache setup and an operation sequence: three bytes per op.
///
/// ```
/// let (cap, with_default, ops) = cache_conformance::fuzz::decode_ops(&[1, 0, 3, 7, 9]);
/// assert_eq!(ops.len(), 1);
/// # let _ = (cap, with_default);
/// ```
pub fn decode_ops(data: &[u8]) -> (Option<usize>, bool, Vec<Op>) {
    let Some((&head, rest)) = data.split_first() else {
        return (None, false, Vec::new());
    };
    let cap = match head & 3 {
        0 => None,
        1 => Some(2),
        2 => Some(4),
        _ => Some(1000),
    };
    let with_default = head & 4 != 0;
    let ttl = |b: u8| match b % 8 {
        0 | 1 => TtlChoice::Default,
        2 | 3 => TtlChoice::Never,
        4 => TtlChoice::Zero,
        n => TtlChoice::Secs(u64::from(n - 4)),
    };
    let ops = rest
        .chunks_exact(3)
        .take(200)
        .map(|c| {
            let key = usize::from(c[1]) % KEYS.len();
            match c[0] % 13 {
                0 => Op::Get(key),
                1 => Op::Set(key, c[2], ttl(c[2] >> 3)),
                2 => Op::Delete(key),
                3 => Op::Exists(key),
                4 => Op::DeletePattern(usize::from(c[1]) % PATTERNS.len()),
                5 => Op::Clear,
                6 => Op::Advance([0, 1, 999, 1000, 2500, 4000][usize::from(c[1]) % 6]),
                7 => Op::GetMany(
                    [c[1], c[2], c[1] ^ c[2]]
                        .iter()
                        .take(usize::from(c[2] % 4))
                        .map(|&b| usize::from(b) % KEYS.len())
                        .collect(),
                ),
                8 => Op::GetOrInsert(key, c[2], ttl(c[2] >> 3)),
                9 => Op::Set(key, c[2], TtlChoice::Secs(u64::from(c[2] % 4) + 1)),
                10 => Op::Add(key, c[2], ttl(c[2] >> 3)),
                11 => Op::Touch(key, ttl(c[2])),
                _ => Op::TtlOf(key),
            }
        })
        .collect();
    (cap, with_default, ops)
}

/// Fuzz targets `ops_*`: the operation sequence in `data` gives the same results and
/// counters on the backend as on the model. Bounds apply only where `h.bounded()`.
///
/// ```
/// # use cache_conformance::{Harness, Setup, Time};
/// # use cache_memory::InMemoryCache;
/// # struct Memory;
/// # impl Harness for Memory {
/// #     type Cache = InMemoryCache<Vec<u8>>;
/// #     fn time(&self) -> Time { Time::Mock }
/// #     fn bounded(&self) -> bool { true }
/// #     fn create(&self, setup: Setup) -> Self::Cache {
/// #         InMemoryCache::builder().max_size(setup.max_size.unwrap_or(1000))
/// #             .clock(setup.clock.unwrap().shared()).build().unwrap()
/// #     }
/// #     fn counters(&self, setup: Setup) -> Box<dyn cache_core::Cache<i64>> {
/// #         Box::new(InMemoryCache::builder().clock(setup.clock.unwrap().shared()).build().unwrap())
/// #     }
/// # }
/// cache_conformance::fuzz::ops(&Memory, &[1, 1, 0, 9, 0, 0, 0]);
/// ```
pub fn ops<H: Harness>(h: &H, data: &[u8]) {
    let (cap, with_default, ops) = decode_ops(data);
    let cap = if h.bounded() { cap } else { None };
    if let Err(e) = run_case(h, cap, with_default, &ops) {
        panic!("the backend disagrees with the model: {e}\nops: {ops:?}");
    }
}

/// Replays every file of `dir` (a fuzz corpus) through `target`, returning how many ran.
/// A missing directory is an error: the corpus is committed with the code.
///
/// ```no_run
/// let n = cache_conformance::fuzz::replay_corpus("fuzz/corpus/glob", cache_conformance::fuzz::glob);
/// assert!(n > 0);
/// ```
pub fn replay_corpus(dir: impl AsRef<std::path::Path>, target: impl Fn(&[u8])) -> usize {
    let dir = dir.as_ref();
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus {} is missing: {e}", dir.display()));
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_file() {
            let data = std::fs::read(&path).expect("a corpus file");
            target(&data);
            count += 1;
        }
    }
    count
}

/// Fuzz target `type_confusion`: arbitrary bytes decode as a value or as nothing (never a
/// panic), and a value encoded as one type never decodes as another.
///
/// ```
/// cache_conformance::fuzz::type_confusion(b"\x03hello");
/// ```
pub fn type_confusion(data: &[u8]) {
    use cache_core::codec::{decode, encode};

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Record {
        id: u32,
        name: String,
        tags: Vec<String>,
    }

    // Raw bytes, with and without a valid envelope head (version, tag) in front, as every type.
    fn decode_all(bytes: &[u8]) {
        let _ = decode::<u64>(bytes);
        let _ = decode::<String>(bytes);
        let _ = decode::<Vec<u8>>(bytes);
        let _ = decode::<Vec<String>>(bytes);
        let _ = decode::<Option<(u32, i64)>>(bytes);
        let _ = decode::<Record>(bytes);
    }
    decode_all(data);
    for tag in [
        cache_core::codec::type_tag::<String>(),
        cache_core::codec::type_tag::<Vec<u8>>(),
        cache_core::codec::type_tag::<Record>(),
        cache_core::codec::type_tag::<Vec<String>>(),
    ] {
        let mut tagged = vec![cache_core::codec::ENVELOPE_VERSION];
        tagged.extend_from_slice(&tag.to_le_bytes());
        tagged.extend_from_slice(data);
        decode_all(&tagged);
    }

    // Typed values made from the input: each reads back as itself and as nothing else.
    let text = String::from_utf8_lossy(data).into_owned();
    let record = Record {
        id: data.len() as u32,
        name: text.clone(),
        tags: text.split(' ').map(str::to_owned).collect(),
    };
    let number = data
        .iter()
        .fold(0u64, |n, &b| n.rotate_left(8) ^ u64::from(b));
    let as_text = encode("k", &text).expect("encodable");
    let as_bytes = encode("k", &data.to_vec()).expect("encodable");
    let as_record = encode("k", &record).expect("encodable");
    let as_number = encode("k", &number).expect("encodable");
    assert_eq!(decode::<String>(&as_text), Some(text));
    assert_eq!(decode::<Vec<u8>>(&as_bytes), Some(data.to_vec()));
    assert_eq!(decode::<Record>(&as_record), Some(record));
    assert_eq!(decode::<u64>(&as_number), Some(number));
    assert_eq!(decode::<Vec<u8>>(&as_text), None);
    assert_eq!(decode::<String>(&as_bytes), None);
    assert_eq!(decode::<String>(&as_record), None);
    assert_eq!(decode::<Record>(&as_text), None);
    assert_eq!(decode::<String>(&as_number), None);
    assert_eq!(decode::<u64>(&as_bytes), None);
}

/// Fuzz target `codecs`: arbitrary bytes given to every codec's decoder (as several types,
/// as they are and through [`Encoding`](cache_core::codec::Encoding), which looks for
/// compressed frames) decode as a value or as nothing, never a panic; values made from the
/// input round-trip through every codec, compressed or not; stored names parse back.
///
/// ```
/// cache_conformance::fuzz::codecs(b"\xFFLZ4\x05\0\0\0\0\0\0\0hello");
/// ```
pub fn codecs(data: &[u8]) {
    use cache_core::codec::{self, Codec, Encoding, Json, Postcard, Raw};
    use std::collections::BTreeMap;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    enum Shape {
        Dot,
        Line(u32),
        Box { w: i16, h: i16 },
    }

    fn decode_all<C: Codec>(codec: &C, bytes: &[u8]) {
        let e = Encoding::new(codec.clone());
        macro_rules! each {
            ($($t:ty),*) => {$(
                let _ = codec.decode::<$t>(bytes);
                let _ = e.decode::<$t>(bytes);
            )*};
        }
        each!(
            u64,
            i8,
            f64,
            bool,
            char,
            String,
            Vec<u8>,
            [u8; 4],
            Vec<String>,
            Option<(u32, i64)>,
            BTreeMap<String, u32>,
            Shape,
            Vec<Shape>
        );
    }

    fn round_trip<C: Codec>(codec: C, data: &[u8]) {
        let value = data.to_vec();
        for e in [
            Encoding::new(codec.clone()),
            Encoding::new(codec.clone()).compress_above(0),
        ] {
            let bytes = e
                .encode("k", &value)
                .expect("bytes encode with every codec");
            assert_eq!(e.decode::<Vec<u8>>(&bytes).as_deref(), Some(data));
            let plain = Encoding::new(codec.clone());
            assert_eq!(plain.decode::<Vec<u8>>(&bytes).as_deref(), Some(data));
        }
    }

    decode_all(&Postcard, data);
    decode_all(&Json, data);
    decode_all(&Raw, data);
    // Behind a valid envelope head and inside a valid frame, so the decoders get past them.
    let mut tagged = vec![codec::ENVELOPE_VERSION];
    tagged.extend_from_slice(&codec::type_tag::<Shape>().to_le_bytes());
    tagged.extend_from_slice(data);
    decode_all(&Postcard, &tagged);
    let framed = Encoding::new(Raw)
        .compress_above(0)
        .encode("k", &[data, data, data].concat())
        .expect("bytes encode raw");
    decode_all(&Postcard, &framed);
    decode_all(&Json, &framed);

    round_trip(Postcard, data);
    round_trip(Json, data);
    round_trip(Raw, data);

    if let Some((key, version)) = codec::split_versioned_name(data) {
        assert_eq!(&*codec::versioned_name(key, version), data);
    }
}
