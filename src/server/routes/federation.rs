//! Cross-region: this service witnesses the checkpoints of partner regions' logs (listed in its
//! federation) and forwards bank queries to the partner holding a subject's records.
//!
//! Cosigning uses [`crate::witness::Witness`]: a partner checkpoint is cosigned only after
//! checking it is signed by the partner's pinned log key and consistent with the last one
//! cosigned for that log; two roots for one size, or an inconsistent checkpoint, raise an
//! **equivocation alarm** that keeps both signed checkpoints (`GET /v1/audit/alarms`).
//!
//! A forwarded query's receipt is verified here against the partner's anchors **as the
//! federation file pins them** (log key, key authority, witnesses and quorum — never fetched
//! from the partner), for this region's own question (its published policy of that name, the
//! day it asked about), and its checkpoint must be consistent with the partner checkpoints this
//! region has cosigned: a partner cannot show this region one view of its log and its own
//! banks another.

use crate::protocols::log::ConsistencyProof;
use crate::protocols::log::Sha3Log;
use crate::server::api::*;
use crate::server::error::ErrorBody;
use crate::server::error::{json_body, ApiError, ApiResult};
use crate::server::records::*;
use crate::server::state::{any_party, ServiceState};
use crate::server::subjects::*;
use crate::witness::CosignError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;
use std::sync::Arc;

/// The witness core for partner logs, on this service's store.
pub(crate) fn core(s: &ServiceState) -> Option<Arc<crate::witness::Witness>> {
    s.partner_core.clone()
}

/// A sealed-path question about a subject whose records live in a partner region: asked there
/// under this region's identity, the receipt verified here (pinned anchors, this region's
/// question, consistency with what this region cosigned), the forward logged here as a `Query`
/// entry naming the region, and the partner's receipt returned to the bank to verify itself.
pub(crate) async fn forward(
    s: &Arc<ServiceState>,
    bank: &crate::protocols::names::PartyId,
    q: &BankQuery,
    region: &str,
) -> ApiResult<Json<VerdictAnswer>> {
    let no_route = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no route to region `{region}`"),
        )
    };
    let w = s.witness.as_ref().ok_or_else(no_route)?;
    let route = w
        .forward
        .iter()
        .find(|f| f.origin == region)
        .ok_or_else(no_route)?;
    let (_, local) = subject_of(s, &q.subject)?;
    let day = q.day.unwrap_or((now() / 86_400) as u32);
    crate::protocols::question::check_day("day", day).map_err(ApiError::bad)?;
    // This region's question: its own published policy of that name, its own day.
    let policy = s.published_policy(&q.policy)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no published policy `{}` here to ask the partner about",
                q.policy
            ),
        )
    })?;
    let pinned = policy.pin();
    // A person is asked about only with the person's consent for this bank, checked and
    // recorded here as for a local question.
    let (id_here, _) = subject_of(s, &q.subject)?;
    let consent = check_consent(
        s,
        bank,
        &id_here,
        &local,
        &pinned.hash(),
        &q.purpose,
        day,
        q.consent.as_deref(),
    )?;
    // The bank signed this question for this region to forward to `region` (its pseudonym
    // here, this region's policy): checked, its nonce taken now (one signed request, one
    // question at the partner), and logged with the forward's Query entry, which names the
    // region (nothing is evaluated or decrypted here for it).
    let request = s.signed_request(
        bank,
        &local,
        &pinned.hash(),
        day,
        &q.purpose,
        consent.as_ref().map(|c| c.hash()),
        Some(region),
        q.request.as_ref(),
    )?;
    // The nonce is taken while the question is at the partner; if the forward fails, it is
    // released and nothing is stored.
    s.reserve_request(bank, &request)?;
    let answered = forward_reserved(
        s,
        bank,
        q,
        region,
        route,
        local,
        day,
        (&policy, &pinned),
        consent,
        request,
    )
    .await;
    if answered.is_err() {
        s.release_request(bank, &request);
    }
    answered
}

