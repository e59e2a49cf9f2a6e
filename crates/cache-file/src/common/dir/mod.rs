//! The cache directory on disk (shared by both caches): the fan-out tree reached through
//! held directory descriptors, temporary files and the reuse pool, placing written files,
//! conditional removal, lock files and scans. Knows files, not what an entry means.
//!
//! May use: `cache_core` and the system; nothing else of the crate (everything above uses
//! it). Its files use one another one way: `name`, `fs` (with `beneath`) and `pool` at the
//! bottom, then `tree`, then `cache_dir` ([`CacheDir`] and its descriptors), then the
//! `impl CacheDir` blocks of one concern each (`temp`, `place`, `remove`, `lock`, `scan`).

mod beneath;
mod cache_dir;
mod fs;
mod lock;
mod name;
mod place;
mod pool;
mod remove;
mod scan;
mod stamp;
mod temp;
mod tree;

#[cfg(test)]
mod tests;

pub use cache_dir::CacheDir;
pub use fs::{FileId, Opened};
pub use lock::LockFile;
pub use name::{file_name, EntryId};
pub use place::Replaced;
pub use pool::REUSED_MAX;
pub use remove::Grabbed;
pub use tree::TMP_DIR;
