//! Error types, layered per protocol object.
//!
//! Verification errors are deliberately opaque: a verifier says *that* a proof, signature or
//! log proof failed, never *which* check failed, so that a prover cannot use the verifier as an
//! oracle. Parsing and misuse errors, on the other hand, say exactly what was wrong, because
//! they concern the caller's own input and reveal nothing secret.

use thiserror::Error;

/// A canonical encoding could not be decoded. Names the field that was wrong.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside `field`.
    #[error("input ends inside field `{field}`")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// Bytes were left after a complete object.
    #[error("{count} unexpected trailing byte(s) after a complete object")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
    /// A length or count is larger than the field allows.
    #[error("field `{field}` has length {len}, more than the maximum {max}")]
    TooLong {
        /// The field being read.
        field: &'static str,
        /// The length found.
        len: usize,
        /// The maximum allowed.
        max: usize,
    },
    /// An enum tag or version byte is not one this version knows.
    #[error("field `{field}` has unknown tag or version {tag}")]
    UnknownTag {
        /// The field being read.
        field: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// A text field is not UTF-8.
    #[error("field `{field}` is not valid UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        field: &'static str,
    },
    /// A group element is not the canonical encoding of a Ristretto point (or is the identity
    /// where that is not allowed), or a scalar is not canonical.
    #[error("field `{field}` is not a canonical group element or scalar")]
    NonCanonical {
        /// The field being read.
        field: &'static str,
    },
    /// A value is syntactically fine but outside what the format allows.
    #[error("field `{field}` is invalid: {reason}")]
    Invalid {
        /// The field being read.
        field: &'static str,
        /// What rule it broke.
        reason: &'static str,
    },
}

/// Creating or verifying a commitment or predicate proof failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The proof does not verify for this statement. Deliberately says nothing more.
    #[error("proof verification failed")]
    VerificationFailed,
    /// The proof or statement bytes could not be decoded.
    #[error("malformed proof encoding: {0}")]
    Malformed(#[from] DecodeError),
    /// The statement itself is ill-formed (caller misuse), e.g. an empty conjunction, a
    /// predicate naming a commitment that is not in the statement, or a range that cannot be
    /// represented.
    #[error("invalid statement: {0}")]
    InvalidStatement(&'static str),
    /// The prover's openings do not satisfy the statement, so no proof exists.
    #[error("the openings do not satisfy predicate {index} of the statement")]
    Unsatisfied {
        /// Index of the first unsatisfied predicate.
        index: usize,
    },
}

/// A signature did not verify, or a key was used in the wrong role.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature is not valid for this message and key.
    #[error("signature verification failed")]
    Invalid,
    /// The key's role is not the role this statement must be signed by.
    #[error("statement must be signed by a {expected} key, got a {found} key")]
    WrongRole {
        /// The role required.
        expected: crate::signing::Role,
        /// The role of the key presented.
        found: crate::signing::Role,
    },
    /// A key's bytes are not a valid Ed25519 public key.
    #[error("invalid public key encoding")]
    InvalidKey,
}

/// A Merkle log proof could not be produced or did not verify.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LogError {
    /// The proof does not verify against the given root(s). Deliberately opaque.
    #[error("log proof verification failed")]
    VerificationFailed,
    /// The request itself is out of range (e.g. a leaf index at or beyond the tree size, or a
    /// consistency proof from a larger tree to a smaller one).
    #[error("invalid log proof request: {0}")]
    InvalidRequest(&'static str),
    /// The hash store could not provide a hash the proof needs.
    #[error("hash store has no hash at level {level}, index {index}")]
    MissingHash {
        /// Level in the tree (0 = leaves).
        level: u8,
        /// Index of the subtree at that level.
        index: u64,
    },
    /// The proof bytes could not be decoded.
    #[error("malformed log proof: {0}")]
    Malformed(#[from] DecodeError),
}

/// A checkpoint (signed note) could not be parsed or verified.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The note text is not in the C2SP signed-note / checkpoint format; says which rule.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// No signature by the required key is present, or it does not verify.
    #[error("checkpoint is not validly signed by the log key")]
    BadLogSignature,
    /// Fewer valid witness cosignatures than the policy requires.
    #[error("checkpoint has {found} valid witness cosignature(s), {required} required")]
    NotEnoughCosignatures {
        /// Valid cosignatures found.
        found: usize,
        /// Cosignatures required.
        required: usize,
    },
}

/// A verdict or verdict receipt failed to verify.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VerdictError {
    /// The verdict's signature, evidence or log inclusion failed. Deliberately opaque.
    #[error("verdict verification failed")]
    VerificationFailed,
    /// The verdict bytes could not be decoded.
    #[error("malformed verdict: {0}")]
    Malformed(#[from] DecodeError),
    /// The checkpoint the receipt rests on is not acceptable.
    #[error("verdict checkpoint rejected: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The verdict is well-formed but not for what the verifier asked about.
    #[error("verdict does not answer the question asked: {0}")]
    Mismatch(&'static str),
}

impl From<ProofError> for VerdictError {
    fn from(e: ProofError) -> Self {
        match e {
            ProofError::Malformed(d) => VerdictError::Malformed(d),
            _ => VerdictError::VerificationFailed,
        }
    }
}

impl From<SignatureError> for VerdictError {
    fn from(_: SignatureError) -> Self {
        VerdictError::VerificationFailed
    }
}

impl From<LogError> for VerdictError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Malformed(d) => VerdictError::Malformed(d),
            _ => VerdictError::VerificationFailed,
        }
    }
}
