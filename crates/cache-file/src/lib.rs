//! `FileBasedCache`: a crash-safe cache on the local file system, shared by threads and by
//! processes, implementing [`cache_core::Cache`] for every serde type.
//!
//! ```
//! use cache_file::FileBasedCache;
//! use cache_core::{Cache, Ttl};
//! use std::time::Duration;
//!
//! let dir = tempfile::tempdir()?;
//! let cache = FileBasedCache::new(dir.path().join("cache"), Some(Duration::from_secs(60)))?;
//! cache.set("user:1", "alice".to_string(), Ttl::Default)?;
//! assert_eq!(cache.get("user:1")?, Some("alice".to_string()));
//! // One directory serves every value type; reading as another type is a miss.
//! assert_eq!(Cache::<u64>::get(&cache, "user:1")?, None);
//! // Operations that involve no value need no type: `delete`, `clear`, `exists`,
//! // `delete_pattern` and `stats` are inherent methods too.
//! assert!(cache.exists("user:1")?);
//! assert_eq!(cache.delete_pattern("user:*")?, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//! - **One file per entry**, named by the MD5 of its key, in one of 256 fan-out
//!   subdirectories chosen by the first byte of the MD5 (`ab/ab12...`).
//! - **Format** (version 2): a 48-byte header (magic, version, name length, written-at
//!   time, TTL, payload length, payload CRC-32, header CRC-32), then the key's stored name
//!   (the key, plus `0xFF` and the cache's version for versions other than 1), then the
//!   value as the cache's codec stores it ([`FileBasedCacheBuilder::codec`], optionally
//!   compressed: [`cache_core::codec::Encoding`]). See the crate README for the byte offsets.
//! - **Versions**: the file of a key is named by the MD5 of its stored name, so each version
//!   of a key has a file of its own, and reads compare the whole name
//!   ([`FileBasedCacheBuilder::version`]).
//! - **Writes** go to a temporary file in the instance's own directory under `tmp/` (locked
//!   for the instance's lifetime, so cleanups tell live instances from dead ones) and are
//!   renamed into place, so a reader opens either the old file or the new one;
//!   `durable(true)` adds `fsync`s.
//! - **Reads** open one file, check the header checksum, compare the stored key (an MD5
//!   collision is a miss), check the payload checksum, then decode. A corrupt file is a miss,
//!   counted in [`FileBasedCache::corruptions`] and removed.
//! - **Removal is conditional**: an expired or corrupt file is moved aside and deleted only if
//!   it is still the file that was read; a newer file a concurrent writer renamed into place
//!   is put back.
//! - **Atomic operations across processes**: `incr` and `touch` hold the keys lock of the
//!   entry's fan-out directory (`ab/keys.lock`, an `flock` the kernel drops if the holder
//!   dies; made once, never removed) across their read and write; `add` creates the entry
//!   with `link()`,
//!   which fails if a file is there, so it never overwrites a concurrent `set`, and holds the
//!   lock against concurrent `add`s. `set` takes no lock: a `set` landing inside an `incr`
//!   or `touch` of the same key may be overwritten by it.
//! - **No symlink in the cache directory is ever followed**, even one swapped in while the
//!   cache is open: every file is reached through directory descriptors the instance holds,
//!   with `*at` calls of one name each, and directories are opened with `openat2`
//!   (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`) or, where the kernel lacks it, a checked
//!   `O_NOFOLLOW` walk. Files and directories are created private (0600 / 0700).
//! - **A directory removed under a running cache** is recreated by its next write (and by
//!   `clear`); reads of it miss meanwhile.
//! - **Single flight**: `get_or_insert_with` runs its loader once per key across threads and
//!   processes; a per-key lock file beside the entry (`ab/<md5>.flight`), held with `flock`
//!   while the loader runs, makes the other processes wait, for its lease at most (see
//!   [`FileBasedCacheBuilder::single_flight`] and [`FileBasedCacheBuilder::flight_lease`]).
//! - **Bounds** are kept across processes in `DIR/usage`, whose counts a bounded instance
//!   changes, with the files, only under its `flock` (see the crate README).
//!
//! # Platforms
//! Unix only (Linux, macOS, the BSDs): the crate relies on `rename` over an existing file,
//! `flock`, `O_NOFOLLOW` and directory file descriptors, and fails to build elsewhere with
//! a `compile_error!` that says so. Windows is not supported (its rename-over and locking
//! differ enough to need a port of their own).
#![forbid(unsafe_code)]

#[cfg(not(unix))]
compile_error!(
    "cache-file supports Unix only (Linux, macOS, the BSDs): it relies on rename over an \
     existing file, flock, O_NOFOLLOW and directory file descriptors"
);

/// This crate's README, compiled (and run, unless marked `no_run`) as doctests, so that its
/// crates.io page never lies.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod common;
#[cfg(feature = "tokio")]
mod future;
mod sync;

pub use common::bounds::USAGE_FILE;
pub use common::dir::TMP_DIR;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use future::AsyncFileCache;
pub use sync::{FileBasedCache, FileBasedCacheBuilder, DEFAULT_MAX_BYTES};
