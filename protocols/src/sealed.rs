//! Sealed-path submissions: what a holder signs when it uploads encrypted attributes.
//!
//! The holder encrypts a record's values into one proven compact ciphertext list (TFHE public-key
//! encryption with a zero-knowledge proof of plaintext knowledge). The proof is bound to
//! [`SealedSubmission::metadata`] — holder, subject pseudonym, submission id and attribute ids —
//! so a list cannot be replayed under another holder, subject or attribute. The holder then signs
//! the submission, which carries the SHA3-256 of the list bytes as uploaded
//! (statement kind `sealed-submission/v1`). This crate never parses the list itself (no tfhe
//! here); the service and the key authority do.

use crate::commitment::{decode_pseudonym, encode_pseudonym};
use crate::encoding::{Reader, Writer};
use crate::error::{DecodeError, SignatureError};
use crate::log::hash::Hash;
use crate::names::{AttributeId, PartyId};
use crate::pseudonym::Pseudonym;
use crate::signing::{PublicKey, Role, Signable, Signature, SigningKey};
use sha3::{Digest, Sha3_256};

/// Domain separator of the metadata bound into a list's proof of plaintext knowledge.
pub const SEALED_METADATA_DOMAIN: &[u8] = b"credence/v1/sealed-metadata\0";

/// Most attributes one sealed submission may carry.
pub const MAX_SEALED_ATTRIBUTES: usize = 64;

/// A holder's sealed submission: which values of which subject a ciphertext list carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSubmission {
    /// The holder.
    pub holder: PartyId,
    /// The subject.
    pub subject: Pseudonym,
    /// The holder's submission id (unique per holder).
    pub submission_id: u64,
    /// The attributes, in list order.
    pub attributes: Vec<AttributeId>,
    /// SHA3-256 of the proven compact ciphertext list, as uploaded.
    pub list_hash: Hash,
}

impl SealedSubmission {
    /// The bytes bound into the list's proof: everything but the list hash (which depends on
    /// the proof), under [`SEALED_METADATA_DOMAIN`].
    pub fn metadata(
        holder: &PartyId,
        subject: &Pseudonym,
        submission_id: u64,
        attributes: &[AttributeId],
    ) -> Vec<u8> {
        let mut w = Writer::new();
        w.fixed(SEALED_METADATA_DOMAIN);
        holder.encode(&mut w);
        encode_pseudonym(subject, &mut w);
        w.u64(submission_id);
        w.count(attributes.len());
        for a in attributes {
            a.encode(&mut w);
        }
        w.into_bytes()
    }

    /// This submission's proof metadata.
    pub fn proof_metadata(&self) -> Vec<u8> {
        Self::metadata(
            &self.holder,
            &self.subject,
            self.submission_id,
            &self.attributes,
        )
    }

    /// SHA3-256 of list bytes.
    pub fn hash_list(list: &[u8]) -> Hash {
        Sha3_256::digest(list).into()
    }

    fn encode(&self, w: &mut Writer) {
        self.holder.encode(w);
        encode_pseudonym(&self.subject, w);
        w.u64(self.submission_id);
        w.count(self.attributes.len());
        for a in &self.attributes {
            a.encode(w);
        }
        w.fixed(&self.list_hash);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let holder = PartyId::decode(r)?;
        let subject = decode_pseudonym(r)?;
        let submission_id = r.u64("submission id")?;
        let n = r.count("attribute count", MAX_SEALED_ATTRIBUTES)?;
        if n == 0 {
            return Err(DecodeError::Invalid {
                field: "attribute count",
                reason: "a submission carries at least one attribute",
            });
        }
        let mut attributes = Vec::with_capacity(n);
        for _ in 0..n {
            let a = AttributeId::decode(r)?;
            if attributes.contains(&a) {
                return Err(DecodeError::Invalid {
                    field: "attributes",
                    reason: "an attribute appears twice",
                });
            }
            attributes.push(a);
        }
        Ok(SealedSubmission {
            holder,
            subject,
            submission_id,
            attributes,
            list_hash: r.array("list hash")?,
        })
    }
}

impl Signable for SealedSubmission {
    const KIND: &'static str = "sealed-submission/v1";
    fn encode_body(&self, w: &mut Writer) {
        self.encode(w);
    }
}

