//! The file backend's own promises, beyond the shared conformance suite: construction,
//! reopening, corruption, symlinks, permissions, temporary files, sweeps and bounds.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use cache_core::{Cache, CacheError, MockClock, Ttl};
use cache_file::{FileBasedCache, TMP_DIR};
use std::os::unix::fs::MetadataExt;

fn mock_cache(dir: &Path, clock: &MockClock) -> FileBasedCache {
    FileBasedCache::builder(dir)
        .clock(clock.shared())
        .build()
        .expect("a usable directory")
}

fn get(c: &FileBasedCache, key: &str) -> Option<Vec<u8>> {
    c.get(key).expect("get")
}

fn set(c: &FileBasedCache, key: &str, value: &[u8], ttl: Ttl) {
    assert!(c.set(key, value.to_vec(), ttl).expect("set"));
}

fn misses(c: &FileBasedCache) -> u64 {
    c.stats().misses
}

/// The entry path of `key`, with its fan-out directory created, to plant a file there.
fn plant_path(c: &FileBasedCache, key: &str) -> std::path::PathBuf {
    let path = c.entry_path(key);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    path
}

/// Files under `tmp/` (in the instances' own directories included).
fn tmp_files(dir: &Path) -> usize {
    fs::read_dir(dir.join(TMP_DIR))
        .expect("tmp dir")
        .map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() {
                fs::read_dir(&p).map_or(0, |d| d.count())
            } else {
                1
            }
        })
        .sum()
}

/// Recomputes both checksums of an entry file image after a deliberate edit (layout: see the
/// README): the payload CRC at 40, then the header CRC at 44 over bytes 0..44 and the key.
fn reseal(bytes: &mut [u8]) {
    let key_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let payload_crc = crc32fast::hash(&bytes[48 + key_len..]);
    bytes[40..44].copy_from_slice(&payload_crc.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..44]);
    h.update(&bytes[48..48 + key_len]);
    let header_crc = h.finalize();
    bytes[44..48].copy_from_slice(&header_crc.to_le_bytes());
}

#[test]
fn construction_creates_parents_and_rejects_unusable_paths() {
    let root = tempfile::tempdir().unwrap();
    let nested = root.path().join("a/b/c");
    FileBasedCache::new(&nested, None).expect("parents are created");
    assert!(nested.join(TMP_DIR).is_dir());

    let file = root.path().join("plain");
    fs::write(&file, b"x").unwrap();
    let err = FileBasedCache::new(&file, None).expect_err("a file is no directory");
    assert!(matches!(err, CacheError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("plain"), "{err}");
    let err = FileBasedCache::new(file.join("below"), None).expect_err("below a file");
    assert!(err.to_string().contains("below"), "{err}");

    assert!(FileBasedCache::builder(root.path())
        .max_entries(0)
        .build()
        .is_err());
    assert!(FileBasedCache::builder(root.path())
        .max_bytes(0)
        .build()
        .is_err());

    // Without permission: a read-only directory stops a normal user; root, who may write
    // anywhere, is stopped by sysfs, where no one may create a directory. Either way the
    // construction fails with an I/O error naming the path.
    let locked = root.path().join("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o500)).unwrap();
    let unusable = if fs::write(locked.join("probe"), b"").is_err() {
        locked.join("cache")
    } else {
        std::path::PathBuf::from("/sys/cache-file-test-no-permission/cache")
    };
    let err = FileBasedCache::new(&unusable, None).expect_err("no permission");
    assert!(matches!(err, CacheError::Io { .. }), "{err:?}");
    let parent = unusable
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    assert!(err.to_string().contains(parent), "{err}");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn files_and_directories_are_private() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cache");
    let c = FileBasedCache::new(&dir, None).unwrap();
    set(&c, "k", b"v", Ttl::Never);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(TMP_DIR)), 0o700);
    let entry = c.entry_path("k");
    assert_eq!(mode(entry.parent().unwrap()), 0o700);
    assert_eq!(mode(&entry), 0o600);
}

