//! Disputes (异议) and pledges (信用承诺). A subject files a signed dispute against a log entry about it; the holder of
//! that entry must answer by a deadline — upheld, or corrected by a new submission logged in
//! the same commit. Auditors flag disputes left unanswered past their deadline.

use crate::protocols::dispute::SignedDispute;
use crate::protocols::log::entry::DisputeOutcome;
use crate::protocols::log::entry::LogEntry;
use crate::protocols::signing::Role;
use crate::server::api::*;
use crate::server::commitments::*;
use crate::server::error::ErrorBody;
use crate::server::error::{json_body, ApiError, ApiResult};
use crate::server::records::*;
use crate::server::state::ServiceState;
use crate::server::subjects::*;
use crate::store::{prefix_range, Batch, Table};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

pub(crate) fn today() -> u32 {
    (now() / 86_400) as u32
}

/// `POST /v1/subject/disputes`.
#[utoipa::path(
    operation_id = "dispute_file",
    post,
    path = "/v1/subject/disputes",
    tag = "subject",
    request_body = DisputeFiling,
    responses(
        (status = 200, description = "the dispute, logged, with its answer deadline", body = Object),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 404, description = "unknown policy, object or application", body = ErrorBody),
        (status = 409, description = "already exists or superseded", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("subject")))
)]
pub(crate) async fn file(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let (caller, subject) = caller_subject(&s, &method, &uri, &headers, &body)?;
    let req: DisputeFiling = json_body(&body)?;
    let bytes = hex::decode(&req.statement).map_err(|_| ApiError::bad("statement: not hex"))?;
    let signed =
        SignedDispute::from_bytes(&bytes).map_err(|e| ApiError::bad(format!("statement: {e}")))?;
    let key_of_caller = s
        .auth
        .key_of(&caller.party)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("caller vanished"))?;
    if signed.verify(&key_of_caller).is_err() || signed.dispute.subject != subject {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the statement is not the caller's own dispute (signature or subject)",
        ));
    }
    let d = &signed.dispute;
    let day = today();
    if d.filed_day.saturating_add(1) < day || d.filed_day > day.saturating_add(1) {
        return Err(ApiError::bad(format!(
            "filed_day {} is not today ({day})",
            d.filed_day
        )));
    }
    let (_, leaf) = s
        .log
        .entries(d.disputed_index, d.disputed_index.saturating_add(1), 1)
        .map_err(ApiError::internal)?
        .pop()
        .ok_or_else(|| ApiError::bad(format!("there is no log entry {}", d.disputed_index)))?;
    if leaf.hash() != d.disputed_leaf_hash {
        return Err(ApiError::bad(
            "disputed_leaf_hash does not match the entry at that index",
        ));
    }
    let (holder, attribute) = match &leaf.entry {
        LogEntry::AttributeSubmitted {
            holder,
            attribute,
            subject: s2,
            ..
        } if *s2 == subject => (holder.clone(), attribute.clone()),
        _ => {
            return Err(ApiError::bad(
                "only a submission about the caller can be disputed",
            ))
        }
    };
    let answer_by_day = day + ANSWER_DAYS;
    let (idx, record) = s.append_with(|base| {
        let record = json!({
            "index": base, "subject": subject.to_text(), "disputed_index": d.disputed_index,
            "holder": holder.to_string(), "attribute": attribute.to_string(),
            "reason": d.reason, "answer_by_day": answer_by_day,
            "statement": hex::encode(signed.to_bytes()), "status": "open",
        });
        let mut b = Batch::new();
        b.insert(
            Table::Meta,
            dispute_key(base),
            record.to_string().into_bytes(),
        );
        b.insert(Table::Meta, dispute_holder_key(&holder, base), Vec::new());
        b.insert(
            Table::Meta,
            format!("{}{base:020}", dispute_subject_prefix(&subject)).into_bytes(),
            Vec::new(),
        );
        Ok((
            vec![LogEntry::DisputeFiled {
                subject,
                disputed_index: d.disputed_index,
                statement_hash: signed.hash(),
                answer_by_day,
            }],
            b,
            record,
        ))
    })?;
    debug_assert_eq!(idx[0], record["index"].as_u64().unwrap_or(u64::MAX));
    Ok(Json(record))
}

/// `GET /v1/holder/disputes`: disputes of my submissions.
#[utoipa::path(
    operation_id = "dispute_inbox",
    get,
    path = "/v1/holder/disputes",
    tag = "holder",
    responses(
        (status = 200, description = "disputes of my submissions: `{disputes: [...]}`", body = Object),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("holder")))
)]
pub(crate) async fn inbox(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, b"", &[Role::Holder])?;
    let (from, to) = prefix_range(format!("dispute-holder/{}/", caller.party).as_bytes());
    let mut out = Vec::new();
    for (k, _) in s
        .store
        .scan(Table::Meta, &from, to.as_deref(), 10_000)
        .map_err(ApiError::internal)?
    {
        let k = String::from_utf8_lossy(&k).into_owned();
        let index: u64 = k
            .rsplit('/')
            .next()
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| ApiError::internal("corrupt dispute index"))?;
        out.push(load_dispute(&s, index)?);
    }
    Ok(Json(json!({ "disputes": out })))
}

