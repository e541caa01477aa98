//! Paying for ingest once: the key authority verifies an upload (signature under the holder
//! key the log gives, proof of plaintext knowledge, expansion, clamping, compression) the first
//! time a decision reads it, and keeps the compressed blocks it obtained in its own store.
//! Later decisions re-check only what depends on the log — the entries about the upload, the
//! holder key now, the subject — against the kept signed submission, and evaluate on the kept
//! blocks. Nothing the service hands over later (a swapped upload under a logged hash) is read
//! again; a holder key other than the one an upload was verified under means verifying it
//! again.

use super::request::{LogView, Refusal};
use super::{KeyAuthority, Logged};
use crate::fhe::engine::StoredRecord;
use crate::fhe::SealedRecord;
use crate::protocols::log::hash::Hash;
use crate::protocols::names::PartyId;
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::signing::PublicKey;
use crate::store::{Batch, Table};
use std::collections::BTreeMap;

const INGESTED_PREFIX: &[u8] = b"ka/ingested/";

fn ingested_key(hash: &Hash) -> Vec<u8> {
    let mut k = INGESTED_PREFIX.to_vec();
    k.extend_from_slice(hash);
    k
}

/// What the key authority obtained from an upload the first time it verified it (signature under
/// `key`, proof of plaintext knowledge, expansion, clamping, compression): kept in its own store,
/// so later decisions read the compressed blocks instead of verifying and expanding again.
struct Verified {
    key: PublicKey,
    record: SealedRecord,
    stored: StoredRecord,
}

impl Verified {
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = crate::protocols::encoding::Writer::new();
        w.u8(1);
        self.key.encode(&mut w);
        w.bytes(&self.record.submission.to_bytes());
        w.bytes(&self.stored.bytes);
        w.into_bytes()
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        let mut r = crate::protocols::encoding::Reader::new(b);
        if r.u8("version").ok()? != 1 {
            return None;
        }
        let key = PublicKey::decode(&mut r, "holder key").ok()?;
        let submission = crate::protocols::sealed::SignedSealedSubmission::from_bytes(
            r.bytes("submission", 1 << 16).ok()?,
        )
        .ok()?;
        let bytes = r.bytes("stored", 1 << 24).ok()?.to_vec();
        r.finish().ok()?;
        Some(Verified {
            key,
            stored: StoredRecord {
                attributes: submission.submission.attributes.clone(),
                bytes,
            },
            record: SealedRecord {
                submission,
                list: Vec::new(),
            },
        })
    }
}

impl KeyAuthority {
    /// The compressed blocks of the upload logged as `hash`: verified once — fetched from the
    /// service, its signature checked under the holder key the log gives, its proof of
    /// plaintext knowledge verified, expanded, clamped and compressed — and kept; later
    /// decisions re-check only what depends on the log (the entries about the upload, the
    /// holder key now, the subject) against the kept signed submission. A holder key other than
    /// the one it was verified under means verifying it again.
    pub(super) fn verified(
        &self,
        view: &dyn LogView,
        logged: &Logged<'_>,
        holder_keys: &BTreeMap<PartyId, PublicKey>,
        subject: &Pseudonym,
        hash: &Hash,
    ) -> Result<StoredRecord, Refusal> {
        let check = |record: &SealedRecord| -> Result<PublicKey, Refusal> {
            let s = &record.submission.submission;
            let key = holder_keys
                .get(&s.holder)
                .ok_or_else(|| Refusal::UnknownHolder(s.holder.to_string()))?;
            if s.subject != *subject {
                return Err(Refusal::BadInput(format!(
                    "submission {} of `{}` is about another subject",
                    s.submission_id, s.holder
                )));
            }
            Ok(*key)
        };
        let kept = if self.ingest_once {
            self.store
                .get(Table::Meta, &ingested_key(hash))
                .map_err(|e| Refusal::Internal(e.to_string()))?
                .and_then(|b| Verified::from_bytes(&b))
        } else {
            None
        };
        if let Some(v) = kept {
            if v.record.submission.hash() == *hash {
                crate::party::replay::check_logged_upload(
                    logged.leaves,
                    logged.query,
                    hash,
                    &v.record,
                )
                .map_err(Refusal::WrongInputs)?;
                if check(&v.record)? == v.key {
                    return Ok(v.stored);
                }
            }
        }
        let record = self.fetch(view, logged, hash)?;
        let key = check(&record)?;
        let ingested = self
            .engine
            .ingest(&record, &key, &self.catalog)
            .map_err(|e| Refusal::BadInput(e.to_string()))?;
        let v = Verified {
            key,
            record: SealedRecord {
                submission: record.submission,
                list: Vec::new(),
            },
            stored: ingested.stored,
        };
        let mut b = Batch::new();
        if self.ingest_once {
            b.put(Table::Meta, ingested_key(hash), v.to_bytes());
        }
        if let Err(e) = self.store.commit(&b) {
            // Only a cache: the decision stands on what was just verified.
            tracing::warn!(error = %e, "the key authority could not keep a verified upload");
        }
        Ok(v.stored)
    }
}