#[test]
fn reopen_sees_entries_and_their_ttls() {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::new();
    let first = mock_cache(dir.path(), &clock);
    set(&first, "forever", b"f", Ttl::Never);
    set(&first, "short", b"s", Ttl::After(Duration::from_secs(10)));
    Cache::<String>::set(&first, "typed", "text".to_string(), Ttl::Never).unwrap();
    drop(first);

    let again = mock_cache(dir.path(), &clock);
    assert_eq!(get(&again, "forever").as_deref(), Some(&b"f"[..]));
    assert_eq!(get(&again, "short").as_deref(), Some(&b"s"[..]));
    assert_eq!(again.get("typed").unwrap(), Some("text".to_string()));
    clock.advance(Duration::from_secs(10));
    assert_eq!(get(&again, "short"), None, "the TTL survived the reopen");
    assert_eq!(get(&again, "forever").as_deref(), Some(&b"f"[..]));
    assert!(
        !again.entry_path("short").exists(),
        "the expired file is removed"
    );
}

#[test]
fn every_kind_of_corruption_is_a_counted_miss() {
    corruptions_are_counted_misses(b"a valid value");
}

/// Values larger than the first read of a file: their bytes are read into a buffer of their
/// own, checked all the same.
#[test]
fn every_kind_of_corruption_of_a_large_value_is_a_counted_miss() {
    let value: Vec<u8> = (0..100_000).map(|i| (i % 251) as u8).collect();
    corruptions_are_counted_misses(&value);
}

/// A large entry read (and verified) once, then damaged in place (same file, same size), is
/// caught on the next read: just written or settled, its payload is checksummed again.
#[test]
fn a_large_entry_damaged_in_place_after_a_read_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let c = FileBasedCache::new(dir.path(), None).unwrap();
    let value: Vec<u8> = (0..100_000).map(|i| (i % 13) as u8).collect();
    for (key, settle) in [("fresh", false), ("settled", true)] {
        set(&c, key, &value, Ttl::Never);
        if settle {
            // Older than any timestamp granularity: read twice, it is remembered as verified.
            std::thread::sleep(std::time::Duration::from_millis(1_100));
            assert_eq!(get(&c, key).as_deref(), Some(&value[..]));
        }
        assert_eq!(get(&c, key).as_deref(), Some(&value[..]));
        let path = c.entry_path(key);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let ino = fs::metadata(&path).unwrap().ino();
        fs::write(&path, &bytes).unwrap(); // in place: the same inode, the same size
        assert_eq!(fs::metadata(&path).unwrap().ino(), ino);
        let c0 = c.corruptions();
        assert_eq!(get(&c, key), None, "{key}");
        assert_eq!(c.corruptions(), c0 + 1, "{key}");
    }
}

