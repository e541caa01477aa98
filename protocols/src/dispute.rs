//! Disputes (异议) and pledges (信用承诺): what a subject signs about its own record.
//!
//! **Disputes**: a subject's signed objection to one log entry about it.
//!
//! The statement (kind `dispute/v1`, signed by the subject's registered key) names the subject,
//! the disputed entry by index **and leaf hash** (so it cannot be moved to another entry), the
//! reason, the day it was filed and a nonce. The service logs `DisputeFiled` with the statement's
//! hash and the day by which the holder must answer; the holder answers with `DisputeAnswered`
//! (upheld, or corrected by a new submission it names).
//!
//! **Pledges**: a subject's signed undertaking (kind `pledge/v1`) towards a holder authority;
//! the service logs `PledgeMade`, and the holder records a breach as the `commit.breaches`
//! attribute, which policies (`rongque`, `credit_grade`) read.

use crate::commitment::{decode_pseudonym, encode_pseudonym};
use crate::encoding::{Reader, Writer};
use crate::error::{DecodeError, SignatureError};
use crate::log::hash::Hash;
use crate::pseudonym::Pseudonym;
use crate::signing::{PublicKey, Role, Signable, Signature, SigningKey};
use sha3::{Digest, Sha3_256};

/// Longest reason text.
pub const MAX_REASON: usize = 1000;

/// A subject's objection to a log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispute {
    /// The subject.
    pub subject: Pseudonym,
    /// Index of the disputed entry.
    pub disputed_index: u64,
    /// RFC 9162 leaf hash of the disputed entry.
    pub disputed_leaf_hash: Hash,
    /// Why.
    pub reason: String,
    /// Day filed.
    pub filed_day: u32,
    /// Random.
    pub nonce: [u8; 16],
}

impl Dispute {
    fn encode(&self, w: &mut Writer) {
        encode_pseudonym(&self.subject, w);
        w.u64(self.disputed_index)
            .fixed(&self.disputed_leaf_hash)
            .str(&self.reason)
            .u32(self.filed_day)
            .fixed(&self.nonce);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let d = Dispute {
            subject: decode_pseudonym(r)?,
            disputed_index: r.u64("disputed index")?,
            disputed_leaf_hash: r.array("disputed leaf hash")?,
            reason: r.str("dispute reason", MAX_REASON)?.to_string(),
            filed_day: r.u32("filed day")?,
            nonce: r.array("dispute nonce")?,
        };
        if d.reason.trim().is_empty() {
            return Err(DecodeError::Invalid {
                field: "dispute reason",
                reason: "a dispute says why",
            });
        }
        Ok(d)
    }
}

impl Signable for Dispute {
    const KIND: &'static str = "dispute/v1";
    fn encode_body(&self, w: &mut Writer) {
        self.encode(w);
    }
}

/// A dispute signed by its subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedDispute {
    /// The statement.
    pub dispute: Dispute,
    /// The subject's signature.
    pub signature: Signature,
}

impl SignedDispute {
    /// Signs with the subject's key.
    pub fn sign(dispute: Dispute, subject_key: &SigningKey) -> Self {
        let signature = subject_key.sign(&dispute);
        SignedDispute { dispute, signature }
    }

    /// Checks the subject's signature (a `Subject` key).
    pub fn verify(&self, subject_key: &PublicKey) -> Result<(), SignatureError> {
        subject_key.verify(Role::Subject, &self.dispute, &self.signature)
    }

    /// SHA3-256 of the canonical encoding: what `DisputeFiled` records.
    pub fn hash(&self) -> Hash {
        Sha3_256::digest(self.to_bytes()).into()
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.dispute.encode(&mut w);
        self.signature.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes [`SignedDispute::to_bytes`] (untrusted input).
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let dispute = Dispute::decode(&mut r)?;
        let signature = Signature::decode(&mut r, "subject signature")?;
        r.finish()?;
        Ok(SignedDispute { dispute, signature })
    }
}

