//! `FileBasedCache` against `cacache` (its sync API), single thread, for 100 B, 4 KiB and
//! 1 MiB values: get that hits, get that misses, overwrite (set on keys that exist, the
//! common case of a warm cache) and set-new-key (set on keys that do not exist), each with
//! new bytes every time so that content-addressed cacache cannot skip the write; and
//! `delete_pattern` removing 10% of 100,000 entries (cacache: `list_sync`, then
//! `remove_sync` of the matching keys).
//!
//! Every group runs on two storages, named in the group: `file/tmpfs/...` (the figures of
//! the caches themselves) and `file/disk/...` (the ordinary file system, where users' caches
//! live); see [`Storage`]. Where each ran is written to `target/bench/file-storage.csv` for
//! the report. `incr` and `add` run against `bare-fs` only (cacache has neither). Each
//! write sample on the disk starts after a `syncfs` of its directory, outside the timing
//! (see [`settle`]).
//!
//! `cache-file` is the cache as built by default (bounded by 1 GiB: the shared accounting and
//! the sweep on writes); `cache-file-unbounded` (write rows only) is built `unbounded()`, so
//! that the two rows show what the accounting costs a write.
//!
//! `bare-fs` is no cache: the system calls that any one-file-per-entry, rename-into-place
//! design must make, with nothing else (a set = create a temporary file, write, rename over
//! the entry's path; a get = read the file; a miss = one failed open), on paths of the same
//! shape as `cache-file`'s. Its rates are the ceiling of that design on this machine, so
//! `bare-fs / cacache` is the most any such cache can be ahead of cacache.
//!
//! `get_or_insert_with-hit-*` is `get_or_insert_with` on a hit, to set beside `get-hit-*`
//! (single flight must cost nothing on a hit).
//!
//! Values are `serde_bytes::ByteBuf`: serde encodes a `Vec<u8>` element by element (about
//! 30 times slower for a 1 MiB value), so blobs belong in `ByteBuf`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cache_benches::{as_test, configure, quick};
use cache_core::{Cache, CacheExt, Ttl};
use cache_file::FileBasedCache;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_bytes::ByteBuf;

/// Where a group of rows runs: `tmpfs` (`$CACHE_BENCH_DIR` if set, else `/dev/shm` where it
/// exists, else the system's temporary directory), so that the figures measure the caches
/// rather than a disk, and `disk` (`$CACHE_BENCH_DISK_DIR` if set, else `target/bench-disk`
/// on the ordinary file system), where users' caches usually live.
struct Storage {
    label: &'static str,
    root: PathBuf,
}

fn storages() -> Vec<Storage> {
    let tmpfs = match std::env::var_os("CACHE_BENCH_DIR") {
        Some(dir) => dir.into(),
        None if std::path::Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
        None => std::env::temp_dir(),
    };
    let disk = std::env::var_os("CACHE_BENCH_DISK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_benches::metrics_dir().with_file_name("bench-disk"));
    std::fs::create_dir_all(&disk).expect("the disk benchmark directory");
    let all = vec![
        Storage {
            label: "tmpfs",
            root: tmpfs,
        },
        Storage {
            label: "disk",
            root: disk,
        },
    ];
    let mut csv = String::from("storage,fs,dir\n");
    for s in &all {
        csv.push_str(&format!(
            "{},{},{}\n",
            s.label,
            fs_type(&s.root),
            s.root.display()
        ));
    }
    cache_benches::write_metric("file-storage.csv", &csv);
    all
}

/// The file system type of the mount that holds `dir`, from `/proc/self/mountinfo`.
fn fs_type(dir: &std::path::Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let mount = *f.get(4)?;
            let sep = f.iter().position(|x| *x == "-")?;
            let fs = *f.get(sep + 1)?;
            dir.starts_with(mount).then(|| (mount.len(), fs.to_owned()))
        })
        .max()
        .map_or_else(|| "unknown".to_owned(), |(_, fs)| fs)
}

/// Before a write row's sample on the disk: the dirty pages of the setup and of the rows
/// (and samples) before it go to the disk first (`syncfs`, outside the timing), so that a
/// row is not charged for the writeback of what others wrote, whatever order rows run in.
/// What a row's own system calls wait for (an `fsync`, the block allocation a rename over a
/// file forces on ext4) is still its own. Nothing to do on tmpfs.
fn settle(storage: &Storage) {
    if storage.label == "disk" {
        if let Ok(dir) = std::fs::File::open(&storage.root) {
            let _ = rustix::fs::syncfs(&dir);
        }
    }
}

fn temp_dir(storage: &Storage) -> tempfile::TempDir {
    tempfile::tempdir_in(&storage.root).expect("a temporary directory")
}

