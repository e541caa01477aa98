//! # credence-protocols
//!
//! The verification-first library of Credence. Banks, partner regions and privacy auditors
//! depend on this crate — and only this crate — to check everything the Credence service says:
//!
//! | module | what it is |
//! |---|---|
//! | [`identifiers`] | USCC (GB 32100) and resident ID (GB 11643) validation |
//! | [`pseudonym`] | keyed SHA3 pseudonyms: how the service names a subject |
//! | [`names`] | party and catalogue attribute identifiers |
//! | [`signing`] | Ed25519 keys by role; canonical, versioned, domain-separated signing |
//! | [`commitment`] | attribute commitments with range certificates `[0, max]` |
//! | [`predicate`] | aggregated predicate proofs (`≥`, `≤`, not-listed-on-day, weighted sums) |
//! | [`question`] | the verifier's own question, the pinned policy, statement derivation |
//! | [`consent`] | consent tokens (subject → bank) |
//! | [`query`] | a bank's signed question, logged with its `Query` entry |
//! | [`package`] | proof packages (subject → bank), checked against the bank's question |
//! | [`keys`] | holder keys learned from the log (registrations with inclusion proofs) |
//! | [`dispute`] | a subject's signed dispute of a log entry (异议) |
//! | [`seal`] | sealing an opening to its subject (libsodium sealed boxes) |
//! | [`inspection`] | the "double random" inspection draw seeded by a logged checkpoint |
//! | [`log`] | RFC 9162 Merkle log math, C2SP checkpoints, typed entries |
//! | [`verdict`] | signed verdicts, trust anchors, and the bank's one-call verification |
//! | [`sealed`] | sealed-path submissions and the upload codec |
//! | [`transcript`] | Merlin transcript conventions and every label used |
//! | [`encoding`] | the canonical binary encoding everything signs and hashes |
//!
//! It has no dependency on TFHE, tokio or axum. Protocol specifications live next to the code
//! in `protocols/*.md` and are included below.
//!
//! ## Security conventions
//! * `#![forbid(unsafe_code)]`; no home-made primitives: `curve25519-dalek`, `bulletproofs`,
//!   `merlin`, `ed25519-dalek`, `sha3`, `crypto_box`.
//! * Secrets ([`pseudonym::PseudonymKey`], [`signing::SigningKey`], [`commitment::Opening`],
//!   [`seal::SealingSecretKey`]) are zeroized on drop, never `Debug`-printed, and compared in
//!   constant time.
//! * Verification failures are opaque; parse errors name the field.
//! * Every decoder of untrusted bytes bounds every length before allocating, rejects trailing
//!   bytes and non-canonical group elements, and never panics (property-tested and fuzzed).
#![doc = include_str!("../notation.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod commitment;
pub mod consent;
pub mod dispute;
pub mod encoding;
pub mod error;
pub mod identifiers;
pub mod inspection;
pub mod keys;
pub mod log;
pub mod names;
pub mod package;
pub mod predicate;
pub mod pseudonym;
pub mod query;
pub mod question;
pub mod request;
pub mod seal;
pub mod sealed;
pub mod signing;
pub mod transcript;
pub mod verdict;

#[doc = include_str!("../proofs.md")]
pub mod spec_proofs {}
#[doc = include_str!("../encoding.md")]
pub mod spec_encoding {}
#[doc = include_str!("../identifiers.md")]
pub mod spec_identifiers {}
#[doc = include_str!("../signatures.md")]
pub mod spec_signatures {}
#[doc = include_str!("../verdict.md")]
pub mod spec_verdict {}

pub use error::{CheckpointError, DecodeError, LogError, ProofError, SignatureError, VerdictError};
