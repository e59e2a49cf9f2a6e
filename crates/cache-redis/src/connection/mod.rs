mod client;
mod connector;
#[cfg(feature = "tokio")]
pub(crate) mod follow;
pub(crate) mod sentinel;
mod tls;

pub(crate) use client::{open, Timeouts};
pub(crate) use connector::Connector;
#[cfg(all(feature = "cluster", feature = "tokio"))]
pub(crate) use connector::NodeClients;
