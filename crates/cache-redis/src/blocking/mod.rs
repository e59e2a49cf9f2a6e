//! The blocking cache, [`RedisCache`](cache::RedisCache): the cache and its `run` (`cache`),
//! the r2d2 pool with the connection the last call gave back kept in front of it (`hot`),
//! the blocking link over a server or a cluster and the pool's manager (`link`), and its run
//! of the flight lock with `thread::sleep` between polls (`flight`), and its
//! `near::Invalidations` (`near`, on `tracking`).
//!
//! May use: `config`, `connection`, `proto`, `tracking`. Never `aio`; nothing outside this folder uses
//! it but lib.rs's `pub use`.

pub(crate) mod cache;
mod calls;
mod flight;
mod hot;
mod link;
mod near;
