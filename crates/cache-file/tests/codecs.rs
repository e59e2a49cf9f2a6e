//! Codecs, versions and compression on real directories: what other programs find on disk,
//! what instances with other settings read.

use cache_core::codec::{Json, Raw};
use cache_core::{Cache, Ttl};
use cache_file::FileBasedCache;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct User {
    name: String,
    age: u32,
}

fn compressible_mib() -> Vec<u8> {
    cache_conformance::compressible(1 << 20)
}

#[test]
fn version_2_cannot_see_version_1_and_clear_removes_both() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = FileBasedCache::builder(dir.path()).build().unwrap();
    let v2 = FileBasedCache::builder(dir.path())
        .version(2)
        .build()
        .unwrap();
    v1.set("user:1", "one".to_string(), Ttl::Never).unwrap();
    assert_eq!(Cache::<String>::get(&v2, "user:1").unwrap(), None);
    assert!(!Cache::<String>::exists(&v2, "user:1").unwrap());
    assert!(!Cache::<String>::delete(&v2, "user:1").unwrap());
    v2.set("user:1", "two".to_string(), Ttl::Never).unwrap();
    v2.set("user:2", "two".to_string(), Ttl::Never).unwrap();
    assert_eq!(
        Cache::<String>::get(&v1, "user:1").unwrap().as_deref(),
        Some("one")
    );
    assert_eq!(
        Cache::<String>::get(&v2, "user:1").unwrap().as_deref(),
        Some("two")
    );
    assert_ne!(v1.entry_path("user:1"), v2.entry_path("user:1"));
    // A literal pattern and a glob both reach every version.
    assert_eq!(Cache::<String>::delete_pattern(&v1, "user:1").unwrap(), 2);
    assert_eq!(Cache::<String>::delete_pattern(&v1, "user:*").unwrap(), 1);
    v1.set("a", "1".to_string(), Ttl::Never).unwrap();
    v2.set("b", "2".to_string(), Ttl::Never).unwrap();
    Cache::<String>::clear(&v2).unwrap();
    assert_eq!(Cache::<String>::get(&v1, "a").unwrap(), None);
    assert_eq!(Cache::<String>::get(&v2, "b").unwrap(), None);
    let left = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name != "tmp" && name != cache_file::USAGE_FILE
        })
        .flat_map(|e| std::fs::read_dir(e.unwrap().path()).unwrap())
        // A fan-out directory's keys lock stays (removals take it): not an entry.
        .filter(|e| e.as_ref().unwrap().file_name() != "keys.lock")
        .count();
    assert_eq!(left, 0, "no entry file of either version is left");
}

#[test]
fn a_compressible_mib_takes_under_a_quarter_on_disk_and_everyone_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let packed = FileBasedCache::builder(dir.path())
        .compress_above(1024)
        .build()
        .unwrap();
    let plain = FileBasedCache::builder(dir.path()).build().unwrap();
    let value = compressible_mib();
    packed.set("big", value.clone(), Ttl::Never).unwrap();
    let size = std::fs::metadata(packed.entry_path("big")).unwrap().len();
    assert!(size < (1 << 20) / 4, "{size} bytes on disk");
    assert_eq!(
        Cache::<Vec<u8>>::get(&plain, "big").unwrap(),
        Some(value.clone())
    );
    assert_eq!(
        Cache::<Vec<u8>>::get(&packed, "big").unwrap(),
        Some(value.clone())
    );
    plain.set("big", value.clone(), Ttl::Never).unwrap();
    let size = std::fs::metadata(plain.entry_path("big")).unwrap().len();
    assert!(size > 1 << 20, "{size} bytes on disk uncompressed");
    assert_eq!(Cache::<Vec<u8>>::get(&packed, "big").unwrap(), Some(value));
}

#[test]
fn json_and_raw_files_hold_the_plain_value_after_the_header_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let json = FileBasedCache::builder(dir.path().join("j"))
        .codec(Json)
        .build()
        .unwrap();
    let ann = User {
        name: "ann".into(),
        age: 7,
    };
    json.set("k", ann.clone(), Ttl::Never).unwrap();
    let file = std::fs::read(json.entry_path("k")).unwrap();
    assert_eq!(&file[48..49], b"k");
    assert_eq!(&file[49..], br#"{"name":"ann","age":7}"#);
    assert_eq!(json.get("k").unwrap(), Some(ann));
    assert_eq!(Cache::<String>::get(&json, "k").unwrap(), None);

    let raw = FileBasedCache::builder(dir.path().join("r"))
        .codec(Raw)
        .build()
        .unwrap();
    raw.set("k", "text".to_string(), Ttl::Never).unwrap();
    assert_eq!(std::fs::read(raw.entry_path("k")).unwrap()[49..], *b"text");
    assert_eq!(
        Cache::<Vec<u8>>::get(&raw, "k").unwrap(),
        Some(b"text".to_vec())
    );
    let err = raw.set("f", 0.5f64, Ttl::Never).unwrap_err();
    assert!(err.to_string().contains("Raw codec"), "{err}");
    assert!(!Cache::<f64>::exists(&raw, "f").unwrap());
    // Counters are decimal text, as Redis's INCR keeps them.
    assert_eq!(raw.incr("n", 41).unwrap(), 41);
    assert_eq!(raw.incr("n", 1).unwrap(), 42);
    assert_eq!(std::fs::read(raw.entry_path("n")).unwrap()[49..], *b"42");
    assert_eq!(
        Cache::<String>::get(&raw, "n").unwrap().as_deref(),
        Some("42")
    );
    assert_eq!(Cache::<i64>::get(&raw, "n").unwrap(), Some(42));
}