/// A value of `len` bytes whose first 8 bytes are `n`, so that every write is new content.
fn value(len: usize, n: u64) -> ByteBuf {
    let mut v: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let head = len.min(8);
    v[..head].copy_from_slice(&n.to_le_bytes()[..head]);
    ByteBuf::from(v)
}

/// The system calls of a one-file-per-entry cache and nothing else; see the module docs.
/// Its files have the same fan-out and names as `cache-file`'s, in a directory of their own.
struct Bare<'a> {
    ours: &'a FileBasedCache,
    root: PathBuf,
    tmp: PathBuf,
    seq: std::cell::Cell<u64>,
}

impl<'a> Bare<'a> {
    fn new(ours: &'a FileBasedCache, root: &std::path::Path) -> Self {
        let root = root.to_path_buf();
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp).expect("bare-fs directories");
        Bare {
            ours,
            root,
            tmp,
            seq: std::cell::Cell::new(0),
        }
    }

    /// `root/ab/abcd...`: the path `cache-file` uses (same hashing), under this root.
    fn path_of(&self, key: &str) -> PathBuf {
        let entry = self.ours.entry_path(key);
        let rel = entry
            .strip_prefix(self.ours.dir())
            .expect("under the cache dir");
        self.root.join(rel)
    }

    fn set(&self, key: &str, value: &[u8]) {
        let path = self.path_of(key);
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        let tmp = self.tmp.join(seq.to_string());
        let mut f = std::fs::File::create_new(&tmp).expect("create");
        std::io::Write::write_all(&mut f, value).expect("write");
        if let Err(e) = std::fs::rename(&tmp, &path) {
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
            std::fs::create_dir_all(path.parent().expect("a fan-out dir")).expect("mkdir");
            std::fs::rename(&tmp, &path).expect("rename");
        }
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path_of(key)).ok()
    }
}

fn sizes(c: &mut Criterion) {
    for storage in storages() {
        for (label, len) in [("100B", 100), ("4KiB", 4096), ("1MiB", 1 << 20)] {
            sizes_on(c, &storage, label, len);
        }
    }
}

