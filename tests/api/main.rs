//! HTTP-level tests of the service, in process, one module per story: `sealed` (the sealed-path
//! story from registration to a verified verdict with log proofs, and every kind of bad input
//! answered with the right status and a store left unchanged), `proven`, `lifecycle` (listings,
//! repair, disputes, pledges), `regions` (witnessing and forwarding) and `supervision`.
//!
//! Stories declared with [`on_every_store!`] run once per store backend (in memory, and the
//! embedded redb file): the same assertions, on each backend the service ships with.

#[path = "../common/mod.rs"]
mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use credence::circuits::catalog::Catalog;
use credence::fhe::engine::Engine;
use credence::party::holder::encrypt_record;
use credence::protocols::log::checkpoint::{NoteVerifier, SignedCheckpoint};
use credence::protocols::log::entry::LogLeaf;
use credence::protocols::log::{InclusionProof, Sha3Log};
use credence::protocols::names::{AttributeId, PartyId};
use credence::protocols::pseudonym::{Pseudonym, PseudonymKey};
use credence::protocols::request::RequestStatement;
use credence::protocols::signing::{PublicKey, Role, SigningKey};
use credence::protocols::verdict::VerdictReceipt;
use credence::server::log::{CheckpointPolicy, LogService};
use credence::server::{router, ServiceParts, ServiceState};
use credence::store::memory::MemoryStore;
use credence::store::{Batch, Store, Table};
use rand::RngCore;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

const USCC: &str = "914403001922038216";
/// The bearer token the services' `/metrics` takes.
const METRICS_TOKEN: &str = "test-metrics-token-for-scrapers";

struct World {
    engine: Arc<Engine>,
    ka_key: PublicKey,
}

/// The binary's keys: those of `common::region` (generated once).
fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let k = common::region::keys();
        World {
            engine: k.engine.clone(),
            ka_key: k.ka_key,
        }
    })
}

struct Svc {
    app: axum::Router,
    store: Arc<dyn Store>,
    log_key: SigningKey,
    operator: SigningKey,
}

/// The store backends a service runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// `store::memory::MemoryStore`.
    Memory,
    /// `store::embedded::EmbeddedStore` in a fresh file.
    Embedded,
    /// `store::postgres::PostgresStore` in a fresh schema of the test database.
    Postgres,
}

/// The test binary's PostgreSQL database (`CREDENCE_TEST_POSTGRES`), created once.
fn postgres_url() -> Option<String> {
    static URL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    URL.get_or_init(|| common::postgres_database("api")).clone()
}

thread_local! {
    /// The backend `service()` builds on, set by [`on_every_store!`] for the story it runs.
    static BACKEND: std::cell::Cell<Backend> = const { std::cell::Cell::new(Backend::Memory) };
}

