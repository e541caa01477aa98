//! Paying for ingest once: the key authority verifies each sealed upload — signature under the
//! holder key the log gives, proof of plaintext knowledge, expansion, clamping, compression —
//! when it first appears in the log it follows (every upload logged since its last decision, at
//! the start of the next one, whichever subject it is about), and keeps the compressed blocks it
//! obtained in its own store. Decisions re-check only what depends on the log — the entries about
//! the upload, the holder key now, the subject — against the kept signed submission, and evaluate
//! on the kept blocks. Nothing the service hands over later (a swapped upload under a logged
//! hash) is read again.
//!
//! Verifying at first sight rather than at first use keeps a decision's time independent of
//! whether anyone asked about its subject before: the uploads verified at the start of a decision
//! are those logged since the previous one, about anyone, which the sealed log leaves show every
//! party anyway. A kept upload counts only under the key, catalogue entries and engine it was
//! verified with ([`fingerprint`]); anything else means verifying it again.

use super::request::{LogView, Refusal};
use super::{KeyAuthority, Logged};
use crate::fhe::engine::{sha3, StoredRecord};
use crate::fhe::SealedRecord;
use crate::protocols::log::entry::{EvaluationPath, LogEntry, LogLeaf};
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

/// What a kept upload's verification depended on besides the upload: the holder key, each
/// attribute's catalogue entry (owner and maximum: ownership is checked and values are clamped
/// to it) and the engine (its replay self-test digest names its keys and parameters).
fn fingerprint(ka: &KeyAuthority, key: &PublicKey, record: &SealedRecord) -> Hash {
    let mut w = crate::protocols::encoding::Writer::new();
    w.fixed(b"credence/v1/ka-kept-upload\0");
    key.encode(&mut w);
    w.fixed(&ka.engine.public().selftest.digest);
    for a in &record.submission.submission.attributes {
        w.str(a.as_str());
        match ka.catalog.get(a.as_str()) {
            Ok(entry) => w.str(&entry.holder).u64(entry.max),
            Err(_) => w.str("").u64(0),
        };
    }
    sha3(w.as_slice())
}

/// What the key authority obtained from an upload when it verified it: kept in its own store,
/// so decisions read the compressed blocks instead of verifying and expanding again.
struct Verified {
    key: PublicKey,
    fingerprint: Hash,
    record: SealedRecord,
    stored: StoredRecord,
}

