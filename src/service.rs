//! The HTTP service (axum): signed requests, role-checked routes, the sealed-path query, the
//! log for auditors. Every write is committed durably, together with its log entries, before
//! the response.
//!
//! Routes (all bodies JSON unless noted; every request signed, see `protocols::request`):
//!
//! | route | role | |
//! |---|---|---|
//! | `POST /v1/operator/parties` | operator | register a holder, bank, witness |
//! | `POST /v1/operator/policies` | operator | publish a policy (text body) |
//! | `POST /v1/holder/pseudonym` | holder, bank | the pseudonym of a subject identifier (holders: and its sealing key) |
//! | `POST /v1/holder/sealed` | holder | a sealed record (binary body) |
//! | `POST /v1/holder/committed` | holder | signed commitments with sealed openings |
//! | `POST /v1/bank/query` | bank | sealed-path question → verdict receipt |
//! | `POST /v1/bank/proof` | bank | proven-path question with a proof package → verdict receipt |
//! | `GET /v1/subject/records`, `/v1/subject/queries` | subject | my records; queries about me |
//! | `POST`/`GET /v1/subject/repairs` | subject | apply for repair; my applications and receipts |
//! | `GET /v1/holder/repairs`, `POST /v1/holder/repairs/decide` | holder | repair inbox; approve or refuse |
//! | `POST /v1/holder/listings` | holder | listing notice: class, decision day → until, earliest repair |
//! | `POST /v1/subject/disputes` | subject | dispute a log entry about me |
//! | `GET /v1/holder/disputes`, `POST /v1/holder/disputes/answer` | holder | disputes of my submissions; uphold or correct |
//! | `POST /v1/subject/pledges`, `GET /v1/holder/pledges` | subject / holder | credit pledges |
//! | `GET /v1/bank/receipt` | bank | a fresh receipt for a verdict issued to it |
//! | `GET /v1/audit/checkpoint`, `entries`, `proof/inclusion`, `proof/consistency`, `policies`, `object`, `keys` | any registered party | the log and what it refers to (what concerns others: auditors only) |
//! | `POST /v1/witness/cosign` | none (the partner's log signature) | cosign a partner checkpoint |
//! | `GET /v1/audit/alarms` | any registered party | equivocation alarms |
//! | `GET /v1/anchors`, `/openapi.json`, `/metrics`, `/healthz` | none | |

use crate::auth::{AuthError, Authenticator};
use crate::circuits::catalog::Catalog;
use crate::circuits::policy::Policy;
use crate::fhe::engine::{Engine, StoredRecord};
use crate::fhe::holder::SealedRecord;
use crate::key_authority::{DecryptionRequest, KeyAuthority};
use crate::log_service::LogService;
use crate::protocols::encoding::{Reader, Writer};
use crate::protocols::identifiers::{SubjectId, SubjectKind};
use crate::protocols::log::entry::{EvaluationPath, LogEntry};
use crate::protocols::log::hash::Hash;
use crate::protocols::names::PartyId;
use crate::protocols::pseudonym::{Pseudonym, PseudonymKey};
use crate::protocols::sealed::SignedSealedSubmission;
use crate::protocols::signing::{PublicKey, Role};
use crate::protocols::verdict::{SignedVerdict, VerdictReceipt};
use crate::store::{prefix_range, Batch, Store, Table};
use crate::witness::WitnessClient;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest JSON body.
pub const MAX_JSON_BODY: usize = 64 << 10;
/// Largest sealed-record body (a 16-value proven list is ≈ 20 KB).
pub const MAX_SEALED_BODY: usize = 256 << 10;
/// Largest committed-attributes batch (256 signed commitments with sealed openings, hex).
pub const MAX_BATCH_BODY: usize = 1 << 20;
/// Largest proven-path query (a proof package, hex).
pub const MAX_PROOF_BODY: usize = 1 << 20;
/// Largest policy text.
pub const MAX_POLICY_BODY: usize = 64 << 10;

/// An API error: status and a message that says what was wrong.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What was wrong.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return ApiError::internal(e);
        }
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Request counters for `/metrics`.
#[derive(Default)]
struct Metrics {
    by_status: Mutex<BTreeMap<(String, u16), u64>>,
    fhe_rejected: AtomicU64,
}

/// Everything the handlers share.
pub struct ServiceState {
    store: Arc<dyn Store>,
    log: LogService,
    auth: Authenticator,
    catalog: Catalog,
    policies: RwLock<BTreeMap<String, Policy>>,
    pseudonyms: PseudonymKey,
    engine: Arc<Engine>,
    authority: Arc<KeyAuthority>,
    fhe_slots: Arc<tokio::sync::Semaphore>,
    append: Mutex<()>,
    metrics: Metrics,
    witness: Option<Witness>,
    partner_core: Option<Arc<crate::witness::Witness>>,
    witnesses: Vec<WitnessClient>,
    witness_quorum: usize,
    last_prune: AtomicU64,
}