/// `POST /v1/holder/disputes/answer`: uphold, or correct with a new submission.
#[utoipa::path(
    operation_id = "dispute_answer",
    post,
    path = "/v1/holder/disputes/answer",
    tag = "holder",
    request_body = DisputeAnswer,
    responses(
        (status = 200, description = "the answered dispute", body = Object),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 404, description = "unknown policy, object or application", body = ErrorBody),
        (status = 409, description = "already exists or superseded", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("holder")))
)]
pub(crate) async fn answer(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::Holder])?;
    let req: DisputeAnswer = json_body(&body)?;
    let record = load_dispute(&s, req.dispute_index)?;
    if record["holder"].as_str() != Some(caller.party.as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this dispute is about another holder's submission",
        ));
    }
    let open = |r: &serde_json::Value| -> ApiResult<()> {
        if r["status"] != "open" {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("dispute {} was already answered", req.dispute_index),
            ));
        }
        Ok(())
    };
    open(&record)?;
    let checked = match (req.uphold, req.items.as_deref()) {
        (true, None) => None,
        (false, Some(items)) => {
            let checked = check_items(&s, &caller.party, items)?;
            let c = &checked[0].0.commitment.context;
            if checked.len() != 1
                || Some(c.subject.to_text().as_str()) != record["subject"].as_str()
                || Some(c.attribute.as_str()) != record["attribute"].as_str()
            {
                return Err(ApiError::bad(
                    "items: a correction is exactly one commitment, to the disputed attribute of this subject",
                ));
            }
            Some(checked)
        }
        _ => return Err(ApiError::bad(
            "either `uphold: true` without items, or `uphold: false` with the correcting `items`",
        )),
    };
    let (_, out) = s
        .append_with(|base| {
            let mut record = load_dispute(&s, req.dispute_index)?;
            open(&record)?;
            let mut b = Batch::new();
            let (mut entries, outcome) = match &checked {
                None => (vec![], DisputeOutcome::Upheld),
                Some(c) => (
                    stage_items(&mut b, base, c),
                    DisputeOutcome::Corrected {
                        submission_index: base,
                    },
                ),
            };
            let answer_index = base + entries.len() as u64;
            entries.push(LogEntry::DisputeAnswered {
                dispute_index: req.dispute_index,
                holder: caller.party.clone(),
                outcome,
                salt: crate::protocols::log::entry::salt(&mut rand::rngs::OsRng),
            });
            record["status"] = if checked.is_some() {
                "corrected"
            } else {
                "upheld"
            }
            .into();
            record["answer_index"] = answer_index.into();
            record["answered_day"] = today().into();
            b.put(
                Table::Meta,
                dispute_key(req.dispute_index),
                record.to_string().into_bytes(),
            );
            Ok((entries, b, record))
        })
        .map_err(conflict)?;
    Ok(Json(out))
}

/// `POST /v1/subject/pledges`: a credit pledge to a holder authority, logged as `PledgeMade`.
#[utoipa::path(
    operation_id = "dispute_pledge",
    post,
    path = "/v1/subject/pledges",
    tag = "subject",
    request_body = PledgeFiling,
    responses(
        (status = 200, description = "the pledge, logged", body = Object),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 404, description = "unknown policy, object or application", body = ErrorBody),
        (status = 409, description = "already exists or superseded", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("subject")))
)]
pub(crate) async fn pledge(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let (caller, subject) = caller_subject(&s, &method, &uri, &headers, &body)?;
    let req: PledgeFiling = json_body(&body)?;
    let bytes = hex::decode(&req.statement).map_err(|_| ApiError::bad("statement: not hex"))?;
    let signed = crate::protocols::dispute::SignedPledge::from_bytes(&bytes)
        .map_err(|e| ApiError::bad(format!("statement: {e}")))?;
    let key_of_caller = s
        .auth
        .key_of(&caller.party)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("caller vanished"))?;
    if signed.verify(&key_of_caller).is_err() || signed.pledge.subject != subject {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the statement is not the caller's own pledge (signature or subject)",
        ));
    }
    let p = &signed.pledge;
    if s.certified_holder(&p.holder)?.is_none() {
        return Err(ApiError::bad(format!(
            "`{}` is not a registered (and, where roots are pinned, certified) holder",
            p.holder
        )));
    }
    let (idx, record) = s.append_with(|base| {
        let record = json!({
            "index": base, "subject": subject.to_text(), "holder": p.holder.to_string(),
            "matter": p.matter, "made_day": p.made_day, "until_day": p.until_day,
            "statement": hex::encode(signed.to_bytes()),
        });
        let mut b = Batch::new();
        b.insert(
            Table::Meta,
            format!("pledge-holder/{}/{base:020}", p.holder).into_bytes(),
            record.to_string().into_bytes(),
        );
        Ok((
            vec![LogEntry::PledgeMade {
                subject,
                holder: p.holder.clone(),
                pledge_hash: signed.hash(),
                until_day: p.until_day,
            }],
            b,
            record,
        ))
    })?;
    debug_assert_eq!(Some(idx[0]), record["index"].as_u64());
    Ok(Json(record))
}

/// `GET /v1/holder/pledges`: pledges made to me.
#[utoipa::path(
    operation_id = "dispute_pledges",
    get,
    path = "/v1/holder/pledges",
    tag = "holder",
    responses(
        (status = 200, description = "pledges made to me: `{pledges: [...]}`", body = Object),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("holder")))
)]
pub(crate) async fn pledges(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, b"", &[Role::Holder])?;
    let (from, to) = prefix_range(format!("pledge-holder/{}/", caller.party).as_bytes());
    let mut out = Vec::new();
    for (_, v) in s
        .store
        .scan(Table::Meta, &from, to.as_deref(), 10_000)
        .map_err(ApiError::internal)?
    {
        out.push(serde_json::from_slice::<serde_json::Value>(&v).map_err(ApiError::internal)?);
    }
    Ok(Json(json!({ "pledges": out })))
}