/// [`forward`] once the bank's signed request is checked and its nonce taken.
#[allow(clippy::too_many_arguments)]
async fn forward_reserved(
    s: &Arc<ServiceState>,
    bank: &crate::protocols::names::PartyId,
    q: &BankQuery,
    region: &str,
    route: &crate::server::state::Forward,
    local: crate::protocols::pseudonym::Pseudonym,
    day: u32,
    (policy, pinned): (
        &crate::circuits::policy::Policy,
        &crate::protocols::question::PinnedPolicy,
    ),
    consent: Option<crate::protocols::consent::SignedConsent>,
    request: crate::protocols::query::RequestSignature,
) -> ApiResult<Json<VerdictAnswer>> {
    use crate::protocols::log::entry::LogEntry;
    use crate::protocols::question::Question;
    use crate::protocols::verdict::VerdictReceipt;
    let bad_gateway = |m: &str| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("partner region `{region}`: {m}"),
        )
    };
    let mut body = json!({
        "subject": { "kind": q.subject.kind, "id": q.subject.id },
        "policy": q.policy, "day": day, "purpose": q.purpose,
    });
    if let Some(c) = &q.consent {
        body["consent"] = c.clone().into();
    }
    let client = crate::party::client::Client::with_origin(
        &route.addr,
        region,
        route.party.clone(),
        route.key.clone(),
    );
    let (id, _) = subject_of(s, &q.subject)?;
    let consent_hash = consent.as_ref().map(|c| c.hash());
    let policy_hash = pinned.hash();
    let purpose_there = q.purpose.clone();
    let answer = tokio::task::spawn_blocking(move || {
        // The partner's pseudonym of the identifier, asked before the question (pseudonym keys
        // are per region: only the partner can compute it), then the question itself, signed
        // by this region as the partner's party.
        let (partner_subject, _) = client.pseudonym(&id)?;
        body["request"] = client.sign_question(
            &partner_subject,
            &policy_hash,
            day,
            &purpose_there,
            consent_hash,
            None,
        )?;
        client
            .post("/v1/bank/query", &body)
            .map(|a| (partner_subject, a))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| partner_failure(region, e))?;
    let (partner_subject, answer) = answer;
    let receipt = answer["receipt"]
        .as_str()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| VerdictReceipt::from_bytes(&b).ok())
        .ok_or_else(|| bad_gateway("no verdict receipt in its answer"))?;
    // The subject is the pseudonym the partner gave for the identifier before answering: the
    // one thing this region takes from the partner (see SECURITY.md).
    if partner_subject.kind != local.kind {
        return Err(bad_gateway("its pseudonym is for another kind of subject"));
    }
    let question = Question {
        subject: partner_subject,
        policy: pinned,
        as_of_day: day,
    };
    let verified = receipt
        .verify(&route.anchors, &question)
        .map_err(|e| bad_gateway(&format!("its verdict receipt does not verify: {e}")))?;
    consistent_with_cosigned(s, route, &receipt.checkpoint).await?;
    let (idx, ()) = s.append_with(|base| {
        let mut b = crate::store::Batch::new();
        index_for_subject(&mut b, &local, base);
        if let Some(c) = &consent {
            b.put(
                crate::store::Table::Consents,
                c.hash().to_vec(),
                c.to_bytes(),
            );
        }
        Ok((
            vec![LogEntry::Query {
                bank: bank.clone(),
                subject: local,
                policy_hash: pinned.hash(),
                as_of_day: day,
                purpose: q.purpose.clone(),
                consent_hash: consent.as_ref().map(|c| c.hash()),
                salt: crate::protocols::log::entry::salt(&mut rand::rngs::OsRng),
                region: Some(region.to_string()),
                request: Some(request),
            }],
            b,
            (),
        ))
    })?;
    Ok(Json(VerdictAnswer {
        outcome: verified.outcome.into(),
        coverage: coverage_of(policy, &verified.coverage),
        rests_on_disputed_data: None,
        path: "sealed".into(),
        witness_quorum_met: None,
        receipt: hex::encode(receipt.to_bytes()),
        log_indices: QueryIndices {
            query: idx[0],
            partner_verdict: Some(receipt.leaf_index),
            ..Default::default()
        },
        bootstraps: None,
        region: Some(region.to_string()),
        partner_subject: Some(partner_subject.to_text()),
    }))
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
/// What the bank is told when the partner region did not answer with a verdict: always 502
/// (the partner's status is the partner's, not this service's: a partner's 401 must not read as
/// the bank's own credentials being wrong), with the partner's reason reduced to at most 160
/// printable characters so a partner cannot inject text, control characters or bulk into this
/// region's answers.
fn partner_failure(region: &str, e: crate::party::client::ClientError) -> ApiError {
    let reason = match e {
        crate::party::client::ClientError::Status { status, message } => {
            format!("refused the question ({status}): {message}")
        }
        e => e.to_string(),
    };
    let clean: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut reason = truncate_text(&clean, 160);
    if reason.len() < clean.len() {
        reason.push('…');
    }
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        format!("partner region `{region}`: {reason}"),
    )
}