/// How to build a [`ServiceState`].
pub struct ServiceParts {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// The log.
    pub log: LogService,
    /// The catalogue.
    pub catalog: Catalog,
    /// The pseudonym key.
    pub pseudonyms: PseudonymKey,
    /// The compute engine.
    pub engine: Arc<Engine>,
    /// The key authority (in-process component with its own key store).
    pub authority: Arc<KeyAuthority>,
    /// Concurrent FHE evaluations admitted; more get 503.
    pub fhe_slots: usize,
    /// Request time window, seconds.
    pub window_secs: u64,
    /// Partner logs this service witnesses (cross-region), if any.
    pub witness: Option<Witness>,
    /// The witnesses that cosign this service's own checkpoints.
    pub witnesses: Vec<WitnessClient>,
    /// How many of them must cosign a checkpoint handed out with a receipt.
    pub witness_quorum: usize,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn policy_key(name: &str) -> Vec<u8> {
    format!("policy/{name}").into_bytes()
}

fn pseudonym_bytes(p: &Pseudonym) -> Vec<u8> {
    let mut v = vec![match p.kind {
        SubjectKind::Enterprise => 1u8,
        SubjectKind::Person => 2,
    }];
    v.extend_from_slice(&p.bytes);
    v
}

fn pseudonym_from_bytes(b: &[u8]) -> Option<Pseudonym> {
    let kind = match b.first()? {
        1 => SubjectKind::Enterprise,
        2 => SubjectKind::Person,
        _ => return None,
    };
    Some(Pseudonym {
        kind,
        bytes: b.get(1..33)?.try_into().ok()?,
    })
}

/// Index key of the latest sealed record carrying an attribute of a subject (one per
/// (subject, attribute): a holder's later record of another attribute leaves it alone).
fn sealed_index_key(subject: &Pseudonym, attribute: &str) -> Vec<u8> {
    let mut k = pseudonym_bytes(subject);
    k.push(b'a');
    k.extend_from_slice(attribute.as_bytes());
    k
}

/// Index key of the latest commitment to an attribute of a subject.
fn committed_index_key(subject: &Pseudonym, attribute: &str) -> Vec<u8> {
    let mut k = pseudonym_bytes(subject);
    k.push(b'c');
    k.extend_from_slice(attribute.as_bytes());
    k
}

/// Key of a submission: holder ‖ 0 ‖ submission id.
fn submission_key(holder: &PartyId, id: u64) -> Vec<u8> {
    let mut k = holder.as_str().as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Key of a submission's content hash → submission key (auditors fetch inputs by hash).
fn content_hash_key(hash: &Hash) -> Vec<u8> {
    let mut k = b"content/".to_vec();
    k.extend_from_slice(hash);
    k
}

/// Key of a verdict's bank (who may read the verdict besides its subject and auditors).
fn verdict_bank_key(hash: &Hash) -> Vec<u8> {
    let mut k = b"verdict-bank/".to_vec();
    k.extend_from_slice(hash);
    k
}

fn verdict_index_key(hash: &Hash) -> Vec<u8> {
    let mut k = b"verdict-index/".to_vec();
    k.extend_from_slice(hash);
    k
}

/// Stores a signed verdict, to whom it was issued and the log index of its `Verdict` entry,
/// into `batch`.
fn store_verdict(batch: &mut Batch, verdict: &SignedVerdict, bank: &PartyId, index: u64) {
    batch.insert(Table::Verdicts, verdict.hash().to_vec(), verdict.to_bytes());
    batch.put(
        Table::Meta,
        verdict_bank_key(&verdict.hash()),
        bank.as_str().as_bytes().to_vec(),
    );
    batch.put(
        Table::Meta,
        verdict_index_key(&verdict.hash()),
        index.to_be_bytes().to_vec(),
    );
}

/// Key of a party's registration → the log index of its `PartyRegistered` entry.
fn registration_key(party: &PartyId) -> Vec<u8> {
    let mut k = b"registration/".to_vec();
    k.extend_from_slice(party.as_str().as_bytes());
    k
}

/// Records that log entry `index` concerns `subject` (the subject's query history).
fn index_for_subject(batch: &mut Batch, subject: &Pseudonym, index: u64) {
    let mut k = b"q/".to_vec();
    k.extend_from_slice(&pseudonym_bytes(subject));
    k.extend_from_slice(&index.to_be_bytes());
    batch.put(Table::Subjects, k, Vec::new());
}

/// Which of the policy's attributes had records, which took defaults, which required ones
/// were missing.
fn coverage_json(
    policy: &Policy,
    coverage: &[crate::protocols::names::AttributeId],
) -> serde_json::Value {
    let (present, defaults, missing) = policy.coverage_split(coverage);
    json!({ "records": present, "defaults": defaults, "missing_required": missing })
}

fn outcome_json(o: crate::protocols::log::entry::Outcome) -> serde_json::Value {
    match o {
        crate::protocols::log::entry::Outcome::Eligible(b) => json!({ "eligible": b }),
        crate::protocols::log::entry::Outcome::Grade(g) => json!({ "grade": g }),
    }
}

/// Stored form of a sealed submission: the holder's upload, what the engine keeps, and the
/// log index of its first entry (tag 3).
fn encode_sealed(record: &SealedRecord, stored: &StoredRecord, log_index: u64) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(3);
    w.bytes(&record.submission.to_bytes());
    w.bytes(&record.list);
    w.bytes(&stored.bytes);
    w.u64(log_index);
    w.into_bytes()
}

fn decode_sealed(v: &[u8]) -> Option<(SealedRecord, StoredRecord, u64)> {
    let mut r = Reader::new(v);
    if r.u8("kind").ok()? != 3 {
        return None;
    }
    let submission =
        SignedSealedSubmission::from_bytes(r.bytes("submission", 1 << 16).ok()?).ok()?;
    let list = r.bytes("list", 1 << 22).ok()?.to_vec();
    let stored = r.bytes("stored", 1 << 22).ok()?.to_vec();
    let index = r.u64("log index").ok()?;
    r.finish().ok()?;
    Some((
        SealedRecord {
            submission: submission.clone(),
            list,
        },
        StoredRecord {
            attributes: submission.submission.attributes.clone(),
            bytes: stored,
        },
        index,
    ))
}

impl ServiceState {
    /// Builds the state, loading published policies from the store.
    pub fn new(parts: ServiceParts) -> Result<Arc<Self>, String> {
        let mut policies = BTreeMap::new();
        let (from, to) = prefix_range(b"policy/");
        for (_, text) in parts
            .store
            .scan(Table::Meta, &from, to.as_deref(), 10_000)
            .map_err(|e| e.to_string())?
        {
            let text = String::from_utf8(text).map_err(|e| e.to_string())?;
            let p = Policy::parse(&text, &parts.catalog).map_err(|e| e.to_string())?;
            parts.authority.publish(p.clone());
            policies.insert(p.name.clone(), p);
        }
        // The key authority learns the registered holders (it checks their signatures).
        for (party, key) in parts
            .store
            .scan(Table::Parties, &[], None, 1_000_000)
            .map_err(|e| e.to_string())?
        {
            let key = crate::auth::decode_party_key(&key).ok_or("corrupt party key")?;
            if key.role() == Role::Holder {
                let party = std::str::from_utf8(&party)
                    .ok()
                    .and_then(|p| PartyId::new(p).ok())
                    .ok_or("corrupt party id")?;
                parts.authority.register_holder(party, key);
            }
        }
        let partner_core = match &parts.witness {
            Some(w) => Some(Arc::new(crate::witness::Witness::new(
                &w.name,
                w.key.clone(),
                w.partners.clone(),
                parts.store.clone(),
            )?)),
            None => None,
        };
        Ok(Arc::new(ServiceState {
            partner_core,
            auth: Authenticator::new(parts.store.clone(), parts.window_secs),
            store: parts.store,
            log: parts.log,
            catalog: parts.catalog,
            policies: RwLock::new(policies),
            pseudonyms: parts.pseudonyms,
            engine: parts.engine,
            authority: parts.authority,
            fhe_slots: Arc::new(tokio::sync::Semaphore::new(parts.fhe_slots.max(1))),
            append: Mutex::new(()),
            metrics: Metrics::default(),
            witness: parts.witness,
            witnesses: parts.witnesses,
            witness_quorum: parts.witness_quorum,
            last_prune: AtomicU64::new(0),
        }))
    }

    /// The log.
    pub fn log(&self) -> &LogService {
        &self.log
    }

    fn authenticate(
        &self,
        headers: &HeaderMap,
        method: &Method,
        uri: &Uri,
        body: &[u8],
        roles: &[Role],
    ) -> ApiResult<crate::auth::Caller> {
        let pq = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or(uri.path());
        let t = now();
        // Nonces older than the window can never be accepted again: forget them (at most
        // once a window, and at least once a minute).
        let last = self.last_prune.load(Ordering::Relaxed);
        if t >= last + self.auth.window().clamp(1, 60)
            && self
                .last_prune
                .compare_exchange(last, t, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            if let Err(e) = self.auth.prune(t) {
                tracing::warn!(error = %e, "nonce pruning failed");
            }
        }
        Ok(self.auth.authenticate(
            |h| headers.get(h).and_then(|v| v.to_str().ok()),
            self.log.origin(),
            method.as_str(),
            pq,
            body,
            t,
            roles,
        )?)
    }

    fn append(&self, entries: &[LogEntry], extra: Batch) -> ApiResult<Vec<u64>> {
        let entries = entries.to_vec();
        self.append_with(move |_| Ok((entries, extra, ())))
            .map(|(idx, ())| idx)
    }

