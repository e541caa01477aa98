//! The sealed path's FHE side: key material ([`keys`]), holder-side sealing ([`holder`]), and
//! the compute engine ([`engine`]) that verifies, expands, compresses and evaluates. The client
//! key lives in [`crate::key_authority`] only.

pub mod engine;
pub mod holder;
pub mod keys;
