//! The read path of an entry, shared by every operation that reads one: `verify` reads a
//! file and checks it (header, key, payload checksums; `buffer` holds the read buffers),
//! `lookup` finds the live entry of a key (and reads again a file replaced under it),
//! `drop` removes what a read found expired or corrupt, and `take`s an entry away.
//!
//! May use: `inner`, `dir/`, `entry/`, `bounds/` (through `Inner`'s fields); `verify` and
//! `buffer` know nothing of `Inner`. Nothing above (`sweep`, `write/`, `ops`, the caches).

pub(crate) mod buffer;
pub(crate) mod drop;
pub(crate) mod lookup;
pub(crate) mod verify;
