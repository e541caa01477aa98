//! The proven path over HTTP: holders submit signed, range-certified commitments with the
//! opening sealed to the subject; a bank submits the subject's proof package and receives a
//! service-signed verdict with its log receipt.

use super::{
    committed_index_key, content_hash_key, index_for_subject, json_body, now, outcome_json,
    submission_key, ApiError, ApiResult, Asked, BankQuery, ServiceState,
};
use crate::circuits::proof::lower_to_proof;
use crate::protocols::commitment::SignedAttributeCommitment;
use crate::protocols::encoding::{Reader, Writer};
use crate::protocols::log::entry::{EvaluationPath, LogEntry, Outcome};
use crate::protocols::package::ProofPackage;
use crate::protocols::question::{HolderKeys, Question};
use crate::protocols::seal::SealedOpening;
use crate::protocols::signing::Role;
use crate::protocols::verdict::{Evidence, Verdict};
use crate::store::{Batch, Table};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use sha3::{Digest, Sha3_256};
use std::sync::Arc;

/// Most commitments in one batch.
pub const MAX_COMMITTED_BATCH: usize = 256;

/// Stored form of a committed submission: tag 2 ‖ bytes(signed commitment) ‖ u64(log index).
fn encode_committed(signed: &SignedAttributeCommitment, log_index: u64) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(2);
    w.bytes(&signed.to_bytes());
    w.u64(log_index);
    w.into_bytes()
}

/// Decodes [`encode_committed`]; `None` for other kinds of submission.
pub(super) fn decode_committed(v: &[u8]) -> Option<(SignedAttributeCommitment, u64)> {
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

#[derive(Deserialize)]
pub(super) struct CommittedItem {
    /// Hex of a holder-signed attribute commitment.
    pub(super) commitment: String,
    /// Hex of the opening sealed to the subject.
    pub(super) opening: String,
}

#[derive(Deserialize)]
struct CommittedBatch {
    items: Vec<CommittedItem>,
}

/// `POST /v1/holder/committed`: a batch of signed commitments, all checked before any is
/// stored, stored and logged in one commit.
pub(super) async fn submit(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::Holder])?;
    let req: CommittedBatch = json_body(&body)?;
    let checked = check_items(&s, &caller.party, &req.items)?;
    let (idx, ()) = s
        .append_with(|base| {
            let mut batch = Batch::new();
            let entries = stage_items(&mut batch, base, &checked);
            Ok((entries, batch, ()))
        })
        .map_err(conflict)?;
    Ok(Json(json!({ "log_indices": idx })))
}

/// A reused submission id, said plainly.
pub(super) fn conflict(e: ApiError) -> ApiError {
    if e.status == StatusCode::CONFLICT {
        ApiError::new(
            StatusCode::CONFLICT,
            "a submission id in this batch was already used (nothing was stored)",
        )
    } else {
        e
    }
}

/// A checked commitment with its sealed opening.
pub(super) type Checked = (SignedAttributeCommitment, Vec<u8>);

/// Checks every item of a committed batch from `holder` before anything is stored: the caller
/// is the named holder (403), signature, catalogue ownership, certificate range, range proof,
/// sealed-opening shape (400 naming the item).
pub(super) fn check_items(
    s: &ServiceState,
    holder: &crate::protocols::names::PartyId,
    items: &[CommittedItem],
) -> ApiResult<Vec<Checked>> {
    if items.is_empty() || items.len() > MAX_COMMITTED_BATCH {
        return Err(ApiError::bad(format!(
            "items: 1 to {MAX_COMMITTED_BATCH} commitments per batch"
        )));
    }
    let key = s
        .auth
        .key_of(holder)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("caller vanished"))?;
    let mut checked = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let bad = |m: String| ApiError::bad(format!("items[{i}]: {m}"));
        let bytes = hex::decode(&item.commitment).map_err(|_| bad("commitment: not hex".into()))?;
        let signed = SignedAttributeCommitment::from_bytes(&bytes)
            .map_err(|e| bad(format!("commitment: {e}")))?;
        let ctx = &signed.commitment.context;
        if ctx.holder != *holder {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("items[{i}]: the commitment names another holder than the caller"),
            ));
        }
        signed
            .verify(&key)
            .map_err(|_| bad("the holder signature does not verify".into()))?;
        let entry = s
            .catalog
            .get(ctx.attribute.as_str())
            .map_err(|e| bad(e.to_string()))?;
        if !entry.owned_by(holder.as_str()) {
            return Err(bad(format!(
                "attribute `{}` belongs to the `{}` authority, not to `{}`",
                ctx.attribute, entry.holder, holder
            )));
        }
        if signed.commitment.max != entry.max {
            return Err(bad(format!(
                "the range certificate is for [0, {}] but `{}` ranges over [0, {}]",
                signed.commitment.max, ctx.attribute, entry.max
            )));
        }
        signed
            .commitment
            .verify_standalone()
            .map_err(|_| bad("the range certificate does not verify".into()))?;
        let opening = hex::decode(&item.opening).map_err(|_| bad("opening: not hex".into()))?;
        SealedOpening::from_bytes(&opening).map_err(|e| bad(format!("opening: {e}")))?;
        checked.push((signed, opening));
    }
    Ok(checked)
}