fn corruptions_are_counted_misses(value: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let c = FileBasedCache::new(dir.path(), None).unwrap();
    let outside = tempfile::tempdir().unwrap();
    type Corrupt = fn(&Path, &[u8], &Path);
    let cases: Vec<(&str, Corrupt)> = vec![
        ("empty file", |p, _, _| fs::write(p, b"").unwrap()),
        ("short header", |p, good, _| {
            fs::write(p, &good[..20]).unwrap()
        }),
        ("bad magic", |p, good, _| {
            let mut b = good.to_vec();
            b[0] = b'X';
            reseal(&mut b);
            fs::write(p, b).unwrap();
        }),
        ("wrong version", |p, good, _| {
            let mut b = good.to_vec();
            b[8] = 99;
            reseal(&mut b);
            fs::write(p, b).unwrap();
        }),
        ("bad header checksum", |p, good, _| {
            let mut b = good.to_vec();
            b[20] ^= 0x40; // the written-at time
            fs::write(p, b).unwrap();
        }),
        ("bad payload checksum", |p, good, _| {
            let mut b = good.to_vec();
            *b.last_mut().unwrap() ^= 1;
            fs::write(p, b).unwrap();
        }),
        ("a flipped bit mid-payload", |p, good, _| {
            let mut b = good.to_vec();
            let mid = 48 + (b.len() - 48) / 2;
            b[mid] ^= 0x10;
            fs::write(p, b).unwrap();
        }),
        ("a payload zeroed from its middle on", |p, good, _| {
            let mut b = good.to_vec();
            let mid = 48 + (b.len() - 48) / 2;
            b[mid..].fill(0);
            fs::write(p, b).unwrap();
        }),
        ("truncated payload", |p, good, _| {
            fs::write(p, &good[..good.len() - 1]).unwrap()
        }),
        ("trailing garbage", |p, good, _| {
            let mut b = good.to_vec();
            b.push(0);
            fs::write(p, b).unwrap();
        }),
        ("a directory", |p, _, _| {
            fs::create_dir(p).unwrap();
            fs::write(p.join("inner"), b"x").unwrap();
        }),
        ("a symlink to a valid entry", |p, good, outside| {
            let target = outside.join("target");
            fs::write(&target, good).unwrap();
            symlink(&target, p).unwrap();
        }),
        ("a dangling symlink", |p, _, outside| {
            symlink(outside.join("nowhere"), p).unwrap()
        }),
    ];
    for (i, (what, corrupt)) in cases.iter().enumerate() {
        let key = format!("key-{i}");
        set(&c, &key, value, Ttl::Never);
        assert_eq!(get(&c, &key).as_deref(), Some(value), "{what}: reads back");
        let path = c.entry_path(&key);
        let good = fs::read(&path).unwrap();
        fs::remove_file(&path).unwrap();
        corrupt(&path, &good, outside.path());
        let (m0, c0) = (misses(&c), c.corruptions());
        assert_eq!(get(&c, &key), None, "{what}");
        assert_eq!(misses(&c), m0 + 1, "{what}: one miss");
        assert_eq!(c.corruptions(), c0 + 1, "{what}: counted as corrupt");
        assert!(fs::symlink_metadata(&path).is_err(), "{what}: removed");
        set(&c, &key, b"rewritten", Ttl::Never);
        assert_eq!(get(&c, &key).as_deref(), Some(&b"rewritten"[..]), "{what}");
    }
    let target = fs::read(outside.path().join("target")).unwrap();
    assert_eq!(
        &target[target.len() - value.len()..],
        value,
        "a symlink's target is kept"
    );
    assert_eq!(tmp_files(dir.path()), 0);
}

#[test]
fn payload_that_does_not_decode_is_a_miss_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let c = FileBasedCache::new(dir.path(), None).unwrap();
    set(&c, "k", b"0123456789", Ttl::Never);
    let path = c.entry_path("k");
    let mut b = fs::read(&path).unwrap();
    // Right after the key ("k") and the 8-byte type tag: a length prefix that never ends.
    b[48 + 1 + 8..].fill(0xff);
    reseal(&mut b);
    fs::write(&path, &b).unwrap();
    assert_eq!(get(&c, "k"), None);
    assert_eq!((misses(&c), c.corruptions()), (1, 0));
    // Another writer's type, not damage: the file stays.
    assert!(path.exists());
    assert!(c.exists("k").unwrap());
}

#[test]
fn an_md5_collision_is_a_miss_not_a_wrong_value() {
    let dir = tempfile::tempdir().unwrap();
    let c = FileBasedCache::new(dir.path(), None).unwrap();
    set(&c, "other", b"other's value", Ttl::Never);
    // Pretend "mine" hashes where "other" does: its file holds another key.
    fs::copy(c.entry_path("other"), plant_path(&c, "mine")).unwrap();
    assert_eq!(get(&c, "mine"), None);
    assert!(!c.exists("mine").unwrap());
    assert!(!c.delete("mine").unwrap());
    assert!(
        c.entry_path("mine").exists(),
        "the other key's entry is kept"
    );
    assert_eq!(c.corruptions(), 0);
}

