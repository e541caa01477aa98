//! Holder routes: pseudonyms, sealed records, committed attributes.

use crate::fhe::SealedRecord;
use crate::protocols::log::entry::{EvaluationPath, LogEntry};
use crate::protocols::signing::Role;
use crate::server::api::*;
use crate::server::commitments::*;
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

#[utoipa::path(
    operation_id = "holder_pseudonym",
    post,
    path = "/v1/holder/pseudonym",
    tag = "holder",
    request_body = SubjectRef,
    responses(
        (status = 200, description = "the pseudonym", body = PseudonymAnswer),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 429, description = "this party's pseudonym lookups for today are used up", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("holder, bank")))
)]
pub(crate) async fn pseudonym(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<PseudonymAnswer>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::Holder, Role::Bank])?;
    let req: SubjectRef = json_body(&body)?;
    let (_, p) = subject_of(&s, &req)?;
    // Every lookup leaves a logged trace the subject and the auditors read, and a party's
    // lookups a day are limited: no party turns identifiers into pseudonyms unseen or in bulk.
    let today = u32::try_from(now() / 86_400).unwrap_or(u32::MAX);
    s.log_lookup(&caller.party, &p, today)?;
    // Banks learn the pseudonym to check verdicts against; holders also the sealing key.
    let sealing = match caller.role {
        Role::Holder => party_of(&s, &p)?.map(|(_, _, k)| hex::encode(k.to_bytes())),
        _ => None,
    };
    Ok(Json(PseudonymAnswer {
        pseudonym: p.to_text(),
        sealing_key: sealing,
    }))
}

#[utoipa::path(
    operation_id = "holder_submit_sealed",
    post,
    path = "/v1/holder/sealed",
    tag = "holder",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "a sealed upload: bytes(signed sealed submission) ‖ bytes(proven compact list) (protocols/encoding.md)"),
    responses(
        (status = 200, description = "accepted and logged", body = Accepted),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 409, description = "already exists or superseded", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody),
        (status = 503, description = "FHE queue full or witness quorum not reached: retry later", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("holder")))
)]
pub(crate) async fn submit_sealed(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Accepted>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::Holder])?;
    let SealedRecord { submission, list } =
        SealedRecord::from_bytes(&body).map_err(|e| ApiError::bad(format!("body: {e}")))?;
    if submission.submission.holder != caller.party {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the submission names another holder than the caller",
        ));
    }
    let key = s
        .auth
        .key_of(&caller.party)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("caller vanished"))?;
    let record = SealedRecord { submission, list };
    let permit = s.fhe_permit()?;
    let engine = s.engine.clone();
    let catalog = s.catalog.clone();
    let rec = record.clone();
    let ingested = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        engine.ingest(&rec, &key, &catalog)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::bad(e.to_string()))?;
    let sub = &record.submission.submission;
    let content_hash = record.submission.hash();
    let sub_key = submission_key(&sub.holder, sub.submission_id);
    let (idx, ()) = s
        .append_with(|base| {
            let mut batch = Batch::new();
            batch.insert(
                Table::Submissions,
                sub_key.clone(),
                encode_sealed(&record, &ingested.stored, base),
            );
            for a in &sub.attributes {
                batch.put(
                    Table::SubjectAttributes,
                    sealed_index_key(&sub.subject, a.as_str()),
                    sub_key.clone(),
                );
            }
            batch.put(
                Table::Meta,
                content_hash_key(&content_hash),
                sub_key.clone(),
            );
            let entries: Vec<LogEntry> = sub
                .attributes
                .iter()
                .map(|a| LogEntry::AttributeSubmitted {
                    holder: sub.holder.clone(),
                    attribute: a.clone(),
                    subject: sub.subject,
                    submission: sub.submission_id,
                    path: EvaluationPath::Sealed,
                    content_hash,
                })
                .collect();
            Ok((entries, batch, ()))
        })
        .map_err(|e| {
            if e.status == StatusCode::CONFLICT {
                ApiError::new(StatusCode::CONFLICT, "this submission id was already used")
            } else {
                e
            }
        })?;
    Ok(Json(Accepted {
        log_indices: idx,
        stored_bytes: Some(ingested.stored.bytes.len()),
    }))
}

#[utoipa::path(
    operation_id = "holder_submit_committed",
    post,
    path = "/v1/holder/committed",
    tag = "holder",
    request_body = CommittedBatch,
    responses(
        (status = 200, description = "accepted and logged, all or nothing", body = Accepted),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 409, description = "already exists or superseded", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("holder")))
)]
pub(crate) async fn submit_committed(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Accepted>> {
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
    Ok(Json(Accepted {
        log_indices: idx,
        stored_bytes: None,
    }))
}
