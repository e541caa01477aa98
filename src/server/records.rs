//! The store schema: every key layout and row codec of the service in one place.

use crate::circuits::policy::Policy;
use crate::fhe::engine::StoredRecord;
use crate::fhe::SealedRecord;
use crate::protocols::commitment::SignedAttributeCommitment;
use crate::protocols::encoding::{Reader, Writer};
use crate::protocols::identifiers::SubjectKind;
use crate::protocols::log::hash::Hash;
use crate::protocols::names::PartyId;
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::sealed::SignedSealedSubmission;
use crate::protocols::verdict::SignedVerdict;
use crate::store::{Batch, Table};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn policy_key(name: &str) -> Vec<u8> {
    format!("policy/{name}").into_bytes()
}

pub(crate) fn pseudonym_bytes(p: &Pseudonym) -> Vec<u8> {
    let mut v = vec![match p.kind {
        SubjectKind::Enterprise => 1u8,
        SubjectKind::Person => 2,
    }];
    v.extend_from_slice(&p.bytes);
    v
}

pub(crate) fn pseudonym_from_bytes(b: &[u8]) -> Option<Pseudonym> {
    let kind = match b.first()? {
        1 => SubjectKind::Enterprise,
        2 => SubjectKind::Person,
        _ => return None,
    };
    Some(Pseudonym {
        kind,
        bytes: b.get(1..33)?.try_into().ok()?,
    })
}

/// Index key of the latest sealed record carrying an attribute of a subject (one per
/// (subject, attribute): a holder's later record of another attribute leaves it alone).
pub(crate) fn sealed_index_key(subject: &Pseudonym, attribute: &str) -> Vec<u8> {
    let mut k = pseudonym_bytes(subject);
    k.push(b'a');
    k.extend_from_slice(attribute.as_bytes());
    k
}

/// Index key of the latest commitment to an attribute of a subject.
pub(crate) fn committed_index_key(subject: &Pseudonym, attribute: &str) -> Vec<u8> {
    let mut k = pseudonym_bytes(subject);
    k.push(b'c');
    k.extend_from_slice(attribute.as_bytes());
    k
}

/// Key of a submission: holder ‖ 0 ‖ submission id.
pub(crate) fn submission_key(holder: &PartyId, id: u64) -> Vec<u8> {
    let mut k = holder.as_str().as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Key of a submission's content hash → submission key (auditors fetch inputs by hash).
pub(crate) fn content_hash_key(hash: &Hash) -> Vec<u8> {
    let mut k = b"content/".to_vec();
    k.extend_from_slice(hash);
    k
}

/// Key of a verdict's bank (who may read the verdict besides its subject and auditors).
pub(crate) fn verdict_bank_key(hash: &Hash) -> Vec<u8> {
    let mut k = b"verdict-bank/".to_vec();
    k.extend_from_slice(hash);
    k
}

pub(crate) fn verdict_index_key(hash: &Hash) -> Vec<u8> {
    let mut k = b"verdict-index/".to_vec();
    k.extend_from_slice(hash);
    k
}

/// Stores a signed verdict, to whom it was issued and the log index of its `Verdict` entry,
/// into `batch`.
pub(crate) fn store_verdict(
    batch: &mut Batch,
    verdict: &SignedVerdict,
    bank: &PartyId,
    index: u64,
) {
    batch.insert(Table::Verdicts, verdict.hash().to_vec(), verdict.to_bytes());
    batch.put(
        Table::Meta,
        verdict_bank_key(&verdict.hash()),
        bank.as_str().as_bytes().to_vec(),
    );
    batch.put(
        Table::Meta,
        verdict_index_key(&verdict.hash()),
        index.to_be_bytes().to_vec(),
    );
}

/// Key of a party's registration → the log index of its `PartyRegistered` entry.
pub(crate) fn registration_key(party: &PartyId) -> Vec<u8> {
    let mut k = b"registration/".to_vec();
    k.extend_from_slice(party.as_str().as_bytes());
    k
}

/// Records that log entry `index` concerns `subject` (the subject's query history).
pub(crate) fn index_for_subject(batch: &mut Batch, subject: &Pseudonym, index: u64) {
    let mut k = b"q/".to_vec();
    k.extend_from_slice(&pseudonym_bytes(subject));
    k.extend_from_slice(&index.to_be_bytes());
    batch.put(Table::Subjects, k, Vec::new());
}

/// Which of the policy's attributes had records, which took defaults, which required ones
/// were missing.
pub(crate) fn coverage_of(
    policy: &Policy,
    coverage: &[crate::protocols::names::AttributeId],
) -> crate::server::api::Coverage {
    let (present, defaults, missing) = policy.coverage_split(coverage);
    let names = |v: Vec<&str>| v.into_iter().map(str::to_string).collect();
    crate::server::api::Coverage {
        records: names(present),
        defaults: names(defaults),
        missing_required: names(missing),
    }
}

/// Stored form of a sealed submission: the holder's upload, what the engine keeps, and the
/// log index of its first entry (tag 3).
pub(crate) fn encode_sealed(
    record: &SealedRecord,
    stored: &StoredRecord,
    log_index: u64,
) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(3);
    w.bytes(&record.submission.to_bytes());
    w.bytes(&record.list);
    w.bytes(&stored.bytes);
    w.u64(log_index);
    w.into_bytes()
}

