//! The codecs of the serializing backends, on their own: encode then decode of a 1 KiB
//! struct and of a 1 MiB byte value (`serde_bytes::ByteBuf`), per codec, through the
//! `Encoding` the backends call.
//!
//! Rows: `cache-default` (postcard behind the structural type tag), `cache-json`,
//! `cache-raw` (bytes only), `cache-default-lz4` (the default codec with
//! `compress_above(1024)`; the byte value compresses about 4:1). `envelope-v1` is no codec
//! of ours any more: the envelope before the structural tag (FNV-1a of `type_name` on every
//! call, then postcard), kept here so that the cost of the new tag stays measured (the
//! `ratio` column: default / v1).

use std::hint::black_box;

use cache_benches::{configure, envelope_v1 as v1};
use cache_core::codec::{Codec, Encoding, Json, Postcard, Raw};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// 1,004 bytes in postcard (the envelope adds 9), 1,246 in JSON.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Record {
    id: u64,
    name: String,
    email: String,
    active: bool,
    tags: Vec<String>,
    scores: Vec<u32>,
    bio: String,
}

fn record() -> Record {
    Record {
        id: 123_456_789,
        name: "Ann Example".into(),
        email: "ann@example.com".into(),
        active: true,
        tags: (0..16).map(|i| format!("tag-{i}")).collect(),
        scores: (0..64).map(|i| i * 1_000).collect(),
        bio: "lorem ipsum dolor sit amet ".repeat(28),
    }
}

fn bytes_mib() -> ByteBuf {
    ByteBuf::from(
        (0..1usize << 20)
            .map(|i| (i / 4 % 251) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn round_trip<C: Codec, V: Serialize + DeserializeOwned + PartialEq + 'static>(
    e: &Encoding<C>,
    buf: &mut Vec<u8>,
    value: &V,
) {
    buf.clear();
    e.encode_into(buf, "k", black_box(value))
        .expect("encodable");
    let back: V = e.decode(black_box(buf)).expect("decodable");
    assert!(back == *value);
}

fn one<V: Serialize + DeserializeOwned + PartialEq + 'static>(
    c: &mut Criterion,
    name: &str,
    value: V,
    raw_too: bool,
) {
    let mut g = c.benchmark_group(format!("codec/{name}"));
    configure(&mut g);
    g.throughput(Throughput::Elements(1));
    let mut buf = Vec::new();
    g.bench_function("cache-default", |b| {
        let e = Encoding::new(Postcard);
        b.iter(|| round_trip(&e, &mut buf, &value))
    });
    g.bench_function("cache-default-lz4", |b| {
        let e = Encoding::new(Postcard).compress_above(1024);
        b.iter(|| round_trip(&e, &mut buf, &value))
    });
    g.bench_function("cache-json", |b| {
        let e = Encoding::new(Json);
        b.iter(|| round_trip(&e, &mut buf, &value))
    });
    if raw_too {
        g.bench_function("cache-raw", |b| {
            let e = Encoding::new(Raw);
            b.iter(|| round_trip(&e, &mut buf, &value))
        });
    }
    g.bench_function("envelope-v1", |b| {
        b.iter(|| {
            buf.clear();
            v1::encode(&mut buf, black_box(&value));
            let back: V = v1::decode(black_box(&buf)).expect("decodable");
            assert!(back == value);
        })
    });
    g.finish();
}

fn codecs(c: &mut Criterion) {
    one(c, "struct-1k", record(), false);
    one(c, "bytes-1m", bytes_mib(), true);
}

criterion_group!(codec_benches, codecs);
criterion_main!(codec_benches);