#[test]
fn symlinks_planted_in_the_directory_are_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("precious"), b"keep me").unwrap();
    // A fan-out directory replaced by a symlink before the cache opens.
    fs::create_dir_all(dir.path()).unwrap();
    symlink(outside.path(), dir.path().join("ab")).unwrap();
    symlink(outside.path(), dir.path().join(TMP_DIR)).unwrap();
    let c = FileBasedCache::new(dir.path(), None).unwrap();
    assert!(
        fs::symlink_metadata(dir.path().join("ab")).is_err(),
        "removed at open"
    );
    assert!(fs::symlink_metadata(dir.path().join(TMP_DIR))
        .unwrap()
        .is_dir());
    for i in 0..300 {
        set(&c, &format!("k{i}"), b"v", Ttl::Never);
    }
    // An entry replaced by a symlink to a file outside.
    let path = c.entry_path("k1");
    fs::remove_file(&path).unwrap();
    symlink(outside.path().join("precious"), &path).unwrap();
    assert_eq!(get(&c, "k1"), None);
    fs::remove_file(c.entry_path("k2")).unwrap();
    symlink(outside.path().join("precious"), plant_path(&c, "k2")).unwrap();
    assert_eq!(c.delete_pattern("k*").unwrap(), 298);
    symlink(outside.path().join("precious"), plant_path(&c, "k3")).unwrap();
    c.clear().unwrap();
    assert_eq!(
        fs::read(outside.path().join("precious")).unwrap(),
        b"keep me"
    );
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 1);
}

/// Everything under `dir`, as (relative path, contents) pairs, to tell that nothing changed.
fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.push((rel, fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// A fan-out directory swapped for a symlink while the cache is open (removed and replaced,
/// or moved away and replaced): no read reaches the link's target (which holds a valid
/// entry for the key, so following it would be a hit), and no write, removal or clear
/// changes anything there.
#[test]
fn a_fan_out_directory_swapped_for_a_symlink_under_a_live_cache_is_never_followed() {
    for moved in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let c = FileBasedCache::new(dir.path(), None).unwrap();
        for i in 0..300 {
            set(&c, &format!("k{i}"), b"inside", Ttl::Never);
        }
        // The target holds what the fan-out directory of k1 would hold, with "outside" values.
        let path = c.entry_path("k1");
        let fan = path.parent().unwrap().to_path_buf();
        let bait = FileBasedCache::new(dir.path().join("bait"), None).unwrap();
        for i in 0..300 {
            let key = format!("k{i}");
            if c.entry_path(&key).parent() == Some(&fan) {
                set(&bait, &key, b"outside", Ttl::Never);
                let from = bait.entry_path(&key);
                fs::copy(&from, outside.path().join(from.file_name().unwrap())).unwrap();
            }
        }
        drop(bait);
        let before = snapshot(outside.path());
        if moved {
            fs::rename(&fan, dir.path().join("moved-away")).unwrap();
        } else {
            fs::remove_dir_all(&fan).unwrap();
        }
        symlink(outside.path(), &fan).unwrap();

        assert_ne!(get(&c, "k1"), Some(b"outside".to_vec()), "moved: {moved}");
        assert!(!c.exists("k1").unwrap() || get(&c, "k1") == Some(b"inside".to_vec()));
        // A write either lands in a real directory of the cache or fails; never outside.
        if c.set("k1", b"new".to_vec(), Ttl::Never).is_ok() {
            assert_eq!(get(&c, "k1"), Some(b"new".to_vec()));
        }
        let _ = c.delete("k1");
        let _ = c.delete_pattern("k*");
        let _ = c.purge_expired();
        c.clear().unwrap();
        let again = FileBasedCache::new(dir.path(), None).unwrap();
        assert_eq!(get(&again, "k1"), None);
        set(&again, "k1", b"again", Ttl::Never);
        assert_eq!(get(&again, "k1"), Some(b"again".to_vec()));
        assert!(!fs::symlink_metadata(&fan).unwrap().file_type().is_symlink());
        assert_eq!(snapshot(outside.path()), before, "moved: {moved}");
    }
}

/// `rm -rf` of the whole cache directory under a live cache: reads miss, the next write
/// recreates the directory (private, with its `tmp/`) and stores; another instance that
/// was open on the old directory finds the new one at its next write (or within a second
/// of its reads); `clear` repairs too.
#[test]
fn a_directory_removed_under_a_live_cache_comes_back_on_the_next_write() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("cache");
    let c = FileBasedCache::builder(&root)
        .max_entries(100)
        .build()
        .unwrap();
    let other = FileBasedCache::new(&root, None).unwrap();
    for i in 0..50 {
        set(&c, &format!("k{i}"), b"v", Ttl::Never);
    }
    fs::remove_dir_all(&root).unwrap();
    assert_eq!(get(&c, "k1"), None);
    assert!(!c.exists("k2").unwrap());
    set(&c, "after", b"back", Ttl::Never);
    assert_eq!(get(&c, "after"), Some(b"back".to_vec()));
    assert_eq!(
        fs::metadata(&root).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(root.join(TMP_DIR).is_dir());
    assert_eq!(tmp_files(&root), 0);
    // The other instance writes into the new directory and then reads what c wrote.
    set(&other, "other", b"too", Ttl::Never);
    assert_eq!(get(&other, "after"), Some(b"back".to_vec()));
    assert_eq!(get(&c, "other"), Some(b"too".to_vec()));
    // A fresh instance sees both.
    let fresh = FileBasedCache::new(&root, None).unwrap();
    assert_eq!(get(&fresh, "after"), Some(b"back".to_vec()));
    assert_eq!(get(&fresh, "other"), Some(b"too".to_vec()));
    // Removed again, then cleared: the directory is back, empty.
    fs::remove_dir_all(&root).unwrap();
    c.clear().unwrap();
    assert!(root.join(TMP_DIR).is_dir());
    set(&c, "third", b"time", Ttl::Never);
    set(&fresh, "x", b"y", Ttl::Never);
    assert_eq!(get(&fresh, "third"), Some(b"time".to_vec()));
}

#[test]
fn dead_writers_temporary_files_are_removed_live_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let c = FileBasedCache::new(dir.path(), None).unwrap();
    let tmp = dir.path().join(TMP_DIR);
    // A dead instance's directory (unlocked), a stray file, and a live instance's directory,
    // locked as a running instance holds it.
    fs::create_dir(tmp.join("dead")).unwrap();
    fs::write(tmp.join("dead").join("1"), b"partial").unwrap();
    fs::write(tmp.join("stray"), b"partial").unwrap();
    fs::create_dir(tmp.join("live")).unwrap();
    fs::write(tmp.join("live").join("1"), b"in progress").unwrap();
    let live = fs::File::open(tmp.join("live")).unwrap();
    live.lock().unwrap();
    drop(FileBasedCache::new(dir.path(), None).unwrap());
    assert!(!tmp.join("dead").exists() && !tmp.join("stray").exists());
    assert!(tmp.join("live").join("1").exists());
    assert_eq!(
        tmp_files(dir.path()),
        1,
        "the live file, and this instance's nothing"
    );
    drop(live);
    fs::write(tmp.join("stray"), b"partial").unwrap();
    c.clear().unwrap();
    assert_eq!(tmp_files(dir.path()), 0, "clear removes them too");
    fs::write(tmp.join("stray"), b"partial").unwrap();
    assert_eq!(c.remove_dead_temps().unwrap(), 1);
    drop(c);
    assert_eq!(
        fs::read_dir(&tmp).unwrap().count(),
        0,
        "an instance removes its own"
    );
}

