//! Unit tests of the directory's parts together.

use std::fs::File;
use std::sync::atomic::Ordering;

use super::cache_dir::CacheDir;
use super::fs::{names, FileId};
use super::name::{file_name, parse_file_name, EntryId, Name};

/// The files in the instance's own directory that are not kept for reuse.
fn strays(dir: &CacheDir) -> usize {
    let tree = dir.tree();
    let pool = tree.pool();
    names(&tree.own)
        .unwrap()
        .iter()
        .filter(|n| !pool.files.iter().any(|(k, _)| k == *n))
        .count()
}

#[test]
fn file_names_round_trip() {
    let id: EntryId = core::array::from_fn(|i| (i * 17) as u8);
    assert_eq!(parse_file_name(&file_name(&id)), Some(id));
    assert_eq!(Name::of(&id).c().to_str().unwrap(), file_name(&id));
    assert_eq!(parse_file_name("not-hex"), None);
    assert_eq!(parse_file_name(&"A".repeat(32)), None);
}

/// Both ways of replacing an entry (rename over it, exchange then unlink) leave the new
/// file in place and nothing in `tmp/`, over a file, over a planted directory, and where
/// there was nothing.
#[test]
fn both_ways_of_replacing_leave_the_new_file_only() {
    for exchange in [false, true] {
        let root = tempfile::tempdir().unwrap();
        let dir = CacheDir::open(root.path().to_path_buf(), false).unwrap();
        dir.exchange.store(exchange, Ordering::Relaxed);
        dir.exchange_small.store(exchange, Ordering::Relaxed);
        let id = [0x12; 16];
        let path = dir.entry_path(&id);
        dir.write_atomically(&id, &[b"first"]).unwrap();
        dir.write_atomically(&id, &[b"second"]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"x").unwrap();
        // Renaming a file over a directory fails; an exchange takes the directory away.
        let over_dir = dir.write_atomically(&id, &[b"third"]);
        assert_eq!(over_dir.is_ok(), exchange, "exchange: {exchange}");
        if exchange {
            assert_eq!(std::fs::read(&path).unwrap(), b"third");
        }
        assert_eq!(strays(&dir), 0);
    }
}

/// The expiry rule: a file is removed only if it is still the one that was read; a newer
/// file renamed into place between the read and the removal survives.
#[test]
fn remove_if_same_keeps_a_newer_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = CacheDir::open(root.path().to_path_buf(), false).unwrap();
    let id = [0xab; 16];
    let path = dir.entry_path(&id);
    dir.write_atomically(&id, &[b"old"]).unwrap();
    // Held open, as a reader holds it, so that its inode number is not reused.
    let old_file = File::open(&path).unwrap();
    let old = FileId::of(&old_file.metadata().unwrap());
    dir.write_atomically(&id, &[b"new"]).unwrap(); // a concurrent writer
    assert!(!dir.remove_if_same(&id, old).unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), b"new");
    let new = FileId::of(&std::fs::metadata(&path).unwrap());
    assert!(dir.remove_if_same(&id, new).unwrap());
    assert!(!path.exists());
    assert!(!dir.remove_if_same(&id, new).unwrap());
    assert_eq!(strays(&dir), 0);
    drop(old_file);
}
