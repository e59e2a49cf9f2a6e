pub(crate) mod cache;
mod flight;
mod hot;
mod link;