/// Longest pledge text.
pub const MAX_MATTER: usize = 500;

/// A credit pledge (信用承诺, 告知承诺): the subject undertakes `matter` towards `holder` until
/// `until_day`; a breach is recorded by that holder as an attribute (`commit.breaches`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pledge {
    /// The subject.
    pub subject: Pseudonym,
    /// The authority the pledge is made to.
    pub holder: crate::names::PartyId,
    /// What is pledged.
    pub matter: String,
    /// Day made.
    pub made_day: u32,
    /// Last day it binds.
    pub until_day: u32,
    /// Random.
    pub nonce: [u8; 16],
}

impl Pledge {
    fn encode(&self, w: &mut Writer) {
        encode_pseudonym(&self.subject, w);
        self.holder.encode(w);
        w.str(&self.matter)
            .u32(self.made_day)
            .u32(self.until_day)
            .fixed(&self.nonce);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let p = Pledge {
            subject: decode_pseudonym(r)?,
            holder: crate::names::PartyId::decode(r)?,
            matter: r.str("pledge matter", MAX_MATTER)?.to_string(),
            made_day: r.u32("pledge made day")?,
            until_day: r.u32("pledge until day")?,
            nonce: r.array("pledge nonce")?,
        };
        if p.matter.trim().is_empty() || p.until_day < p.made_day {
            return Err(DecodeError::Invalid {
                field: "pledge",
                reason: "a pledge says what it promises and ends after it is made",
            });
        }
        Ok(p)
    }
}

impl Signable for Pledge {
    const KIND: &'static str = "pledge/v1";
    fn encode_body(&self, w: &mut Writer) {
        self.encode(w);
    }
}

/// A pledge signed by its subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPledge {
    /// The statement.
    pub pledge: Pledge,
    /// The subject's signature.
    pub signature: Signature,
}

impl SignedPledge {
    /// Signs with the subject's key.
    pub fn sign(pledge: Pledge, subject_key: &SigningKey) -> Self {
        let signature = subject_key.sign(&pledge);
        SignedPledge { pledge, signature }
    }

    /// Checks the subject's signature (a `Subject` key).
    pub fn verify(&self, subject_key: &PublicKey) -> Result<(), SignatureError> {
        subject_key.verify(Role::Subject, &self.pledge, &self.signature)
    }

    /// SHA3-256 of the canonical encoding: what `PledgeMade` records.
    pub fn hash(&self) -> Hash {
        Sha3_256::digest(self.to_bytes()).into()
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.pledge.encode(&mut w);
        self.signature.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes [`SignedPledge::to_bytes`] (untrusted input).
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let pledge = Pledge::decode(&mut r)?;
        let signature = Signature::decode(&mut r, "subject signature")?;
        r.finish()?;
        Ok(SignedPledge { pledge, signature })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifiers::SubjectKind;

    #[test]
    fn round_trip_and_binding() {
        let key = SigningKey::generate(Role::Subject, &mut rand::thread_rng());
        let d = SignedDispute::sign(
            Dispute {
                subject: Pseudonym {
                    kind: SubjectKind::Enterprise,
                    bytes: [4; 32],
                },
                disputed_index: 17,
                disputed_leaf_hash: [9; 32],
                reason: "the listing names a company we merged into in 2024".into(),
                filed_day: 20780,
                nonce: [1; 16],
            },
            &key,
        );
        let back = SignedDispute::from_bytes(&d.to_bytes()).unwrap();
        assert_eq!(back, d);
        back.verify(&key.public()).unwrap();
        let mut moved = back.clone();
        moved.dispute.disputed_index = 18;
        assert!(moved.verify(&key.public()).is_err());
        let bytes = d.to_bytes();
        for n in 0..bytes.len() {
            assert!(SignedDispute::from_bytes(&bytes[..n]).is_err());
        }
    }
}