/// get-hit, get-miss (once per storage), set-new-key and overwrite rows of one value size on
/// one storage, in groups `file/{storage}/{workload}`.
fn sizes_on(c: &mut Criterion, storage: &Storage, label: &str, len: usize) {
    let at = storage.label;
    // At most 64 MiB of live data per cache.
    let keys: Vec<String> = (0..(64 << 20) / len)
        .take(if as_test() { 20 } else { 1_000 })
        .map(|i| format!("bench:key:{i}"))
        .collect();
    let (ours_dir, their_dir) = (temp_dir(storage), temp_dir(storage));
    // `cache-file` as built by default (bounded by 1 GiB: shared accounting, sweep);
    // `cache-file-unbounded` without a bound, for what the accounting costs writes.
    let ours = FileBasedCache::new(ours_dir.path(), None).expect("a cache");
    let unbounded_dir = temp_dir(storage);
    let unbounded = FileBasedCache::builder(unbounded_dir.path())
        .unbounded()
        .build()
        .expect("a cache");
    let bare_dir = temp_dir(storage);
    let bare = Bare::new(&ours, bare_dir.path());
    for k in &keys {
        ours.set(k, value(len, 0), Ttl::Never).expect("set");
        unbounded.set(k, value(len, 0), Ttl::Never).expect("set");
        cacache::write_sync(their_dir.path(), k, value(len, 0)).expect("cacache write");
        bare.set(k, &value(len, 0));
    }
    let mut g = c.benchmark_group(format!("file/{at}/get-hit-{label}"));
    configure(&mut g);
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function(BenchmarkId::from_parameter("cache-file"), |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            let v: Option<ByteBuf> = ours.get(&keys[i]).expect("get");
            black_box(v.expect("a hit"))
        })
    });
    g.bench_function(BenchmarkId::from_parameter("cacache"), |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(cacache::read_sync(their_dir.path(), &keys[i]).expect("a hit"))
        })
    });
    g.bench_function(BenchmarkId::from_parameter("bare-fs"), |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(bare.get(&keys[i]).expect("a hit"))
        })
    });
    g.finish();

    // `get_or_insert_with` on a hit: cache-file here should match its `get-hit` row.
    let mut g = c.benchmark_group(format!("file/{at}/get_or_insert_with-hit-{label}"));
    configure(&mut g);
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::from_parameter("cache-file"), |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            let v: ByteBuf = ours
                .get_or_insert_with(&keys[i], Ttl::Never, || {
                    unreachable!("every key is present")
                })
                .expect("get_or_insert_with");
            black_box(v)
        })
    });
    g.bench_function(BenchmarkId::from_parameter("bare-fs"), |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(bare.get(&keys[i]).expect("a hit"))
        })
    });
    g.finish();

    if len == 100 {
        let mut g = c.benchmark_group(format!("file/{at}/get-miss"));
        configure(&mut g);
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::from_parameter("cache-file"), |b| {
            b.iter(|| {
                let v: Option<ByteBuf> = ours.get("absent:key").expect("get");
                black_box(v)
            })
        });
        g.bench_function(BenchmarkId::from_parameter("cacache"), |b| {
            b.iter(|| black_box(cacache::read_sync(their_dir.path(), "absent:key").is_err()))
        });
        g.bench_function(BenchmarkId::from_parameter("bare-fs"), |b| {
            b.iter(|| black_box(bare.get("absent:key").is_none()))
        });
        g.finish();
    }

    // Each write: the next key, and bytes never written before.
    let mut n = 0u64;
    let mut next_write = || {
        n += 1;
        (n as usize % keys.len(), value(len, n))
    };

    // overwrite: the keys exist (the common case of a warm cache).
    let mut g = c.benchmark_group(format!("file/{at}/overwrite-{label}"));
    configure(&mut g);
    g.throughput(Throughput::Elements(1));
    for (name, cache) in [("cache-file", &ours), ("cache-file-unbounded", &unbounded)] {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            settle(storage);
            b.iter_batched(
                &mut next_write,
                |(k, v)| cache.set(&keys[k], v, Ttl::Never).expect("set"),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    g.bench_function(BenchmarkId::from_parameter("cacache"), |b| {
        settle(storage);
        b.iter_batched(
            &mut next_write,
            |(k, v)| cacache::write_sync(their_dir.path(), &keys[k], v).expect("cacache write"),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function(BenchmarkId::from_parameter("bare-fs"), |b| {
        settle(storage);
        b.iter_batched(
            &mut next_write,
            |(k, v)| bare.set(&keys[k], &v),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();

    // set-new-key: the key's entry is removed before the timed write (untimed), in batches
    // no larger than the key set, so that every timed write creates a file.
    let batch = criterion::BatchSize::NumIterations(keys.len().min(256) as u64);
    let mut g = c.benchmark_group(format!("file/{at}/set-new-key-{label}"));
    configure(&mut g);
    g.throughput(Throughput::Elements(1));
    for (name, cache) in [("cache-file", &ours), ("cache-file-unbounded", &unbounded)] {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            settle(storage);
            b.iter_batched(
                || {
                    let (k, v) = next_write();
                    cache.delete(&keys[k]).expect("delete");
                    (k, v)
                },
                |(k, v)| cache.set(&keys[k], v, Ttl::Never).expect("set"),
                batch,
            )
        });
    }
    g.bench_function(BenchmarkId::from_parameter("cacache"), |b| {
        settle(storage);
        b.iter_batched(
            || {
                let (k, v) = next_write();
                // The index entry and its content, so that the disk does not fill.
                if let Ok(Some(meta)) = cacache::metadata_sync(their_dir.path(), &keys[k]) {
                    let _ = cacache::remove_hash_sync(their_dir.path(), &meta.integrity);
                }
                cacache::remove_sync(their_dir.path(), &keys[k]).expect("cacache remove");
                (k, v)
            },
            |(k, v)| cacache::write_sync(their_dir.path(), &keys[k], v).expect("cacache write"),
            batch,
        )
    });
    g.bench_function(BenchmarkId::from_parameter("bare-fs"), |b| {
        settle(storage);
        b.iter_batched(
            || {
                let (k, v) = next_write();
                let _ = std::fs::remove_file(bare.path_of(&keys[k]));
                (k, v)
            },
            |(k, v)| bare.set(&keys[k], &v),
            batch,
        )
    });
    g.finish();
}

fn delete_pattern(c: &mut Criterion) {
    let n = if as_test() {
        500
    } else if quick() {
        10_000
    } else {
        100_000
    };
    let names: Vec<String> = (0..n).map(|i| format!("user:{}:{i}", i % 10)).collect();
    let removed: Vec<&String> = names.iter().filter(|k| k.starts_with("user:3:")).collect();
    let v = value(100, 1);
    let tmpfs = &storages()[0];
    let (ours_dir, their_dir) = (temp_dir(tmpfs), temp_dir(tmpfs));
    let ours = FileBasedCache::new(ours_dir.path(), None).expect("a cache");
    for k in &names {
        ours.set(k, v.clone(), Ttl::Never).expect("set");
        cacache::write_sync(their_dir.path(), k, &v).expect("cacache write");
    }
    let mut g = c.benchmark_group("file/tmpfs/delete-pattern-10pct-of-100k");
    configure(&mut g);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(BenchmarkId::from_parameter("cache-file"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let gone = ours.delete_pattern("user:3:*").expect("delete");
                total += t.elapsed();
                assert_eq!(gone as usize, removed.len());
                for k in &removed {
                    ours.set(k, v.clone(), Ttl::Never).expect("set");
                }
            }
            total
        })
    });
    g.bench_function(BenchmarkId::from_parameter("cacache"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let matching: Vec<String> = cacache::list_sync(their_dir.path())
                    .filter_map(Result::ok)
                    .map(|m| m.key)
                    .filter(|k| k.starts_with("user:3:"))
                    .collect();
                for k in &matching {
                    cacache::remove_sync(their_dir.path(), k).expect("remove");
                }
                total += t.elapsed();
                assert_eq!(matching.len(), removed.len());
                for k in &removed {
                    cacache::write_sync(their_dir.path(), k, &v).expect("cacache write");
                }
            }
            total
        })
    });
    g.finish();
}

