//! Consent tokens and proof packages: what a subject hands a bank.
//!
//! A [`Consent`] is the subject's signed permission (statement kind `consent/v1`, signed by the
//! subject's registered key) for one bank to ask one policy about it, for one purpose, within a
//! range of days. The bank presents the token with its query; the service checks it and logs its
//! hash in the `Query` entry, so an auditor can match every query about a person to a consent.
//!
//! The subject's proof for the proven path is a [`crate::package::ProofPackage`].

use crate::commitment::{decode_pseudonym, encode_pseudonym};
use crate::encoding::{Reader, Writer};
use crate::error::{DecodeError, SignatureError};
use crate::log::hash::Hash;
use crate::names::PartyId;
use crate::pseudonym::Pseudonym;
use crate::signing::{PublicKey, Role, Signable, Signature, SigningKey};
use sha3::{Digest, Sha3_256};

/// Longest purpose text.
pub const MAX_PURPOSE: usize = 200;

/// A subject's permission for one bank to ask one policy, for a purpose, on days `from..=until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    /// The subject giving consent.
    pub subject: Pseudonym,
    /// The bank allowed to ask.
    pub bank: PartyId,
    /// The policy it may ask about.
    pub policy_hash: Hash,
    /// The declared purpose (must equal the query's).
    pub purpose: String,
    /// First as-of day covered.
    pub from_day: u32,
    /// Last as-of day covered.
    pub until_day: u32,
    /// Random; makes every token distinct.
    pub nonce: [u8; 16],
}

impl Consent {
    fn encode(&self, w: &mut Writer) {
        encode_pseudonym(&self.subject, w);
        self.bank.encode(w);
        w.fixed(&self.policy_hash)
            .str(&self.purpose)
            .u32(self.from_day)
            .u32(self.until_day)
            .fixed(&self.nonce);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let c = Consent {
            subject: decode_pseudonym(r)?,
            bank: PartyId::decode(r)?,
            policy_hash: r.array("consent policy hash")?,
            purpose: r.str("consent purpose", MAX_PURPOSE)?.to_string(),
            from_day: r.u32("consent from day")?,
            until_day: r.u32("consent until day")?,
            nonce: r.array("consent nonce")?,
        };
        if c.until_day < c.from_day {
            return Err(DecodeError::Invalid {
                field: "consent until day",
                reason: "ends before it starts",
            });
        }
        Ok(c)
    }

    /// Whether this consent covers a query by `bank` about `policy_hash` for `purpose` on `day`.
    pub fn covers(&self, bank: &PartyId, policy_hash: &Hash, purpose: &str, day: u32) -> bool {
        self.bank == *bank
            && self.policy_hash == *policy_hash
            && self.purpose == purpose
            && (self.from_day..=self.until_day).contains(&day)
    }
}

impl Signable for Consent {
    const KIND: &'static str = "consent/v1";
    fn encode_body(&self, w: &mut Writer) {
        self.encode(w);
    }
}

/// A consent signed by the subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedConsent {
    /// The statement.
    pub consent: Consent,
    /// The subject's signature.
    pub signature: Signature,
}

impl SignedConsent {
    /// Signs with the subject's key.
    pub fn sign(consent: Consent, subject_key: &SigningKey) -> Self {
        let signature = subject_key.sign(&consent);
        SignedConsent { consent, signature }
    }

    /// Checks the subject's signature (a `Subject` key).
    pub fn verify(&self, subject_key: &PublicKey) -> Result<(), SignatureError> {
        subject_key.verify(Role::Subject, &self.consent, &self.signature)
    }

    /// SHA3-256 of the canonical encoding: what the `Query` log entry records.
    pub fn hash(&self) -> Hash {
        Sha3_256::digest(self.to_bytes()).into()
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.consent.encode(&mut w);
        self.signature.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes [`SignedConsent::to_bytes`] (untrusted input).
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let consent = Consent::decode(&mut r)?;
        let signature = Signature::decode(&mut r, "subject signature")?;
        r.finish()?;
        Ok(SignedConsent { consent, signature })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifiers::SubjectKind;

    #[test]
    fn consent_round_trip_verify_and_cover() {
        let key = SigningKey::generate(Role::Subject, &mut rand::thread_rng());
        let bank = PartyId::new("bank.icbc").unwrap();
        let c = Consent {
            subject: Pseudonym {
                kind: SubjectKind::Person,
                bytes: [3; 32],
            },
            bank: bank.clone(),
            policy_hash: [1; 32],
            purpose: "loan application".into(),
            from_day: 100,
            until_day: 130,
            nonce: [5; 16],
        };
        let s = SignedConsent::sign(c, &key);
        let back = SignedConsent::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
        back.verify(&key.public()).unwrap();
        assert!(s.consent.covers(&bank, &[1; 32], "loan application", 100));
        assert!(s.consent.covers(&bank, &[1; 32], "loan application", 130));
        assert!(!s.consent.covers(&bank, &[1; 32], "loan application", 131));
        assert!(!s.consent.covers(&bank, &[2; 32], "loan application", 110));
        assert!(!s.consent.covers(&bank, &[1; 32], "marketing", 110));
        let other = PartyId::new("bank.other").unwrap();
        assert!(!s.consent.covers(&other, &[1; 32], "loan application", 110));
        let mut t = back.clone();
        t.consent.until_day = 200;
        assert!(t.verify(&key.public()).is_err());
        // A holder key cannot sign consents.
        let holder = SigningKey::generate(Role::Holder, &mut rand::thread_rng());
        let forged = SignedConsent::sign(s.consent.clone(), &holder);
        assert!(forged.verify(&holder.public()).is_err());
        // Truncations never panic and never decode.
        let bytes = s.to_bytes();
        for n in 0..bytes.len() {
            assert!(SignedConsent::from_bytes(&bytes[..n]).is_err());
        }
    }
}
