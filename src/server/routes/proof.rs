//! The proven path over HTTP (bank side): holders submit signed, range-certified commitments with the
//! opening sealed to the subject; a bank submits the subject's proof package and receives a
//! service-signed verdict with its log receipt.

use crate::circuits::proof::lower_to_proof;
use crate::protocols::commitment::SignedAttributeCommitment;
use crate::protocols::log::entry::LogEntry;
use crate::protocols::log::entry::Outcome;
use crate::protocols::package::ProofPackage;
use crate::protocols::question::{HolderKeys, Question};
use crate::protocols::signing::Role;
use crate::protocols::verdict::{Evidence, Verdict};
use crate::server::api::*;
use crate::server::error::ErrorBody;
use crate::server::error::{json_body, ApiError, ApiResult};
use crate::server::records::*;
use crate::server::state::ServiceState;
use crate::server::subjects::*;
use crate::store::{Batch, Table};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Json;
use std::sync::Arc;

/// `POST /v1/bank/proof`: the proven-path question. The service verifies the package against
/// *its own* question — the bank's subject and day, the policy as published here — with the
/// statement derived from that question over the package's commitments
/// ([`crate::protocols::question::verify_proof`]); checks every input is the holder's
/// current commitment; then logs the query and the signed verdict.
#[utoipa::path(
    operation_id = "proof_query",
    post,
    path = "/v1/bank/proof",
    tag = "bank",
    request_body = ProofQuery,
    responses(
        (status = 200, description = "the verdict and its receipt", body = VerdictAnswer),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 404, description = "unknown policy, object or application", body = ErrorBody),
        (status = 409, description = "already exists or superseded", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 429, description = "this bank asked about this subject too often today", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody),
        (status = 503, description = "FHE queue full or witness quorum not reached: retry later", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("bank")))
)]
pub(crate) async fn query(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<VerdictAnswer>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::Bank])?;
    let q: ProofQuery = json_body(&body)?;
    let Asked {
        subject,
        policy,
        day,
        consent,
        request,
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
    // The holders' keys from this service's own registry (certified ones, where roots are
    // pinned: a verdict is never logged on keys its receipt's evidence could not show).
    let mut keys = HolderKeys::new();
    for input in &package.inputs {
        let holder = &input.commitment.context.holder;
        if let Some(k) = s.certified_holder(holder)? {
            keys.insert(holder.clone(), k);
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
        s.fresh_request(&caller.party, &request, &mut batch)?;
        store_verdict(&mut batch, &verdict, &caller.party, base + 1);
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
                    region: None,
                    request: Some(request),
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
    let outcome = verdict.verdict.outcome.into();
    let coverage = coverage_of(&policy, &verdict.verdict.coverage);
    let (receipt, quorum) = s.receipt(verdict, idx[1]).await?;
    let disputed = open_on(&s, &subject, &policy)?;
    Ok(Json(VerdictAnswer {
        outcome,
        coverage,
        rests_on_disputed_data: Some(disputed),
        path: "proven".into(),
        witness_quorum_met: Some(quorum),
        receipt: hex::encode(receipt.to_bytes()),
        log_indices: QueryIndices {
            query: idx[0],
            verdict: Some(idx[1]),
            ..Default::default()
        },
        bootstraps: None,
        region: None,
        partner_subject: None,
    }))
}

/// The log indices of the inputs if each is the current record of its attribute for
/// `subject`: the holder's latest commitment, with no later *sealed* record of the attribute
/// (the latest record per attribute spans both paths: a listing sealed after a commitment
/// supersedes it). 409 naming the input otherwise.
pub(crate) fn current_inputs(
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
        if let Some(sealed_index) = latest_sealed_index(s, subject, a.as_str())? {
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
pub(crate) fn describe(
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
