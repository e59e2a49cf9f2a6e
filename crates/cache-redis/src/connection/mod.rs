//! Connections, shared by both caches: a [`RedisConfig`](crate::RedisConfig) made into
//! `redis` clients once (`connector`: one server, a cluster or sentinels), the making of one
//! client or connection (`client`: URLs, timeouts; `tls`), the primary that sentinels name,
//! found in bounded time (`sentinel`), and a link that follows it after a failure (`follow`,
//! feature `tokio`, for the async cache).
//!
//! May use: `config` and `proto`. Never `blocking` or `aio`: the blocking pool and the async
//! links are built on what is here, not the other way round.

mod client;
mod connector;
#[cfg(feature = "tokio")]
pub(crate) mod follow;
pub(crate) mod sentinel;
mod tls;

#[cfg(feature = "cluster")]
pub(crate) use client::client_of;
pub(crate) use client::{open, speaks_tls, Timeouts};
pub(crate) use connector::Connector;
#[cfg(feature = "cluster")]
pub(crate) use connector::NodeClients;
