pub(crate) mod cache;
pub(crate) mod coalesce;
pub(crate) mod link;
#[cfg(feature = "cluster")]
pub(crate) mod route;
