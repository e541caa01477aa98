//! Witnessing: cosigning another party's log checkpoints after checking them.
//!
//! A [`Witness`] holds its own key and its own store. For each log it witnesses (pinned by
//! origin and log key), it cosigns a checkpoint only if the checkpoint is signed by that log
//! key and is consistent — by an RFC 9162 consistency proof — with the last checkpoint it
//! cosigned for that log. Two different roots for one size, or a checkpoint inconsistent with
//! one already cosigned, raise an **equivocation alarm** that keeps both signed checkpoints.
//!
//! The same core serves two deployments: `credence witness serve`, an independent process with
//! its own data directory that the service has its own checkpoints cosigned by, and a region's
//! service cosigning its partner regions' logs (`POST /v1/witness/cosign` on the service).
//! [`WitnessClient`] is the service side: it asks a witness to cosign, with the consistency
//! proof the witness needs.

use crate::protocols::log::checkpoint::{NoteVerifier, SignedCheckpoint};
use crate::protocols::log::{ConsistencyProof, Sha3Log};
use crate::protocols::signing::{Role, SigningKey};
use crate::store::{prefix_range, Batch, Store, StoreError, Table};
use std::sync::{Arc, Mutex};

/// Response header naming the size of the last checkpoint the witness cosigned for a log, sent
/// when a consistency proof from that size is needed.
pub const HEADER_LATEST_SIZE: &str = "x-credence-witness-latest";

