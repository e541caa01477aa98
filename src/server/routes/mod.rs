//! The route handlers, by caller.

pub mod audit;
pub mod bank;
pub mod dispute;
pub mod federation;
pub mod holder;
pub mod key_authority;
pub mod operator;
pub mod ops;
pub mod proof;
pub mod repair;
pub mod subject;