    /// Appends what `build` returns, given the index the first entry will get, in one durable
    /// commit (entries and data together), then signs a checkpoint if one is due.
    fn append_with<T>(
        &self,
        build: impl FnOnce(u64) -> ApiResult<(Vec<LogEntry>, Batch, T)>,
    ) -> ApiResult<(Vec<u64>, T)> {
        let result = {
            let _g = self.append.lock().unwrap_or_else(|e| e.into_inner());
            let (entries, batch, extra) = build(self.log.size())?;
            let idx = self
                .log
                .append(&entries, now(), batch)
                .map_err(|e| match e {
                    crate::log_service::LogServiceError::Store(
                        crate::store::StoreError::Exists { .. },
                    ) => ApiError::new(StatusCode::CONFLICT, "already exists"),
                    crate::log_service::LogServiceError::Refused(m) => ApiError::bad(m),
                    e => ApiError::internal(e),
                })?;
            (idx, extra)
        };
        if let Err(e) = self.log.maybe_checkpoint(now()) {
            tracing::warn!(error = %e, "checkpoint failed; retried after the next append");
        }
        Ok(result)
    }

    /// A checkpoint of the current size, signed by the log and cosigned by every configured
    /// witness that answers; `quorum_met` says whether at least the quorum did.
    async fn cosigned_checkpoint(
        self: &Arc<Self>,
    ) -> ApiResult<(crate::protocols::log::checkpoint::SignedCheckpoint, bool)> {
        let mut cp = self.log.checkpoint(now()).map_err(ApiError::internal)?;
        if self.witnesses.is_empty() {
            return Ok((cp, true));
        }
        let s = self.clone();
        let base = cp.clone();
        let cosigned = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            for w in &s.witnesses {
                if base.cosignature_time(&w.verifier).is_some() {
                    continue;
                }
                let key = format!("cosigned-by/{}", w.verifier.to_vkey()).into_bytes();
                let known = s
                    .store
                    .get(Table::Meta, &key)
                    .ok()
                    .flatten()
                    .and_then(|v| v.try_into().ok())
                    .map(u64::from_be_bytes);
                let proof = |old: u64| {
                    s.log
                        .consistency_proof(old, base.checkpoint.size)
                        .ok()
                        .map(|p| p.to_bytes())
                };
                match w.cosign(&base, known, &proof) {
                    Ok(c) => {
                        let mut b = Batch::new();
                        b.put(
                            Table::Meta,
                            key,
                            base.checkpoint.size.to_be_bytes().to_vec(),
                        );
                        if let Err(e) = s.store.commit(&b) {
                            tracing::warn!(error = %e, "witness state");
                        }
                        got.push(c);
                    }
                    Err(e) => tracing::warn!(witness = %w.verifier.name, error = %e, "cosignature refused"),
                }
            }
            got
        })
        .await
        .map_err(ApiError::internal)?;
        for c in cosigned {
            for sig in c.signatures {
                if !cp.signatures.contains(&sig) {
                    cp.signatures.push(sig);
                }
            }
        }
        let cosigners = self
            .witnesses
            .iter()
            .filter(|w| cp.cosignature_time(&w.verifier).is_some())
            .count();
        if cosigners > 0 {
            self.log.store_cosigned(&cp).map_err(ApiError::internal)?;
        }
        Ok((cp, cosigners >= self.witness_quorum))
    }

    /// The `PartyRegistered` entries of `parties` with inclusion proofs in the tree of `size`.
    fn key_evidence(
        &self,
        parties: &[PartyId],
        size: u64,
    ) -> ApiResult<crate::protocols::keys::KeyEvidence> {
        use crate::protocols::keys::{KeyEvidence, Registration};
        let mut registrations = Vec::new();
        for p in parties {
            let Some(v) = self
                .store
                .get(Table::Meta, &registration_key(p))
                .map_err(ApiError::internal)?
            else {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("party `{p}` is not registered in the log"),
                ));
            };
            let index = u64::from_be_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| ApiError::internal("corrupt registration index"))?,
            );
            if index >= size {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("party `{p}` was registered after the latest checkpoint; retry"),
                ));
            }
            let leaf = self
                .log
                .entries(index, index + 1, 1)
                .map_err(ApiError::internal)?
                .pop()
                .map(|(_, l)| l)
                .ok_or_else(|| ApiError::internal("registration leaf missing"))?;
            let inclusion = self
                .log
                .inclusion_proof(index, size)
                .map_err(ApiError::internal)?;
            registrations.push(Registration {
                index,
                leaf,
                inclusion,
            });
        }
        Ok(KeyEvidence { registrations })
    }

    /// A receipt for the verdict logged at `leaf_index`: the leaf, an inclusion proof, a
    /// checkpoint of the current size cosigned by the witnesses, and the registrations of the
    /// holders the evidence relies on. Also says whether the witness quorum was met.
    async fn receipt(
        self: &Arc<Self>,
        verdict: SignedVerdict,
        leaf_index: u64,
    ) -> ApiResult<(VerdictReceipt, bool)> {
        let (checkpoint, quorum) = self.cosigned_checkpoint().await?;
        let size = checkpoint.checkpoint.size;
        let leaf = self
            .log
            .entries(leaf_index, leaf_index + 1, 1)
            .map_err(ApiError::internal)?
            .pop()
            .map(|(_, leaf)| leaf)
            .ok_or_else(|| ApiError::internal("verdict leaf missing"))?;
        let inclusion = self
            .log
            .inclusion_proof(leaf_index, size)
            .map_err(ApiError::internal)?;
        let mut holders: Vec<PartyId> = match &verdict.verdict.evidence {
            crate::protocols::verdict::Evidence::Proof { inputs, .. } => inputs
                .iter()
                .map(|i| i.commitment.context.holder.clone())
                .collect(),
            _ => Vec::new(),
        };
        holders.sort();
        holders.dedup();
        let keys = self.key_evidence(&holders, size)?;
        Ok((
            VerdictReceipt {
                verdict,
                leaf,
                leaf_index,
                inclusion,
                checkpoint,
                keys,
            },
            quorum,
        ))
    }

    fn record(&self, route: &str, status: StatusCode) {
        let mut m = self
            .metrics
            .by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *m.entry((route.to_string(), status.as_u16())).or_default() += 1;
    }
}

/// Counts every response by matched route and status (a path no route matches counts under
/// one label, so callers cannot create series at will).
async fn count(
    State(s): State<Arc<ServiceState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let span = tracing::info_span!("request", route = %route);
    let _e = span.enter();
    let res = next.run(req).await;
    s.record(&route, res.status());
    res
}

