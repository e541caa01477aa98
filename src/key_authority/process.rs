//! `credence key-authority`: the key authority as its own process, with its own directory.
//!
//! ```text
//! KADIR/keys/authority/client.key   the TFHE client key (0600): nothing else holds it
//! KADIR/keys/public/                server key, compact public key, CRS, self-test: give this
//!                                   folder to the service (`serve init --fhe-public KADIR/keys/public`)
//! KADIR/signing.seed                its verdict-signing seed (0600)
//! KADIR/key-authority.key           its public key (hex): the service's `--key-authority`
//! KADIR/authority.redb              its verified copy of the log, its decisions, its nonces
//! ```
//!
//! It serves two routes, accepted only when signed by the service's key pinned in the anchors
//! it was given (`anchors.service`): `POST /v1/evaluate` (`{query_index}`) evaluates a logged
//! query for the service to log (so a query is evaluated once, by the key authority, which then
//! decides without replaying), and `POST /v1/decide` (`{query_index, output}`) answers a signed
//! verdict or a refusal. It reads the log through the service's API as the party
//! `key-authority` (signing with its own key, which the service registers), and logs its
//! refusals through `POST /v1/key-authority/refusals`. Nothing the service answers is trusted:
//! [`super::KeyAuthority`] checks every checkpoint, leaf and object.

use super::request::{
    refusal_status, DecideRequest, LogView, Refusal, DECIDE_PATH, EVALUATE_PATH, PARTY,
    REFUSALS_PATH, SERVICE_PARTY,
};
use super::KeyAuthority;
use crate::circuits::catalog::Catalog;
use crate::fhe::engine::Engine;
use crate::fhe::keys::seed_file as seed;
use crate::fhe::keys::{generate, write_file, KeyPaths, PublicMaterial, SecretMaterial};
use crate::party::client::Client;
use crate::protocols::log::checkpoint::SignedCheckpoint;
use crate::protocols::log::entry::LogLeaf;
use crate::protocols::log::hash::Hash;
use crate::protocols::names::PartyId;
use crate::protocols::signing::{Role, SigningKey};
use crate::protocols::verdict::TrustAnchors;
use crate::server::auth::Authenticator;
use crate::store::embedded::EmbeddedStore;
use crate::store::{Batch, Store};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::path::Path;
use std::sync::Arc;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Largest decide request body (an output ciphertext in hex and a little JSON).
pub const MAX_DECIDE_BODY: usize = 4 << 20;
/// Accepted clock skew of the service's signed requests, seconds.
pub const REQUEST_WINDOW_SECS: u64 = 300;

