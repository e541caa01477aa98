//! Holder keys learned from the log.
//!
//! A verifier pins only the log's key, the key authority's key and the witnesses (its
//! [`crate::verdict::TrustAnchors`]). The keys of holders — which come and go — are learned
//! from the log: each holder's `PartyRegistered` entry, shown with an inclusion proof under a
//! checkpoint the verifier's anchors accept. [`KeyEvidence`] carries those entries; receipts
//! and proof packages include the ones their commitments need, so a bank checks holder
//! signatures without asking anyone for keys.

use crate::encoding::{Reader, Writer};
use crate::error::{DecodeError, VerdictError};
use crate::log::checkpoint::Checkpoint;
use crate::log::entry::{LogEntry, LogLeaf, MAX_LEAF_LEN};
use crate::log::hash::{LogHasher, Sha3Log};
use crate::log::proof::InclusionProof;
use crate::question::HolderKeys;
use crate::signing::Role;

/// Most registrations one piece of key evidence carries.
pub const MAX_REGISTRATIONS: usize = 256;

/// One `PartyRegistered` leaf with its index and an inclusion proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Index of the leaf.
    pub index: u64,
    /// The leaf (a `PartyRegistered` entry).
    pub leaf: LogLeaf,
    /// Inclusion of the leaf in the tree of the checkpoint the evidence is checked against.
    pub inclusion: InclusionProof,
}

/// Registrations of the holders a receipt or package relies on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyEvidence {
    /// The registrations, one per holder.
    pub registrations: Vec<Registration>,
}

impl KeyEvidence {
    /// The holder keys this evidence proves are registered in the log whose (already
    /// verified) `checkpoint` is given: every entry must be a holder's `PartyRegistered` leaf
    /// included at its index in the checkpoint's tree. Fails on the first one that is not.
    pub fn holder_keys(&self, checkpoint: &Checkpoint) -> Result<HolderKeys, VerdictError> {
        let mut keys = HolderKeys::new();
        for r in &self.registrations {
            let LogEntry::PartyRegistered { party, key } = &r.leaf.entry else {
                return Err(VerdictError::Mismatch(
                    "key evidence holds an entry that is not a registration",
                ));
            };
            if key.role() != Role::Holder {
                return Err(VerdictError::Mismatch(
                    "key evidence registers a key that is not a holder's",
                ));
            }
            if r.inclusion.leaf_index != r.index || r.inclusion.tree_size != checkpoint.size {
                return Err(VerdictError::VerificationFailed);
            }
            let leaf_hash = Sha3Log::hash_leaf(&r.leaf.to_bytes());
            r.inclusion
                .verify::<Sha3Log>(&leaf_hash, &checkpoint.root)?;
            if keys.insert(party.clone(), *key).is_some_and(|k| k != *key) {
                return Err(VerdictError::Mismatch(
                    "key evidence registers one holder with two keys",
                ));
            }
        }
        Ok(keys)
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes [`KeyEvidence::to_bytes`] (untrusted input).
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let k = Self::decode(&mut r)?;
        r.finish()?;
        Ok(k)
    }

    /// Canonical encoding.
    pub fn encode(&self, w: &mut Writer) {
        w.count(self.registrations.len());
        for r in &self.registrations {
            w.u64(r.index);
            w.bytes(&r.leaf.to_bytes());
            r.inclusion.encode(w);
        }
    }

    /// Decodes [`KeyEvidence::encode`] (untrusted input).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.count("registrations", MAX_REGISTRATIONS)?;
        let mut registrations = Vec::with_capacity(n);
        for _ in 0..n {
            let index = r.u64("registration index")?;
            let leaf = LogLeaf::from_bytes(r.bytes("registration leaf", MAX_LEAF_LEN)?)?;
            let inclusion = InclusionProof::decode(r)?;
            registrations.push(Registration {
                index,
                leaf,
                inclusion,
            });
        }
        Ok(KeyEvidence { registrations })
    }
}