/// The router.
pub fn router(state: Arc<ServiceState>) -> Router {
    Router::new()
        .route(
            "/v1/operator/parties",
            post(register_party).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route(
            "/v1/operator/policies",
            post(publish_policy).layer(DefaultBodyLimit::max(MAX_POLICY_BODY)),
        )
        .route(
            "/v1/holder/pseudonym",
            post(pseudonym).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route(
            "/v1/holder/sealed",
            post(submit_sealed).layer(DefaultBodyLimit::max(MAX_SEALED_BODY)),
        )
        .route(
            "/v1/holder/committed",
            post(proven::submit).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route(
            "/v1/bank/query",
            post(bank_query).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route(
            "/v1/bank/proof",
            post(proven::query).layer(DefaultBodyLimit::max(MAX_PROOF_BODY)),
        )
        .route("/v1/subject/records", get(subjects::records))
        .route("/v1/subject/queries", get(subjects::queries))
        .route(
            "/v1/subject/repairs",
            get(repair::mine)
                .post(repair::apply)
                .layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route("/v1/holder/repairs", get(repair::inbox))
        .route(
            "/v1/holder/listings",
            post(repair::notice).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route(
            "/v1/subject/disputes",
            post(dispute::file).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route("/v1/holder/disputes", get(dispute::inbox))
        .route(
            "/v1/subject/pledges",
            post(dispute::pledge).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route("/v1/holder/pledges", get(dispute::pledges))
        .route(
            "/v1/holder/disputes/answer",
            post(dispute::answer).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route(
            "/v1/holder/repairs/decide",
            post(repair::decide).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route("/v1/anchors", get(anchors))
        .route(
            "/v1/witness/cosign",
            post(witness::cosign).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route("/v1/audit/alarms", get(witness::alarms))
        .route("/v1/audit/policies", get(audit_policies))
        .route("/v1/audit/object", get(audit_object))
        .route("/v1/audit/checkpoint", get(audit_checkpoint))
        .route("/v1/audit/entries", get(audit_entries))
        .route("/v1/audit/proof/inclusion", get(audit_inclusion))
        .route("/v1/audit/proof/consistency", get(audit_consistency))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/audit/keys", get(audit_keys))
        .route("/v1/bank/receipt", get(bank_receipt))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), count))
        .fallback(unmatched)
        .with_state(state)
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("malformed JSON body: {e}")))
}

mod dispute;
mod proven;
mod repair;
mod subjects;
mod witness;

pub use witness::{Forward, Witness};

#[derive(Deserialize)]
struct RegisterParty {
    party: String,
    role: String,
    key: String,
    /// For role `subject`: the subject it speaks for (the operator has checked the identity).
    subject: Option<SubjectRef>,
    /// For role `subject`: hex of its X25519 sealing key (holders seal openings to it).
    sealing_key: Option<String>,
}

fn parse_role(s: &str) -> ApiResult<Role> {
    Ok(match s {
        "holder" => Role::Holder,
        "bank" => Role::Bank,
        "subject" => Role::Subject,
        "witness" => Role::Witness,
        "key-authority" => Role::KeyAuthority,
        "operator" => Role::Operator,
        "auditor" => Role::Auditor,
        other => {
            return Err(ApiError::bad(format!(
                "unknown role `{other}` (holder, bank, subject, witness, auditor, key-authority, operator)"
            )))
        }
    })
}

async fn register_party(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    s.authenticate(&headers, &method, &uri, &body, &[Role::Operator])?;
    let req: RegisterParty = json_body(&body)?;
    let party = PartyId::new(&req.party).map_err(|e| ApiError::bad(format!("party: {e}")))?;
    let role = parse_role(&req.role)?;
    let bytes: [u8; 32] = crate::protocols::request::parse_hex(&req.key)
        .ok_or_else(|| ApiError::bad("key: expected 64 hex digits"))?;
    let key = PublicKey::from_bytes(role, &bytes)
        .map_err(|_| ApiError::bad("key: not a valid Ed25519 public key"))?;
    let mut batch = Batch::new();
    Authenticator::register(&mut batch, &party, &key);
    if role == Role::Subject {
        let (Some(subject), Some(sealing)) = (&req.subject, &req.sealing_key) else {
            return Err(ApiError::bad(
                "a subject party needs `subject` (kind, id) and `sealing_key` (64 hex digits)",
            ));
        };
        let (_, p) = subject_of(&s, subject)?;
        let sealing: [u8; 32] = crate::protocols::request::parse_hex(sealing)
            .ok_or_else(|| ApiError::bad("sealing_key: expected 64 hex digits"))?;
        crate::protocols::seal::SealingPublicKey::from_bytes_checked(sealing)
            .map_err(|e| ApiError::bad(format!("sealing_key: {e}")))?;
        subjects::bind(&mut batch, &party, &p, sealing);
    } else if req.subject.is_some() || req.sealing_key.is_some() {
        return Err(ApiError::bad(
            "`subject` and `sealing_key` are only for parties of role subject",
        ));
    }
    let (idx, ()) = s.append_with(|base| {
        batch.put(
            Table::Meta,
            registration_key(&party),
            base.to_be_bytes().to_vec(),
        );
        Ok((
            vec![LogEntry::PartyRegistered {
                party: party.clone(),
                key,
            }],
            batch,
            (),
        ))
    })?;
    if role == Role::Holder {
        // The key authority checks holder signatures on replay.
        s.authority.register_holder(party.clone(), key);
    }
    Ok(Json(
        json!({ "party": party.to_string(), "log_index": idx[0] }),
    ))
}

async fn publish_policy(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    s.authenticate(&headers, &method, &uri, &body, &[Role::Operator])?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad("policy text is not UTF-8"))?;
    let policy = Policy::parse(text, &s.catalog).map_err(|e| ApiError::bad(e.to_string()))?;
    // Everyone else (auditors, a restarted service) parses the published canonical text; the
    // service must evaluate exactly that policy, or a replayed FHE evaluation would differ.
    let policy = Policy::parse(policy.canonical(), &s.catalog).map_err(ApiError::internal)?;
    let mut batch = Batch::new();
    batch.put(
        Table::Meta,
        policy_key(&policy.name),
        policy.canonical().as_bytes().to_vec(),
    );
    let idx = s.append(
        &[LogEntry::PolicyPublished {
            policy: policy.name.clone(),
            version: policy.version,
            policy_hash: policy.hash(),
        }],
        batch,
    )?;
    let hash = policy.hash();
    s.authority.publish(policy.clone());
    s.policies
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(policy.name.clone(), policy);
    Ok(Json(
        json!({ "policy_hash": hex::encode(hash), "log_index": idx[0] }),
    ))
}

#[derive(Deserialize)]
struct SubjectRef {
    kind: String,
    id: String,
}

fn subject_of(s: &ServiceState, r: &SubjectRef) -> ApiResult<(SubjectId, Pseudonym)> {
    let kind = match r.kind.as_str() {
        "enterprise" => SubjectKind::Enterprise,
        "person" => SubjectKind::Person,
        other => {
            return Err(ApiError::bad(format!(
                "subject kind `{other}`: expected enterprise or person"
            )))
        }
    };
    let id = SubjectId::parse(kind, &r.id).map_err(|e| ApiError::bad(format!("subject: {e}")))?;
    let p = s.pseudonyms.pseudonym(&id);
    Ok((id, p))
}

async fn pseudonym(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::Holder, Role::Bank])?;
    let req: SubjectRef = json_body(&body)?;
    let (_, p) = subject_of(&s, &req)?;
    // Banks learn the pseudonym to check verdicts against; holders also the sealing key.
    let sealing = match caller.role {
        Role::Holder => subjects::party_of(&s, &p)?.map(|(_, _, k)| hex::encode(k.to_bytes())),
        _ => None,
    };
    Ok(Json(
        json!({ "pseudonym": p.to_text(), "sealing_key": sealing }),
    ))
}

/// Binary body of `POST /v1/holder/sealed`: [`crate::protocols::sealed::SealedUpload`].
pub fn encode_sealed_upload(record: &SealedRecord) -> Vec<u8> {
    record.to_bytes()
}

/// Decodes [`encode_sealed_upload`] (untrusted input).
pub fn decode_sealed_upload(body: &[u8]) -> Result<SealedRecord, String> {
    SealedRecord::from_bytes(body).map_err(|e| format!("body: {e}"))
}

async fn submit_sealed(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::Holder])?;
    let SealedRecord { submission, list } = decode_sealed_upload(&body).map_err(ApiError::bad)?;
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
    let permit = s.fhe_slots.clone().try_acquire_owned().map_err(|_| {
        s.metrics.fhe_rejected.fetch_add(1, Ordering::Relaxed);
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "FHE queue full, retry later",
        )
    })?;
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
    Ok(Json(
        json!({ "log_indices": idx, "stored_bytes": ingested.stored.bytes.len() }),
    ))
}