pub(crate) fn decode_sealed(v: &[u8]) -> Option<(SealedRecord, StoredRecord, u64)> {
    let mut r = Reader::new(v);
    if r.u8("kind").ok()? != 3 {
        return None;
    }
    let submission =
        SignedSealedSubmission::from_bytes(r.bytes("submission", 1 << 16).ok()?).ok()?;
    let list = r.bytes("list", 1 << 22).ok()?.to_vec();
    let stored = r.bytes("stored", 1 << 22).ok()?.to_vec();
    let index = r.u64("log index").ok()?;
    r.finish().ok()?;
    Some((
        SealedRecord {
            submission: submission.clone(),
            list,
        },
        StoredRecord {
            attributes: submission.submission.attributes.clone(),
            bytes: stored,
        },
        index,
    ))
}

/// Most commitments in one batch.
pub const MAX_COMMITTED_BATCH: usize = 256;

/// Stored form of a committed submission: tag 2 ‖ bytes(signed commitment) ‖ u64(log index).
pub(crate) fn encode_committed(signed: &SignedAttributeCommitment, log_index: u64) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(2);
    w.bytes(&signed.to_bytes());
    w.u64(log_index);
    w.into_bytes()
}

/// Decodes [`encode_committed`]; `None` for other kinds of submission.
pub(crate) fn decode_committed(v: &[u8]) -> Option<(SignedAttributeCommitment, u64)> {
    let mut r = Reader::new(v);
    if r.u8("kind").ok()? != 2 {
        return None;
    }
    let signed =
        SignedAttributeCommitment::from_bytes(r.bytes("commitment", 1 << 16).ok()?).ok()?;
    let idx = r.u64("log index").ok()?;
    r.finish().ok()?;
    Some((signed, idx))
}

/// Days a holder has to answer a dispute.
pub const ANSWER_DAYS: u32 = 15;

pub(crate) fn dispute_key(index: u64) -> Vec<u8> {
    format!("dispute/{index:020}").into_bytes()
}
pub(crate) fn dispute_holder_key(holder: &PartyId, index: u64) -> Vec<u8> {
    format!("dispute-holder/{holder}/{index:020}").into_bytes()
}
pub(crate) fn dispute_subject_prefix(subject: &crate::protocols::pseudonym::Pseudonym) -> String {
    format!("dispute-subject/{}/", hex::encode(pseudonym_bytes(subject)))
}

pub(crate) fn repair_key(id: &str) -> Vec<u8> {
    format!("repair/{id}").into_bytes()
}
pub(crate) fn repair_holder_key(holder: &PartyId, id: &str) -> Vec<u8> {
    format!("repair-holder/{holder}/{id}").into_bytes()
}
pub(crate) fn repair_subject_key(subject: &Pseudonym, id: &str) -> Vec<u8> {
    format!(
        "repair-subject/{}/{id}",
        hex::encode(pseudonym_bytes(subject))
    )
    .into_bytes()
}

pub(crate) fn notice_prefix(subject: &Pseudonym) -> String {
    format!("listing/{}/", hex::encode(pseudonym_bytes(subject)))
}

pub(crate) fn subject_party_key(party: &PartyId) -> Vec<u8> {
    let mut k = b"party/".to_vec();
    k.extend_from_slice(party.as_str().as_bytes());
    k
}

/// Key of a holder's certificate → the log index of its `HolderCertified` entry.
pub(crate) fn certificate_key(party: &PartyId) -> Vec<u8> {
    let mut k = b"certificate/".to_vec();
    k.extend_from_slice(party.as_str().as_bytes());
    k
}

/// Marks a subject party whose `SubjectBound` entry is logged.
pub(crate) fn bound_key(party: &PartyId) -> Vec<u8> {
    let mut k = b"bound/".to_vec();
    k.extend_from_slice(party.as_str().as_bytes());
    k
}

pub(crate) fn subject_binding_key(subject: &Pseudonym) -> Vec<u8> {
    let mut k = b"subject/".to_vec();
    k.extend_from_slice(&pseudonym_bytes(subject));
    k
}
