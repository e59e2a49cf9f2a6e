//! Bounds and usage accounting, the state: the in-memory recency index that chooses what
//! to evict (`index`), the accounting file every process on the directory shares, `DIR/usage`
//! (`usage`), and where the sweep of expired entries stands (`hand`). What a write does
//! with them is `write/bounds.rs`; a removal's accounting is `read/drop.rs` (`forget`).
//!
//! May use: `cache_core`, and `dir::EntryId`. Nothing above.

pub(crate) mod hand;
pub(crate) mod index;
pub(crate) mod usage;

pub use hand::Hand;
pub use index::Bounds;
pub use usage::{Ledger, Slot, Totals, Usage, USAGE_FILE};