#[test]
fn purge_expired_sweeps_what_no_one_read() {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::new();
    let c = mock_cache(dir.path(), &clock);
    for i in 0..20 {
        let ttl = if i % 2 == 0 {
            Ttl::After(Duration::from_secs(5))
        } else {
            Ttl::Never
        };
        set(&c, &format!("k{i}"), b"v", ttl);
    }
    fs::write(plant_path(&c, "corrupt"), b"junk").unwrap();
    assert_eq!(c.purge_expired().unwrap(), 0);
    assert_eq!(c.corruptions(), 1, "corrupt files go on the way");
    clock.advance(Duration::from_secs(5));
    assert_eq!(c.purge_expired().unwrap(), 10);
    let s = c.stats();
    assert_eq!((s.expirations, s.misses, s.hits), (10, 0, 0));
    assert!((0..20).all(|i| c.entry_path(&format!("k{i}")).exists() == (i % 2 == 1)));
}

#[test]
fn delete_pattern_reads_headers_only() {
    let dir = tempfile::tempdir().unwrap();
    let c = FileBasedCache::new(dir.path(), None).unwrap();
    set(&c, "p:1", b"value one", Ttl::Never);
    set(&c, "p:2", b"value two", Ttl::Never);
    set(&c, "q:1", b"value", Ttl::Never);
    // A damaged payload behind an intact header: a payload read would call it corrupt.
    let path = c.entry_path("p:2");
    let mut b = fs::read(&path).unwrap();
    *b.last_mut().unwrap() ^= 1;
    fs::write(&path, b).unwrap();
    assert_eq!(c.delete_pattern("p:*").unwrap(), 2);
    assert_eq!(c.corruptions(), 0);
    assert_eq!(get(&c, "q:1").as_deref(), Some(&b"value"[..]));
}

