//! The write path of an entry: `store` encodes an entry and places its file (a temporary
//! file, written over a file kept for reuse where one is, then renamed or exchanged into
//! place: `dir/`), `bounds` accounts for what the write added and replaced, makes room
//! when the directory is over a bound, and takes a step of the sweep.
//!
//! May use: `inner`, `read/` (a write takes the entry it replaces with a zero TTL, and the
//! cull takes what it evicts), `sweep`, `dir/`, `entry/`, `bounds/`. Nothing above (`ops`,
//! the caches).

pub(crate) mod bounds;
pub(crate) mod store;
