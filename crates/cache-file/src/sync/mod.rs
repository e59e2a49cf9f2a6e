//! The blocking side: [`FileBasedCache`] and its inherent operations (`cache`), its builder
//! (`builder`), the public faces of `incr`, `decr`, `touch` and `ttl` (`ops`), the inherent
//! forms of the operations that take a value type or a TTL (`calls`), the entry stamps a
//! near cache checks (`stamps`), the lead of
//! a single flight across processes that a blocking `get_or_load` runs (`flight`), and the
//! [`Cache`](cache_core::Cache) impl over them all (`cache_trait`).
//!
//! May use: `crate::common` (the shared core). Nothing of `crate::future`, which sits above.

mod builder;
mod cache;
mod cache_trait;
mod calls;
mod flight;
mod ops;
mod stamps;

pub use builder::{FileBasedCacheBuilder, DEFAULT_MAX_BYTES};
pub use cache::FileBasedCache;
