//! The async side (feature `tokio`): [`AsyncFileCache`] (`cache`), the blocking cache's
//! operations run on tokio's blocking pool (`blocking`), and the lead of a single flight
//! across processes that an async `get_or_load` runs, polling the lock with tokio's timer
//! (`flight`).
//!
//! May use: `crate::sync` (the blocking cache it wraps) and `crate::common`. Nothing uses
//! it but the crate root's `pub use`.

mod blocking;
mod cache;
mod flight;

pub use cache::AsyncFileCache;
