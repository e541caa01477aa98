//! Cross-region witnessing: this service cosigns the checkpoints of partner regions' logs (listed
//! in its federation), after checking each is signed by the partner's log key and consistent with
//! the last one it cosigned for that log. Two different checkpoints of one log for the same size —
//! or a checkpoint that is not consistent with one already cosigned — raise an **equivocation
//! alarm** that keeps both signed checkpoints as evidence; auditors read alarms from
//! `GET /v1/audit/alarms`.

use super::{json_body, now, ApiError, ApiResult, ServiceState};
use crate::protocols::log::checkpoint::{NoteVerifier, SignedCheckpoint};
use crate::protocols::log::{ConsistencyProof, Sha3Log};
use crate::protocols::signing::SigningKey;
use crate::store::{prefix_range, Batch, Table};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// This service as a witness of partner logs, and its routes to partner regions.
pub struct Witness {
    /// The name its cosignatures carry (conventionally its own log origin).
    pub name: String,
    /// Its witness key (role `Witness`).
    pub key: SigningKey,
    /// The partner logs it witnesses.
    pub partners: Vec<NoteVerifier>,
    /// Partner regions it forwards bank queries to.
    pub forward: Vec<Forward>,
}

/// How this region asks a partner region: the partner's address and the bank identity the
/// partner registered for this region.
#[derive(Debug)] // SigningKey prints only its role and public key
pub struct Forward {
    /// The partner's log origin (must also be in `partners`: its log key is pinned there).
    pub origin: String,
    /// The partner's API address (`host:port`).
    pub addr: String,
    /// This region's party at the partner (role `bank`).
    pub party: crate::protocols::names::PartyId,
    /// Its key.
    pub key: SigningKey,
}

/// A sealed-path question about a subject whose records live in a partner region: asked there
/// under this region's identity, the receipt verified here against the partner's pinned log key
/// (and the partner's other keys, fetched and checked against it), the forward logged here as
/// a `Query` entry naming the region, and the partner's receipt returned to the bank to verify
/// itself.
pub(super) async fn forward(
    s: &Arc<ServiceState>,
    bank: &crate::protocols::names::PartyId,
    q: &super::BankQuery,
    region: &str,
) -> ApiResult<Json<serde_json::Value>> {
    use crate::protocols::log::entry::LogEntry;
    use crate::protocols::verdict::VerdictReceipt;
    let w = s.witness.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no route to region `{region}`"),
        )
    })?;
    let route = w
        .forward
        .iter()
        .find(|f| f.origin == region)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no route to region `{region}`"),
            )
        })?;
    let pinned = w
        .partners
        .iter()
        .find(|p| p.name == region)
        .cloned()
        .ok_or_else(|| ApiError::internal("a forward route without a pinned partner log key"))?;
    let (_, local) = super::subject_of(s, &q.subject)?;
    if q.purpose.trim().is_empty() || q.purpose.len() > crate::protocols::consent::MAX_PURPOSE {
        return Err(ApiError::bad("purpose: 1 to 200 bytes"));
    }
    let day = q.day.unwrap_or((now() / 86_400) as u32);
    let mut body = json!({
        "subject": { "kind": q.subject.kind, "id": q.subject.id },
        "policy": q.policy, "day": day, "purpose": q.purpose,
    });
    if let Some(c) = &q.consent {
        body["consent"] = c.clone().into();
    }
    let client = crate::client::Client::new(&route.addr, route.party.clone(), route.key.clone());
    let (answer, anchors) = tokio::task::spawn_blocking(move || {
        let answer = client.post("/v1/bank/query", &body)?;
        let anchors = client.anchors()?;
        Ok::<_, crate::client::ClientError>((answer, anchors))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| match e {
        crate::client::ClientError::Status { status, message } => ApiError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            format!("partner region `{region}`: {message}"),
        ),
        e => ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("partner region `{region}`: {e}"),
        ),
    })?;
    let bad_gateway = |m: &str| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("partner region `{region}`: {m}"),
        )
    };
    if anchors.log.to_vkey() != pinned.to_vkey() {
        return Err(bad_gateway(
            "it serves another log key than the federation pins",
        ));
    }
    let receipt = answer["receipt"]
        .as_str()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| VerdictReceipt::from_bytes(&b).ok())
        .ok_or_else(|| bad_gateway("no verdict receipt in its answer"))?;
    let v = &receipt.verdict.verdict;
    let outcome = receipt
        .verify(
            &anchors,
            &crate::protocols::verdict::Question {
                subject: v.subject,
                policy_hash: v.policy_hash,
                as_of_day: day,
            },
        )
        .map_err(|e| bad_gateway(&format!("its verdict receipt does not verify: {e}")))?;
    let local_policy = s
        .policies
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&q.policy)
        .map(|p| p.hash());
    if local_policy.is_some_and(|h| h != v.policy_hash) {
        return Err(bad_gateway(
            "its policy of that name differs from the one published here",
        ));
    }
    let purpose = format!("forwarded to {region}: {}", q.purpose);
    let purpose: String = purpose.chars().take(250).collect();
    let (idx, ()) = s.append_with(|base| {
        let mut b = Batch::new();
        super::index_for_subject(&mut b, &local, base);
        Ok((
            vec![LogEntry::Query {
                bank: bank.clone(),
                subject: local,
                policy_hash: v.policy_hash,
                as_of_day: day,
                purpose,
                consent_hash: None,
            }],
            b,
            (),
        ))
    })?;
    Ok(Json(json!({
        "outcome": super::outcome_json(outcome),
        "path": "sealed",
        "region": region,
        "receipt": hex::encode(receipt.to_bytes()),
        "log_indices": { "query": idx[0], "partner_verdict": receipt.leaf_index },
    })))
}

