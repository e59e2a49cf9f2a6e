#[cfg(feature = "tokio")]
pub(crate) mod follow;
pub(crate) mod sentinel;