/// Stages checked commitments into `batch` (the first gets log index `base`) and returns their
/// log entries.
pub(super) fn stage_items(batch: &mut Batch, base: u64, checked: &[Checked]) -> Vec<LogEntry> {
    let mut entries = Vec::with_capacity(checked.len());
    for (n, (signed, opening)) in checked.iter().enumerate() {
        let ctx = &signed.commitment.context;
        let sub_key = submission_key(&ctx.holder, ctx.submission);
        let content_hash: [u8; 32] = Sha3_256::digest(signed.to_bytes()).into();
        batch.insert(
            Table::Submissions,
            sub_key.clone(),
            encode_committed(signed, base + n as u64),
        );
        batch.put(
            Table::SubjectAttributes,
            committed_index_key(&ctx.subject, ctx.attribute.as_str()),
            sub_key.clone(),
        );
        let mut ok = super::pseudonym_bytes(&ctx.subject);
        ok.extend_from_slice(&sub_key);
        batch.put(Table::SealedOpenings, ok, opening.clone());
        batch.put(Table::Meta, content_hash_key(&content_hash), sub_key);
        entries.push(LogEntry::AttributeSubmitted {
            holder: ctx.holder.clone(),
            attribute: ctx.attribute.clone(),
            subject: ctx.subject,
            submission: ctx.submission,
            path: EvaluationPath::Proven,
            content_hash,
        });
    }
    entries
}

#[derive(Deserialize)]
struct ProofQuery {
    #[serde(flatten)]
    question: BankQuery,
    /// Hex of the subject's proof package.
    package: String,
}