/// `credence key-authority init`: generates the TFHE keys (client key kept here, public
/// material under `DIR/keys/public/` for the service) and the signing seed, unless present;
/// returns the key authority's public key (hex, also in `DIR/key-authority.key`).
pub fn init(dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<String, Error> {
    std::fs::create_dir_all(dir)?;
    let keys = dir.join("keys");
    let paths = KeyPaths::new(&keys);
    if !paths.client_key.exists() {
        if paths.server_key.exists() {
            return Err(format!(
                "{} has public keys but no client key: refusing to make new keys over them",
                keys.display()
            )
            .into());
        }
        progress("generating TFHE keys (a few seconds)");
        let (secret, public) = generate(&mut |step, took| {
            progress(&format!("  {step}: {:.1} s", took.as_secs_f64()))
        })?;
        public.save(&keys)?;
        secret.save(&keys)?;
    }
    let key = SigningKey::from_seed(Role::KeyAuthority, &seed(&dir.join("signing.seed"))?);
    let hex = hex::encode(key.public().to_bytes());
    write_file(
        &dir.join("key-authority.key"),
        format!("{hex}\n").as_bytes(),
        false,
    )?;
    Ok(hex)
}

/// The running key authority: its decisions and the service it reads.
pub struct Process {
    authority: KeyAuthority,
    view: ClientLogView,
    auth: Authenticator,
    origin: String,
    /// SHA3-256 of its own public key and CRS, as the service must list them.
    material: Vec<(&'static str, String)>,
    requests: std::sync::atomic::AtomicU64,
    waiting: Arc<tokio::sync::Semaphore>,
}

/// What `key-authority serve` needs besides its directory.
pub struct Settings<'a> {
    /// The service's address (`host:port` or `https://host:port`).
    pub service: &'a str,
    /// The anchors it pins (the service's `anchors.json`, checked out of band).
    pub anchors: TrustAnchors,
    /// Days either side of its clock it decides.
    pub day_window: u32,
    /// Decisions per day of its clock about one subject.
    pub budget: super::Budget,
    /// Accept anchors other than those pinned at the last start when their fingerprint
    /// (hex) is this one.
    pub accept_anchors: Option<String>,
    /// Verify every input upload again for every decision (no kept verified blocks).
    pub verify_uploads_every_decision: bool,
    /// Memory for decompressed input blocks, MiB (0: off).
    pub block_cache_mib: usize,
    /// Leave evaluating to the service and replay every evaluation (no evaluate once).
    pub service_evaluates: bool,
    /// Follow the log and verify newly logged uploads in the background every this many
    /// seconds (0: only when a request comes).
    pub follow_every_secs: u64,
}

/// Requests waiting for a decision at once; more are answered 503.
pub const MAX_WAITING: usize = 16;

const ANCHORS_KEY: &[u8] = b"ka/anchors";

/// Compares the public FHE material the service at `client` hands holders with `material`.
fn check_material(client: &Client, material: &[(&str, String)]) -> Result<(), Refusal> {
    let (status, _, body) =
        crate::party::http::http(client.addr(), "GET", "/v1/fhe/public", &[], b"")
            .map_err(|e| Refusal::LogUnreadable(format!("cannot reach the service: {e}")))?;
    if status != 200 {
        return Err(Refusal::LogUnreadable(format!(
            "GET /v1/fhe/public: HTTP {status}"
        )));
    }
    let listing: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    for (part, want) in material {
        let listed = listing["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["part"] == *part)
            .and_then(|p| p["sha3_256"].as_str());
        if listed != Some(want.as_str()) {
            return Err(Refusal::ForeignMaterial(format!(
                "its {part} has SHA3-256 {}, this key authority's is {want}",
                listed.unwrap_or("(none listed)")
            )));
        }
    }
    Ok(())
}

/// Opens the key authority in `dir` (made by [`init`]) to follow the service at
/// `settings.service` under `settings.anchors`. Refuses anchors without witnesses (the
/// service alone could then show it a log nobody else sees), anchors that changed since the
/// last start unless `accept_anchors` names the new fingerprint, and a service that hands
/// holders public FHE material that is not its own.
pub fn open(dir: &Path, settings: Settings<'_>) -> Result<Arc<Process>, Error> {
    let keys = dir.join("keys");
    if !KeyPaths::new(&keys).client_key.exists() {
        return Err(format!(
            "{} holds no client key: run `credence key-authority init --dir {}` first",
            dir.display(),
            dir.display()
        )
        .into());
    }
    let public = PublicMaterial::load(&keys)?;
    let seed_path = dir.join("signing.seed");
    if !seed_path.exists() {
        return Err(format!("{} is missing", seed_path.display()).into());
    }
    let seed = seed(&seed_path)?;
    let key = SigningKey::from_seed(Role::KeyAuthority, &seed);
    let anchors = settings.anchors;
    if anchors.key_authority != key.public() {
        return Err(
            "the anchors name another key authority: pin the anchors of a service that uses \
             this key authority"
                .into(),
        );
    }
    if anchors.witness_quorum == 0 {
        return Err(
            "the anchors name no witness quorum: a key authority apart follows only a log \
             that witnesses cosign (the service alone could show it a log nobody else sees)"
                .into(),
        );
    }
    use sha3::Digest;
    let material: Vec<(&'static str, String)> = crate::fhe::keys::encryption_parts(&public)?
        .into_iter()
        .map(|(part, bytes)| (part, hex::encode(sha3::Sha3_256::digest(bytes))))
        .collect();
    let origin = anchors.log.name.clone();
    let client = Client::with_origin(settings.service, &origin, PartyId::new(PARTY)?, key);
    match check_material(&client, &material) {
        Ok(()) => {}
        Err(Refusal::ForeignMaterial(m)) => {
            return Err(format!("refusing to serve {}: the service's public FHE material is not this key authority's ({m})", settings.service).into())
        }
        Err(e) => eprintln!("warning: {e}; the material is checked again before every decision"),
    }
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.join("authority.redb"))?);
    let fingerprint = anchors.fingerprint();
    let mut b = Batch::new();
    match store.get(crate::store::Table::Meta, ANCHORS_KEY)? {
        Some(pinned) if pinned.as_slice() == fingerprint.as_slice() => {}
        Some(pinned)
            if settings.accept_anchors.as_deref().map(str::trim)
                != Some(hex::encode(fingerprint).as_str()) =>
        {
            return Err(format!(
                "the anchors changed since this key authority last ran (pinned {}, given {}): \
                 check the new ones out of band, then start once with --accept-anchors {}",
                hex::encode(pinned),
                hex::encode(fingerprint),
                hex::encode(fingerprint)
            )
            .into())
        }
        _ => {
            b.put(
                crate::store::Table::Meta,
                ANCHORS_KEY.to_vec(),
                fingerprint.to_vec(),
            );
        }
    }
    let service_party = PartyId::new(SERVICE_PARTY)?;
    let auth = Authenticator::new(store.clone(), REQUEST_WINDOW_SECS);
    if auth.key_of(&service_party)? != Some(anchors.service) {
        Authenticator::replace(&mut b, &service_party, &anchors.service);
    }
    store.commit(&b)?;
    let mut authority = KeyAuthority::new(
        Arc::new(SecretMaterial::load(&keys)?),
        {
            let e = Engine::new(public, 0)?;
            e.set_block_cache(settings.block_cache_mib.saturating_mul(1 << 20));
            Arc::new(e)
        },
        SigningKey::from_seed(Role::KeyAuthority, &seed),
        Catalog::builtin(),
        anchors,
        store,
    )?;
    authority.set_day_window(settings.day_window);
    authority.set_budget(settings.budget);
    authority.set_ingest_once(!settings.verify_uploads_every_decision);
    authority.set_evaluate_once(!settings.service_evaluates);
    Ok(Arc::new(Process {
        authority,
        view: ClientLogView { client },
        auth,
        origin,
        material,
        requests: Default::default(),
        waiting: Arc::new(tokio::sync::Semaphore::new(MAX_WAITING)),
    }))
}

/// `credence key-authority serve`: serves `POST /v1/decide` on `addr` until SIGINT/SIGTERM.
pub fn run(
    dir: &Path,
    addr: &str,
    settings: Settings<'_>,
    listen: &crate::server::config::Listen,
) -> Result<(), Error> {
    let fingerprint = hex::encode(settings.anchors.fingerprint());
    let every = settings.follow_every_secs;
    let p = open(dir, settings)?;
    if every > 0 {
        // Uploads are verified when they appear in the log, not when the next question comes:
        // on a timer, whatever is asked (a decision's time then does not include them).
        let background = Arc::downgrade(&p);
        std::thread::Builder::new()
            .name("follow-log".into())
            .spawn(move || {
                let mut last = String::new();
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(every));
                    let Some(p) = background.upgrade() else {
                        return;
                    };
                    match p.authority.follow_log(&p.view) {
                        // A log that cannot be relied on (a fork, a rollback, a checkpoint
                        // that does not verify) is evidence: always an error. A log it cannot
                        // read (the service down) is not: a warning, once per change.
                        Err(e @ crate::key_authority::Refusal::Checkpoint(_)) => {
                            tracing::error!(error = %e, "the log cannot be followed");
                        }
                        // Anything else (the service unreachable, say) once per change.
                        Err(e) if e.to_string() != last => {
                            last = e.to_string();
                            tracing::warn!(error = %e, "following the log in the background");
                        }
                        Err(_) => {}
                        Ok(_) => last.clear(),
                    }
                }
            })?;
    }
    eprintln!(
        "key authority {} following {} ({} log entries verified); anchors pinned, fingerprint {fingerprint} (compare it with the operator's)",
        hex::encode(p.authority.public_key().to_bytes()),
        p.origin,
        p.authority.log_size()
    );
    crate::server::process::serve_until_signal(addr, router(p), dir, listen)
}

