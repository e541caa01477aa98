//! Subject routes: my records, queries about me.

use crate::protocols::log::entry::LogEntry;
use crate::server::api::*;
use crate::server::error::ErrorBody;
use crate::server::error::{ApiError, ApiResult};
use crate::server::records::*;
use crate::server::state::ServiceState;
use crate::server::subjects::*;
use crate::store::{prefix_range, Table};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

/// `GET /v1/subject/records`: the subject's commitments with their sealed openings, and the
/// sealed records held about it.
#[utoipa::path(
    operation_id = "subject_records",
    get,
    path = "/v1/subject/records",
    tag = "subject",
    responses(
        (status = 200, description = "my records", body = SubjectRecords),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("subject")))
)]
pub(crate) async fn records(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<SubjectRecords>> {
    let (_, subject) = caller_subject(&s, &method, &uri, &headers, b"")?;
    let (from, to) = prefix_range(&pseudonym_bytes(&subject));
    let mut committed = Vec::new();
    let mut sealed = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (_, sub_key) in s
        .store
        .scan(Table::SubjectAttributes, &from, to.as_deref(), 10_000)
        .map_err(ApiError::internal)?
    {
        // A sealed record is indexed once per attribute it carries: list it once.
        if !seen.insert(sub_key.clone()) {
            continue;
        }
        let v = s
            .store
            .get(Table::Submissions, &sub_key)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal("dangling submission index"))?;
        if let Some((signed, log_index)) = decode_committed(&v) {
            let mut ok = pseudonym_bytes(&subject);
            ok.extend_from_slice(&sub_key);
            let opening = s
                .store
                .get(Table::SealedOpenings, &ok)
                .map_err(ApiError::internal)?
                .unwrap_or_default();
            let c = &signed.commitment.context;
            committed.push(CommittedRecord {
                attribute: c.attribute.to_string(),
                holder: c.holder.to_string(),
                submission: c.submission,
                log_index,
                commitment: hex::encode(signed.to_bytes()),
                opening: hex::encode(opening),
            });
        } else if let Some((record, _, _)) = decode_sealed(&v) {
            let sub = &record.submission.submission;
            sealed.push(SealedRecordInfo {
                holder: sub.holder.to_string(),
                submission: sub.submission_id,
                attributes: sub.attributes.iter().map(|a| a.to_string()).collect(),
                content_hash: hex::encode(record.submission.hash()),
            });
        } else {
            return Err(ApiError::internal("corrupt submission"));
        }
    }
    Ok(Json(SubjectRecords {
        pseudonym: subject.to_text(),
        committed,
        sealed,
        listings: notices(&s, &subject)?,
    }))
}

/// `GET /v1/subject/queries`: every query and verdict about the subject, from the log.
#[utoipa::path(
    operation_id = "subject_queries",
    get,
    path = "/v1/subject/queries",
    tag = "subject",
    responses(
        (status = 200, description = "every query and verdict about me, and who looked up my pseudonym", body = SubjectQueries),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("subject")))
)]
pub(crate) async fn queries(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<SubjectQueries>> {
    let (_, subject) = caller_subject(&s, &method, &uri, &headers, b"")?;
    let mut prefix = b"q/".to_vec();
    prefix.extend_from_slice(&pseudonym_bytes(&subject));
    let (from, to) = prefix_range(&prefix);
    let mut out = Vec::new();
    for (k, _) in s
        .store
        .scan(Table::Subjects, &from, to.as_deref(), 100_000)
        .map_err(ApiError::internal)?
    {
        let idx = u64::from_be_bytes(
            k[k.len() - 8..]
                .try_into()
                .map_err(|_| ApiError::internal("corrupt index"))?,
        );
        let Some((_, leaf)) = s
            .log
            .entries(idx, idx + 1, 1)
            .map_err(ApiError::internal)?
            .pop()
        else {
            return Err(ApiError::internal("indexed entry missing"));
        };
        let item = match &leaf.entry {
            LogEntry::Query {
                bank,
                subject: sub,
                policy_hash,
                as_of_day,
                purpose,
                consent_hash,
                ..
            } if *sub == subject => json!({
                "index": idx, "time": leaf.time, "kind": "query", "bank": bank.to_string(),
                "policy_hash": hex::encode(policy_hash), "day": as_of_day, "purpose": purpose,
                "consent_hash": consent_hash.map(hex::encode),
            }),
            LogEntry::Verdict {
                verdict_hash,
                subject: sub,
                bank,
            } if *sub == subject => {
                let outcome = s
                    .store
                    .get(Table::Verdicts, verdict_hash)
                    .map_err(ApiError::internal)?
                    .and_then(|v| crate::protocols::verdict::SignedVerdict::from_bytes(&v).ok())
                    .map(|v| OutcomeBody::from(v.verdict.outcome));
                json!({
                    "index": idx, "time": leaf.time, "kind": "verdict", "bank": bank.to_string(),
                    "verdict_hash": hex::encode(verdict_hash), "outcome": outcome,
                })
            }
            LogEntry::PseudonymLookup {
                party,
                subject: sub,
                day,
                ..
            } if *sub == subject => json!({
                "index": idx, "time": leaf.time, "kind": "lookup", "party": party.to_string(),
                "day": day,
            }),
            _ => return Err(ApiError::internal("subject index points at another entry")),
        };
        out.push(item);
    }
    Ok(Json(SubjectQueries {
        pseudonym: subject.to_text(),
        events: out,
    }))
}