/// Defines a story once per store backend (the akd `test_config!` idea): `$name::memory`,
/// `$name::embedded` and `$name::postgres` (when `CREDENCE_TEST_POSTGRES` is set) run the same
/// body, `service()` giving it that backend's store. The two
/// never run at once: they register the same holder names, and the binary's one key authority
/// keeps one key per holder name.
macro_rules! on_every_store {
    ($(#[$doc:meta])* test fn $name:ident() $body:block) => {
        $(#[$doc])*
        mod $name {
            use super::*;
            static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
            fn story() $body
            #[test]
            fn memory() {
                let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
                BACKEND.with(|b| b.set(Backend::Memory));
                story()
            }
            #[test]
            fn embedded() {
                let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
                BACKEND.with(|b| b.set(Backend::Embedded));
                story()
            }
            #[test]
            fn postgres() {
                if postgres_url().is_none() {
                    return;
                }
                let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
                BACKEND.with(|b| b.set(Backend::Postgres));
                story()
            }
        }
    };
    ($(#[$doc:meta])* tokio fn $name:ident() $body:block) => {
        $(#[$doc])*
        mod $name {
            use super::*;
            static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
            async fn story() $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[allow(clippy::await_holding_lock)] // the guard only orders two tests
            async fn memory() {
                let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
                BACKEND.with(|b| b.set(Backend::Memory));
                story().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[allow(clippy::await_holding_lock)] // the guard only orders two tests
            async fn embedded() {
                let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
                BACKEND.with(|b| b.set(Backend::Embedded));
                story().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[allow(clippy::await_holding_lock)] // the guard only orders the tests
            async fn postgres() {
                if postgres_url().is_none() {
                    return;
                }
                let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
                BACKEND.with(|b| b.set(Backend::Postgres));
                story().await
            }
        }
    };
}

/// A store of the current story's backend.
fn store() -> Arc<dyn Store> {
    match BACKEND.with(|b| b.get()) {
        Backend::Memory => Arc::new(MemoryStore::new()),
        Backend::Embedded => {
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("credence-api-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Arc::new(
                credence::store::embedded::EmbeddedStore::open(&dir.join("credence.redb")).unwrap(),
            )
        }
        Backend::Postgres => {
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let url = postgres_url().expect("checked by the story");
            let location =
                credence::store::postgres::Location::new(&url, &format!("api_{n}")).unwrap();
            Arc::new(credence::store::postgres::PostgresStore::open(location, 4).unwrap())
        }
    }
}

/// A fresh service on a store of the story's backend (in memory unless the story runs
/// [`on_every_store!`]). The key authority (slow to build: it holds keys and a pool) is shared
/// by the tests of this binary, so each test registers its holders under its own party names.
fn service() -> Svc {
    service_as("credence.test/api", None)
}

/// [`service`] with another log origin, witnessing `witness`'s partners.
fn service_as(origin: &str, witness: Option<credence::server::Witness>) -> Svc {
    // Internal errors are logged with their cause: show them in a failing test's output.
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let w = world();
    let store = store();
    let mut rng = rand::thread_rng();
    let operator = SigningKey::generate(Role::Operator, &mut rng);
    let mut b = Batch::new();
    credence::server::auth::Authenticator::register(
        &mut b,
        &PartyId::new("operator").unwrap(),
        &operator.public(),
    );
    store.commit(&b).unwrap();
    let log_key = SigningKey::generate(Role::Log, &mut rng);
    let log = LogService::open(
        store.clone(),
        origin,
        log_key.clone(),
        CheckpointPolicy {
            every_entries: 1000,
            every_seconds: 3600,
        },
    )
    .unwrap();
    let state = ServiceState::new(ServiceParts {
        store: store.clone(),
        log,
        catalog: Catalog::builtin(),
        pseudonyms: PseudonymKey::from_bytes([7; 32]),
        engine: w.engine.clone(),
        authority: common::region::key_authority(origin, &log_key, &[], 0, &Default::default())
            .into(),
        fhe_slots: 2,
        window_secs: 300,
        query_limit: 0,
        lookup_limit: 0,
        witness,
        witnesses: vec![],
        witness_quorum: 0,
        authorities: Default::default(),
        metrics_token: Some(credence::server::metrics::MetricsToken::new(METRICS_TOKEN).unwrap()),
    })
    .unwrap();
    Svc {
        app: router(state),
        store,
        log_key,
        operator,
    }
}

/// Entries a reader was shown in full (panics on a hidden one).
fn shown(v: Vec<(u64, credence::party::client::Entry)>) -> Vec<(u64, LogLeaf)> {
    v.into_iter()
        .map(|(i, e)| (i, e.into_leaf().expect("an entry shown in full")))
        .collect()
}

/// A shipped policy, pinned by its hash (what a bank verifies against).
fn pinned(hash: &[u8; 32]) -> &'static credence::protocols::question::PinnedPolicy {
    static PINS: OnceLock<Vec<credence::protocols::question::PinnedPolicy>> = OnceLock::new();
    PINS.get_or_init(|| {
        credence::circuits::policy::BUILTIN_POLICIES
            .iter()
            .map(|(n, _)| credence::circuits::policy::builtin(n).unwrap().pin())
            .collect()
    })
    .iter()
    .find(|p| p.hash() == *hash)
    .expect("a shipped policy")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn request(
    method: &str,
    path: &str,
    body: Vec<u8>,
    signer: Option<(&SigningKey, &str)>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some((key, party)) = signer {
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        let s = RequestStatement::new(
            "credence.test/api",
            PartyId::new(party).unwrap(),
            method,
            path,
            now(),
            nonce,
            &body,
        );
        for (h, v) in s.sign_headers(key) {
            b = b.header(h, v);
        }
    }
    b.body(Body::from(body)).unwrap()
}

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, Vec<u8>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, body.to_vec())
}

fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(b)))
}

async fn register(svc: &Svc, party: &str, role: &str, key: &PublicKey) {
    let body = serde_json::to_vec(
        &serde_json::json!({ "party": party, "role": role, "key": hex::encode(key.to_bytes()) }),
    )
    .unwrap();
    let (st, b) = send(
        &svc.app,
        request(
            "POST",
            "/v1/operator/parties",
            body,
            Some((&svc.operator, "operator")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
}

async fn publish(svc: &Svc, name: &str) {
    let (_, text) = credence::circuits::policy::BUILTIN_POLICIES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap();
    let (st, b) = send(
        &svc.app,
        request(
            "POST",
            "/v1/operator/policies",
            text.as_bytes().to_vec(),
            Some((&svc.operator, "operator")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
}

fn snapshot(store: &dyn Store) -> Vec<u64> {
    Table::ALL
        .iter()
        .filter(|t| **t != Table::Nonces)
        .map(|t| store.count(*t).unwrap())
        .collect()
}

async fn pseudonym_of(svc: &Svc, key: &SigningKey, party: &str) -> Pseudonym {
    let body = serde_json::to_vec(&serde_json::json!({"kind": "enterprise", "id": USCC})).unwrap();
    let (st, b) = send(
        &svc.app,
        request("POST", "/v1/holder/pseudonym", body, Some((key, party))),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    Pseudonym::from_text(json(&b)["pseudonym"].as_str().unwrap()).unwrap()
}

/// A bank route's body `q` with the bank's signed request (`query-request/v1`) added, for the
/// service of log `origin`: the subject's pseudonym under the test services' pseudonym key, the
/// built-in policy's hash, the consent's hash where the body carries one.
fn signed_question(q: serde_json::Value, origin: &str, bank: &SigningKey, party: &str) -> Vec<u8> {
    let kind = match q["subject"]["kind"].as_str().unwrap() {
        "person" => credence::protocols::identifiers::SubjectKind::Person,
        _ => credence::protocols::identifiers::SubjectKind::Enterprise,
    };
    let id = credence::protocols::identifiers::SubjectId::parse(
        kind,
        q["subject"]["id"].as_str().unwrap(),
    )
    .unwrap();
    let consent_hash = q["consent"].as_str().map(|c| {
        credence::protocols::consent::SignedConsent::from_bytes(&hex::decode(c).unwrap())
            .unwrap()
            .hash()
    });
    let request = credence::protocols::query::QueryRequest::new(
        origin,
        &PartyId::new(party).unwrap(),
        PseudonymKey::from_bytes([7; 32]).pseudonym(&id),
        credence::circuits::policy::builtin(q["policy"].as_str().unwrap())
            .unwrap()
            .hash(),
        u32::try_from(q["day"].as_u64().unwrap()).unwrap(),
        q["purpose"].as_str().unwrap(),
        consent_hash,
        None,
        &mut rand::thread_rng(),
    )
    .sign(bank);
    let mut q = q;
    q["request"] = serde_json::json!({
        "nonce": hex::encode(request.nonce),
        "signature": hex::encode(request.signature.0),
    });
    serde_json::to_vec(&q).unwrap()
}

fn sealed(
    holder: &str,
    key: &SigningKey,
    who: Pseudonym,
    id: u64,
    values: &[(&str, u64)],
) -> Vec<u8> {
    let w = world();
    let values: Vec<(AttributeId, u64)> = values
        .iter()
        .map(|(a, v)| (AttributeId::new(a).unwrap(), *v))
        .collect();
    let r = encrypt_record(
        &Catalog::builtin(),
        &w.engine.public().public_key,
        &w.engine.public().crs,
        &PartyId::new(holder).unwrap(),
        key,
        who,
        id,
        &values,
    )
    .unwrap();
    r.to_bytes()
}

mod lifecycle;
mod proven;
mod regions;
mod sealed;
mod supervision;