/// The key authority's HTTP API.
pub fn router(p: Arc<Process>) -> axum::Router {
    axum::Router::new()
        .route(DECIDE_PATH, axum::routing::post(decide))
        .route(EVALUATE_PATH, axum::routing::post(evaluate))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_DECIDE_BODY))
        .with_state(p)
}

fn refuse(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    query_index: u64,
    output: String,
}

async fn decide(
    State(p): State<Arc<Process>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    blocking(p, method, uri, headers, body, decide_blocking).await
}

async fn evaluate(
    State(p): State<Arc<Process>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    blocking(p, method, uri, headers, body, evaluate_blocking).await
}

/// Runs `f` on a signed request of the service, off the runtime's workers (the store's fsync,
/// calls to the service, FHE), with at most [`MAX_WAITING`] requests waiting.
async fn blocking(
    p: Arc<Process>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
    f: fn(&Process, &[u8]) -> Response,
) -> Response {
    let Ok(_permit) = p.waiting.clone().try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{MAX_WAITING} requests are waiting for a decision: retry later"),
        );
    };
    let task = tokio::task::spawn_blocking(move || {
        match refused_caller(&p, &method, &uri, &headers, &body) {
            None => f(&p, &body),
            Some(r) => r,
        }
    });
    match task.await {
        Ok(r) => r,
        Err(e) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("decision task failed: {e}"),
        ),
    }
}

