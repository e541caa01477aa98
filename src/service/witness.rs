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

/// This service as a witness of partner logs.
pub struct Witness {
    /// The name its cosignatures carry (conventionally its own log origin).
    pub name: String,
    /// Its witness key (role `Witness`).
    pub key: SigningKey,
    /// The partner logs it witnesses.
    pub partners: Vec<NoteVerifier>,
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
