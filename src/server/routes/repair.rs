//! Credit repair (信用修复): a subject applies to the holder of a listing; the holder approves —
//! submitting the new value (the listing ends on the repair day) and logging a `Repair` entry in
//! the same commit — or refuses with a reason. The subject receives, for an approved repair, a
//! receipt: the `Repair` leaf, its inclusion proof and a signed checkpoint. The holder's own
//! rules (earliest repair day from the regimes table, what counts as correction) are applied by
//! the holder; the service records and proves what was decided.

use crate::circuits::catalog::Kind;
use crate::protocols::log::entry::LogEntry;
use crate::protocols::names::AttributeId;
use crate::protocols::names::PartyId;
use crate::protocols::pseudonym::Pseudonym;
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

pub(crate) fn load_repair(s: &ServiceState, id: &str) -> ApiResult<serde_json::Value> {
    let v = s
        .store
        .get(Table::Meta, &repair_key(id))
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("no repair application {id}"))
        })?;
    serde_json::from_slice(&v).map_err(ApiError::internal)
}

pub(crate) fn list(s: &ServiceState, prefix: &[u8]) -> ApiResult<Vec<serde_json::Value>> {
    let (from, to) = prefix_range(prefix);
    let mut out = Vec::new();
    for (k, _) in s
        .store
        .scan(Table::Meta, &from, to.as_deref(), 10_000)
        .map_err(ApiError::internal)?
    {
        let k = String::from_utf8_lossy(&k).into_owned();
        let id = k.rsplit('/').next().unwrap_or_default();
        out.push(load_repair(s, id)?);
    }
    Ok(out)
}

/// `POST /v1/holder/listings`: the notice of a listing decision — severity class and decision
/// day. The service derives the period from the regimes table (the `until` the holder's
/// submission must carry, and the earliest repair day) and shows the notice to the subject,
/// who can check its commitment opens to that `until`.
#[utoipa::path(
    operation_id = "repair_notice",
    post,
    path = "/v1/holder/listings",
    tag = "holder",
    request_body = ListingNotice,
    responses(
        (status = 200, description = "the notice, with `until` and the earliest repair day", body = Object),
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
pub(crate) async fn notice(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::Holder])?;
    let req: ListingNotice = json_body(&body)?;
    let (_, subject) = subject_of(&s, &req.subject)?;
    let entry = s
        .catalog
        .get(&req.attribute)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    if !entry.owned_by(caller.party.as_str()) {
        return Err(ApiError::bad(format!(
            "`{}` is held by the `{}` authority, not by `{}`",
            req.attribute, entry.holder, caller.party
        )));
    }
    let l = crate::circuits::periods::Regimes::builtin()
        .listing(&req.attribute, &req.class, req.decided, req.extension_days)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let notice = json!({
        "holder": caller.party.to_string(), "attribute": req.attribute, "regime": l.regime,
        "class": l.class, "decided": l.decided, "until": l.until,
        "earliest_repair_day": l.earliest_repair, "noticed_at": now(),
    });
    let mut b = Batch::new();
    b.put(
        Table::Meta,
        format!("{}{}", notice_prefix(&subject), req.attribute).into_bytes(),
        notice.to_string().into_bytes(),
    );
    s.store.commit(&b).map_err(ApiError::internal)?;
    Ok(Json(notice))
}

