pub(crate) mod command;
pub(crate) mod failure;
pub(crate) mod flight;
pub(crate) mod keys;
pub(crate) mod ops;
pub(crate) mod value;
