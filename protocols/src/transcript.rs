//! Merlin transcript extension: versioned domain separators and typed appends.
//!
//! The application creates the [`merlin::Transcript`] (its label is the application's own,
//! e.g. `credence/bank-check`); proof functions take `&mut Transcript` and begin by appending
//! their versioned domain separator. Every label used by this crate is a constant in
//! [`labels`], and `protocols/proofs.md` lists each one — a test fails otherwise.

use crate::error::ProofError;
use curve25519_dalek::ristretto::CompressedRistretto;
use curve25519_dalek::traits::IsIdentity;
use merlin::Transcript;

/// Every transcript label and domain separator this crate appends.
pub mod labels {
    /// Application label of the transcript on which holders create, and everyone verifies,
    /// attribute range certificates.
    pub const APP_ATTRIBUTE: &[u8] = b"credence/v1/attribute";
    /// Application label of the transcript on which subjects prove, and banks verify, the
    /// predicate proofs carried in verdicts.
    pub const APP_VERDICT: &[u8] = b"credence/v1/verdict-proof";
    /// Label under which domain separators are appended.
    pub const DOM_SEP: &[u8] = b"dom-sep";
    /// Domain separator of the attribute range certificate (value in `[0, max]`).
    pub const ATTRIBUTE_RANGE_V1: &[u8] = b"credence/attribute-range/v1";
    /// Domain separator of the predicate conjunction proof.
    pub const PREDICATE_CONJUNCTION_V1: &[u8] = b"credence/predicate-conjunction/v1";
    /// Holder identifier of an attribute commitment.
    pub const HOLDER: &[u8] = b"holder";
    /// Catalogue attribute identifier.
    pub const ATTRIBUTE: &[u8] = b"attribute";
    /// Subject kind tag followed by the 32-byte pseudonym.
    pub const SUBJECT: &[u8] = b"subject";
    /// Submission identifier.
    pub const SUBMISSION: &[u8] = b"submission";
    /// Declared maximum of a committed value.
    pub const MAX: &[u8] = b"max";
    /// A Pedersen commitment to an attribute value.
    pub const COMMITMENT: &[u8] = b"commitment";
    /// The policy hash a conjunction proof is made for.
    pub const POLICY: &[u8] = b"policy";
    /// The as-of day of a conjunction proof.
    pub const AS_OF_DAY: &[u8] = b"as-of-day";
    /// Number of committed inputs.
    pub const INPUT_COUNT: &[u8] = b"input-count";
    /// Number of predicates.
    pub const PREDICATE_COUNT: &[u8] = b"predicate-count";
    /// The canonical encoding of one predicate.
    pub const PREDICATE: &[u8] = b"predicate";
    /// The bit width of the range proofs.
    pub const BITS: &[u8] = b"bits";

    /// All of the above, for the spec-coverage test.
    pub const ALL: &[&[u8]] = &[
        APP_ATTRIBUTE,
        APP_VERDICT,
        DOM_SEP,
        ATTRIBUTE_RANGE_V1,
        PREDICATE_CONJUNCTION_V1,
        HOLDER,
        ATTRIBUTE,
        SUBJECT,
        SUBMISSION,
        MAX,
        COMMITMENT,
        POLICY,
        AS_OF_DAY,
        INPUT_COUNT,
        PREDICATE_COUNT,
        PREDICATE,
        BITS,
    ];
}

/// Typed, domain-separated appends onto a Merlin transcript.
pub trait TranscriptProtocol {
    /// Appends a versioned domain separator (one of the `*_V1` constants in [`labels`]).
    fn domain_sep(&mut self, separator: &'static [u8]);
    /// Appends a `u64` under `label`.
    fn append_u64_le(&mut self, label: &'static [u8], v: u64);
    /// Appends an `i64` (as its two's-complement little-endian bytes) under `label`.
    fn append_i64(&mut self, label: &'static [u8], v: i64);
    /// Appends a byte string under `label`.
    fn append_bytes(&mut self, label: &'static [u8], v: &[u8]);
    /// Appends a compressed point, rejecting the identity (a commitment to nothing).
    fn validate_and_append_point(
        &mut self,
        label: &'static [u8],
        point: &CompressedRistretto,
    ) -> Result<(), ProofError>;
}

impl TranscriptProtocol for Transcript {
    fn domain_sep(&mut self, separator: &'static [u8]) {
        self.append_message(labels::DOM_SEP, separator);
    }
    fn append_u64_le(&mut self, label: &'static [u8], v: u64) {
        self.append_u64(label, v);
    }
    fn append_i64(&mut self, label: &'static [u8], v: i64) {
        self.append_message(label, &v.to_le_bytes());
    }
    fn append_bytes(&mut self, label: &'static [u8], v: &[u8]) {
        self.append_message(label, v);
    }
    fn validate_and_append_point(
        &mut self,
        label: &'static [u8],
        point: &CompressedRistretto,
    ) -> Result<(), ProofError> {
        if point.is_identity() {
            return Err(ProofError::VerificationFailed);
        }
        self.append_message(label, point.as_bytes());
        Ok(())
    }
}