/// `POST /v1/subject/repairs`: apply to `holder` for the repair of a listing.
#[utoipa::path(
    operation_id = "repair_apply",
    post,
    path = "/v1/subject/repairs",
    tag = "subject",
    request_body = RepairApplication,
    responses(
        (status = 200, description = "the application", body = Object),
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
pub(crate) async fn apply(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let (_, subject) = caller_subject(&s, &method, &uri, &headers, &body)?;
    let req: RepairApplication = json_body(&body)?;
    let holder = PartyId::new(&req.holder).map_err(|e| ApiError::bad(format!("holder: {e}")))?;
    let attribute =
        AttributeId::new(&req.attribute).map_err(|e| ApiError::bad(format!("attribute: {e}")))?;
    let entry = s
        .catalog
        .get(attribute.as_str())
        .map_err(|e| ApiError::bad(e.to_string()))?;
    if entry.kind != Kind::Until {
        return Err(ApiError::bad(format!(
            "`{attribute}` is not a list; only listings are repaired"
        )));
    }
    if !entry.owned_by(holder.as_str()) {
        return Err(ApiError::bad(format!(
            "`{attribute}` is held by the `{}` authority, not by `{holder}`",
            entry.holder
        )));
    }
    if s.certified_holder(&holder)?.is_none() {
        return Err(ApiError::bad(format!(
            "`{holder}` is not a registered (and, where roots are pinned, certified) holder"
        )));
    }
    if req.reason.trim().is_empty() || req.reason.len() > 1000 {
        return Err(ApiError::bad("reason: 1 to 1000 bytes"));
    }
    let mut earliest = None;
    if let Some(l) = &req.listing {
        let listing = crate::circuits::periods::Regimes::builtin()
            .listing(attribute.as_str(), &l.class, l.decided, l.extension_days)
            .map_err(|e| ApiError::bad(e.to_string()))?;
        let today = (now() / 86_400) as u32;
        if today < listing.earliest_repair {
            return Err(ApiError::bad(format!(
                "too early: under {} (class {}) this listing can be repaired from day {}, today is day {today}",
                listing.regime, listing.class, listing.earliest_repair
            )));
        }
        earliest = Some(listing.earliest_repair);
    }
    let mut raw = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let id = hex::encode(raw);
    let app = json!({
        "id": id, "subject": subject.to_text(), "holder": holder.to_string(),
        "attribute": attribute.to_string(), "reason": req.reason, "filed_at": now(),
        "status": "pending", "earliest_repair_day": earliest,
    });
    let mut b = Batch::new();
    b.insert(Table::Meta, repair_key(&id), app.to_string().into_bytes());
    b.insert(Table::Meta, repair_holder_key(&holder, &id), Vec::new());
    b.insert(Table::Meta, repair_subject_key(&subject, &id), Vec::new());
    s.store.commit(&b).map_err(ApiError::internal)?;
    Ok(Json(app))
}

/// `GET /v1/subject/repairs`: my applications; approved ones carry a receipt (the `Repair`
/// leaf, its inclusion proof and a signed checkpoint).
#[utoipa::path(
    operation_id = "repair_mine",
    get,
    path = "/v1/subject/repairs",
    tag = "subject",
    responses(
        (status = 200, description = "my repair applications, with receipts for approved ones: `{repairs: [...]}`", body = Object),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("subject")))
)]
pub(crate) async fn mine(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    let (_, subject) = caller_subject(&s, &method, &uri, &headers, b"")?;
    let prefix = format!("repair-subject/{}/", hex::encode(pseudonym_bytes(&subject)));
    let mut apps = list(&s, prefix.as_bytes())?;
    for app in &mut apps {
        if let Some(index) = app["repair_index"].as_u64() {
            let (checkpoint, _) = s.cosigned_checkpoint().await?;
            let size = checkpoint.checkpoint.size;
            let (_, leaf) = s
                .log
                .entries(index, index + 1, 1)
                .map_err(ApiError::internal)?
                .pop()
                .ok_or_else(|| ApiError::internal("repair leaf missing"))?;
            let inclusion = s
                .log
                .inclusion_proof(index, size)
                .map_err(ApiError::internal)?;
            app["receipt"] = json!({
                "leaf": hex::encode(leaf.to_bytes()),
                "index": index,
                "inclusion": hex::encode(inclusion.to_bytes()),
                "checkpoint": checkpoint.to_text(),
            });
        }
    }
    Ok(Json(json!({ "repairs": apps })))
}