/// The log index of the latest sealed record carrying `attribute` of `subject`, if any.
fn latest_sealed_index(
    s: &ServiceState,
    subject: &Pseudonym,
    attribute: &str,
) -> ApiResult<Option<u64>> {
    let Some(sub_key) = s
        .store
        .get(
            Table::SubjectAttributes,
            &sealed_index_key(subject, attribute),
        )
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    let v = s
        .store
        .get(Table::Submissions, &sub_key)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("dangling submission index"))?;
    let (_, _, index) =
        decode_sealed(&v).ok_or_else(|| ApiError::internal("corrupt submission"))?;
    Ok(Some(index))
}

impl ServiceState {
    /// The latest sealed record per attribute of `policy` for `subject`, each record once, in
    /// log order (so the engine, reading an attribute from the latest record that carries it,
    /// reads exactly these).
    fn latest_sealed(
        &self,
        subject: &Pseudonym,
        policy: &Policy,
    ) -> ApiResult<Vec<(SealedRecord, StoredRecord)>> {
        let mut by_index: BTreeMap<u64, (SealedRecord, StoredRecord)> = BTreeMap::new();
        for (a, ..) in &policy.reads {
            let Some(sub_key) = self
                .store
                .get(
                    Table::SubjectAttributes,
                    &sealed_index_key(subject, a.as_str()),
                )
                .map_err(ApiError::internal)?
            else {
                continue;
            };
            let v = self
                .store
                .get(Table::Submissions, &sub_key)
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::internal("dangling submission index"))?;
            let (record, stored, index) =
                decode_sealed(&v).ok_or_else(|| ApiError::internal("corrupt submission"))?;
            by_index.insert(index, (record, stored));
        }
        Ok(by_index.into_values().collect())
    }
}

/// A bank's question, resolved: pseudonym, published policy, day, checked consent.
struct Asked {
    subject: Pseudonym,
    policy: Policy,
    day: u32,
    consent: Option<crate::protocols::consent::SignedConsent>,
}

impl ServiceState {
    /// Resolves and checks the question part of a bank request (both paths): the subject's
    /// identifier (400), the published policy (404), the purpose and consent (400/403).
    fn asked(&self, bank: &PartyId, q: &BankQuery) -> ApiResult<Asked> {
        let (id, subject) = subject_of(self, &q.subject)?;
        let policy = self
            .policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&q.policy)
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no published policy `{}`", q.policy),
                )
            })?;
        let day = q.day.unwrap_or((now() / 86_400) as u32);
        crate::protocols::question::check_day("day", day).map_err(ApiError::bad)?;
        let consent = subjects::check_consent(
            self,
            bank,
            &id,
            &subject,
            &policy.hash(),
            &q.purpose,
            day,
            q.consent.as_deref(),
        )?;
        Ok(Asked {
            subject,
            policy,
            day,
            consent,
        })
    }
}

#[derive(Deserialize)]
struct BankQuery {
    subject: SubjectRef,
    policy: String,
    day: Option<u32>,
    purpose: String,
    /// Hex of a signed consent token (required for persons).
    consent: Option<String>,
    /// The log origin of a partner region holding the subject's records (forwarded query).
    region: Option<String>,
}

