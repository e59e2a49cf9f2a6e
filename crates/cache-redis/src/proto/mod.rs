//! The sans-I/O core that both caches share: how cache keys become Redis keys and `MATCH`
//! patterns (`keys`), how values are stored (`value`), commands as they are built and sent
//! (`command`), the commands and scripts of `add`, `incr`, `touch`, `ttl` and what their
//! replies mean (`ops`), the flight lock protocol (`flight`), and how a `redis` error is
//! classified, retried and reported (`failure`). Nothing here opens a connection or waits.
//!
//! May use: `cache_core`, `redis`'s command, value and error types. Nothing else of this
//! crate: not `config`, `connection`, `blocking` or `aio`.

pub(crate) mod command;
pub(crate) mod failure;
pub(crate) mod flight;
pub(crate) mod keys;
pub(crate) mod ops;
pub(crate) mod value;