/// `incr` and `add` of 1,000 keys, single thread. `bare-fs` is the ceiling of the same
/// guarantees: for `incr`, a lock file locked across reading the number and renaming a new
/// file over it (then removed); for `add`, a complete temporary file hard-linked into place
/// (which fails if the name exists). Each `add` stores: the entry is removed beforehand,
/// outside the timing.
fn counters(c: &mut Criterion) {
    let keys: Vec<String> = (0..if as_test() { 20 } else { 1_000 })
        .map(|i| format!("bench:n:{i}"))
        .collect();
    let tmpfs = &storages()[0];
    let ours_dir = temp_dir(tmpfs);
    let ours = FileBasedCache::new(ours_dir.path(), None).expect("a cache");
    let bare_dir = temp_dir(tmpfs);
    let bare = Bare::new(&ours, bare_dir.path());
    for k in &keys {
        ours.incr(k, 1).expect("incr");
        bare.set(k, b"1");
    }
    let bare_incr = |key: &str| {
        let path = bare.path_of(key);
        let lock_path = path.with_extension("lock");
        let lock = std::fs::File::create(&lock_path).expect("lock file");
        lock.lock().expect("flock");
        let n: i64 = std::str::from_utf8(&std::fs::read(&path).expect("read"))
            .expect("text")
            .parse()
            .expect("a number");
        bare.set(key, (n + 1).to_string().as_bytes());
        std::fs::remove_file(&lock_path).expect("unlock");
    };
    let mut g = c.benchmark_group("file/tmpfs/incr");
    configure(&mut g);
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function(BenchmarkId::from_parameter("cache-file"), |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(ours.incr(&keys[i], 1).expect("incr"))
        })
    });
    g.bench_function(BenchmarkId::from_parameter("bare-fs"), |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            bare_incr(&keys[i])
        })
    });
    g.finish();

    let value = value(100, 1);
    let bare_add = |key: &str| {
        let path = bare.path_of(key);
        let seq = bare.seq.get() + 1;
        bare.seq.set(seq);
        let tmp = bare.tmp.join(seq.to_string());
        std::fs::write(&tmp, &value[..]).expect("write");
        let stored = std::fs::hard_link(&tmp, &path).is_ok();
        std::fs::remove_file(&tmp).expect("remove the temporary file");
        stored
    };
    // Each key's entry is removed before its timed add (untimed), in batches no larger than
    // the key set, so that every timed add finds no entry.
    let batch = criterion::BatchSize::NumIterations(keys.len().min(256) as u64);
    let mut g = c.benchmark_group("file/tmpfs/add");
    configure(&mut g);
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::from_parameter("cache-file"), |b| {
        b.iter_batched(
            || {
                i = (i + 1) % keys.len();
                Cache::<ByteBuf>::delete(&ours, &keys[i]).expect("delete");
                i
            },
            |k| assert!(ours.add(&keys[k], value.clone(), Ttl::Never).expect("add")),
            batch,
        )
    });
    g.bench_function(BenchmarkId::from_parameter("bare-fs"), |b| {
        b.iter_batched(
            || {
                i = (i + 1) % keys.len();
                let _ = std::fs::remove_file(bare.path_of(&keys[i]));
                i
            },
            |k| assert!(bare_add(&keys[k])),
            batch,
        )
    });
    g.finish();
}

criterion_group!(file_benches, sizes, delete_pattern, counters);
criterion_main!(file_benches);