fn seen_key(origin: &str, size: u64) -> Vec<u8> {
    format!("witness/{origin}/{size:020}").into_bytes()
}
fn latest_key(origin: &str) -> Vec<u8> {
    format!("witness-latest/{origin}").into_bytes()
}

#[derive(Deserialize)]
struct Cosign {
    /// The partner's signed checkpoint (note text).
    checkpoint: String,
    /// Hex of a consistency proof from the last checkpoint this witness cosigned for that log
    /// (omitted for the first).
    consistency: Option<String>,
}

fn alarm(
    s: &ServiceState,
    origin: &str,
    size: u64,
    seen: &str,
    new: &str,
    why: &str,
) -> ApiResult<ApiError> {
    let record = json!({
        "origin": origin, "size": size, "reason": why, "time": now(),
        "checkpoints": [seen, new],
    });
    let mut b = Batch::new();
    let mut nonce = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    b.insert(
        Table::Meta,
        format!("alarm/{origin}/{size:020}/{}", hex::encode(nonce)).into_bytes(),
        record.to_string().into_bytes(),
    );
    s.store.commit(&b).map_err(ApiError::internal)?;
    tracing::error!(origin, size, "equivocation alarm");
    Ok(ApiError::new(
        StatusCode::CONFLICT,
        format!("equivocation: {why}; both signed checkpoints are kept as evidence"),
    ))
}

/// `POST /v1/witness/cosign`: the partner's log key authenticates the request (the checkpoint
/// signature); nothing else is trusted.
pub(super) async fn cosign(State(s): State<Arc<ServiceState>>, body: Bytes) -> ApiResult<String> {
    let w = s
        .witness
        .as_ref()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "this service witnesses no log"))?;
    let req: Cosign = json_body(&body)?;
    let mut cp = SignedCheckpoint::parse(&req.checkpoint)
        .map_err(|e| ApiError::bad(format!("checkpoint: {e}")))?;
    let origin = cp.checkpoint.origin.clone();
    let partner = w
        .partners
        .iter()
        .find(|p| p.name == origin)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                format!("`{origin}` is not a partner log"),
            )
        })?;
    let c = cp
        .verify(partner)
        .map_err(|_| ApiError::bad("the checkpoint is not signed by the partner's log key"))?
        .clone();
    let _g = s.append.lock().unwrap_or_else(|e| e.into_inner());
    let text = req.checkpoint.clone();
    if let Some(prev) = s
        .store
        .get(Table::Meta, &seen_key(&origin, c.size))
        .map_err(ApiError::internal)?
    {
        let prev = String::from_utf8_lossy(&prev).into_owned();
        let p = SignedCheckpoint::parse(&prev).map_err(ApiError::internal)?;
        if p.checkpoint.root == c.root {
            return Ok(prev);
        }
        return Err(alarm(
            &s,
            &origin,
            c.size,
            &prev,
            &text,
            "two roots for one size",
        )?);
    }
    if let Some(latest) = s
        .store
        .get(Table::Meta, &latest_key(&origin))
        .map_err(ApiError::internal)?
    {
        let latest = String::from_utf8_lossy(&latest).into_owned();
        let l = SignedCheckpoint::parse(&latest).map_err(ApiError::internal)?;
        let l = &l.checkpoint;
        if c.size < l.size {
            return Err(ApiError::bad(format!(
                "older than the last cosigned checkpoint (size {}); send that size or later",
                l.size
            )));
        }
        let proof = req.consistency.as_deref().ok_or_else(|| {
            ApiError::bad(format!(
                "a consistency proof from size {} is required",
                l.size
            ))
        })?;
        let proof = hex::decode(proof)
            .ok()
            .and_then(|b| ConsistencyProof::from_bytes(&b).ok())
            .ok_or_else(|| ApiError::bad("consistency: not a consistency proof"))?;
        if proof.old_size != l.size || proof.new_size != c.size {
            return Err(ApiError::bad(format!(
                "the consistency proof must go from size {} to {}",
                l.size, c.size
            )));
        }
        if proof.verify::<Sha3Log>(&l.root, &c.root).is_err() {
            return Err(alarm(
                &s,
                &origin,
                c.size,
                &latest,
                &text,
                "not consistent with the last cosigned checkpoint",
            )?);
        }
    }
    cp.cosign(&w.name, &w.key, now())
        .map_err(ApiError::internal)?;
    let cosigned = cp.to_text();
    let mut b = Batch::new();
    b.insert(
        Table::Meta,
        seen_key(&origin, c.size),
        cosigned.clone().into_bytes(),
    );
    b.put(
        Table::Meta,
        latest_key(&origin),
        cosigned.clone().into_bytes(),
    );
    s.store.commit(&b).map_err(ApiError::internal)?;
    Ok(cosigned)
}

/// `GET /v1/audit/alarms`: equivocation alarms with their evidence.
pub(super) async fn alarms(
    State(s): State<Arc<ServiceState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    s.authenticate(&headers, &method, &uri, b"", &super::any_party())?;
    let (from, to) = prefix_range(b"alarm/");
    let mut out = Vec::new();
    for (_, v) in s
        .store
        .scan(Table::Meta, &from, to.as_deref(), 10_000)
        .map_err(ApiError::internal)?
    {
        out.push(serde_json::from_slice::<serde_json::Value>(&v).map_err(ApiError::internal)?);
    }
    Ok(Json(json!({ "alarms": out })))
}