impl Verified {
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = crate::protocols::encoding::Writer::new();
        w.u8(2);
        self.key.encode(&mut w);
        w.fixed(&self.fingerprint);
        w.bytes(&self.record.submission.to_bytes());
        w.bytes(&self.stored.bytes);
        w.into_bytes()
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        let mut r = crate::protocols::encoding::Reader::new(b);
        if r.u8("version").ok()? != 2 {
            return None;
        }
        let key = PublicKey::decode(&mut r, "holder key").ok()?;
        let fingerprint = r.array("fingerprint").ok()?;
        let submission = crate::protocols::sealed::SignedSealedSubmission::from_bytes(
            r.bytes("submission", 1 << 16).ok()?,
        )
        .ok()?;
        let bytes = r.bytes("stored", 1 << 24).ok()?.to_vec();
        r.finish().ok()?;
        Some(Verified {
            key,
            fingerprint,
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
    /// The kept verification of the upload logged as `hash`, if there is one and it still
    /// counts: its submission hashes to `hash` and it was verified under `key` (the holder key
    /// the log gives now), the catalogue entries and the engine this key authority has now.
    fn kept(
        &self,
        hash: &Hash,
        key_now: impl Fn(&PartyId) -> Option<PublicKey>,
    ) -> Option<Verified> {
        let v = self.store.get(Table::Meta, &ingested_key(hash)).ok()??;
        let v = Verified::from_bytes(&v)?;
        let key = key_now(&v.record.submission.submission.holder)?;
        (v.record.submission.hash() == *hash
            && v.key == key
            && v.fingerprint == fingerprint(self, &key, &v.record))
        .then_some(v)
    }

    /// Fetches, checks against the log (and, for a decision, against its `subject`) and
    /// verifies the upload logged as `hash`, and keeps what it obtained.
    fn verify_upload(
        &self,
        view: &dyn LogView,
        logged: &Logged<'_>,
        holder_keys: &BTreeMap<PartyId, PublicKey>,
        subject: Option<&Pseudonym>,
        hash: &Hash,
    ) -> Result<Verified, Refusal> {
        // Verified when first logged (no subject asked about): its blocks go to the cache;
        // verified while deciding: never (an answer adds no blocks).
        let warm = subject.is_none();
        let record = self.fetch(view, logged, hash)?;
        let s = &record.submission.submission;
        let key = *holder_keys
            .get(&s.holder)
            .ok_or_else(|| Refusal::UnknownHolder(s.holder.to_string()))?;
        if let Some(subject) = subject {
            check_subject(&record, subject)?;
        }
        let ingested = if warm {
            self.engine.ingest(&record, &key, &self.catalog)
        } else {
            self.engine.ingest_cold(&record, &key, &self.catalog)
        }
        .map_err(|e| Refusal::BadInput(e.to_string()))?;
        let record = SealedRecord {
            submission: record.submission,
            list: Vec::new(),
        };
        let v = Verified {
            key,
            fingerprint: fingerprint(self, &key, &record),
            record,
            stored: ingested.stored,
        };
        if self.ingest_once {
            let mut b = Batch::new();
            b.put(Table::Meta, ingested_key(hash), v.to_bytes());
            if let Err(e) = self.store.commit(&b) {
                // Only a cache: what was just verified stands.
                tracing::warn!(error = %e, "the key authority could not keep a verified upload");
            }
        }
        Ok(v)
    }

    /// Verifies and keeps every sealed upload logged in `leaves[from..]` that it has not kept:
    /// run at the start of a decision, after following the log. An upload that does not verify
    /// is left to the decision that needs it, which refuses it.
    pub(super) fn verify_new_uploads(
        &self,
        view: &dyn LogView,
        leaves: &[Option<LogLeaf>],
        from: u64,
    ) {
        let new_upload = |l: &Option<LogLeaf>| {
            matches!(
                l.as_ref().map(|l| &l.entry),
                Some(LogEntry::AttributeSubmitted {
                    path: EvaluationPath::Sealed,
                    ..
                })
            )
        };
        // Nothing logged since the last decision: no pass over the whole log for holder keys.
        if !self.ingest_once || !leaves.iter().skip(from as usize).any(new_upload) {
            return;
        }
        let holder_keys = crate::protocols::keys::logged_holder_keys(leaves, &self.anchors);
        let logged = Logged {
            leaves,
            query: leaves.len() as u64,
        };
        let mut seen = std::collections::BTreeSet::new();
        for l in leaves.iter().skip(from as usize).flatten() {
            let LogEntry::AttributeSubmitted {
                path: EvaluationPath::Sealed,
                content_hash,
                ..
            } = &l.entry
            else {
                continue;
            };
            if !seen.insert(*content_hash)
                || self
                    .kept(content_hash, |h| holder_keys.get(h).copied())
                    .is_some()
            {
                continue;
            }
            if let Err(e) = self.verify_upload(view, &logged, &holder_keys, None, content_hash) {
                tracing::warn!(upload = %hex::encode(content_hash), reason = %e, "a logged upload does not verify");
            }
        }
    }

    /// The compressed blocks of the upload logged as `hash`, for a decision about `subject`:
    /// from what was kept when it was verified, re-checked against the log, or — where nothing
    /// counts as kept — fetched and verified now.
    pub(super) fn verified(
        &self,
        view: &dyn LogView,
        logged: &Logged<'_>,
        holder_keys: &BTreeMap<PartyId, PublicKey>,
        subject: &Pseudonym,
        hash: &Hash,
    ) -> Result<StoredRecord, Refusal> {
        let kept = if self.ingest_once {
            self.kept(hash, |h| holder_keys.get(h).copied())
        } else {
            None
        };
        let v = match kept {
            Some(v) => {
                crate::party::replay::check_logged_upload(
                    logged.leaves,
                    logged.query,
                    hash,
                    &v.record,
                )
                .map_err(Refusal::WrongInputs)?;
                check_subject(&v.record, subject)?;
                v
            }
            None => self.verify_upload(view, logged, holder_keys, Some(subject), hash)?,
        };
        Ok(v.stored)
    }
}

/// A decision's input must be about the decision's subject.
fn check_subject(record: &SealedRecord, subject: &Pseudonym) -> Result<(), Refusal> {
    let s = &record.submission.submission;
    if s.subject != *subject {
        return Err(Refusal::BadInput(format!(
            "submission {} of `{}` is about another subject",
            s.submission_id, s.holder
        )));
    }
    Ok(())
}
