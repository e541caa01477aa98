//! The sealed path's FHE side, shared by the server and the auditor: key material ([`keys`])
//! and the compute engine ([`engine`]) that verifies, expands, compresses and evaluates. The
//! client key lives in [`crate::key_authority`] only; holders encrypt with
//! [`crate::party::holder::encrypt_record`].

mod block_cache;
pub mod determinism;
pub mod engine;
pub mod keys;

/// Largest serialized proven list the service accepts (16 attributes come to ≈ 20 KB).
pub const MAX_LIST_BYTES: u64 = 1 << 20;

/// What a holder uploads: the signed submission and the proven compact list
/// ([`crate::protocols::sealed::SealedUpload`], whose codec is shared with every verifier).
pub type SealedRecord = crate::protocols::sealed::SealedUpload;
