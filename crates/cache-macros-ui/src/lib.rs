//! Nothing but a home for `tests/ui.rs`: the trybuild cases of `#[memoize]` (see
//! `crates/cache-macros`), in a crate whose dev-dependencies are only what they need.
#![forbid(unsafe_code)]
