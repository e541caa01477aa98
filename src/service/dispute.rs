//! Disputes (异议) and pledges (信用承诺). A subject files a signed dispute against a log entry about it; the holder of
//! that entry must answer by a deadline — upheld, or corrected by a new submission logged in
//! the same commit. Auditors flag disputes left unanswered past their deadline.

use super::proven::{check_items, conflict, stage_items, CommittedItem};
use super::{json_body, now, subjects, ApiError, ApiResult, ServiceState};
use crate::protocols::dispute::SignedDispute;
use crate::protocols::log::entry::{DisputeOutcome, LogEntry};
use crate::protocols::log::{LogHasher, Sha3Log};
use crate::protocols::names::PartyId;
use crate::protocols::signing::Role;
use crate::store::{prefix_range, Batch, Table};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Days a holder has to answer a dispute.
pub const ANSWER_DAYS: u32 = 15;

fn key(index: u64) -> Vec<u8> {
    format!("dispute/{index:020}").into_bytes()
}
fn holder_key(holder: &PartyId, index: u64) -> Vec<u8> {
    format!("dispute-holder/{holder}/{index:020}").into_bytes()
}
fn subject_prefix(subject: &crate::protocols::pseudonym::Pseudonym) -> String {
    format!(
        "dispute-subject/{}/",
        hex::encode(super::pseudonym_bytes(subject))
    )
}

/// Open disputes about `subject` on attributes `policy` reads: `(dispute index, attribute)`.
/// Bank answers list them, so a verdict resting on disputed data is marked as such.
pub(super) fn open_on(
    s: &ServiceState,
    subject: &crate::protocols::pseudonym::Pseudonym,
    policy: &crate::circuits::policy::Policy,
) -> ApiResult<Vec<serde_json::Value>> {
    let (from, to) = prefix_range(subject_prefix(subject).as_bytes());
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
        let d = load(s, index)?;
        let read = policy
            .reads
            .iter()
            .any(|r| Some(r.0.as_str()) == d["attribute"].as_str());
        if d["status"] == "open" && read {
            out.push(json!({ "dispute_index": index, "attribute": d["attribute"] }));
        }
    }
    Ok(out)
}

fn load(s: &ServiceState, index: u64) -> ApiResult<serde_json::Value> {
    let v = s
        .store
        .get(Table::Meta, &key(index))
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no dispute at log index {index}"),
            )
        })?;
    serde_json::from_slice(&v).map_err(ApiError::internal)
}

fn today() -> u32 {
    (now() / 86_400) as u32
}

#[derive(Deserialize)]
struct File {
    /// Hex of a `dispute/v1` statement signed by the caller.
    statement: String,
}

/// `POST /v1/subject/disputes`.
pub(super) async fn file(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let (caller, subject) = subjects::caller_subject(&s, &method, &uri, &headers, &body)?;
    let req: File = json_body(&body)?;
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
    if Sha3Log::hash_leaf(&leaf.to_bytes()) != d.disputed_leaf_hash {
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
        b.insert(Table::Meta, key(base), record.to_string().into_bytes());
        b.insert(Table::Meta, holder_key(&holder, base), Vec::new());
        b.insert(
            Table::Meta,
            format!("{}{base:020}", subject_prefix(&subject)).into_bytes(),
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
pub(super) async fn inbox(
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
        out.push(load(&s, index)?);
    }
    Ok(Json(json!({ "disputes": out })))
}

#[derive(Deserialize)]
struct Answer {
    dispute_index: u64,
    uphold: bool,
    /// Correction: the new commitment (one item, same subject and attribute).
    items: Option<Vec<CommittedItem>>,
}

/// `POST /v1/holder/disputes/answer`: uphold, or correct with a new submission.
pub(super) async fn answer(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::Holder])?;
    let req: Answer = json_body(&body)?;
    let record = load(&s, req.dispute_index)?;
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
            let mut record = load(&s, req.dispute_index)?;
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
                key(req.dispute_index),
                record.to_string().into_bytes(),
            );
            Ok((entries, b, record))
        })
        .map_err(conflict)?;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct Pledge {
    /// Hex of a `pledge/v1` statement signed by the caller.
    statement: String,
}

/// `POST /v1/subject/pledges`: a credit pledge to a holder authority, logged as `PledgeMade`.
pub(super) async fn pledge(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let (caller, subject) = subjects::caller_subject(&s, &method, &uri, &headers, &body)?;
    let req: Pledge = json_body(&body)?;
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
    match s.auth.key_of(&p.holder).map_err(ApiError::internal)? {
        Some(k) if k.role() == Role::Holder => {}
        _ => {
            return Err(ApiError::bad(format!(
                "`{}` is not a registered holder",
                p.holder
            )))
        }
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
pub(super) async fn pledges(
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