async fn bank_query(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, &body, &[Role::Bank])?;
    let q: BankQuery = json_body(&body)?;
    if let Some(region) = q.region.as_deref().filter(|r| *r != s.log.origin()) {
        return witness::forward(&s, &caller.party, &q, region).await;
    }
    let Asked {
        subject,
        policy,
        day,
        consent,
    } = s.asked(&caller.party, &q)?;
    let permit = s.fhe_slots.clone().try_acquire_owned().map_err(|_| {
        s.metrics.fhe_rejected.fetch_add(1, Ordering::Relaxed);
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "FHE queue full, retry later",
        )
    })?;
    // The inputs are chosen under the append lock, with the query's log position: exactly the
    // latest record per attribute logged before the query (what the auditor recomputes).
    let (query_idx, records) = s.append_with(|base| {
        let records = s.latest_sealed(&subject, &policy)?;
        let mut batch = Batch::new();
        index_for_subject(&mut batch, &subject, base);
        let consent_hash = consent.as_ref().map(|c| c.hash());
        if let Some(c) = &consent {
            batch.put(Table::Consents, c.hash().to_vec(), c.to_bytes());
        }
        Ok((
            vec![LogEntry::Query {
                bank: caller.party.clone(),
                subject,
                policy_hash: policy.hash(),
                as_of_day: day,
                purpose: q.purpose.clone(),
                consent_hash,
                salt: crate::protocols::log::entry::salt(&mut rand::rngs::OsRng),
            }],
            batch,
            records,
        ))
    })?;
    let query_idx = query_idx[0];
    let engine = s.engine.clone();
    let p2 = policy.clone();
    let stored: Vec<StoredRecord> = records.iter().map(|(_, st)| st.clone()).collect();
    let evaluation = tokio::task::spawn_blocking(move || engine.evaluate(&p2, day, &stored))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let eval_idx = s.append(
        &[LogEntry::Evaluation {
            query_index: query_idx,
            policy_hash: policy.hash(),
            input_hashes: records.iter().map(|(r, _)| r.submission.hash()).collect(),
            output_hash: evaluation.output_hash,
        }],
        Batch::new(),
    )?[0];
    let authority = s.authority.clone();
    let request = DecryptionRequest {
        policy_hash: policy.hash(),
        day,
        subject,
        inputs: records.into_iter().map(|(r, _)| r).collect(),
        logged_output_hash: evaluation.output_hash,
        output: evaluation.output,
        evaluation_index: eval_idx,
        decryption_index: 0,
        log_indices: vec![],
        issued_at: now(),
    };
    let decision = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        authority.decrypt(&request)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    // Log the decryption and the verdict together; the verdict cites the decryption's index.
    let output_hash = decision.output_hash();
    let (idx, verdict) = s.append_with(|dec_idx| {
        let verdict = s
            .authority
            .sign(decision, dec_idx, vec![query_idx, eval_idx, dec_idx], now())
            .map_err(ApiError::internal)?;
        let mut batch = Batch::new();
        store_verdict(&mut batch, &verdict, &caller.party, dec_idx + 1);
        index_for_subject(&mut batch, &subject, dec_idx + 1);
        Ok((
            vec![
                LogEntry::Decryption {
                    evaluation_index: eval_idx,
                    output_hash,
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
    let outcome = outcome_json(verdict.verdict.outcome);
    let coverage = coverage_json(&policy, &verdict.verdict.coverage);
    let (receipt, quorum) = s.receipt(verdict, idx[1]).await?;
    let disputed = dispute::open_on(&s, &subject, &policy)?;
    Ok(Json(json!({
        "outcome": outcome,
        "coverage": coverage,
        "rests_on_disputed_data": disputed,
        "path": "sealed",
        "witness_quorum_met": quorum,
        "receipt": hex::encode(receipt.to_bytes()),
        "log_indices": { "query": query_idx, "evaluation": eval_idx, "decryption": idx[0], "verdict": idx[1] },
        "bootstraps": evaluation.plan.cost().bootstraps,
    })))
}

fn any_party() -> [Role; 8] {
    Role::ALL
}

async fn audit_checkpoint(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<String> {
    s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    let (cp, _) = s.cosigned_checkpoint().await?;
    Ok(cp.to_text())
}

#[derive(Deserialize)]
struct Range {
    from: u64,
    to: u64,
}

async fn audit_entries(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(r): Query<Range>,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    if r.to < r.from {
        return Err(ApiError::bad("`to` must not be below `from`"));
    }
    let reader = LogReader::of(&s, &caller)?;
    let entries = s
        .log
        .entries(r.from, r.to, 1000)
        .map_err(ApiError::internal)?;
    let at = |i: u64| -> Option<LogEntry> {
        s.log
            .entries(i, i.saturating_add(1), 1)
            .ok()?
            .pop()
            .map(|(_, l)| l.entry)
    };
    Ok(Json(json!({
        "entries": entries.iter().map(|(i, leaf)| {
            let bytes = leaf.to_bytes();
            if reader.may_read_entry(&leaf.entry, &at) {
                json!({ "index": i, "leaf": hex::encode(bytes) })
            } else {
                use crate::protocols::log::LogHasher;
                json!({ "index": i, "leaf_hash": hex::encode(crate::protocols::log::Sha3Log::hash_leaf(&bytes)) })
            }
        }).collect::<Vec<_>>()
    })))
}

/// Who is reading the log, and what it may see in full. Auditors and the operator read
/// everything; every other party reads the public entries (registrations, policies, roots)
/// and the entries that concern it — a bank its own queries and verdicts, a holder its own
/// submissions, a subject what is about it — and only the leaf hash of the rest, which is
/// enough to recompute roots and check consistency. So no bank reads another bank's
/// questions or answers.
struct LogReader {
    caller: crate::auth::Caller,
    subject: Option<Pseudonym>,
}

impl LogReader {
    fn of(s: &ServiceState, caller: &crate::auth::Caller) -> ApiResult<Self> {
        let subject = if caller.role == Role::Subject {
            subjects::of_party(s, &caller.party)?.map(|(p, _)| p)
        } else {
            None
        };
        Ok(LogReader {
            caller: caller.clone(),
            subject,
        })
    }

    fn everything(&self) -> bool {
        matches!(self.caller.role, Role::Auditor | Role::Operator)
    }

    fn is(&self, party: &PartyId) -> bool {
        self.caller.party == *party
    }

    fn about(&self, subject: &Pseudonym) -> bool {
        self.subject.as_ref() == Some(subject)
    }

    /// Whether the caller may read an object concerning `bank`, `holder` and `subject`.
    fn may_read(
        &self,
        bank: Option<&PartyId>,
        holder: Option<&PartyId>,
        subject: &Pseudonym,
    ) -> bool {
        self.everything()
            || bank.is_some_and(|b| self.is(b))
            || holder.is_some_and(|h| self.is(h))
            || self.about(subject)
    }

    /// Whether the caller may read entry `e`; `at` looks up another entry (an evaluation is
    /// readable by whoever may read the query it answers, a decryption by whoever may read its
    /// evaluation).
    fn may_read_entry(&self, e: &LogEntry, at: &dyn Fn(u64) -> Option<LogEntry>) -> bool {
        if self.everything() {
            return true;
        }
        match e {
            LogEntry::Evaluation { query_index, .. } => {
                return at(*query_index).is_some_and(|q| {
                    matches!(q, LogEntry::Query { .. }) && self.may_read_entry(&q, at)
                })
            }
            LogEntry::Decryption {
                evaluation_index, ..
            } => {
                return at(*evaluation_index).is_some_and(|ev| {
                    matches!(ev, LogEntry::Evaluation { .. }) && self.may_read_entry(&ev, at)
                })
            }
            _ => {}
        }
        match e {
            LogEntry::PartyRegistered { .. }
            | LogEntry::PolicyPublished { .. }
            | LogEntry::DirectoryRoot { .. }
            | LogEntry::KeyRotation { .. } => true,
            LogEntry::AttributeSubmitted {
                holder, subject, ..
            }
            | LogEntry::Repair {
                holder, subject, ..
            }
            | LogEntry::PledgeMade {
                holder, subject, ..
            } => self.may_read(None, Some(holder), subject),
            LogEntry::Query { bank, subject, .. } | LogEntry::Verdict { bank, subject, .. } => {
                self.may_read(Some(bank), None, subject)
            }
            LogEntry::DisputeFiled { subject, .. } => self.about(subject),
            LogEntry::DisputeAnswered { holder, .. } => self.is(holder),
            _ => false,
        }
    }
}

#[derive(Deserialize)]
struct InclusionQ {
    index: u64,
    size: u64,
}

async fn audit_inclusion(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<InclusionQ>,
) -> ApiResult<Json<serde_json::Value>> {
    s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    let p = s
        .log
        .inclusion_proof(q.index, q.size)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(Json(json!({ "proof": hex::encode(p.to_bytes()) })))
}

#[derive(Deserialize)]
struct ConsistencyQ {
    old: u64,
    new: u64,
}

async fn audit_consistency(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<ConsistencyQ>,
) -> ApiResult<Json<serde_json::Value>> {
    s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    let p = s
        .log
        .consistency_proof(q.old, q.new)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(Json(json!({ "proof": hex::encode(p.to_bytes()) })))
}

/// `GET /v1/anchors`: the public keys a verifier pins (log origin and key, key authority,
/// registered holders). Public information; a bank should compare it with what it was given
/// out of band rather than trust it blindly.
async fn anchors(State(s): State<Arc<ServiceState>>) -> ApiResult<Json<serde_json::Value>> {
    let mut v = crate::client::anchors_to_json(&s.trust_anchors().map_err(ApiError::internal)?);
    v["witness"] = json!(s.witness.as_ref().map(|w| json!({
        "name": w.name, "key": hex::encode(w.key.public().to_bytes()),
        "partners": w.partners.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
    })));
    Ok(Json(v))
}

impl ServiceState {
    /// The anchors a verifier of this service pins: its log, its verdict keys, the witnesses
    /// that cosign its checkpoints and their quorum. Constant size: holder keys are learned
    /// from the log.
    pub fn trust_anchors(&self) -> Result<crate::protocols::verdict::TrustAnchors, String> {
        let log = crate::protocols::log::checkpoint::NoteVerifier::log(
            self.log.origin(),
            self.log.public_key(),
        )
        .map_err(|e| e.to_string())?;
        Ok(crate::protocols::verdict::TrustAnchors {
            log,
            service: self.log.public_key(),
            key_authority: self.authority.public_key(),
            witnesses: self.witnesses.iter().map(|w| w.verifier.clone()).collect(),
            witness_quorum: self.witness_quorum,
        })
    }
}

/// `GET /v1/audit/policies`: every published policy (canonical text and hash).
async fn audit_policies(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    let policies = s.policies.read().unwrap_or_else(|e| e.into_inner());
    Ok(Json(json!({
        "policies": policies.values().map(|p| json!({
            "name": p.name, "version": p.version, "hash": hex::encode(p.hash()),
            "text": p.canonical(),
        })).collect::<Vec<_>>()
    })))
}

#[derive(Deserialize)]
struct ObjectQ {
    kind: String,
    hash: String,
}

/// `GET /v1/audit/object?kind=verdict|consent|submission&hash=HEX`: the object the log refers
/// to by hash (a signed verdict with its evidence, a consent token, or a holder's upload:
/// sealed submission ‖ list, or a signed commitment).
async fn audit_object(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<ObjectQ>,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    let reader = LogReader::of(&s, &caller)?;
    let hash: [u8; 32] = crate::protocols::request::parse_hex(&q.hash)
        .ok_or_else(|| ApiError::bad("hash: expected 64 hex digits"))?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, format!("no {} {}", q.kind, q.hash));
    // Another party's object answers exactly as a missing one: its existence is not revealed.
    let hidden = |ok: bool, bytes: Vec<u8>| if ok { Ok(Some(bytes)) } else { Ok(None) };
    let bytes: Result<Option<Vec<u8>>, crate::store::StoreError> = match q.kind.as_str() {
        "verdict" => match s
            .store
            .get(Table::Verdicts, &hash)
            .map_err(ApiError::internal)?
        {
            Some(b) => {
                let v = SignedVerdict::from_bytes(&b).map_err(ApiError::internal)?;
                let bank = s
                    .store
                    .get(Table::Meta, &verdict_bank_key(&hash))
                    .map_err(ApiError::internal)?
                    .and_then(|p| PartyId::new(&String::from_utf8_lossy(&p)).ok());
                hidden(reader.may_read(bank.as_ref(), None, &v.verdict.subject), b)
            }
            None => Ok(None),
        },
        "consent" => match s
            .store
            .get(Table::Consents, &hash)
            .map_err(ApiError::internal)?
        {
            Some(b) => {
                let c = crate::protocols::consent::SignedConsent::from_bytes(&b)
                    .map_err(ApiError::internal)?;
                hidden(
                    reader.may_read(Some(&c.consent.bank), None, &c.consent.subject),
                    b,
                )
            }
            None => Ok(None),
        },
        "submission" => {
            let key = s
                .store
                .get(Table::Meta, &content_hash_key(&hash))
                .map_err(ApiError::internal)?
                .ok_or_else(not_found)?;
            let v = s
                .store
                .get(Table::Submissions, &key)
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::internal("dangling content index"))?;
            if let Some((record, _, _)) = decode_sealed(&v) {
                let sub = &record.submission.submission;
                hidden(
                    reader.may_read(None, Some(&sub.holder), &sub.subject),
                    encode_sealed_upload(&record),
                )
            } else if let Some((signed, _)) = proven::decode_committed(&v) {
                let c = &signed.commitment.context;
                hidden(
                    reader.may_read(None, Some(&c.holder), &c.subject),
                    signed.to_bytes(),
                )
            } else {
                return Err(ApiError::internal("corrupt submission"));
            }
        }
        other => {
            return Err(ApiError::bad(format!(
                "kind `{other}`: expected verdict, consent or submission"
            )))
        }
    };
    let bytes = bytes.map_err(ApiError::internal)?.ok_or_else(not_found)?;
    Ok(Json(json!({ "bytes": hex::encode(bytes) })))
}

#[derive(Deserialize)]
struct KeysQ {
    /// Comma-separated party ids.
    parties: String,
}

/// `GET /v1/audit/keys?parties=a,b`: the parties' `PartyRegistered` entries with inclusion
/// proofs under a cosigned checkpoint — how a subject's proof package (and anyone) carries
/// holder keys that a verifier checks against the log alone.
async fn audit_keys(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<KeysQ>,
) -> ApiResult<Json<serde_json::Value>> {
    s.authenticate(&headers, &method, &uri, b"", &any_party())?;
    let mut parties = Vec::new();
    for p in q.parties.split(',').filter(|p| !p.is_empty()) {
        parties.push(PartyId::new(p).map_err(|e| ApiError::bad(format!("parties: {e}")))?);
    }
    if parties.len() > crate::protocols::keys::MAX_REGISTRATIONS {
        return Err(ApiError::bad(format!(
            "parties: at most {} per request",
            crate::protocols::keys::MAX_REGISTRATIONS
        )));
    }
    parties.sort();
    parties.dedup();
    let (cp, _) = s.cosigned_checkpoint().await?;
    let evidence = s.key_evidence(&parties, cp.checkpoint.size)?;
    Ok(Json(json!({
        "checkpoint": cp.to_text(),
        "evidence": hex::encode(evidence.to_bytes()),
    })))
}

#[derive(Deserialize)]
struct ReceiptQ {
    /// Hex of the verdict hash.
    verdict: String,
}

/// `GET /v1/bank/receipt?verdict=HASH`: a fresh receipt (current checkpoint, cosigned) for a
/// verdict issued to the calling bank.
async fn bank_receipt(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<ReceiptQ>,
) -> ApiResult<Json<serde_json::Value>> {
    let caller = s.authenticate(&headers, &method, &uri, b"", &[Role::Bank])?;
    let hash: Hash = crate::protocols::request::parse_hex(&q.verdict)
        .ok_or_else(|| ApiError::bad("verdict: expected 64 hex digits"))?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no verdict of that hash was issued to you",
        )
    };
    let bank = s
        .store
        .get(Table::Meta, &verdict_bank_key(&hash))
        .map_err(ApiError::internal)?
        .ok_or_else(not_found)?;
    if bank != caller.party.as_str().as_bytes() {
        return Err(not_found());
    }
    let verdict = s
        .store
        .get(Table::Verdicts, &hash)
        .map_err(ApiError::internal)?
        .and_then(|b| SignedVerdict::from_bytes(&b).ok())
        .ok_or_else(|| ApiError::internal("verdict missing"))?;
    let index = s
        .store
        .get(Table::Meta, &verdict_index_key(&hash))
        .map_err(ApiError::internal)?
        .and_then(|v| v.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| ApiError::internal("verdict index missing"))?;
    let (receipt, quorum) = s.receipt(verdict, index).await?;
    Ok(Json(json!({
        "receipt": hex::encode(receipt.to_bytes()),
        "witness_quorum_met": quorum,
    })))
}

/// Any path no route matches (counted under one metrics label).
async fn unmatched(State(s): State<Arc<ServiceState>>) -> ApiError {
    s.record("unmatched", StatusCode::NOT_FOUND);
    ApiError::new(StatusCode::NOT_FOUND, "no such route (see /openapi.json)")
}

/// A Prometheus label value, escaped (`\\`, `\"`, `\n`).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn metrics(State(s): State<Arc<ServiceState>>) -> String {
    let mut out = String::from("# TYPE credence_requests_total counter\n");
    for ((route, status), n) in s
        .metrics
        .by_status
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        out.push_str(&format!(
            "credence_requests_total{{route=\"{}\",status=\"{status}\"}} {n}\n",
            label(route)
        ));
    }
    out.push_str("# TYPE credence_fhe_rejected_total counter\n");
    out.push_str(&format!(
        "credence_fhe_rejected_total {}\n",
        s.metrics.fhe_rejected.load(Ordering::Relaxed)
    ));
    out.push_str("# TYPE credence_log_size gauge\n");
    out.push_str(&format!("credence_log_size {}\n", s.log.size()));
    out
}