#[test]
fn long_and_odd_keys_live_in_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let c = FileBasedCache::new(dir.path(), None).unwrap();
    let huge = "é\0\n/..".repeat(100_000); // 700 KB
    set(&c, &huge, b"v", Ttl::Never);
    assert_eq!(get(&c, &huge).as_deref(), Some(&b"v"[..]));
    assert_eq!(c.delete_pattern("é*").unwrap(), 1);
}

#[test]
fn durable_writes_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let c = FileBasedCache::builder(dir.path())
        .durable(true)
        .build()
        .unwrap();
    set(&c, "k", b"v", Ttl::Never);
    assert_eq!(get(&c, "k").as_deref(), Some(&b"v"[..]));
}

#[test]
fn max_entries_culls_expired_first_then_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::new();
    let c = FileBasedCache::builder(dir.path())
        .clock(clock.shared())
        .max_entries(3)
        .build()
        .unwrap();
    c.wait_for_recount();
    set(&c, "a", b"1", Ttl::Never);
    set(&c, "b", b"2", Ttl::After(Duration::from_secs(1)));
    set(&c, "c", b"3", Ttl::Never);
    assert_eq!(c.stats().entries, Some(3));
    clock.advance(Duration::from_secs(1));
    set(&c, "d", b"4", Ttl::Never); // b expired: it goes, not a
    let s = c.stats();
    assert_eq!((s.evictions, s.expirations, s.entries), (0, 1, Some(3)));
    get(&c, "a"); // order, oldest first: c d a
    set(&c, "e", b"5", Ttl::Never); // evicts c
    let left: Vec<_> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .filter(|k| c.exists(k).unwrap())
        .collect();
    assert_eq!(left, ["a", "d", "e"]);
    assert_eq!(c.stats().evictions, 1);
    // A reopened cache counts and indexes what is on disk (in the background).
    let again = FileBasedCache::builder(dir.path())
        .max_entries(2)
        .build()
        .unwrap();
    again.wait_for_recount();
    assert_eq!(again.stats().entries, Some(3));
    set(&again, "f", b"6", Ttl::Never);
    assert_eq!(again.stats().entries, Some(2));
    assert_eq!(again.stats().evictions, 2);
    again.clear().unwrap();
    assert_eq!(again.stats().entries, Some(0));
}

#[test]
fn max_bytes_bounds_the_files_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let c = FileBasedCache::builder(dir.path())
        .max_bytes(10_000)
        .build()
        .unwrap();
    c.wait_for_recount();
    for i in 0..50 {
        set(&c, &format!("k{i}"), &[7u8; 1_000], Ttl::Never);
    }
    let on_disk: u64 = (0..50)
        .filter_map(|i| fs::metadata(c.entry_path(&format!("k{i}"))).ok())
        .map(|m| m.len())
        .sum();
    assert!(on_disk <= 10_000, "{on_disk} bytes");
    assert!(c.exists("k49").unwrap());
    assert!(!c.exists("k0").unwrap());
    let s = c.stats();
    assert_eq!(s.evictions + s.entries.unwrap(), 50);
    // One entry larger than the bound is kept alone.
    set(&c, "huge", &[1u8; 20_000], Ttl::Never);
    assert_eq!(c.stats().entries, Some(1));
    assert!(c.exists("huge").unwrap());
}

#[test]
fn a_serialization_error_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = FileBasedCache::new(dir.path(), None).unwrap();
    struct Fails;
    impl serde::Serialize for Fails {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refused"))
        }
    }
    impl<'de> serde::Deserialize<'de> for Fails {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            Err(serde::de::Error::custom("refused"))
        }
    }
    let err = c.set("k", Fails, Ttl::Never).expect_err("cannot serialize");
    assert!(matches!(err, CacheError::Serialize { .. }), "{err:?}");
    assert!(!c.entry_path("k").exists());
    assert_eq!(c.stats().sets, 0);
}

