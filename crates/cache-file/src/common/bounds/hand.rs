//! Where the sweep of expired entries stands (the hand itself moves in `sweep.rs`).

use super::super::dir::EntryId;

/// Where the sweep stands: the fan-out directory being swept and the entries of it left.
#[derive(Debug, Default)]
pub struct Hand {
    pub(crate) fan: u8,
    pub(crate) ids: Vec<EntryId>,
    pub(crate) pos: usize,
    pub(crate) active: bool,
    /// The earliest expiry among the entries of `fan` the sweep kept.
    pub(crate) earliest_left: u64,
}