/// Why a witness did not cosign.
#[derive(Debug, thiserror::Error)]
pub enum CosignError {
    /// The note is not a checkpoint.
    #[error("checkpoint: {0}")]
    Malformed(String),
    /// The log is not one this witness witnesses.
    #[error("`{0}` is not a log this witness witnesses")]
    UnknownLog(String),
    /// Not signed by the pinned log key.
    #[error("the checkpoint is not signed by the log's pinned key")]
    BadSignature,
    /// Older than the last cosigned checkpoint.
    #[error("older than the last cosigned checkpoint (size {latest}); send that size or later")]
    Stale {
        /// The last cosigned size.
        latest: u64,
    },
    /// A consistency proof from `latest` is needed (missing, malformed or for other sizes).
    #[error("a consistency proof from size {latest} to {size} is required: {why}")]
    NeedConsistency {
        /// The last cosigned size.
        latest: u64,
        /// The size to cosign.
        size: u64,
        /// What was wrong with what was sent.
        why: &'static str,
    },
    /// The log showed two views: both signed checkpoints are kept as evidence.
    #[error("equivocation: {0}; both signed checkpoints are kept as evidence")]
    Equivocation(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A witness: its key, the logs it witnesses, and what it has cosigned.
pub struct Witness {
    /// The name its cosignatures carry.
    pub name: String,
    key: SigningKey,
    logs: Vec<NoteVerifier>,
    store: Arc<dyn Store>,
    lock: Mutex<()>,
}

fn seen_key(origin: &str, size: u64) -> Vec<u8> {
    format!("witness/{origin}/{size:020}").into_bytes()
}
fn latest_key(origin: &str) -> Vec<u8> {
    format!("witness-latest/{origin}").into_bytes()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Witness {
    /// A witness named `name` with `key` (role `Witness`), witnessing `logs`, keeping its state
    /// in `store`.
    pub fn new(
        name: &str,
        key: SigningKey,
        logs: Vec<NoteVerifier>,
        store: Arc<dyn Store>,
    ) -> Result<Self, String> {
        if key.role() != Role::Witness {
            return Err("a witness cosigns with a witness key".into());
        }
        NoteVerifier::witness(name, key.public()).map_err(|e| e.to_string())?;
        Ok(Witness {
            name: name.to_string(),
            key,
            logs,
            store,
            lock: Mutex::new(()),
        })
    }

    /// Its verifier (what a log's anchors list).
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier::witness(&self.name, self.key.public()).expect("checked in new")
    }

    /// The logs it witnesses.
    pub fn logs(&self) -> &[NoteVerifier] {
        &self.logs
    }

    /// The last checkpoint it cosigned for `origin`.
    pub fn latest(&self, origin: &str) -> Result<Option<SignedCheckpoint>, StoreError> {
        Ok(self
            .store
            .get(Table::Meta, &latest_key(origin))?
            .and_then(|v| SignedCheckpoint::parse(&String::from_utf8_lossy(&v)).ok()))
    }

    /// Checks `text` (a signed checkpoint note) and, if it is signed by its log's pinned key and
    /// consistent with the last checkpoint cosigned for that log (`consistency`: the proof
    /// from that size), cosigns it and returns the note with the cosignature added. The same
    /// checkpoint again is answered with the stored cosigned note.
    ///
    /// Two roots signed for one size are equivocation (an alarm keeps both notes: evidence
    /// anyone can check). A consistency proof that does not verify is equivocation only if
    /// `proof_from_log` — the witness obtained it from the log itself; sent by an
    /// unauthenticated caller it proves nothing about the log and is refused (400), so nobody
    /// can plant false alarms.
    pub fn cosign(
        &self,
        text: &str,
        consistency: Option<&[u8]>,
        proof_from_log: bool,
    ) -> Result<String, CosignError> {
        let mut cp =
            SignedCheckpoint::parse(text).map_err(|e| CosignError::Malformed(e.to_string()))?;
        let origin = cp.checkpoint.origin.clone();
        let log = self
            .logs
            .iter()
            .find(|l| l.name == origin)
            .ok_or_else(|| CosignError::UnknownLog(origin.clone()))?;
        let c = cp
            .verify(log)
            .map_err(|_| CosignError::BadSignature)?
            .clone();
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        // Witness instances sharing one store (several service processes on one database)
        // check and record under the store's lock: otherwise two could each cosign one fork
        // of an equivocating log, both extending the last cosigned checkpoint.
        let _db = self.store.lock_log_head()?;
        if let Some(prev) = self.store.get(Table::Meta, &seen_key(&origin, c.size))? {
            let prev = String::from_utf8_lossy(&prev).into_owned();
            let p = SignedCheckpoint::parse(&prev)
                .map_err(|e| CosignError::Malformed(e.to_string()))?;
            if p.checkpoint.root == c.root {
                return Ok(prev);
            }
            self.alarm(&origin, c.size, &prev, text, "two roots for one size")?;
            return Err(CosignError::Equivocation("two roots for one size"));
        }
        if let Some(latest) = self.store.get(Table::Meta, &latest_key(&origin))? {
            let latest = String::from_utf8_lossy(&latest).into_owned();
            let l = SignedCheckpoint::parse(&latest)
                .map_err(|e| CosignError::Malformed(e.to_string()))?;
            let l = &l.checkpoint;
            if c.size < l.size {
                return Err(CosignError::Stale { latest: l.size });
            }
            let need = |why| CosignError::NeedConsistency {
                latest: l.size,
                size: c.size,
                why,
            };
            let proof = consistency.ok_or(need("none was sent"))?;
            let proof = ConsistencyProof::from_bytes(proof).map_err(|_| need("malformed"))?;
            if proof.old_size != l.size || proof.new_size != c.size {
                return Err(need("it is for other sizes"));
            }
            if proof.verify::<Sha3Log>(&l.root, &c.root).is_err() {
                if !proof_from_log {
                    return Err(need("it does not verify"));
                }
                self.alarm(
                    &origin,
                    c.size,
                    &latest,
                    text,
                    "not consistent with the last cosigned checkpoint",
                )?;
                return Err(CosignError::Equivocation(
                    "not consistent with the last cosigned checkpoint",
                ));
            }
        }
        cp.cosign(&self.name, &self.key, now())
            .map_err(|e| CosignError::Malformed(e.to_string()))?;
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
        self.store.commit(&b)?;
        Ok(cosigned)
    }

    /// Records an equivocation alarm for `origin` at `size` with both signed notes (kept once
    /// per pair of notes).
    pub fn alarm(
        &self,
        origin: &str,
        size: u64,
        seen: &str,
        new: &str,
        why: &str,
    ) -> Result<(), StoreError> {
        let record = serde_json::json!({
            "origin": origin, "size": size, "reason": why, "time": now(),
            "checkpoints": [seen, new],
        });
        // One alarm per pair of notes: repeating the same evidence adds nothing.
        use sha3::Digest;
        let mut h = sha3::Sha3_256::new();
        h.update(seen.as_bytes());
        h.update([0]);
        h.update(new.as_bytes());
        let id = hex::encode(&h.finalize()[..16]);
        let key = format!("alarm/{origin}/{size:020}/{id}").into_bytes();
        if self.store.get(Table::Meta, &key)?.is_none() {
            let mut b = Batch::new();
            b.put(Table::Meta, key, record.to_string().into_bytes());
            self.store.commit(&b)?;
        }
        tracing::error!(origin, size, "equivocation alarm");
        Ok(())
    }

    /// Every equivocation alarm raised, with its evidence.
    pub fn alarms(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        let (from, to) = prefix_range(b"alarm/");
        Ok(self
            .store
            .scan(Table::Meta, &from, to.as_deref(), 10_000)?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect())
    }
}

/// The HTTP status, message and (for [`CosignError::NeedConsistency`] and
/// [`CosignError::Stale`]) the last cosigned size, for an error.
pub fn cosign_error_status(e: &CosignError) -> (u16, Option<u64>) {
    match e {
        CosignError::Malformed(_) | CosignError::BadSignature => (400, None),
        CosignError::UnknownLog(_) => (403, None),
        CosignError::Stale { latest } => (400, Some(*latest)),
        CosignError::NeedConsistency { latest, .. } => (400, Some(*latest)),
        CosignError::Equivocation(_) => (409, None),
        CosignError::Store(_) => (500, None),
    }
}

/// The routes of `credence witness serve`: `POST /v1/witness/cosign` (body
/// `{checkpoint, consistency?}`: the log's signature is the authentication), `GET
/// /v1/witness/key` (its verifier key) and `GET /v1/witness/alarms`.
pub fn router(witness: Arc<Witness>) -> axum::Router {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    #[derive(serde::Deserialize)]
    struct Cosign {
        checkpoint: String,
        consistency: Option<String>,
    }
    async fn cosign(State(w): State<Arc<Witness>>, body: axum::body::Bytes) -> Response {
        let req: Cosign = match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return error_response(
                    400,
                    "invalid_request",
                    &format!("malformed JSON body: {e}"),
                    None,
                )
            }
        };
        let proof = match req.consistency.as_deref().map(hex::decode) {
            Some(Err(_)) => {
                return error_response(400, "invalid_request", "consistency: not hex", None)
            }
            Some(Ok(p)) => Some(p),
            None => None,
        };
        let w2 = w.clone();
        match tokio::task::spawn_blocking(move || {
            w2.cosign(&req.checkpoint, proof.as_deref(), false)
        })
        .await
        {
            Ok(Ok(text)) => (StatusCode::OK, text).into_response(),
            Ok(Err(e)) => {
                let (status, latest) = cosign_error_status(&e);
                let code = match &e {
                    CosignError::Equivocation(_) => "equivocation",
                    CosignError::UnknownLog(_) => "forbidden",
                    CosignError::Store(_) => "internal",
                    _ => "invalid_request",
                };
                let message = if status == 500 {
                    tracing::error!(error = %e, "witness store");
                    "internal error".to_string()
                } else {
                    e.to_string()
                };
                error_response(status, code, &message, latest)
            }
            Err(e) => {
                tracing::error!(error = %e, "witness task");
                error_response(500, "internal", "internal error", None)
            }
        }
    }
    async fn key(State(w): State<Arc<Witness>>) -> String {
        w.verifier().to_vkey()
    }
    async fn alarms(State(w): State<Arc<Witness>>) -> Response {
        match w.alarms() {
            Ok(a) => axum::Json(serde_json::json!({ "alarms": a })).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "witness store");
                error_response(500, "internal", "internal error", None)
            }
        }
    }
    axum::Router::new()
        .route(
            "/v1/witness/cosign",
            post(cosign).layer(axum::extract::DefaultBodyLimit::max(256 << 10)),
        )
        .route("/v1/witness/key", get(key))
        .route("/v1/witness/alarms", get(alarms))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(witness)
}