/// The expiry rule under a race: readers that find an entry expired remove it only if the
/// file is still the one they read, so the fresh value a writer renames into place right
/// after is never lost.
#[test]
fn removing_an_expired_entry_never_loses_a_concurrent_fresh_write() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let writer = FileBasedCache::new(dir.path(), None).unwrap();
    let done = AtomicBool::new(false);
    /// Stops the readers however the writer's loop ends (a failed assertion included).
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    std::thread::scope(|s| {
        for _ in 0..2 {
            let reader = FileBasedCache::new(dir.path(), None).unwrap();
            let done = &done;
            s.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let _: Option<Vec<u8>> = reader.get("k").unwrap();
                }
            });
        }
        let _stop = StopOnDrop(&done);
        let start = std::time::Instant::now();
        for round in 0..400u32 {
            if start.elapsed() > Duration::from_secs(3) {
                break;
            }
            // Expired by the time anyone reads it (the wall clock moves on).
            set(&writer, "k", b"stale", Ttl::After(Duration::from_nanos(1)));
            let fresh = round.to_le_bytes();
            set(&writer, "k", &fresh, Ttl::Never);
            // A reader that caught the fresh file while removing the stale one puts it back
            // within microseconds: a transient miss is allowed, a lost value is not.
            let seen = (0..200).any(|_| {
                let now = get(&writer, "k");
                now.as_deref() == Some(&fresh[..]) || {
                    std::thread::sleep(Duration::from_millis(1));
                    false
                }
            });
            assert!(seen, "round {round}: a reader removed the fresh value");
        }
    });
}

/// Opening a cache removes dead writers' temporary files; a live writer's file caught in the
/// instant between its creation and its lock must not make that writer's `set` fail.
#[test]
fn opening_the_cache_never_fails_a_concurrent_set() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let writer = FileBasedCache::new(dir.path(), None).unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                FileBasedCache::new(dir.path(), None).unwrap();
            }
        });
        let start = std::time::Instant::now();
        for i in 0..2_000u32 {
            if start.elapsed() > Duration::from_secs(1) {
                break;
            }
            let result = writer.set("k", i.to_le_bytes().to_vec(), Ttl::Never);
            if result.is_err() {
                done.store(true, Ordering::Relaxed);
            }
            assert!(result.unwrap(), "round {i}");
        }
        done.store(true, Ordering::Relaxed);
    });
    // The live writer keeps the files of replaced small entries for reuse, a few at most;
    // once it is dropped, none is left.
    assert!(tmp_files(dir.path()) <= 256);
    drop(writer);
    assert_eq!(tmp_files(dir.path()), 0);
}

/// A value of `len` bytes that names its key and round, and proves itself complete.
fn tagged(key: u32, round: u32, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + len);
    v.extend_from_slice(&key.to_le_bytes());
    v.extend_from_slice(&round.to_le_bytes());
    v.extend((0..len).map(|i| (key as usize * 31 + round as usize * 7 + i * 13) as u8));
    v
}

/// Panics unless `v` is a complete value written for key `key`.
fn check_tagged(key: u32, v: &[u8]) {
    assert!(v.len() >= 8, "a value of {} bytes", v.len());
    let of = u32::from_le_bytes(v[..4].try_into().unwrap());
    assert_eq!(of, key, "another key's value");
    let round = u32::from_le_bytes(v[4..8].try_into().unwrap());
    assert_eq!(v, &tagged(key, round, v.len() - 8)[..], "a torn value");
}