/// Accepts only requests signed by the service's key the anchors pin, each once: the refusal
/// of any other, or `None`.
fn refused_caller(
    p: &Process,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let now = super::request::system_clock();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Err(e) = p.auth.authenticate(
        header,
        &p.origin,
        method.as_str(),
        path,
        body,
        now,
        &[Role::Log],
    ) {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        return Some(refuse(status, "unauthenticated", e.to_string()));
    }
    // Forget nonces too old to be replayed, now and then.
    if p.requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .is_multiple_of(256)
    {
        let _ = p.auth.prune(now);
    }
    None
}

/// Holders must have encrypted to this key authority's key: checked before every decision and
/// evaluation; a mismatch is logged as a refusal of the query.
fn material_checked(p: &Process, query_index: u64) -> Result<(), Refusal> {
    match check_material(&p.view.client, &p.material) {
        Err(r @ Refusal::ForeignMaterial(_)) => {
            tracing::error!(reason = %r, "decryption refused");
            let _ = p.view.record_refusal(query_index, r.code());
            Err(r)
        }
        other => other,
    }
}

fn refusal(r: &Refusal) -> Response {
    refuse(
        StatusCode::from_u16(refusal_status(r.code())).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
        r.code(),
        r.to_string(),
    )
}

fn decide_blocking(p: &Process, body: &[u8]) -> Response {
    let req: DecideBody = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "bad-request", format!("body: {e}")),
    };
    let Some(output) = hex::decode(&req.output).ok() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "output: expected hex".into(),
        );
    };
    let request = DecideRequest {
        query_index: req.query_index,
        output,
    };
    let started = std::time::Instant::now();
    let decided = material_checked(p, request.query_index)
        .and_then(|()| p.authority.decide(&p.view, &request));
    let ms = started.elapsed().as_secs_f64() * 1e3;
    match decided {
        Ok(v) => axum::Json(serde_json::json!({
            "verdict": hex::encode(v.to_bytes()),
            "decide_ms": ms,
        }))
        .into_response(),
        Err(r) => refusal(&r),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluateBody {
    query_index: u64,
}

fn evaluate_blocking(p: &Process, body: &[u8]) -> Response {
    let req: EvaluateBody = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "bad-request", format!("body: {e}")),
    };
    if !p.authority.evaluates() {
        return refusal(&Refusal::NotEvaluating);
    }
    let started = std::time::Instant::now();
    let evaluated = material_checked(p, req.query_index)
        .and_then(|()| p.authority.evaluate(&p.view, req.query_index));
    let ms = started.elapsed().as_secs_f64() * 1e3;
    match evaluated {
        Ok(v) => {
            let cache = p.authority.block_cache_stats();
            axum::Json(serde_json::json!({
                "output": hex::encode(&v.output),
                "input_hashes": v.input_hashes.iter().map(hex::encode).collect::<Vec<_>>(),
                "evaluate_ms": ms,
                "block_cache_hits": cache.hits,
                "block_cache_misses": cache.misses,
                "block_cache_bytes": cache.bytes,
            }))
        }
        .into_response(),
        Err(r) => refusal(&r),
    }
}

/// The service's log as the key authority process reads it: through the service's API, as
/// the party `key-authority`. The service may answer anything; [`KeyAuthority`] verifies it.
pub struct ClientLogView {
    client: Client,
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl LogView for ClientLogView {
    fn checkpoint(&self) -> Result<SignedCheckpoint, String> {
        self.client.checkpoint().map_err(text)
    }

    fn entries(&self, from: u64, to: u64) -> Result<Vec<(u64, LogLeaf)>, String> {
        self.client
            .entries(from, to)
            .map_err(text)?
            .into_iter()
            .map(|(i, e)| {
                e.into_leaf()
                    .map(|l| (i, l))
                    .ok_or_else(|| format!("the service withheld entry {i}"))
            })
            .collect()
    }

    fn upload(&self, hash: &Hash) -> Result<Vec<u8>, String> {
        self.client.object("submission", hash).map_err(text)
    }

    fn consent(&self, hash: &Hash) -> Result<Vec<u8>, String> {
        self.client.object("consent", hash).map_err(text)
    }

    fn policy_text(&self, hash: &Hash) -> Result<String, String> {
        self.client
            .policies()
            .map_err(text)?
            .into_iter()
            .find(|(_, h, _)| h == hash)
            .map(|(_, _, t)| t)
            .ok_or_else(|| "no such policy".into())
    }

    fn record_refusal(&self, query_index: u64, reason: &str) -> Result<u64, String> {
        let v = self
            .client
            .post(
                REFUSALS_PATH,
                &serde_json::json!({"query_index": query_index, "reason": reason}),
            )
            .map_err(text)?;
        v["index"]
            .as_u64()
            .ok_or_else(|| "the service answered no log index".into())
    }
}