/// A sealed submission signed by its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedSealedSubmission {
    /// The statement.
    pub submission: SealedSubmission,
    /// The holder's signature.
    pub signature: Signature,
}

impl SignedSealedSubmission {
    /// Signs with the holder's key.
    pub fn sign(submission: SealedSubmission, holder_key: &SigningKey) -> Self {
        let signature = holder_key.sign(&submission);
        SignedSealedSubmission {
            submission,
            signature,
        }
    }

    /// Checks the holder's signature (a `Holder` key).
    pub fn verify(&self, holder_key: &PublicKey) -> Result<(), SignatureError> {
        holder_key.verify(Role::Holder, &self.submission, &self.signature)
    }

    /// SHA3-256 of the canonical encoding: how the log and evaluations refer to it.
    pub fn hash(&self) -> Hash {
        Sha3_256::digest(self.to_bytes()).into()
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.submission.encode(&mut w);
        self.signature.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes [`SignedSealedSubmission::to_bytes`] (untrusted input).
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let submission = SealedSubmission::decode(&mut r)?;
        let signature = Signature::decode(&mut r, "holder signature")?;
        r.finish()?;
        Ok(SignedSealedSubmission {
            submission,
            signature,
        })
    }
}

/// Largest ciphertext list an upload may carry (a 16-value proven list is ≈ 20 KB).
pub const MAX_UPLOAD_LIST: usize = 256 << 10;

/// What a holder uploads on the sealed path (`POST /v1/holder/sealed`, binary body):
/// `bytes(signed submission) ‖ bytes(list)` in the protocol encoding. The list is the
/// safe-serialized TFHE proven compact list; this codec frames it and never parses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedUpload {
    /// The holder-signed submission (it carries the SHA3-256 of `list`).
    pub submission: SignedSealedSubmission,
    /// The serialized proven compact ciphertext list.
    pub list: Vec<u8>,
}

impl SealedUpload {
    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(&self.submission.to_bytes());
        w.bytes(&self.list);
        w.into_bytes()
    }

    /// Decodes [`SealedUpload::to_bytes`] (untrusted input). Checks the framing, the
    /// submission's encoding and that the list is the one the submission signs (its hash);
    /// the signature and the list's contents are checked by whoever ingests it.
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let submission = SignedSealedSubmission::from_bytes(r.bytes("submission", 1 << 16)?)?;
        let list = r.bytes("list", MAX_UPLOAD_LIST)?.to_vec();
        r.finish()?;
        if SealedSubmission::hash_list(&list) != submission.submission.list_hash {
            return Err(DecodeError::Invalid {
                field: "list",
                reason: "its SHA3-256 differs from the list hash the submission signs",
            });
        }
        Ok(SealedUpload { submission, list })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifiers::SubjectKind;

    fn sample() -> (SignedSealedSubmission, SigningKey) {
        let key = SigningKey::generate(Role::Holder, &mut rand::thread_rng());
        let s = SealedSubmission {
            holder: PartyId::new("tax").unwrap(),
            subject: Pseudonym {
                kind: SubjectKind::Enterprise,
                bytes: [7; 32],
            },
            submission_id: 42,
            attributes: vec![AttributeId::new("tax.credit_score").unwrap()],
            list_hash: [9; 32],
        };
        (SignedSealedSubmission::sign(s, &key), key)
    }

    #[test]
    fn round_trip_and_verify() {
        let (s, key) = sample();
        let back = SignedSealedSubmission::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
        back.verify(&key.public()).unwrap();
        let mut other = back.clone();
        other.submission.submission_id = 43;
        assert!(other.verify(&key.public()).is_err());
    }

    #[test]
    fn metadata_binds_every_field() {
        let (s, _) = sample();
        let m = s.submission.proof_metadata();
        assert!(m.starts_with(SEALED_METADATA_DOMAIN));
        let mut t = s.submission.clone();
        t.submission_id += 1;
        assert_ne!(t.proof_metadata(), m);
        let mut t = s.submission.clone();
        t.subject.bytes[0] ^= 1;
        assert_ne!(t.proof_metadata(), m);
        let mut t = s.submission.clone();
        t.attributes = vec![AttributeId::new("tax.major_violation").unwrap()];
        assert_ne!(t.proof_metadata(), m);
        let mut t = s.submission;
        t.holder = PartyId::new("court").unwrap();
        assert_ne!(t.proof_metadata(), m);
    }
}