/// The files of replaced small entries are written again as later entries: an overwrite
/// of a warm cache creates no file once enough were kept, and a deleted entry's file serves
/// a later new key.
#[test]
fn small_entries_files_are_reused() {
    let dir = tempfile::tempdir().unwrap();
    let c = FileBasedCache::builder(dir.path()).build().unwrap();
    let ino = |key: &str| fs::metadata(c.entry_path(key)).unwrap().ino();
    let mut seen = std::collections::HashSet::new();
    for round in 0..3 {
        for k in 0..20u32 {
            set(&c, &format!("k{k}"), &tagged(k, round, 4096), Ttl::Never);
            seen.insert(ino(&format!("k{k}")));
        }
    }
    // 20 files in place, and 9 created before the first kept one is written again (it
    // waits for 8 younger ones): the other 31 writes created no file.
    assert!(seen.len() <= 29, "{} files for 60 writes", seen.len());
    // Deleted entries' files join the kept ones (after the 9 there), to serve new keys.
    let gone = ino("k0");
    for k in 0..10 {
        assert!(c.delete(&format!("k{k}")).unwrap());
    }
    for k in 0..40u32 {
        set(&c, &format!("new{k}"), &tagged(k, 0, 100), Ttl::Never);
    }
    let reused = (0..40).any(|k| ino(&format!("new{k}")) == gone);
    assert!(reused, "the deleted entry's file was not reused");
    // Files too large to be kept are not.
    let big = vec![7u8; 64 << 10];
    set(&c, "big", &big, Ttl::Never);
    set(&c, "big", &big, Ttl::Never);
    assert!(c.delete("big").unwrap());
    for own in fs::read_dir(dir.path().join(TMP_DIR)).unwrap() {
        for kept in fs::read_dir(own.unwrap().path()).unwrap() {
            let len = kept.unwrap().metadata().unwrap().len();
            assert!(len <= 16 << 10, "a kept file of {len} bytes");
        }
    }
    for k in 10..20u32 {
        check_tagged(k, &get(&c, &format!("k{k}")).unwrap());
    }
    assert_eq!(c.corruptions(), 0);
    assert!(tmp_files(dir.path()) <= 256);
    c.clear().unwrap();
    assert_eq!(tmp_files(dir.path()), 0, "clear removes the kept files too");
}

/// Readers racing writers that overwrite many keys, while the files of replaced entries are
/// written again as other keys' entries: a reader sees a complete value of the key it asked
/// for, never another key's, never a torn one, and never misses a key that always exists;
/// nothing counts as corrupt; the kept files stay within their bound and go with the cache.
#[test]
fn readers_racing_file_reuse_see_only_their_keys_complete_values() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const KEYS: u32 = 24;
    let dir = tempfile::tempdir().unwrap();
    let writer = FileBasedCache::new(dir.path(), None).unwrap();
    let unbounded = FileBasedCache::builder(dir.path())
        .unbounded()
        .build()
        .unwrap();
    let reader = FileBasedCache::new(dir.path(), None).unwrap();
    for k in 0..KEYS {
        set(&writer, &format!("k{k}"), &tagged(k, 0, 100), Ttl::Never);
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        for (w, cache) in [&writer, &unbounded].into_iter().enumerate() {
            let done = &done;
            s.spawn(move || {
                let mut x = 0x9e37_79b9_u32 + w as u32;
                for round in 1..4_000u32 {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    let k = x % KEYS;
                    // Sizes across one to four pages: rewrites grow and shrink kept files.
                    let len = (x >> 8) as usize % 12_000;
                    set(cache, &format!("k{k}"), &tagged(k, round, len), Ttl::Never);
                }
                done.store(true, Ordering::Relaxed);
            });
        }
        for r in 0..2u32 {
            let (reader, writer, done) = (&reader, &writer, &done);
            s.spawn(move || {
                let mut reads = 0u64;
                let mut k = r;
                while !done.load(Ordering::Relaxed) || reads < 1_000 {
                    k = (k + 7) % KEYS;
                    let via = if reads.is_multiple_of(2) {
                        reader
                    } else {
                        writer
                    };
                    let v = get(via, &format!("k{k}")).expect("a key that always exists");
                    check_tagged(k, &v);
                    let head = via.ttl(&format!("k{k}")).unwrap();
                    assert_eq!(head, Some(None), "k{k}: a spurious miss of its header");
                    reads += 1;
                }
            });
        }
    });
    for c in [&writer, &unbounded, &reader] {
        assert_eq!(c.corruptions(), 0);
        assert_eq!(c.stats().misses, 0);
    }
    assert!(tmp_files(dir.path()) <= 3 * 256);
    drop((writer, unbounded, reader));
    assert_eq!(tmp_files(dir.path()), 0);
}
