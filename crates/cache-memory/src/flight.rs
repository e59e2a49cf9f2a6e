//! One in-progress `get_or_insert_with` load that other threads wait for and other tasks
//! await (blocking and async calls share it): the shards register
//! [`cache_core::flight::Flight`]s under their own locks.

pub(crate) use cache_core::flight::Flight;
