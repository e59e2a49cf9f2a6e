//! The async cache, [`AsyncRedisCache`](cache::AsyncRedisCache) (feature `tokio`): the cache
//! and its `run` (`cache`), its link: one multiplexed connection or the async cluster client,
//! fixed or following the sentinels' primary (`link`), the commands of concurrent tasks sent
//! in rounds, one pipeline each (`coalesce`), single-key commands sent straight to their
//! slot's primary on a cluster (`route`, feature `cluster` too), and its run of the flight
//! lock with tokio's timer (`flight`), and its `near::Invalidations` (`near`, on `tracking`).
//!
//! May use: `config`, `connection`, `proto`, `tracking`. Never `blocking`; nothing outside this folder
//! uses it but lib.rs's `pub use`.

pub(crate) mod cache;
mod calls;
mod coalesce;
mod flight;
mod link;
mod near;
#[cfg(feature = "cluster")]
mod route;
