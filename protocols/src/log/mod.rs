//! The transparency log: RFC 9162 Merkle tree math, proofs, checkpoints and typed entries.
//!
//! * [`hash`] — RFC 9162 §2.1.1 hashing, generic over the digest: Credence uses SHA3-256
//!   ([`Sha3Log`]); the same code instantiated with SHA-256 ([`Sha256Log`]) reproduces the
//!   published RFC 6962 / transparency-dev test vectors.
//! * [`proof`] — inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4), generated from any
//!   [`proof::HashReader`] (a storage-agnostic source of complete-subtree hashes) and verified
//!   with the RFC's algorithms.
//! * [`tree`] — an in-memory [`proof::HashReader`] ([`tree::MemoryTree`]).
//! * [`checkpoint`] — checkpoints in the C2SP signed-note format, signed by the log and
//!   cosigned by witnesses.
//! * [`entry`] — the typed, versioned log entries.
#![doc = include_str!("../../log.md")]

pub mod checkpoint;
pub mod entry;
pub mod hash;
pub mod proof;
pub mod tree;

pub use hash::{Hash, LogHasher, Rfc9162, Sha256Log, Sha3Log};
pub use proof::{ConsistencyProof, HashReader, InclusionProof};
