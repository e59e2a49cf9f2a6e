//! One entry file, knowing nothing of the cache around it: its format (`format`: the
//! header, checksums, the stored name) and the large files this instance verified whole
//! (`verified`, so that an unchanged one is not checksummed again).
//!
//! May use: `cache_core`, and `dir::EntryId`. Nothing above.

pub(crate) mod format;
pub(crate) mod verified;

pub use verified::Verified;
