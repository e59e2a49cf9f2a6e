pub(crate) mod cache;
mod coalesce;
mod flight;
mod link;
#[cfg(feature = "cluster")]
mod route;
