pub(crate) mod cache;
pub(crate) mod hot;
pub(crate) mod link;