/// `GET /v1/holder/repairs`: applications addressed to me.
#[utoipa::path(
    operation_id = "repair_inbox",
    get,
    path = "/v1/holder/repairs",
    tag = "holder",
    responses(
        (status = 200, description = "repair applications addressed to me: `{repairs: [...]}`", body = Object),
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
    let prefix = format!("repair-holder/{}/", caller.party);
    Ok(Json(json!({ "repairs": list(&s, prefix.as_bytes())? })))
}

/// `POST /v1/holder/repairs/decide`: approve (new value + `Repair` entry, one commit) or refuse.
#[utoipa::path(
    operation_id = "repair_decide",
    post,
    path = "/v1/holder/repairs/decide",
    tag = "holder",
    request_body = RepairDecision,
    responses(
        (status = 200, description = "the decided application (with the repair receipt when approved)", body = Object),
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
pub(crate) async fn decide(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::Holder])?;
    let req: RepairDecision = json_body(&body)?;
    let app = load_repair(&s, &req.id)?;
    if app["holder"].as_str() != Some(caller.party.as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this application is addressed to another holder",
        ));
    }
    if req.reason.trim().is_empty() || req.reason.len() > 1000 {
        return Err(ApiError::bad("reason: 1 to 1000 bytes"));
    }
    let subject = app["subject"]
        .as_str()
        .and_then(Pseudonym::from_text)
        .ok_or_else(|| ApiError::internal("corrupt application"))?;
    let attribute = app["attribute"]
        .as_str()
        .and_then(|a| AttributeId::new(a).ok())
        .ok_or_else(|| ApiError::internal("corrupt application"))?;
    let pending = |a: &serde_json::Value| -> ApiResult<()> {
        if a["status"] != "pending" {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("application {} is already {}", req.id, a["status"]),
            ));
        }
        Ok(())
    };
    pending(&app)?;
    if !req.approve {
        let (_, out) = s.append_with(|_| {
            let mut app = load_repair(&s, &req.id)?;
            pending(&app)?;
            app["status"] = "refused".into();
            app["decision_reason"] = req.reason.clone().into();
            app["decided_at"] = now().into();
            let mut b = Batch::new();
            b.put(
                Table::Meta,
                repair_key(&req.id),
                app.to_string().into_bytes(),
            );
            Ok((vec![], b, app))
        })?;
        return Ok(Json(out));
    }
    let repair_day = req
        .repair_day
        .ok_or_else(|| ApiError::bad("an approval needs `repair_day`"))?;
    let items = req
        .items
        .as_deref()
        .ok_or_else(|| ApiError::bad("an approval needs `items`: the new commitment"))?;
    let checked = check_items(&s, &caller.party, items)?;
    if checked.len() != 1
        || checked[0].0.commitment.context.subject != subject
        || checked[0].0.commitment.context.attribute != attribute
    {
        return Err(ApiError::bad(
            "items: exactly one commitment, to the applied-for attribute of this subject",
        ));
    }
    let (idx, out) = s
        .append_with(|base| {
            let mut app = load_repair(&s, &req.id)?;
            pending(&app)?;
            let mut b = Batch::new();
            let mut entries = stage_items(&mut b, base, &checked);
            entries.push(LogEntry::Repair {
                holder: caller.party.clone(),
                attribute: attribute.clone(),
                subject,
                submission_index: base,
                repair_day,
                salt: crate::protocols::log::entry::salt(&mut rand::rngs::OsRng),
            });
            app["status"] = "approved".into();
            app["decision_reason"] = req.reason.clone().into();
            app["decided_at"] = now().into();
            app["repair_day"] = repair_day.into();
            app["submission_index"] = base.into();
            app["repair_index"] = (base + 1).into();
            b.put(
                Table::Meta,
                repair_key(&req.id),
                app.to_string().into_bytes(),
            );
            Ok((entries, b, app))
        })
        .map_err(conflict)?;
    debug_assert_eq!(idx.len(), 2);
    Ok(Json(out))
}
