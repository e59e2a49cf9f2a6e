//! The facade's examples beyond the quick start, and their tests: run them with
//! `cargo run -p cache-examples --example NAME` (`file`, `redis`, `axum`; see each file's
//! docs for what it needs). They live in this unpublished crate, with the dependencies they
//! need (tokio, axum), so that the quick start of the `cache` crate
//! (`cargo run --example quickstart`) builds only the memory cache.
#![forbid(unsafe_code)]
