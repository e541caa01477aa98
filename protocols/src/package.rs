//! Proof packages: what a subject hands a bank on the proven path.
//!
//! A [`ProofPackage`] carries the aggregated predicate proof, the holder-signed commitments it
//! rests on, and the holders' registrations in the log under a signed checkpoint (so that it
//! can be checked offline). It carries **no statement**: whoever checks it derives the
//! statement from its own [`Question`] ([`crate::question`]). The package's
//! [`Claim`] — what the subject says it proves — only sharpens the error message when it is
//! not what the verifier asked; it never decides what is checked.

use crate::commitment::{decode_pseudonym, encode_pseudonym, SignedAttributeCommitment};
use crate::encoding::{Reader, Writer};
use crate::error::{DecodeError, VerdictError};
use crate::keys::KeyEvidence;
use crate::log::checkpoint::SignedCheckpoint;
use crate::log::hash::Hash;
use crate::pseudonym::Pseudonym;
use crate::question::{verify_proof, HolderKeys, ProvenAnswer, Question};
use crate::verdict::TrustAnchors;

/// Package format version.
pub const PACKAGE_VERSION: u8 = 2;
/// Largest encoded proof package.
pub const MAX_PACKAGE_LEN: usize = 512 << 10;
/// Largest encoded predicate proof.
pub const MAX_PROOF_LEN: usize = 64 << 10;

/// What a package says it proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The subject.
    pub subject: Pseudonym,
    /// The policy hash.
    pub policy_hash: Hash,
    /// The day.
    pub as_of_day: u32,
}

/// A subject's proof for the proven path, as handed to a bank.
#[derive(Clone, Debug)]
pub struct ProofPackage {
    /// What the subject says it proves (diagnostics only).
    pub claim: Claim,
    /// The aggregated predicate proof ([`crate::predicate::PredicateProof::to_bytes`]).
    pub proof: Vec<u8>,
    /// One holder-signed commitment per input of the policy's proof, in the policy's order.
    pub inputs: Vec<SignedAttributeCommitment>,
    /// A checkpoint of the log the holders are registered in.
    pub checkpoint: SignedCheckpoint,
    /// The holders' registrations under `checkpoint`.
    pub keys: KeyEvidence,
}

impl ProofPackage {
    /// Verifies the package for the verifier's own `question`: the checkpoint is signed by the
    /// pinned log key and cosigned by the anchors' witness quorum, the holder keys are the
    /// ones registered under it, and [`verify_proof`] accepts.
    pub fn verify(
        &self,
        anchors: &TrustAnchors,
        question: &Question<'_>,
    ) -> Result<ProvenAnswer, VerdictError> {
        let checkpoint = anchors.verify_checkpoint(&self.checkpoint)?;
        let keys = self.keys.holder_keys(checkpoint, anchors)?;
        self.verify_with_keys(question, &keys)
    }

    /// Verifies the package for `question` with holder keys the verifier already knows (the
    /// service, from its own registry).
    pub fn verify_with_keys(
        &self,
        question: &Question<'_>,
        keys: &HolderKeys,
    ) -> Result<ProvenAnswer, VerdictError> {
        // The claim can only explain a refusal; the statement is derived from `question`.
        if self.claim.subject != question.subject {
            return Err(VerdictError::Mismatch(
                "the package proves something about another subject",
            ));
        }
        if self.claim.policy_hash != question.policy.hash() {
            return Err(VerdictError::Mismatch(
                "the package proves another policy (or another version of it)",
            ));
        }
        if self.claim.as_of_day != question.as_of_day {
            return Err(VerdictError::Mismatch(
                "the package proves another day than the one asked about",
            ));
        }
        verify_proof(question, keys, &self.proof, &self.inputs)
    }

    /// Canonical encoding: `u8(2) ‖ claim ‖ bytes(proof) ‖ count ‖ signed commitments ‖
    /// str(checkpoint) ‖ key evidence`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(PACKAGE_VERSION);
        encode_pseudonym(&self.claim.subject, &mut w);
        w.fixed(&self.claim.policy_hash).u32(self.claim.as_of_day);
        w.bytes(&self.proof);
        w.count(self.inputs.len());
        for i in &self.inputs {
            i.encode(&mut w);
        }
        w.str(&self.checkpoint.to_text());
        self.keys.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes [`ProofPackage::to_bytes`] (untrusted input). Decoding checks shapes only.
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() > MAX_PACKAGE_LEN {
            return Err(DecodeError::TooLong {
                field: "proof package",
                len: b.len(),
                max: MAX_PACKAGE_LEN,
            });
        }
        let mut r = Reader::new(b);
        let v = r.u8("package version")?;
        if v != PACKAGE_VERSION {
            return Err(DecodeError::UnknownTag {
                field: "package version",
                tag: v,
            });
        }
        let claim = Claim {
            subject: decode_pseudonym(&mut r)?,
            policy_hash: r.array("claimed policy hash")?,
            as_of_day: r.u32("claimed day")?,
        };
        let proof = r.bytes("package proof", MAX_PROOF_LEN)?.to_vec();
        let n = r.count("package inputs", crate::predicate::MAX_INPUTS)?;
        let mut inputs = Vec::with_capacity(n);
        for _ in 0..n {
            inputs.push(SignedAttributeCommitment::decode(&mut r)?);
        }
        let text = r.str("package checkpoint", crate::log::checkpoint::MAX_NOTE_LEN)?;
        let checkpoint = SignedCheckpoint::parse(text).map_err(|_| DecodeError::Invalid {
            field: "package checkpoint",
            reason: "not a signed checkpoint note",
        })?;
        let keys = KeyEvidence::decode(&mut r)?;
        r.finish()?;
        Ok(ProofPackage {
            claim,
            proof,
            inputs,
            checkpoint,
            keys,
        })
    }
}