async fn openapi() -> Json<serde_json::Value> {
    let signed = json!([{ "credenceSignature": [] }]);
    let responses = json!({
        "200": {"description": "ok"}, "400": {"description": "bad input (the message says what)"},
        "401": {"description": "unsigned, badly signed, stale or replayed"},
        "403": {"description": "wrong role, another party's data, or no consent"},
        "404": {"description": "unknown policy or object"}, "409": {"description": "already exists or superseded"},
        "413": {"description": "body too large"}, "503": {"description": "FHE queue full, retry later"} });
    let op = |summary: &str, role: &str, body: Option<serde_json::Value>| {
        let mut o = json!({ "summary": summary, "x-credence-role": role, "security": signed,
                            "responses": responses });
        if let Some(b) = body {
            o["requestBody"] = b;
        }
        o
    };
    let json_body = |schema: &str| {
        json!({ "required": true, "content": { "application/json": {
            "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
    };
    let hex = json!({ "type": "string", "pattern": "^[0-9a-f]*$" });
    let question = |extra: serde_json::Value| {
        let mut props = json!({
            "subject": { "$ref": "#/components/schemas/Subject" },
            "policy": { "type": "string" },
            "day": { "type": "integer", "description": "days since 1970-01-01; default today" },
            "purpose": { "type": "string", "maxLength": 200 },
            "consent": { "type": "string", "description": "hex of a consent/v1 token; required for persons" },
            "region": { "type": "string", "description": "sealed path only: a partner region's log origin; the query is forwarded there and its receipt returned" },
        });
        let mut required = vec!["subject", "policy", "purpose"];
        if let Some(o) = extra.as_object() {
            for (k, v) in o {
                props[k] = v.clone();
                required.push("package");
            }
        }
        json!({ "type": "object", "properties": props, "required": required })
    };
    Json(json!({
        "openapi": "3.1.0",
        "info": { "title": "Credence", "version": env!("CARGO_PKG_VERSION") },
        "components": {
            "securitySchemes": { "credenceSignature": {
                "type": "apiKey", "in": "header", "name": "x-credence-signature",
                "description": "Ed25519 over http-request/v2 (protocols/signatures.md: the service's origin, method, path, time, nonce, body hash), with x-credence-party, x-credence-time, x-credence-nonce" } },
            "schemas": {
                "Subject": { "type": "object", "required": ["kind", "id"], "properties": {
                    "kind": { "enum": ["enterprise", "person"] },
                    "id": { "type": "string", "description": "USCC (18 characters) or resident ID" } } },
                "RegisterParty": { "type": "object", "required": ["party", "role", "key"], "properties": {
                    "party": { "type": "string" },
                    "role": { "enum": ["holder", "bank", "subject", "witness", "auditor", "key-authority", "operator"] },
                    "key": hex, "subject": { "$ref": "#/components/schemas/Subject" },
                    "sealing_key": hex } },
                "CommittedBatch": { "type": "object", "required": ["items"], "properties": {
                    "items": { "type": "array", "maxItems": 256, "items": { "type": "object",
                        "required": ["commitment", "opening"],
                        "properties": { "commitment": hex, "opening": hex } } } } },
                "SealedQuery": question(json!({})),
                "ProofQuery": question(json!({ "package": hex })),
            }
        },
        "paths": {
            "/v1/operator/parties": { "post": op("register a party and its key (subjects: with identifier and sealing key)", "operator", Some(json_body("RegisterParty"))) },
            "/v1/operator/policies": { "post": op("publish a policy", "operator", Some(json!({ "required": true, "content": { "text/plain": { "schema": { "type": "string" } } } }))) },
            "/v1/holder/pseudonym": { "post": op("pseudonym and sealing key of a subject", "holder", Some(json_body("Subject"))) },
            "/v1/holder/sealed": { "post": op("submit a sealed record: bytes(signed submission) ‖ bytes(proven list)", "holder", Some(json!({ "required": true, "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } }))) },
            "/v1/holder/committed": { "post": op("submit signed commitments with sealed openings, all or nothing", "holder", Some(json_body("CommittedBatch"))) },
            "/v1/bank/query": { "post": op("sealed-path question; returns the verdict receipt", "bank", Some(json_body("SealedQuery"))) },
            "/v1/bank/proof": { "post": op("proven-path question with the subject's proof package; returns the verdict receipt", "bank", Some(json_body("ProofQuery"))) },
            "/v1/subject/records": { "get": op("my commitments with sealed openings, and my sealed records", "subject", None) },
            "/v1/subject/queries": { "get": op("every query and verdict about me", "subject", None) },
            "/v1/subject/repairs": { "get": op("my repair applications, with receipts for approved ones", "subject", None),
                                     "post": op("apply for the repair of a listing {holder, attribute, reason}", "subject", None) },
            "/v1/holder/repairs": { "get": op("repair applications addressed to me", "holder", None) },
            "/v1/holder/listings": { "post": op("notice of a listing decision {subject, attribute, class, decided[, extension_days]} → until and earliest repair day", "holder", None) },
            "/v1/subject/disputes": { "post": op("dispute a log entry about me {statement: hex of dispute/v1}", "subject", None) },
            "/v1/holder/disputes": { "get": op("disputes of my submissions", "holder", None) },
            "/v1/subject/pledges": { "post": op("make a credit pledge {statement: hex of pledge/v1}", "subject", None) },
            "/v1/holder/pledges": { "get": op("pledges made to me", "holder", None) },
            "/v1/holder/disputes/answer": { "post": op("uphold, or correct with a new commitment, by the deadline", "holder", None) },
            "/v1/holder/repairs/decide": { "post": op("approve (with the new commitment and repair_day) or refuse, with a reason", "holder", None) },
            "/v1/audit/checkpoint": { "get": op("a signed checkpoint of the log (C2SP note)", "any", None) },
            "/v1/audit/entries": { "get": op("log entries from..to (≤ 1000)", "any", None) },
            "/v1/audit/proof/inclusion": { "get": op("inclusion proof of index in size", "any", None) },
            "/v1/audit/proof/consistency": { "get": op("consistency proof old → new", "any", None) },
            "/v1/audit/policies": { "get": op("published policies", "any", None) },
            "/v1/audit/object": { "get": op("a verdict, consent or upload by hash (the parties it concerns, and auditors)", "any", None) },
            "/v1/audit/keys": { "get": op("holders' registrations with inclusion proofs under a cosigned checkpoint (?parties=a,b)", "any", None) },
            "/v1/bank/receipt": { "get": op("a fresh receipt for a verdict issued to the calling bank (?verdict=HASH)", "bank", None) },
            "/v1/anchors": { "get": { "summary": "public keys and log origin (and this service's witness key)" } },
            "/v1/witness/cosign": { "post": { "summary": "cosign a partner log's checkpoint {checkpoint, consistency}: checked for signature and consistency; equivocation → 409 and an alarm" } },
            "/v1/audit/alarms": { "get": op("equivocation alarms with both signed checkpoints", "any", None) },
            "/metrics": { "get": { "summary": "Prometheus metrics" } },
            "/healthz": { "get": { "summary": "liveness" } }
        }
    }))
}