/// `{"error": {"code", "message"}}` with `status`, and the latest-size header when given.
pub fn error_response(
    status: u16,
    code: &str,
    message: &str,
    latest: Option<u64>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    let mut res = (
        status,
        axum::Json(serde_json::json!({ "error": { "code": code, "message": message } })),
    )
        .into_response();
    if let Some(l) = latest {
        if let Ok(v) = axum::http::HeaderValue::from_str(&l.to_string()) {
            res.headers_mut().insert(HEADER_LATEST_SIZE, v);
        }
    }
    res
}

/// A witness the service has its own checkpoints cosigned by.
#[derive(Clone, Debug)]
pub struct WitnessClient {
    /// The witness's verifier key (pinned in the service's configuration).
    pub verifier: NoteVerifier,
    /// Its address (`host:port`).
    pub addr: String,
}

impl WitnessClient {
    /// Asks the witness to cosign `checkpoint`; `consistency(old)` gives the proof from `old`
    /// to the checkpoint's size (asked for when the witness names the size it last cosigned).
    /// Returns the cosigned checkpoint, checked to carry a valid cosignature by this witness.
    pub fn cosign(
        &self,
        checkpoint: &SignedCheckpoint,
        known_latest: Option<u64>,
        consistency: &dyn Fn(u64) -> Option<Vec<u8>>,
    ) -> Result<SignedCheckpoint, String> {
        let mut from = known_latest;
        for _ in 0..2 {
            let mut body = serde_json::json!({ "checkpoint": checkpoint.to_text() });
            if let Some(old) = from.filter(|o| *o > 0 && *o < checkpoint.checkpoint.size) {
                if let Some(p) = consistency(old) {
                    body["consistency"] = hex::encode(p).into();
                }
            }
            let (status, headers, out) = crate::party::client::plain_post(
                &self.addr,
                "/v1/witness/cosign",
                body.to_string().as_bytes(),
            )
            .map_err(|e| format!("witness {}: {e}", self.verifier.name))?;
            if status == 200 {
                let cp = SignedCheckpoint::parse(&String::from_utf8_lossy(&out))
                    .map_err(|e| format!("witness {}: {e}", self.verifier.name))?;
                if cp.checkpoint != checkpoint.checkpoint
                    || cp.cosignature_time(&self.verifier).is_none()
                {
                    return Err(format!(
                        "witness {} answered without a valid cosignature",
                        self.verifier.name
                    ));
                }
                return Ok(cp);
            }
            let latest = headers
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(HEADER_LATEST_SIZE))
                .and_then(|(_, v)| v.trim().parse::<u64>().ok());
            match latest {
                Some(l) if Some(l) != from => from = Some(l),
                _ => {
                    return Err(format!(
                        "witness {} refused (HTTP {status}): {}",
                        self.verifier.name,
                        crate::party::client::error_message(&out)
                    ))
                }
            }
        }
        Err(format!(
            "witness {} keeps asking for another consistency proof",
            self.verifier.name
        ))
    }
}
