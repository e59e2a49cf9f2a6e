//! The shared core, below both caches: [`Inner`](inner::Inner), one open cache's state and
//! the paths every operation takes, and the parts it is made of. Neither cache type is named
//! here: the blocking cache (`crate::sync`) and the async one (`crate::future`) sit above.
//!
//! May use: `cache_core` and the system. Layers, each using only those below it:
//! 1. parts that know nothing of `Inner`: `dir/` (the directory on disk), `entry/` (one
//!    entry file's format, and the files verified whole), `bounds/` (the bounds index, the
//!    usage file every process shares, where the sweep stands);
//! 2. `inner.rs`: `Inner`, those parts put together, with the clock, naming and errors;
//! 3. the paths, each an `impl Inner` of its own: `read/` (lookup, verify, retry, drop),
//!    then `sweep.rs` (expired entries, the recount), then `write/` (encode, place, bounds),
//!    then `ops.rs` (`add`, `incr`, `touch`, `ttl`);
//! 4. `keylock.rs` (per-key locks on `dir/`'s lock files) and `flight.rs` (the single-flight
//!    protocol across processes on them), which each cache's `get_or_load` runs.

pub(crate) mod bounds;
pub(crate) mod dir;
pub(crate) mod entry;
pub(crate) mod flight;
pub(crate) mod inner;
pub(crate) mod keylock;
pub(crate) mod ops;
pub(crate) mod read;
pub(crate) mod sweep;
pub(crate) mod write;
