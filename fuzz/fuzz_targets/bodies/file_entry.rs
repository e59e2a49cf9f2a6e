//! Body of the `file_entry` fuzz target, shared with `crates/cache-file/tests/fuzz_corpus.rs`
//! (which replays the committed corpus): arbitrary bytes as an entry file read back as a
//! miss or a value, never a panic, a hang or a huge allocation.
//!
//! The first input byte chooses the key and whether the checksums (CRC-32 of the payload at
//! offset 40, of the header and key at offset 44) are fixed up, so that the fuzzer also gets
//! past them to the length fields, the key comparison and the payload decoder.

use std::path::PathBuf;
use std::sync::OnceLock;

use cache_core::Cache;
use cache_file::FileBasedCache;

const KEYS: [&str; 3] = ["k", "", "a longer key with \0 and \n"];

fn cache() -> &'static FileBasedCache {
    static CACHE: OnceLock<(tempfile::TempDir, FileBasedCache)> = OnceLock::new();
    let (_dir, cache) = CACHE.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("a temporary directory");
        let cache = FileBasedCache::new(dir.path(), None).expect("a cache");
        (dir, cache)
    });
    cache
}

fn fix_checksums(bytes: &mut [u8]) {
    if bytes.len() < 48 {
        return;
    }
    let key_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let key_end = 48usize.saturating_add(key_len).min(bytes.len());
    let payload_crc = crc32fast::hash(&bytes[key_end..]);
    bytes[40..44].copy_from_slice(&payload_crc.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..44]);
    h.update(&bytes[48..key_end]);
    let header_crc = h.finalize();
    bytes[44..48].copy_from_slice(&header_crc.to_le_bytes());
}

pub fn file_entry(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let key = KEYS[usize::from(control % 3)];
    let mut bytes = rest.to_vec();
    if control & 4 != 0 {
        fix_checksums(&mut bytes);
    }
    let cache = cache();
    let path = cache.entry_path(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    // Whatever the bytes, every read is a value or a miss, never an error or a panic.
    let as_bytes: Option<Vec<u8>> = cache.get(key).expect("a read is a value or a miss");
    let as_text: Option<String> = cache.get(key).expect("a read is a value or a miss");
    let as_number: Option<u64> = cache.get(key).expect("a read is a value or a miss");
    let _ = Cache::<Vec<u8>>::exists(cache, key).expect("exists answers");
    // At most one type can decode what one writer wrote.
    let decoded = [as_bytes.is_some(), as_text.is_some(), as_number.is_some()];
    assert!(decoded.iter().filter(|&&d| d).count() <= 1, "{decoded:?}");
    let _ = Cache::<Vec<u8>>::delete_pattern(cache, "*")
        .expect("a header scan never fails on bad files");
    let _ = std::fs::remove_file(&path);
}
