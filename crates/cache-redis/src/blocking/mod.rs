pub(crate) mod hot;
pub(crate) mod link;