#[test]
fn counters_follow_the_codec() {
    let dir = tempfile::tempdir().unwrap();
    let json = FileBasedCache::builder(dir.path())
        .codec(Json)
        .build()
        .unwrap();
    assert_eq!(json.incr("n", 7).unwrap(), 7);
    assert_eq!(std::fs::read(json.entry_path("n")).unwrap()[49..], *b"7");
    json.set("s", "text".to_string(), Ttl::Never).unwrap();
    assert!(json.incr("s", 1).is_err(), "not a counter");
    let v2 = FileBasedCache::builder(dir.path())
        .version(2)
        .build()
        .unwrap();
    assert_eq!(v2.incr("n", 1).unwrap(), 1, "version 2 counts on its own");
    assert_eq!(Cache::<i64>::get(&json, "n").unwrap(), Some(7));
}

#[test]
fn version_1_files_read_as_misses() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FileBasedCache::new(dir.path(), None).unwrap();
    cache.set("k", 7u32, Ttl::Never).unwrap();
    let path = cache.entry_path("k");
    let mut file = std::fs::read(&path).unwrap();
    file[8] = 1; // what version 1 of the format wrote there
    std::fs::write(&path, &file).unwrap();
    assert_eq!(Cache::<u32>::get(&cache, "k").unwrap(), None);
    assert_eq!(cache.corruptions(), 1);
}

/// Byte values are written from where they are (after their header) and read into a buffer
/// of their own when large: the files hold exactly what the codec's bytes are, and read back
/// with every codec, compressed or not, as the type they were written as.
#[test]
fn byte_values_of_every_size_are_stored_as_their_codecs_bytes() {
    use cache_core::codec::{Encoding, Postcard};
    use serde_bytes::ByteBuf;
    fn payload(cache: &FileBasedCache<impl cache_core::codec::Codec>, key: &str) -> Vec<u8> {
        let file = std::fs::read(cache.entry_path(key)).unwrap();
        file[48 + key.len()..].to_vec()
    }
    let dir = tempfile::tempdir().unwrap();
    let postcard = FileBasedCache::builder(dir.path().join("p"))
        .build()
        .unwrap();
    let packed = FileBasedCache::builder(dir.path().join("z"))
        .compress_above(64)
        .build()
        .unwrap();
    let unpacked = FileBasedCache::builder(dir.path().join("z"))
        .build()
        .unwrap();
    let raw = FileBasedCache::builder(dir.path().join("r"))
        .codec(Raw)
        .build()
        .unwrap();
    for len in [0, 10, 16_000, 16_384, 17_000, 100_000] {
        let v: Vec<u8> = (0..len).map(|i| (i % 7) as u8).collect();
        let b = ByteBuf::from(v.clone());
        let key = format!("bytes:{len}");
        postcard.set(&key, v.clone(), Ttl::Never).unwrap();
        let plain = Encoding::new(Postcard);
        assert_eq!(payload(&postcard, &key), plain.encode("k", &v).unwrap());
        assert_eq!(postcard.get(&key).unwrap().as_ref(), Some(&v), "{len}");
        assert_eq!(
            Cache::<ByteBuf>::get(&postcard, &key).unwrap(),
            None,
            "another type"
        );
        postcard.set(&key, b.clone(), Ttl::Never).unwrap();
        assert_eq!(payload(&postcard, &key), plain.encode("k", &b).unwrap());
        assert_eq!(postcard.get(&key).unwrap().as_ref(), Some(&b), "{len}");
        assert_eq!(Cache::<Vec<u8>>::get(&postcard, &key).unwrap(), None);

        packed.set(&key, b.clone(), Ttl::Never).unwrap();
        let compressed = Encoding::new(Postcard).compress_above(64);
        assert_eq!(payload(&packed, &key), compressed.encode("k", &b).unwrap());
        assert_eq!(packed.get(&key).unwrap().as_ref(), Some(&b), "{len}");
        assert_eq!(
            Cache::<ByteBuf>::get(&unpacked, &key).unwrap(),
            Some(b.clone())
        );

        raw.set(&key, v.clone(), Ttl::Never).unwrap();
        assert_eq!(payload(&raw, &key), v);
        assert_eq!(raw.get(&key).unwrap().as_ref(), Some(&b), "{len}");
        assert_eq!(raw.get(&key).unwrap().as_ref(), Some(&v), "{len}");
    }
}