/// `POST /v1/bank/proof`: the proven-path question. The service verifies the package against
/// *its own* question — the bank's subject and day, the policy as published here — with the
/// statement derived from that question over the package's commitments
/// ([`crate::protocols::question::verify_proof`]); checks every input is the holder's
/// current commitment; then logs the query and the signed verdict.
pub(super) async fn query(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::Bank])?;
    let q: ProofQuery = json_body(&body)?;
    let Asked {
        subject,
        policy,
        day,
        consent,
    } = s.asked(&caller.party, &q.question)?;
    let pinned = policy.pin();
    if pinned.proof().is_none() {
        let reason = lower_to_proof(&policy)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        return Err(ApiError::bad(format!(
            "{reason}; ask this policy on the sealed path (POST /v1/bank/query)"
        )));
    }
    let bytes = hex::decode(&q.package).map_err(|_| ApiError::bad("package: not hex"))?;
    let package =
        ProofPackage::from_bytes(&bytes).map_err(|e| ApiError::bad(format!("package: {e}")))?;
    // The holders' keys from this service's own registry.
    let mut keys = HolderKeys::new();
    for input in &package.inputs {
        let holder = &input.commitment.context.holder;
        if let Some(k) = s.auth.key_of(holder).map_err(ApiError::internal)? {
            if k.role() == Role::Holder {
                keys.insert(holder.clone(), k);
            }
        }
    }
    let question = Question {
        subject,
        policy: &pinned,
        as_of_day: day,
    };
    // Cheap structural checks first (they name what is wrong); the proof itself last.
    let template = pinned.proof().expect("checked above");
    template
        .statement(&question, &package.inputs)
        .map_err(|e| ApiError::bad(format!("package: {}", describe(&package, &question, &e))))?;
    // Every input must be the current record of its attribute for this subject (checked now,
    // to fail fast, and again under the append lock).
    current_inputs(&s, &subject, &package.inputs)?;
    let pkg = package.clone();
    let pinned2 = pinned.clone();
    let keys2 = keys.clone();
    let verified = tokio::task::spawn_blocking(move || {
        pkg.verify_with_keys(
            &Question {
                subject,
                policy: &pinned2,
                as_of_day: day,
            },
            &keys2,
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::bad(format!("package: {}", describe(&package, &question, &e))))?;
    let (idx, verdict) = s.append_with(|base| {
        let cited = current_inputs(&s, &subject, &package.inputs)?;
        let mut log_indices = cited;
        log_indices.push(base);
        let verdict = s
            .log
            .sign_verdict(Verdict {
                policy_hash: policy.hash(),
                subject,
                as_of_day: day,
                outcome: Outcome::Eligible(true),
                coverage: verified.coverage.clone(),
                evidence: Evidence::Proof {
                    proof: package.proof.clone(),
                    inputs: package.inputs.clone(),
                },
                log_indices,
                issued_at: now(),
            })
            .map_err(ApiError::internal)?;
        let mut batch = Batch::new();
        super::store_verdict(&mut batch, &verdict, &caller.party, base + 1);
        index_for_subject(&mut batch, &subject, base);
        index_for_subject(&mut batch, &subject, base + 1);
        if let Some(c) = &consent {
            batch.put(Table::Consents, c.hash().to_vec(), c.to_bytes());
        }
        Ok((
            vec![
                LogEntry::Query {
                    bank: caller.party.clone(),
                    subject,
                    policy_hash: policy.hash(),
                    as_of_day: day,
                    purpose: q.question.purpose.clone(),
                    consent_hash: consent.as_ref().map(|c| c.hash()),
                    salt: crate::protocols::log::entry::salt(&mut rand::rngs::OsRng),
                },
                LogEntry::Verdict {
                    verdict_hash: verdict.hash(),
                    subject,
                    bank: caller.party.clone(),
                },
            ],
            batch,
            verdict,
        ))
    })?;
    let outcome = outcome_json(verdict.verdict.outcome);
    let coverage = super::coverage_json(&policy, &verdict.verdict.coverage);
    let (receipt, quorum) = s.receipt(verdict, idx[1]).await?;
    let disputed = super::dispute::open_on(&s, &subject, &policy)?;
    Ok(Json(json!({
        "outcome": outcome,
        "coverage": coverage,
        "rests_on_disputed_data": disputed,
        "path": "proven",
        "witness_quorum_met": quorum,
        "receipt": hex::encode(receipt.to_bytes()),
        "log_indices": { "query": idx[0], "verdict": idx[1] },
    })))
}

/// The log indices of the inputs if each is the current record of its attribute for
/// `subject`: the holder's latest commitment, with no later *sealed* record of the attribute
/// (the latest record per attribute spans both paths: a listing sealed after a commitment
/// supersedes it). 409 naming the input otherwise.
fn current_inputs(
    s: &ServiceState,
    subject: &crate::protocols::pseudonym::Pseudonym,
    inputs: &[SignedAttributeCommitment],
) -> ApiResult<Vec<u64>> {
    let mut cited = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let a = &input.commitment.context.attribute;
        let stale = |why: String| {
            ApiError::new(
                StatusCode::CONFLICT,
                format!("package: input {i} (`{a}`) {why}; prove again over the current records"),
            )
        };
        let current = s
            .store
            .get(
                Table::SubjectAttributes,
                &committed_index_key(subject, a.as_str()),
            )
            .map_err(ApiError::internal)?;
        let stored = match current {
            Some(k) => s
                .store
                .get(Table::Submissions, &k)
                .map_err(ApiError::internal)?
                .and_then(|v| decode_committed(&v)),
            None => None,
        };
        let log_index = match stored {
            Some((signed, log_index)) if signed.to_bytes() == input.to_bytes() => log_index,
            _ => {
                return Err(stale(
                    "is not the holder's current commitment for this subject (superseded or never submitted)".into(),
                ))
            }
        };
        if let Some(sealed_index) = super::latest_sealed_index(s, subject, a.as_str())? {
            if sealed_index > log_index {
                return Err(stale(format!(
                    "is superseded by a later sealed record of that attribute (log index {sealed_index})"
                )));
            }
        }
        cited.push(log_index);
    }
    Ok(cited)
}

/// Why a package was refused, in words: the package's claim is compared with the question
/// only to explain (it decides nothing), then the verifier's own reason.
fn describe(
    package: &ProofPackage,
    question: &Question<'_>,
    e: &crate::protocols::VerdictError,
) -> String {
    let claim = &package.claim;
    if claim.subject != question.subject {
        return "the proof is about another subject".into();
    }
    if claim.policy_hash != question.policy.hash() {
        return "the proof is for another policy (or another version)".into();
    }
    if claim.as_of_day != question.as_of_day {
        return format!(
            "the proof is for day {}, the query for day {}",
            claim.as_of_day, question.as_of_day
        );
    }
    match e {
        crate::protocols::VerdictError::VerificationFailed => {
            "the proof does not verify for the published policy's statement about this subject and day".into()
        }
        e => e.to_string(),
    }
}