pub(crate) fn truncate_text(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Checks a partner checkpoint (already verified against the pinned anchors) against what this
/// region cosigned for that log: a later one must be proven consistent (and is cosigned now),
/// the same size must have the same root, an earlier one must be consistent with it.
pub(crate) async fn consistent_with_cosigned(
    s: &Arc<ServiceState>,
    route: &crate::server::state::Forward,
    cp: &crate::protocols::log::checkpoint::SignedCheckpoint,
) -> ApiResult<()> {
    let witness = core(s).ok_or_else(|| ApiError::internal("forwarding without witnessing"))?;
    let bad = |m: String| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("partner region `{}`: {m}", route.origin),
        )
    };
    let latest = witness.latest(&route.origin).map_err(ApiError::internal)?;
    let client = crate::party::client::Client::with_origin(
        &route.addr,
        &route.origin,
        route.party.clone(),
        route.key.clone(),
    );
    let size = cp.checkpoint.size;
    match latest {
        Some(l) if l.checkpoint.size > size => {
            let (old, new) = (size, l.checkpoint.size);
            let proof = tokio::task::spawn_blocking(move || client.consistency(old, new))
                .await
                .map_err(ApiError::internal)?
                .map_err(|e| bad(format!("no consistency proof: {e}")))?;
            if proof.old_size != old
                || proof.new_size != new
                || proof
                    .verify::<Sha3Log>(&cp.checkpoint.root, &l.checkpoint.root)
                    .is_err()
            {
                let why = "its receipt's checkpoint is not consistent with the checkpoint this region cosigned (split view)";
                witness
                    .alarm(&route.origin, size, &l.to_text(), &cp.to_text(), why)
                    .map_err(ApiError::internal)?;
                return Err(bad(format!("equivocation: {why}")));
            }
            Ok(())
        }
        latest => {
            let proof = match &latest {
                Some(l) if l.checkpoint.size < size => {
                    let (old, new) = (l.checkpoint.size, size);
                    Some(
                        tokio::task::spawn_blocking(move || client.consistency(old, new))
                            .await
                            .map_err(ApiError::internal)?
                            .map_err(|e| bad(format!("no consistency proof: {e}")))?
                            .to_bytes(),
                    )
                }
                _ => None,
            };
            let text = cp.to_text();
            // The proof came from the partner itself: if it does not verify, the partner
            // signed two views.
            tokio::task::spawn_blocking(move || witness.cosign(&text, proof.as_deref(), true))
                .await
                .map_err(ApiError::internal)?
                .map(|_| ())
                .map_err(|e| match e {
                    CosignError::Equivocation(why) => bad(format!(
                        "equivocation: {why} (both signed checkpoints kept as evidence)"
                    )),
                    e => bad(e.to_string()),
                })
        }
    }
}

/// `POST /v1/witness/cosign`: the partner's log key authenticates the request (the checkpoint
/// signature); nothing else is trusted.
#[utoipa::path(
    operation_id = "federation_cosign",
    post,
    path = "/v1/witness/cosign",
    tag = "none:",
    request_body = CosignRequest,
    responses(
        (status = 200, description = "the cosignature line", body = String, content_type = "text/plain"),
        (status = 400, description = "bad input: the message says which field and why", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 404, description = "unknown policy, object or application", body = ErrorBody),
        (status = 409, description = "already exists or superseded", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    extensions(("x-credence-role" = json!("none: the partner log's signature on the checkpoint authenticates it")))
)]
pub(crate) async fn cosign(
    State(s): State<Arc<ServiceState>>,
    body: Bytes,
) -> Result<axum::response::Response, ApiError> {
    let witness = core(&s)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "this service witnesses no log"))?;
    let req: CosignRequest = json_body(&body)?;
    let proof = match req.consistency.as_deref() {
        Some(h) => Some(
            hex::decode(h)
                .ok()
                .filter(|b| ConsistencyProof::from_bytes(b).is_ok())
                .ok_or_else(|| ApiError::bad("consistency: not a consistency proof"))?,
        ),
        None => None,
    };
    let result = tokio::task::spawn_blocking(move || {
        witness.cosign(&req.checkpoint, proof.as_deref(), false)
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(match result {
        Ok(text) => axum::response::IntoResponse::into_response(text),
        Err(CosignError::Store(e)) => return Err(ApiError::internal(e)),
        Err(e) => {
            let (status, latest) = crate::witness::cosign_error_status(&e);
            let code = match &e {
                CosignError::Equivocation(_) => "equivocation",
                CosignError::UnknownLog(_) => "forbidden",
                _ => "invalid_request",
            };
            crate::witness::error_response(status, code, &e.to_string(), latest)
        }
    })
}

/// `GET /v1/audit/alarms`: equivocation alarms with their evidence.
#[utoipa::path(
    operation_id = "federation_alarms",
    get,
    path = "/v1/audit/alarms",
    tag = "audit",
    responses(
        (status = 200, description = "equivocation alarms", body = Alarms),
        (status = 401, description = "unsigned, badly signed, unknown party, stale or replayed", body = ErrorBody),
        (status = 403, description = "wrong role, another party's data, or no valid consent", body = ErrorBody),
        (status = 500, description = "internal error (details in the service log)", body = ErrorBody)
    ),
    security(("party" = [], "time" = [], "nonce" = [], "signature" = [])),
    extensions(("x-credence-role" = json!("any registered party")))
)]
pub(crate) async fn alarms(
    State(s): State<Arc<ServiceState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> ApiResult<Json<Alarms>> {
    s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    let alarms = match core(&s) {
        Some(w) => w.alarms().map_err(ApiError::internal)?,
        None => Vec::new(),
    };
    Ok(Json(Alarms { alarms }))
}
