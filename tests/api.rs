//! HTTP-level tests of the service, in process: the sealed-path story from registration to a
//! verified verdict with log proofs, and every kind of bad input answered with the right status
//! and a store left unchanged.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use credence::circuits::catalog::Catalog;
use credence::fhe::engine::Engine;
use credence::fhe::keys::generate;
use credence::key_authority::KeyAuthority;
use credence::party::holder::encrypt_record;
use credence::protocols::log::checkpoint::{NoteVerifier, SignedCheckpoint};
use credence::protocols::log::entry::LogLeaf;
use credence::protocols::log::{InclusionProof, LogHasher, Sha3Log};
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

struct World {
    engine: Arc<Engine>,
    authority: Arc<KeyAuthority>,
    ka_key: PublicKey,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let (secret, public) = generate(&mut |_, _| {}).unwrap();
        let ka_signing = SigningKey::generate(Role::KeyAuthority, &mut rand::thread_rng());
        let ka_key = ka_signing.public();
        let ka =
            KeyAuthority::new(secret, public.clone(), ka_signing, Catalog::builtin(), 0).unwrap();
        World {
            engine: Arc::new(Engine::new(public, 0).unwrap()),
            authority: Arc::new(ka),
            ka_key,
        }
    })
}

struct Svc {
    app: axum::Router,
    store: Arc<dyn Store>,
    log_key: SigningKey,
    operator: SigningKey,
}

/// A fresh service on an in-memory store. The key authority (slow to build: it holds keys and a
/// pool) is shared by the tests of this binary, so each test registers its holders under its
/// own party names.
fn service() -> Svc {
    service_as("credence.test/api", None)
}

/// [`service`] with another log origin, witnessing `witness`'s partners.
fn service_as(origin: &str, witness: Option<credence::server::Witness>) -> Svc {
    let w = world();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
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
        authority: w.authority.clone(),
        fhe_slots: 2,
        window_secs: 300,
        witness,
        witnesses: vec![],
        witness_quorum: 0,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_path_story_over_http() {
    let svc = service();
    let mut rng = rand::thread_rng();
    let credit = SigningKey::generate(Role::Holder, &mut rng);
    let market = SigningKey::generate(Role::Holder, &mut rng);
    let bank = SigningKey::generate(Role::Bank, &mut rng);
    register(&svc, "credit.story", "holder", &credit.public()).await;
    register(&svc, "market.story", "holder", &market.public()).await;
    register(&svc, "icbc", "bank", &bank.public()).await;
    publish(&svc, "public_procurement").await;

    let who = pseudonym_of(&svc, &credit, "credit.story").await;
    let day = (now() / 86_400) as u32;
    // Listed until yesterday (lapsed), registered: eligible.
    for (holder, key, values) in [
        (
            "credit.story",
            &credit,
            vec![("credit.serious_dishonesty", u64::from(day) - 1)],
        ),
        (
            "market.story",
            &market,
            vec![("market.abnormal_operation", 0), ("market.registered", 1)],
        ),
    ] {
        let body = sealed(holder, key, who, 1, &values);
        let (st, b) = send(
            &svc.app,
            request("POST", "/v1/holder/sealed", body, Some((key, holder))),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    }
    let q = serde_json::to_vec(&serde_json::json!({
        "subject": {"kind": "enterprise", "id": USCC},
        "policy": "public_procurement",
        "day": day,
        "purpose": "government procurement bid 2026-117",
    }))
    .unwrap();
    let (st, b) = send(
        &svc.app,
        request("POST", "/v1/bank/query", q.clone(), Some((&bank, "icbc"))),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v = json(&b);
    assert_eq!(v["outcome"]["eligible"], serde_json::json!(true), "{v}");
    let receipt =
        VerdictReceipt::from_bytes(&hex::decode(v["receipt"].as_str().unwrap()).unwrap()).unwrap();
    let verdict = receipt.verdict.clone();
    world()
        .ka_key
        .verify(Role::KeyAuthority, &verdict.verdict, &verdict.signature)
        .unwrap();
    assert_eq!(verdict.verdict.subject, who);
    assert_eq!(verdict.verdict.as_of_day, day);

    // Re-listed: a new record from the holder replaces the old one; now not eligible.
    let body = sealed(
        "credit.story",
        &credit,
        who,
        2,
        &[("credit.serious_dishonesty", u64::from(day) + 30)],
    );
    let (st, _) = send(
        &svc.app,
        request(
            "POST",
            "/v1/holder/sealed",
            body,
            Some((&credit, "credit.story")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, b) = send(
        &svc.app,
        request("POST", "/v1/bank/query", q, Some((&bank, "icbc"))),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v2 = json(&b);
    assert_eq!(v2["outcome"]["eligible"], serde_json::json!(false), "{v2}");

    // The auditor: a signed checkpoint, and the verdict entry is in the log under it.
    let (st, b) = send(
        &svc.app,
        request("GET", "/v1/audit/checkpoint", vec![], Some((&bank, "icbc"))),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let cp = SignedCheckpoint::parse(std::str::from_utf8(&b).unwrap()).unwrap();
    let verifier = NoteVerifier::log("credence.test/api", svc.log_key.public()).unwrap();
    let c = cp.verify(&verifier).unwrap().clone();
    let vi = v["log_indices"]["verdict"].as_u64().unwrap();
    let path = format!("/v1/audit/entries?from={vi}&to={}", vi + 1);
    let (st, b) = send(
        &svc.app,
        request(
            "GET",
            Box::leak(path.into_boxed_str()),
            vec![],
            Some((&bank, "icbc")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let leaf_hex = json(&b)["entries"][0]["leaf"].as_str().unwrap().to_string();
    let leaf = hex::decode(&leaf_hex).unwrap();
    match LogLeaf::from_bytes(&leaf).unwrap().entry {
        credence::protocols::log::entry::LogEntry::Verdict { verdict_hash, .. } => {
            assert_eq!(verdict_hash, verdict.hash())
        }
        other => panic!("{other:?}"),
    }
    let path = format!("/v1/audit/proof/inclusion?index={vi}&size={}", c.size);
    let (st, b) = send(
        &svc.app,
        request(
            "GET",
            Box::leak(path.into_boxed_str()),
            vec![],
            Some((&bank, "icbc")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let proof =
        InclusionProof::from_bytes(&hex::decode(json(&b)["proof"].as_str().unwrap()).unwrap())
            .unwrap();
    proof
        .verify::<Sha3Log>(&Sha3Log::hash_leaf(&leaf), &c.root)
        .unwrap();

    // Metrics count the routes.
    let (st, b) = send(
        &svc.app,
        Request::builder()
            .uri("/metrics")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let m = String::from_utf8(b).unwrap();
    assert!(
        m.contains(
            "credence_requests_total{method=\"post\",route=\"/v1/bank/query\",status=\"200\"} 2"
        ),
        "{m}"
    );
    let (st, b) = send(
        &svc.app,
        Request::builder()
            .uri("/openapi.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(json(&b)["paths"]["/v1/bank/query"]["post"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_changes_nothing() {
    let svc = service();
    let mut rng = rand::thread_rng();
    let credit = SigningKey::generate(Role::Holder, &mut rng);
    let bank = SigningKey::generate(Role::Bank, &mut rng);
    register(&svc, "credit.bad", "holder", &credit.public()).await;
    register(&svc, "icbc", "bank", &bank.public()).await;
    publish(&svc, "public_procurement").await;
    let who = pseudonym_of(&svc, &credit, "credit.bad").await;
    let before = snapshot(&*svc.store);
    let query = |id: &str, kind: &str, policy: &str| {
        serde_json::to_vec(&serde_json::json!({
            "subject": {"kind": kind, "id": id}, "policy": policy, "purpose": "loan"
        }))
        .unwrap()
    };

    // Unsigned, badly signed, replayed: 401.
    let (st, b) = send(
        &svc.app,
        request(
            "POST",
            "/v1/bank/query",
            query(USCC, "enterprise", "public_procurement"),
            None,
        ),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert!(json(&b)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("missing header"));
    let mut r = request(
        "POST",
        "/v1/bank/query",
        query(USCC, "enterprise", "public_procurement"),
        Some((&bank, "icbc")),
    );
    *r.body_mut() = Body::from(query(USCC, "enterprise", "rongque"));
    assert_eq!(send(&svc.app, r).await.0, StatusCode::UNAUTHORIZED);
    let r1 = request(
        "POST",
        "/v1/holder/pseudonym",
        serde_json::to_vec(&serde_json::json!({"kind": "enterprise", "id": USCC})).unwrap(),
        Some((&credit, "credit.bad")),
    );
    let (parts, body) = r1.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let again = Request::from_parts(parts.clone(), Body::from(body.clone()));
    assert_eq!(
        send(&svc.app, Request::from_parts(parts, Body::from(body)))
            .await
            .0,
        StatusCode::OK
    );
    let (st, b) = send(&svc.app, again).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(json(&b)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("replayed"));

    // Wrong role: 403.
    let (st, b) = send(
        &svc.app,
        request(
            "POST",
            "/v1/bank/query",
            query(USCC, "enterprise", "public_procurement"),
            Some((&credit, "credit.bad")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));

    // Invalid USCC: 400 naming the failing position.
    let (st, b) = send(
        &svc.app,
        request(
            "POST",
            "/v1/bank/query",
            query("914403001922038217", "enterprise", "public_procurement"),
            Some((&bank, "icbc")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let e = json(&b)["error"]["message"].as_str().unwrap().to_string();
    assert!(e.contains("18"), "{e}");

    // A person without consent: 403. Unknown policy: 404.
    let (st, _) = send(
        &svc.app,
        request(
            "POST",
            "/v1/bank/query",
            query("11010519491231002X", "person", "public_procurement"),
            Some((&bank, "icbc")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, b) = send(
        &svc.app,
        request(
            "POST",
            "/v1/bank/query",
            query(USCC, "enterprise", "no_such_policy"),
            Some((&bank, "icbc")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(json(&b)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no_such_policy"));

    // Malformed and non-conformant ciphertexts: 400, nothing stored.
    let good = sealed(
        "credit.bad",
        &credit,
        who,
        5,
        &[("credit.serious_dishonesty", 3)],
    );
    let mut garbage = good.clone();
    let n = garbage.len();
    for b in &mut garbage[n - 2000..n - 1000] {
        *b = 0xa5;
    }
    let (st, b) = send(
        &svc.app,
        request(
            "POST",
            "/v1/holder/sealed",
            garbage,
            Some((&credit, "credit.bad")),
        ),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&b)
    );
    let (st, _) = send(
        &svc.app,
        request(
            "POST",
            "/v1/holder/sealed",
            good[..100].to_vec(),
            Some((&credit, "credit.bad")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // Oversized body: 413.
    let (st, _) = send(
        &svc.app,
        request(
            "POST",
            "/v1/holder/sealed",
            vec![0u8; credence::server::MAX_SEALED_BODY + 1],
            Some((&credit, "credit.bad")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(
        snapshot(&*svc.store),
        before,
        "a refused request changed the store"
    );

    // And the good record still goes in; its submission id cannot be reused.
    let (st, _) = send(
        &svc.app,
        request(
            "POST",
            "/v1/holder/sealed",
            good.clone(),
            Some((&credit, "credit.bad")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = send(
        &svc.app,
        request(
            "POST",
            "/v1/holder/sealed",
            good,
            Some((&credit, "credit.bad")),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
}

/// The proven path, subjects and consents, through the typed client over loopback TCP: holders
/// commit (openings sealed to the subject), the subject reads its records and proves, the bank
/// submits the proof and verifies the receipt; stale, mismatched and tampered packages are
/// refused with the store unchanged; a person is asked about only with a consent that covers
/// the query, and the auditor finds that consent.
#[test]
fn proven_path_subjects_and_consents_over_http() {
    use credence::party::client::{Client, ClientError, Question};
    use credence::party::holder::commit_attributes;
    use credence::party::subject::{prove, prove_offline};
    use credence::party::RoleError;
    use credence::protocols::consent::{Consent, SignedConsent};
    use credence::protocols::identifiers::{SubjectId, SubjectKind};
    use credence::protocols::log::entry::{LogEntry, Outcome};
    use credence::protocols::question::Question as VQ;
    use credence::protocols::seal::SealingSecretKey;

    let svc = service();
    let store = svc.store.clone();
    let running = credence::server::process::Running::start(svc.app.clone()).unwrap();
    let addr = running.addr.clone();
    let mut rng = rand::thread_rng();
    let operator = Client::new(
        &addr,
        PartyId::new("operator").unwrap(),
        svc.operator.clone(),
    );
    let credit = Client::new(
        &addr,
        PartyId::new("credit.proven").unwrap(),
        SigningKey::generate(Role::Holder, &mut rng),
    );
    let market = Client::new(
        &addr,
        PartyId::new("market.proven").unwrap(),
        SigningKey::generate(Role::Holder, &mut rng),
    );
    let bank = Client::new(
        &addr,
        PartyId::new("bank.proven").unwrap(),
        SigningKey::generate(Role::Bank, &mut rng),
    );
    for c in [&credit, &market, &bank] {
        operator
            .register_party(c.party(), &c.key().public(), None)
            .unwrap();
    }
    let policy_text = credence::circuits::policy::BUILTIN_POLICIES
        .iter()
        .find(|(n, _)| *n == "public_procurement")
        .unwrap()
        .1;
    let policy_hash = operator.publish_policy(policy_text).unwrap();
    let policy = credence::circuits::policy::builtin("public_procurement").unwrap();
    let catalog = Catalog::builtin();

    // The enterprise registers with a signing key and a sealing key.
    let id = SubjectId::parse(SubjectKind::Enterprise, USCC).unwrap();
    let sealing = SealingSecretKey::generate(&mut rand::rngs::OsRng);
    let subject = Client::new(
        &addr,
        PartyId::new("ent.proven").unwrap(),
        SigningKey::generate(Role::Subject, &mut rng),
    );
    operator
        .register_party(
            subject.party(),
            &subject.key().public(),
            Some((&id, &sealing.public())),
        )
        .unwrap();
    let (who, sealing_pub) = credit.pseudonym(&id).unwrap();
    let sealing_pub = sealing_pub.expect("a registered subject's sealing key is returned");
    let day = 20_500;
    let submit = |holder: &Client, values: &[(&str, u64)], first: u64| {
        let values: Vec<(AttributeId, u64)> = values
            .iter()
            .map(|(a, v)| (AttributeId::new(a).unwrap(), *v))
            .collect();
        let items = commit_attributes(
            &catalog,
            holder.party(),
            holder.key(),
            who,
            &sealing_pub,
            &values,
            first,
        )
        .unwrap();
        holder.submit_committed(&items)
    };
    submit(
        &credit,
        &[("credit.serious_dishonesty", u64::from(day) - 3)],
        1,
    )
    .unwrap();
    submit(
        &market,
        &[("market.abnormal_operation", 0), ("market.registered", 1)],
        1,
    )
    .unwrap();

    // A holder cannot commit to another authority's attribute (checked by the service, not
    // only by the holder's tooling), nor reuse a submission id.
    let before = snapshot(&*store);
    let foreign = {
        use credence::protocols::commitment::*;
        let context = AttributeContext {
            holder: credit.party().clone(),
            attribute: AttributeId::new("market.registered").unwrap(),
            subject: who,
            submission: 9,
        };
        let opening = Opening::random(1, &mut rand::rngs::OsRng);
        let c = AttributeCommitment::create(
            &mut merlin::Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL),
            context.clone(),
            &opening,
            1,
            &mut rand::rngs::OsRng,
        )
        .unwrap();
        let sealed = credence::protocols::seal::SealedOpening::seal(
            &sealing_pub,
            &context,
            &c.commitment,
            &opening,
            &mut rand::rngs::OsRng,
        );
        (SignedAttributeCommitment::sign(c, credit.key()), sealed)
    };
    match credit.submit_committed(&[foreign]) {
        Err(ClientError::Status {
            status: 400,
            message,
        }) => {
            assert!(
                message.contains("belongs to the `market` authority"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(&*store), before);
    let dup = commit_attributes(
        &catalog,
        credit.party(),
        credit.key(),
        who,
        &sealing_pub,
        &[(AttributeId::new("credit.serious_dishonesty").unwrap(), 0)],
        1,
    )
    .unwrap();
    match credit.submit_committed(&dup) {
        Err(ClientError::Status { status: 409, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(&*store), before, "a refused batch stores nothing");

    // The subject reads its records and proves; the bank submits the proof.
    let records = subject.subject_records().unwrap();
    assert_eq!(records.len(), 3);
    let package = prove(&policy, day, who, &records, &sealing, &subject).unwrap();
    let question = Question {
        subject: &id,
        policy: "public_procurement",
        day,
        purpose: "procurement bid 2026-117",
        consent: None,
    };
    let anchors = bank.anchors().unwrap();
    let answer = bank.query_proven(&question, &package).unwrap();
    let vq = VQ {
        subject: who,
        policy: pinned(&policy_hash),
        as_of_day: day,
    };
    assert_eq!(
        answer.receipt.verify(&anchors, &vq).unwrap().outcome,
        Outcome::Eligible(true)
    );

    // Refusals, each leaving the store unchanged.
    let before = snapshot(&*store);
    let other_day = Question {
        day: day + 1,
        ..question.clone()
    };
    match bank.query_proven(&other_day, &package) {
        Err(ClientError::Status {
            status: 400,
            message,
        }) => assert!(message.contains("day"), "{message}"),
        other => panic!("{other:?}"),
    }
    let mut tampered = package.clone();
    tampered.inputs.swap(0, 1);
    match bank.query_proven(&question, &tampered) {
        Err(ClientError::Status { status: 400, .. }) => {}
        other => panic!("{other:?}"),
    }
    let unknown = Question {
        policy: "no_such_policy",
        ..question.clone()
    };
    match bank.query_proven(&unknown, &package) {
        Err(ClientError::Status { status: 404, .. }) => {}
        other => panic!("{other:?}"),
    }
    match credit.query_proven(&question, &package) {
        Err(ClientError::Status { status: 403, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(&*store), before);

    // The credit authority re-lists the enterprise: the old proof now rests on a superseded
    // commitment (409), and no new proof exists.
    submit(
        &credit,
        &[("credit.serious_dishonesty", u64::from(day) + 100)],
        2,
    )
    .unwrap();
    match bank.query_proven(&question, &package) {
        Err(ClientError::Status {
            status: 409,
            message,
        }) => assert!(message.contains("current"), "{message}"),
        other => panic!("{other:?}"),
    }
    let records = subject.subject_records().unwrap();
    assert!(matches!(
        prove_offline(&policy, day, who, &records, &sealing),
        Err(RoleError::Unsatisfied(_))
    ));
    // Someone else's sealing key opens nothing.
    let stranger = SealingSecretKey::generate(&mut rand::rngs::OsRng);
    assert!(matches!(
        prove_offline(&policy, day, who, &records, &stranger),
        Err(RoleError::Opening(_))
    ));

    // The subject sees the query and the verdict about it.
    let history = subject.subject_queries().unwrap();
    let kinds: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["query", "verdict"], "{history}");
    assert_eq!(history["events"][0]["bank"], "bank.proven");

    // A person: no consent → 403; a consent signed by someone else, or for another purpose →
    // 403; a covering consent → answered, its hash in the query entry, fetchable by auditors.
    let person = SubjectId::parse(SubjectKind::Person, "11010519491231002X").unwrap();
    let person_key = SigningKey::generate(Role::Subject, &mut rng);
    let person_sealing = SealingSecretKey::generate(&mut rand::rngs::OsRng);
    operator
        .register_party(
            &PartyId::new("person.1").unwrap(),
            &person_key.public(),
            Some((&person, &person_sealing.public())),
        )
        .unwrap();
    let (person_p, _) = credit.pseudonym(&person).unwrap();
    let consent = |key: &SigningKey, purpose: &str| {
        SignedConsent::sign(
            Consent {
                subject: person_p,
                bank: bank.party().clone(),
                policy_hash,
                purpose: purpose.into(),
                from_day: day - 10,
                until_day: day + 10,
                nonce: [1; 16],
            },
            key,
        )
    };
    let ask = |c: Option<&SignedConsent>| {
        bank.query_sealed(&Question {
            subject: &person,
            policy: "public_procurement",
            day,
            purpose: "personal loan",
            consent: c,
        })
    };
    let before = snapshot(&*store);
    let impostor = SigningKey::generate(Role::Subject, &mut rng);
    for c in [
        None,
        Some(consent(&impostor, "personal loan")),
        Some(consent(&person_key, "marketing")),
    ] {
        match ask(c.as_ref()) {
            Err(ClientError::Status { status: 403, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(snapshot(&*store), before);
    let good = consent(&person_key, "personal loan");
    let answer = ask(Some(&good)).unwrap();
    let vq = VQ {
        subject: person_p,
        policy: pinned(&policy_hash),
        as_of_day: day,
    };
    // Nothing was submitted about the person: the catalogue defaults apply (not registered).
    assert_eq!(
        answer.receipt.verify(&anchors, &vq).unwrap().outcome,
        Outcome::Eligible(false)
    );
    let qi = answer.json["log_indices"]["query"].as_u64().unwrap();
    let auditor = Client::new(&addr, bank.party().clone(), bank.key().clone());
    let leaf = auditor.entry(qi).unwrap().unwrap();
    match leaf.entry {
        LogEntry::Query {
            consent_hash: Some(h),
            ..
        } => {
            assert_eq!(h, good.hash());
            let stored = auditor.object("consent", &h).unwrap();
            assert_eq!(SignedConsent::from_bytes(&stored).unwrap(), good);
        }
        other => panic!("{other:?}"),
    }

    // The audit over this log: every verdict re-verifies, the consent is found, no problems.
    let report = credence::party::auditor::audit(
        &auditor,
        &anchors,
        &credence::party::auditor::AuditOptions {
            previous: None,
            replay: 1,
            engine: Some(&world().engine),
            today: day,
            spike_per_day: 1,
        },
    )
    .unwrap();
    assert!(report.ok(), "{}", report.render());
    // Two questions by one bank on one day, above a threshold of 1: flagged, not a fault.
    assert_eq!(report.flags.len(), 1, "{:?}", report.flags);
    assert!(
        report.flags[0].contains("bank.proven asked 2 questions"),
        "{:?}",
        report.flags
    );
    assert_eq!(report.verdicts_verified, 2);
    assert_eq!(report.consents_checked, 1);
    assert_eq!(report.rechecked, 1);
    running.stop();
}

/// A listing's period comes from the regimes table; on the day it ends the subject can prove
/// eligibility with no new submission, and the day before it cannot. The log shows one
/// listing submission and, after the period, a query and a verdict.
#[test]
fn a_listing_lapses_by_itself_at_the_end_of_its_period() {
    use credence::circuits::periods::{parse_date, Regimes};
    use credence::party::client::{Client, Question};
    use credence::party::holder::commit_attributes;
    use credence::party::subject::{prove, prove_offline};
    use credence::party::RoleError;
    use credence::protocols::identifiers::{SubjectId, SubjectKind};
    use credence::protocols::log::entry::{LogEntry, Outcome};
    use credence::protocols::seal::SealingSecretKey;

    let svc = service();
    let running = credence::server::process::Running::start(svc.app.clone()).unwrap();
    let addr = running.addr.clone();
    let mut rng = rand::thread_rng();
    let operator = Client::new(
        &addr,
        PartyId::new("operator").unwrap(),
        svc.operator.clone(),
    );
    let new = |name: &str, role: Role| {
        Client::new(
            &addr,
            PartyId::new(name).unwrap(),
            SigningKey::generate(role, &mut rand::thread_rng()),
        )
    };
    let (credit, market, bank) = (
        new("credit.lapse", Role::Holder),
        new("market.lapse", Role::Holder),
        new("bank.lapse", Role::Bank),
    );
    for c in [&credit, &market, &bank] {
        operator
            .register_party(c.party(), &c.key().public(), None)
            .unwrap();
    }
    let text = credence::circuits::policy::BUILTIN_POLICIES
        .iter()
        .find(|(n, _)| *n == "public_procurement")
        .unwrap()
        .1;
    operator.publish_policy(text).unwrap();
    let policy = credence::circuits::policy::builtin("public_procurement").unwrap();
    let id = SubjectId::parse(SubjectKind::Enterprise, USCC).unwrap();
    let sealing = SealingSecretKey::generate(&mut rand::rngs::OsRng);
    let subject = Client::new(
        &addr,
        PartyId::new("ent.lapse").unwrap(),
        SigningKey::generate(Role::Subject, &mut rng),
    );
    operator
        .register_party(
            subject.party(),
            &subject.key().public(),
            Some((&id, &sealing.public())),
        )
        .unwrap();
    let (who, _) = credit.pseudonym(&id).unwrap();

    // The market regulator lists the enterprise as abnormal, class "general", decided today.
    let decided = parse_date("2026-03-02").unwrap();
    let listing = Regimes::builtin()
        .listing("market.abnormal_operation", "general", decided, 0)
        .unwrap();
    assert_eq!(listing.until, decided + 365);
    let catalog = Catalog::builtin();
    let submit = |holder: &Client, values: &[(&str, u64)]| {
        let values: Vec<(AttributeId, u64)> = values
            .iter()
            .map(|(a, v)| (AttributeId::new(a).unwrap(), *v))
            .collect();
        let items = commit_attributes(
            &catalog,
            holder.party(),
            holder.key(),
            who,
            &sealing.public(),
            &values,
            1,
        )
        .unwrap();
        holder.submit_committed(&items).unwrap()
    };
    submit(&credit, &[("credit.serious_dishonesty", 0)]);
    let idx = submit(
        &market,
        &[
            ("market.abnormal_operation", u64::from(listing.until)),
            ("market.registered", 1),
        ],
    );
    // The listing notice carries class and decision day; the subject sees the period and the
    // earliest repair day, and checks its commitment opens to the noticed `until`.
    let notice = market
        .post(
            "/v1/holder/listings",
            &serde_json::json!({
                "subject": {"kind": "enterprise", "id": USCC},
                "attribute": "market.abnormal_operation", "class": "general", "decided": decided,
            }),
        )
        .unwrap();
    assert_eq!(notice["until"], listing.until);
    let view = subject.get("/v1/subject/records").unwrap();
    let shown = &view["listings"][0];
    assert_eq!(shown["earliest_repair_day"], listing.earliest_repair);
    assert_eq!(shown["class"], "general");
    assert_eq!(shown["decided"], decided);
    match market.post(
        "/v1/holder/listings",
        &serde_json::json!({
            "subject": {"kind": "enterprise", "id": USCC},
            "attribute": "market.abnormal_operation", "class": "grave", "decided": decided,
        }),
    ) {
        Err(credence::party::client::ClientError::Status {
            status: 400,
            message,
        }) => {
            assert!(message.contains("minor, general, serious"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let records = subject.subject_records().unwrap();

    let (c, o) = records
        .iter()
        .find(|(c, _)| c.commitment.context.attribute.as_str() == "market.abnormal_operation")
        .unwrap();
    let opened = o
        .open(&sealing, &c.commitment.context, &c.commitment.commitment)
        .unwrap();
    assert_eq!(Some(opened.value()), shown["until"].as_u64());

    // Still listed the day before the period ends: nothing to prove.
    assert!(matches!(
        prove_offline(&policy, listing.until - 1, who, &records, &sealing),
        Err(RoleError::Unsatisfied(_))
    ));
    // The day it ends, with no new submission: eligible.
    let day = listing.until;
    let package = prove(&policy, day, who, &records, &sealing, &subject).unwrap();
    let anchors = bank.anchors().unwrap();
    let answer = bank
        .query_proven(
            &Question {
                subject: &id,
                policy: "public_procurement",
                day,
                purpose: "bid",
                consent: None,
            },
            &package,
        )
        .unwrap();
    let outcome = answer
        .receipt
        .verify(
            &anchors,
            &credence::protocols::question::Question {
                subject: who,
                policy: pinned(&policy.hash()),
                as_of_day: day,
            },
        )
        .unwrap()
        .outcome;
    assert_eq!(outcome, Outcome::Eligible(true));
    // The log: exactly one submission of the listing, then the query and the verdict.
    let size = answer.receipt.checkpoint.checkpoint.size;
    let leaves = self::shown(operator.entries(0, size).unwrap());
    let listing_entries = leaves
        .iter()
        .filter(|(_, l)| matches!(&l.entry, LogEntry::AttributeSubmitted { attribute, .. } if attribute.as_str() == "market.abnormal_operation"))
        .count();
    assert_eq!(listing_entries, 1);
    assert!(idx
        .iter()
        .all(|i| *i < answer.json["log_indices"]["query"].as_u64().unwrap()));
    assert!(matches!(
        leaves.last().unwrap().1.entry,
        LogEntry::Verdict { .. }
    ));
    running.stop();
}

/// Credit repair: the subject applies; a refusal is recorded with its reason; an approval
/// submits the new value and logs a `Repair` entry in one commit; the subject's receipt
/// verifies (checkpoint, inclusion, the entry names it, the new commitment opens to the repair
/// day); verdicts on the repair day no longer see the listing.
#[test]
fn credit_repair_ends_a_listing_with_a_receipt() {
    use credence::circuits::periods::{parse_date, Regimes};
    use credence::party::client::{Client, ClientError, Question};
    use credence::party::holder::commit_attributes;
    use credence::party::subject::{prove, prove_offline};
    use credence::party::RoleError;
    use credence::protocols::identifiers::{SubjectId, SubjectKind};
    use credence::protocols::log::entry::{LogEntry, Outcome};
    use credence::protocols::seal::SealingSecretKey;

    let svc = service();
    let running = credence::server::process::Running::start(svc.app.clone()).unwrap();
    let addr = running.addr.clone();
    let operator = Client::new(
        &addr,
        PartyId::new("operator").unwrap(),
        svc.operator.clone(),
    );
    let new = |name: &str, role: Role| {
        Client::new(
            &addr,
            PartyId::new(name).unwrap(),
            SigningKey::generate(role, &mut rand::thread_rng()),
        )
    };
    let (credit, market, bank, subject) = (
        new("credit.repair", Role::Holder),
        new("market.repair", Role::Holder),
        new("bank.repair", Role::Bank),
        new("ent.repair", Role::Subject),
    );
    for c in [&credit, &market, &bank] {
        operator
            .register_party(c.party(), &c.key().public(), None)
            .unwrap();
    }
    let id = SubjectId::parse(SubjectKind::Enterprise, USCC).unwrap();
    let sealing = SealingSecretKey::generate(&mut rand::rngs::OsRng);
    operator
        .register_party(
            subject.party(),
            &subject.key().public(),
            Some((&id, &sealing.public())),
        )
        .unwrap();
    let text = credence::circuits::policy::BUILTIN_POLICIES
        .iter()
        .find(|(n, _)| *n == "public_procurement")
        .unwrap()
        .1;
    operator.publish_policy(text).unwrap();
    let policy = credence::circuits::policy::builtin("public_procurement").unwrap();
    let (who, _) = credit.pseudonym(&id).unwrap();
    let catalog = Catalog::builtin();
    let commit = |holder: &Client, values: &[(&str, u64)], first: u64| {
        let values: Vec<(AttributeId, u64)> = values
            .iter()
            .map(|(a, v)| (AttributeId::new(a).unwrap(), *v))
            .collect();
        commit_attributes(
            &catalog,
            holder.party(),
            holder.key(),
            who,
            &sealing.public(),
            &values,
            first,
        )
        .unwrap()
    };
    let items_json = |items: &[(
        credence::protocols::commitment::SignedAttributeCommitment,
        credence::protocols::seal::SealedOpening,
    )]| {
        items
            .iter()
            .map(|(c, o)| serde_json::json!({"commitment": hex::encode(c.to_bytes()), "opening": hex::encode(o.to_bytes())}))
            .collect::<Vec<_>>()
    };

    // Listed "general" by the market regulator on `decided`; may apply from day +90.
    let decided = parse_date("2026-01-05").unwrap();
    let listing = Regimes::builtin()
        .listing("market.abnormal_operation", "general", decided, 0)
        .unwrap();
    credit
        .submit_committed(&commit(&credit, &[("credit.serious_dishonesty", 0)], 1))
        .unwrap();
    market
        .submit_committed(&commit(
            &market,
            &[
                ("market.abnormal_operation", u64::from(listing.until)),
                ("market.registered", 1),
            ],
            1,
        ))
        .unwrap();
    let repair_day = listing.earliest_repair + 10;
    assert!(matches!(
        prove_offline(
            &policy,
            repair_day,
            who,
            &subject.subject_records().unwrap(),
            &sealing
        ),
        Err(RoleError::Unsatisfied(_))
    ));

    // Bad applications: not a list, wrong holder.
    for (holder, attribute) in [
        ("market.repair", "market.registered"),
        ("credit.repair", "market.abnormal_operation"),
    ] {
        match subject.post(
            "/v1/subject/repairs",
            &serde_json::json!({"holder": holder, "attribute": attribute, "reason": "fixed"}),
        ) {
            Err(ClientError::Status { status: 400, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    // Apply; the holder refuses once, with a reason the subject sees.
    let apply = || {
        subject
            .post("/v1/subject/repairs", &serde_json::json!({"holder": "market.repair", "attribute": "market.abnormal_operation", "reason": "annual report filed, address corrected"}))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = apply();
    let inbox = market.get("/v1/holder/repairs").unwrap();
    assert_eq!(inbox["repairs"][0]["id"], first.as_str());
    let refused = market
        .post("/v1/holder/repairs/decide", &serde_json::json!({"id": first, "approve": false, "reason": "the 2025 annual report is still missing"}))
        .unwrap();
    assert_eq!(refused["status"], "refused");
    // Another holder cannot decide it; a decided application cannot be decided again.
    match credit.post(
        "/v1/holder/repairs/decide",
        &serde_json::json!({"id": first, "approve": false, "reason": "x"}),
    ) {
        Err(ClientError::Status { status: 403, .. }) => {}
        other => panic!("{other:?}"),
    }
    match market.post(
        "/v1/holder/repairs/decide",
        &serde_json::json!({"id": first, "approve": false, "reason": "x"}),
    ) {
        Err(ClientError::Status { status: 409, .. }) => {}
        other => panic!("{other:?}"),
    }

    // An application with the listing's class and decision day gets the earliest repair day
    // from the regimes table — and is refused before it.
    let today = (now() / 86_400) as u32;
    match subject.post(
        "/v1/subject/repairs",
        &serde_json::json!({
            "holder": "market.repair", "attribute": "market.abnormal_operation", "reason": "fixed",
            "listing": {"class": "general", "decided": today - 10},
        }),
    ) {
        Err(ClientError::Status {
            status: 400,
            message,
        }) => {
            assert!(
                message.contains(&format!("from day {}", today + 80)),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }

    // Applies again; approved: the listing ends on the repair day.
    let second = subject
        .post(
            "/v1/subject/repairs",
            &serde_json::json!({
                "holder": "market.repair", "attribute": "market.abnormal_operation",
                "reason": "annual report filed, address corrected",
                "listing": {"class": "general", "decided": decided},
            }),
        )
        .unwrap();
    assert_eq!(second["earliest_repair_day"], listing.earliest_repair);
    let second = second["id"].as_str().unwrap().to_string();
    let new_value = commit(
        &market,
        &[("market.abnormal_operation", u64::from(repair_day))],
        50,
    );
    // An approval carrying another attribute is refused and changes nothing.
    let before = snapshot(&*svc.store);
    let wrong = commit(&market, &[("market.registered", 1)], 60);
    match market.post("/v1/holder/repairs/decide", &serde_json::json!({"id": second, "approve": true, "reason": "ok", "repair_day": repair_day, "items": items_json(&wrong)})) {
        Err(ClientError::Status { status: 400, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(&*svc.store), before);
    let approved = market
        .post("/v1/holder/repairs/decide", &serde_json::json!({"id": second, "approve": true, "reason": "corrected; repaired", "repair_day": repair_day, "items": items_json(&new_value)}))
        .unwrap();
    assert_eq!(approved["status"], "approved");

    // The subject's receipt verifies.
    let anchors = bank.anchors().unwrap();
    let mine = subject.get("/v1/subject/repairs").unwrap();
    let apps = mine["repairs"].as_array().unwrap();
    assert_eq!(apps.len(), 2);
    let app = apps.iter().find(|a| a["id"] == second.as_str()).unwrap();
    let r = &app["receipt"];
    let cp = SignedCheckpoint::parse(r["checkpoint"].as_str().unwrap()).unwrap();
    let c = cp.verify(&anchors.log).unwrap().clone();
    let leaf = hex::decode(r["leaf"].as_str().unwrap()).unwrap();
    let proof = InclusionProof::from_bytes(&hex::decode(r["inclusion"].as_str().unwrap()).unwrap())
        .unwrap();
    assert_eq!(proof.leaf_index, r["index"].as_u64().unwrap());
    proof
        .verify::<Sha3Log>(&Sha3Log::hash_leaf(&leaf), &c.root)
        .unwrap();
    match LogLeaf::from_bytes(&leaf).unwrap().entry {
        LogEntry::Repair {
            subject: s,
            attribute,
            repair_day: d,
            submission_index,
            ..
        } => {
            assert_eq!(
                (s, attribute.as_str(), d),
                (who, "market.abnormal_operation", repair_day)
            );
            assert_eq!(submission_index + 1, r["index"].as_u64().unwrap());
        }
        other => panic!("{other:?}"),
    }
    // The new commitment is the current one and opens to the repair day.
    let records = subject.subject_records().unwrap();
    let (signed, sealed) = records
        .iter()
        .find(|(c, _)| c.commitment.context.attribute.as_str() == "market.abnormal_operation")
        .unwrap();
    let c = &signed.commitment;
    assert_eq!(
        sealed
            .open(&sealing, &c.context, &c.commitment)
            .unwrap()
            .value(),
        u64::from(repair_day)
    );

    // On the repair day the listing no longer counts.
    let package = prove(&policy, repair_day, who, &records, &sealing, &subject).unwrap();
    let answer = bank
        .query_proven(
            &Question {
                subject: &id,
                policy: "public_procurement",
                day: repair_day,
                purpose: "bid",
                consent: None,
            },
            &package,
        )
        .unwrap();
    let vq = credence::protocols::question::Question {
        subject: who,
        policy: pinned(&policy.hash()),
        as_of_day: repair_day,
    };
    assert_eq!(
        answer.receipt.verify(&anchors, &vq).unwrap().outcome,
        Outcome::Eligible(true)
    );
    running.stop();
}

/// Disputes: the subject disputes its listing; the holder corrects it (a new submission and the
/// answer in one commit), upholds another, leaves a third open — which the auditor flags once
/// its answer day has passed. Disputes of someone else's entry or with a wrong leaf hash, and
/// answers by another holder or twice, are refused.
#[test]
fn disputes_are_answered_or_flagged() {
    use credence::party::client::{Client, ClientError};
    use credence::party::holder::commit_attributes;
    use credence::party::subject::{prove, prove_offline};
    use credence::party::RoleError;
    use credence::protocols::dispute::{Dispute, SignedDispute};
    use credence::protocols::identifiers::{SubjectId, SubjectKind};
    use credence::protocols::log::entry::{DisputeOutcome, LogEntry};
    use credence::protocols::seal::SealingSecretKey;

    let svc = service();
    let running = credence::server::process::Running::start(svc.app.clone()).unwrap();
    let addr = running.addr.clone();
    let operator = Client::new(
        &addr,
        PartyId::new("operator").unwrap(),
        svc.operator.clone(),
    );
    let new = |name: &str, role: Role| {
        Client::new(
            &addr,
            PartyId::new(name).unwrap(),
            SigningKey::generate(role, &mut rand::thread_rng()),
        )
    };
    let (credit, market, subject, other) = (
        new("credit.dispute", Role::Holder),
        new("market.dispute", Role::Holder),
        new("ent.dispute", Role::Subject),
        new("ent.other", Role::Subject),
    );
    for c in [&credit, &market] {
        operator
            .register_party(c.party(), &c.key().public(), None)
            .unwrap();
    }
    let id = SubjectId::parse(SubjectKind::Enterprise, USCC).unwrap();
    let other_id = SubjectId::Enterprise(
        credence::protocols::identifiers::Uscc::with_check_chars("91110108MA05KL2M").unwrap(),
    );
    let sealing = SealingSecretKey::generate(&mut rand::rngs::OsRng);
    operator
        .register_party(
            subject.party(),
            &subject.key().public(),
            Some((&id, &sealing.public())),
        )
        .unwrap();
    operator
        .register_party(
            other.party(),
            &other.key().public(),
            Some((&other_id, &sealing.public())),
        )
        .unwrap();
    let (who, _) = credit.pseudonym(&id).unwrap();
    let (other_who, _) = credit.pseudonym(&other_id).unwrap();
    let catalog = Catalog::builtin();
    let commit = |holder: &Client, whom, values: &[(&str, u64)], first: u64| {
        let values: Vec<(AttributeId, u64)> = values
            .iter()
            .map(|(a, v)| (AttributeId::new(a).unwrap(), *v))
            .collect();
        commit_attributes(
            &catalog,
            holder.party(),
            holder.key(),
            whom,
            &sealing.public(),
            &values,
            first,
        )
        .unwrap()
    };
    let day = (now() / 86_400) as u32;
    let listed = market
        .submit_committed(&commit(
            &market,
            who,
            &[("market.abnormal_operation", u64::from(day) + 300)],
            1,
        ))
        .unwrap()[0];
    let credit_idx = credit
        .submit_committed(&commit(
            &credit,
            who,
            &[("credit.serious_dishonesty", 0)],
            1,
        ))
        .unwrap()[0];
    let registered = market
        .submit_committed(&commit(&market, who, &[("market.registered", 1)], 2))
        .unwrap()[0];
    let others = market
        .submit_committed(&commit(&market, other_who, &[("market.registered", 1)], 3))
        .unwrap()[0];
    let leaf_hash = |i: u64| {
        let l = operator.entry(i).unwrap().unwrap();
        Sha3Log::hash_leaf(&l.to_bytes())
    };
    let dispute = |index: u64, hash, reason: &str| {
        let st = SignedDispute::sign(
            Dispute {
                subject: who,
                disputed_index: index,
                disputed_leaf_hash: hash,
                reason: reason.into(),
                filed_day: day,
                nonce: [index as u8; 16],
            },
            subject.key(),
        );
        subject.post(
            "/v1/subject/disputes",
            &serde_json::json!({ "statement": hex::encode(st.to_bytes()) }),
        )
    };

    // Before the dispute is answered the subject is listed: nothing to prove.
    let text = credence::circuits::policy::BUILTIN_POLICIES
        .iter()
        .find(|(n, _)| *n == "public_procurement")
        .unwrap()
        .1;
    operator.publish_policy(text).unwrap();
    let policy = credence::circuits::policy::builtin("public_procurement").unwrap();
    assert!(matches!(
        prove_offline(
            &policy,
            day,
            who,
            &subject.subject_records().unwrap(),
            &sealing
        ),
        Err(RoleError::Unsatisfied(_))
    ));

    // Refused: someone else's entry; a leaf hash that is not the entry's.
    let before = snapshot(&*svc.store);
    for r in [
        dispute(others, leaf_hash(others), "not ours"),
        dispute(listed, [0; 32], "wrong hash"),
    ] {
        match r {
            Err(ClientError::Status { status: 400, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(snapshot(&*svc.store), before);

    let a = dispute(
        listed,
        leaf_hash(listed),
        "the abnormal-operation listing was lifted in March",
    )
    .unwrap();
    let b = dispute(credit_idx, leaf_hash(credit_idx), "we dispute the record").unwrap();
    let c = dispute(registered, leaf_hash(registered), "registration date wrong").unwrap();
    assert_eq!(a["answer_by_day"], day + 15);
    let inbox = market.get("/v1/holder/disputes").unwrap();
    assert_eq!(inbox["disputes"].as_array().unwrap().len(), 2);

    // Another holder cannot answer; the market regulator corrects the listing.
    let ai = a["index"].as_u64().unwrap();
    match credit.post(
        "/v1/holder/disputes/answer",
        &serde_json::json!({"dispute_index": ai, "uphold": true}),
    ) {
        Err(ClientError::Status { status: 403, .. }) => {}
        other => panic!("{other:?}"),
    }
    let fix = commit(&market, who, &[("market.abnormal_operation", 0)], 10);
    let items: Vec<_> = fix.iter().map(|(c, o)| serde_json::json!({"commitment": hex::encode(c.to_bytes()), "opening": hex::encode(o.to_bytes())})).collect();
    let answered = market
        .post(
            "/v1/holder/disputes/answer",
            &serde_json::json!({"dispute_index": ai, "uphold": false, "items": items}),
        )
        .unwrap();
    assert_eq!(answered["status"], "corrected");
    match market.post(
        "/v1/holder/disputes/answer",
        &serde_json::json!({"dispute_index": ai, "uphold": true}),
    ) {
        Err(ClientError::Status { status: 409, .. }) => {}
        other => panic!("{other:?}"),
    }
    // After the correction the subject proves eligibility, and a bank's verdict verifies.
    let bank = new("bank.dispute", Role::Bank);
    operator
        .register_party(bank.party(), &bank.key().public(), None)
        .unwrap();
    let package = prove(
        &policy,
        day,
        who,
        &subject.subject_records().unwrap(),
        &sealing,
        &subject,
    )
    .unwrap();
    let verdict = bank
        .query_proven(
            &credence::party::client::Question {
                subject: &id,
                policy: "public_procurement",
                day,
                purpose: "bid",
                consent: None,
            },
            &package,
        )
        .unwrap();
    assert_eq!(
        verdict
            .receipt
            .verify(
                &bank.anchors().unwrap(),
                &credence::protocols::question::Question {
                    subject: who,
                    policy: pinned(&policy.hash()),
                    as_of_day: day
                }
            )
            .unwrap()
            .outcome,
        credence::protocols::log::entry::Outcome::Eligible(true)
    );
    // The verdict is marked as resting on the two disputes still open (credit and registration).
    let marked = verdict.json["rests_on_disputed_data"].as_array().unwrap();
    assert_eq!(marked.len(), 2, "{}", verdict.json);
    assert!(marked.iter().all(|d| d["dispute_index"] != ai));

    // The credit authority upholds its record; the registration dispute stays open.
    let bi = b["index"].as_u64().unwrap();
    credit
        .post(
            "/v1/holder/disputes/answer",
            &serde_json::json!({"dispute_index": bi, "uphold": true}),
        )
        .unwrap();

    // The log: the correction and its answer, in order, naming each other.
    let ans = answered["answer_index"].as_u64().unwrap();
    let entries = shown(market.entries(ans - 1, ans + 1).unwrap());
    assert!(
        matches!(&entries[0].1.entry, LogEntry::AttributeSubmitted { attribute, subject: s, .. } if attribute.as_str() == "market.abnormal_operation" && *s == who)
    );
    assert!(
        matches!(&entries[1].1.entry, LogEntry::DisputeAnswered { dispute_index, outcome: DisputeOutcome::Corrected { submission_index }, .. } if *dispute_index == ai && *submission_index == ans - 1)
    );

    // The auditor, after the answer day: exactly the open dispute is flagged.
    let anchors = market.anchors().unwrap();
    let opts = |today| credence::party::auditor::AuditOptions {
        previous: None,
        replay: 0,
        engine: None,
        today,
        spike_per_day: 0,
    };
    let auditor = new("auditor.dispute", Role::Auditor);
    operator
        .register_party(auditor.party(), &auditor.key().public(), None)
        .unwrap();
    let report = credence::party::auditor::audit(&auditor, &anchors, &opts(day + 16)).unwrap();
    assert!(report.ok(), "{}", report.render());
    assert_eq!(report.flags.len(), 1, "{:?}", report.flags);
    assert!(
        report.flags[0].contains(&format!("entry {}", c["index"])),
        "{:?}",
        report.flags
    );
    let report = credence::party::auditor::audit(&market, &anchors, &opts(day)).unwrap();
    assert!(report.flags.is_empty(), "{:?}", report.flags);
    running.stop();
}

/// Credit pledges: the subject pledges to the credit authority (logged `PledgeMade`, listed for
/// the holder); the holder records a breach as `commit.breaches`; the 容缺受理 policy, which
/// needs no breaches, answers "yes" before and "no" after — on the sealed path.
#[test]
fn a_recorded_pledge_breach_changes_the_rongque_verdict() {
    use credence::party::client::{Client, ClientError, Question};
    use credence::protocols::dispute::{Pledge, SignedPledge};
    use credence::protocols::identifiers::{SubjectId, SubjectKind};
    use credence::protocols::log::entry::{LogEntry, Outcome};
    use credence::protocols::seal::SealingSecretKey;

    let svc = service();
    let running = credence::server::process::Running::start(svc.app.clone()).unwrap();
    let addr = running.addr.clone();
    let operator = Client::new(
        &addr,
        PartyId::new("operator").unwrap(),
        svc.operator.clone(),
    );
    let new = |name: &str, role: Role| {
        Client::new(
            &addr,
            PartyId::new(name).unwrap(),
            SigningKey::generate(role, &mut rand::thread_rng()),
        )
    };
    let (credit, tax, bank, subject) = (
        new("credit.pledge", Role::Holder),
        new("tax.pledge", Role::Holder),
        new("bank.pledge", Role::Bank),
        new("ent.pledge", Role::Subject),
    );
    for c in [&credit, &tax, &bank] {
        operator
            .register_party(c.party(), &c.key().public(), None)
            .unwrap();
    }
    let id = SubjectId::parse(SubjectKind::Enterprise, USCC).unwrap();
    let sealing = SealingSecretKey::generate(&mut rand::rngs::OsRng);
    operator
        .register_party(
            subject.party(),
            &subject.key().public(),
            Some((&id, &sealing.public())),
        )
        .unwrap();
    let text = credence::circuits::policy::BUILTIN_POLICIES
        .iter()
        .find(|(n, _)| *n == "rongque")
        .unwrap()
        .1;
    let policy_hash = operator.publish_policy(text).unwrap();
    let (who, _) = credit.pseudonym(&id).unwrap();
    let day = (now() / 86_400) as u32;
    let public = world().engine.public();
    let upload = |holder: &Client, n: u64, values: &[(&str, u64)]| {
        let values: Vec<(AttributeId, u64)> = values
            .iter()
            .map(|(a, v)| (AttributeId::new(a).unwrap(), *v))
            .collect();
        let r = encrypt_record(
            &Catalog::builtin(),
            &public.public_key,
            &public.crs,
            holder.party(),
            holder.key(),
            who,
            n,
            &values,
        )
        .unwrap();
        holder.submit_sealed(&r).unwrap();
    };
    upload(&tax, 1, &[("tax.grade_a", 1)]);
    upload(&credit, 1, &[("commit.breaches", 0)]);
    let anchors = bank.anchors().unwrap();
    let ask = || {
        let a = bank
            .query_sealed(&Question {
                subject: &id,
                policy: "rongque",
                day,
                purpose: "容缺受理 application",
                consent: None,
            })
            .unwrap();
        a.receipt
            .verify(
                &anchors,
                &credence::protocols::question::Question {
                    subject: who,
                    policy: pinned(&policy_hash),
                    as_of_day: day,
                },
            )
            .unwrap()
            .outcome
    };
    assert_eq!(ask(), Outcome::Eligible(true));

    // The pledge: only the subject's own, to a registered holder.
    let pledge = |key: &SigningKey, holder: &str| {
        let p = SignedPledge::sign(
            Pledge {
                subject: who,
                holder: PartyId::new(holder).unwrap(),
                matter: "complete the missing licence within 30 days".into(),
                made_day: day,
                until_day: day + 30,
                nonce: [2; 16],
            },
            key,
        );
        subject.post(
            "/v1/subject/pledges",
            &serde_json::json!({ "statement": hex::encode(p.to_bytes()) }),
        )
    };
    let impostor = SigningKey::generate(Role::Subject, &mut rand::thread_rng());
    match pledge(&impostor, "credit.pledge") {
        Err(ClientError::Status { status: 403, .. }) => {}
        other => panic!("{other:?}"),
    }
    match pledge(subject.key(), "credit.nobody") {
        Err(ClientError::Status { status: 400, .. }) => {}
        other => panic!("{other:?}"),
    }
    let made = pledge(subject.key(), "credit.pledge").unwrap();
    let pi = made["index"].as_u64().unwrap();
    // The pledge entry is the subject's and the holder's to read, not a bank's.
    assert!(bank.entry(pi).unwrap().is_none());
    let leaf = credit.entry(pi).unwrap().unwrap();
    assert!(
        matches!(leaf.entry, LogEntry::PledgeMade { subject: s, until_day, .. } if s == who && until_day == day + 30)
    );
    let mine = credit.get("/v1/holder/pledges").unwrap();
    assert_eq!(
        mine["pledges"][0]["matter"],
        "complete the missing licence within 30 days"
    );

    // The licence was not completed: the credit authority records the breach.
    upload(&credit, 2, &[("commit.breaches", 1)]);
    assert_eq!(ask(), Outcome::Eligible(false));
    running.stop();
}

/// Two regions: Beijing witnesses Tianjin's log. It cosigns a Tianjin checkpoint, then a larger
/// one with a consistency proof (and refuses one without); a forged second root for a cosigned
/// size, and a checkpoint inconsistent with the last cosigned one, raise equivocation alarms
/// that keep both signed checkpoints; a non-partner's checkpoint is refused.
#[test]
fn a_partner_region_witnesses_and_catches_equivocation() {
    use credence::party::client::{call, Client};
    use credence::protocols::log::checkpoint::Checkpoint;

    let tianjin = service_as("credence.test/tianjin", None);
    let wkey = SigningKey::generate(Role::Witness, &mut rand::thread_rng());
    let tj_log = NoteVerifier::log("credence.test/tianjin", tianjin.log_key.public()).unwrap();
    let beijing = service_as(
        "credence.test/beijing",
        Some(credence::server::Witness {
            name: "credence.test/beijing".into(),
            key: wkey.clone(),
            partners: vec![tj_log.clone()],
            forward: vec![],
        }),
    );
    let tj = credence::server::process::Running::start(tianjin.app.clone()).unwrap();
    let bj = credence::server::process::Running::start(beijing.app.clone()).unwrap();
    let tj_op = Client::new(
        &tj.addr,
        PartyId::new("operator").unwrap(),
        tianjin.operator.clone(),
    );
    let bj_op = Client::new(
        &bj.addr,
        PartyId::new("operator").unwrap(),
        beijing.operator.clone(),
    );
    let grow = |n: usize| {
        for _ in 0..n {
            let k = SigningKey::generate(Role::Bank, &mut rand::thread_rng());
            let id = PartyId::new(&format!(
                "bank.tj{}",
                hex::encode(&k.public().to_bytes()[..4])
            ))
            .unwrap();
            tj_op.register_party(&id, &k.public(), None).unwrap();
        }
        tj_op.checkpoint().unwrap()
    };
    let cosign = |cp: &str, proof: Option<Vec<u8>>| {
        let mut body = serde_json::json!({ "checkpoint": cp });
        if let Some(p) = proof {
            body["consistency"] = hex::encode(p).into();
        }
        let (st, b) = call(
            &bj.addr,
            "credence.test/beijing",
            "POST",
            "/v1/witness/cosign",
            body.to_string().as_bytes(),
            &beijing.operator,
            &PartyId::new("operator").unwrap(),
        )
        .unwrap();
        (st, String::from_utf8(b).unwrap())
    };
    let witness = NoteVerifier::witness("credence.test/beijing", wkey.public()).unwrap();
    let witnessed = |text: &str| {
        SignedCheckpoint::parse(text)
            .unwrap()
            .verify_with_witnesses(&tj_log, std::slice::from_ref(&witness), 1)
            .is_ok()
    };

    let cp1 = grow(3);
    let (st, text) = cosign(&cp1.to_text(), None);
    assert_eq!(st, 200, "{text}");
    assert!(witnessed(&text));
    assert!(
        !witnessed(&cp1.to_text()),
        "unwitnessed checkpoints fail a quorum of 1"
    );

    let cp2 = grow(2);
    let (st, _) = cosign(&cp2.to_text(), None);
    assert_eq!(st, 400, "a larger checkpoint needs a consistency proof");
    let proof = tj_op
        .consistency(cp1.checkpoint.size, cp2.checkpoint.size)
        .unwrap();
    let (st, text) = cosign(&cp2.to_text(), Some(proof.to_bytes()));
    assert_eq!(st, 200, "{text}");
    assert!(witnessed(&text));
    // The same checkpoint again: the stored cosignature, no alarm.
    assert_eq!(cosign(&cp2.to_text(), None).0, 200);

    // Tianjin's log key signs a second root for the same size: equivocation.
    let forged = SignedCheckpoint::sign(
        Checkpoint::new("credence.test/tianjin", cp2.checkpoint.size, [9; 32]).unwrap(),
        "credence.test/tianjin",
        &tianjin.log_key,
    )
    .unwrap();
    let (st, msg) = cosign(&forged.to_text(), None);
    assert_eq!(st, 409, "{msg}");
    assert!(msg.contains("equivocation"), "{msg}");
    // A later checkpoint that does not extend the cosigned one, sent with a proof that does not
    // verify for it: refused, but no alarm (the proof came from an unauthenticated caller, not
    // from the log: anyone could send a bad one).
    let fork = SignedCheckpoint::sign(
        Checkpoint::new("credence.test/tianjin", cp2.checkpoint.size + 1, [8; 32]).unwrap(),
        "credence.test/tianjin",
        &tianjin.log_key,
    )
    .unwrap();
    let cp3 = grow(1);
    let real = tj_op
        .consistency(cp2.checkpoint.size, cp3.checkpoint.size)
        .unwrap();
    let (st, _) = cosign(&fork.to_text(), Some(real.to_bytes()));
    assert_eq!(st, 400);
    // The same forged root again is the same evidence: still one alarm.
    assert_eq!(cosign(&forged.to_text(), None).0, 409);
    let alarms = bj_op.get("/v1/audit/alarms").unwrap();
    let alarms = alarms["alarms"].as_array().unwrap();
    assert_eq!(alarms.len(), 1);
    for a in alarms {
        let both: Vec<SignedCheckpoint> = a["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| SignedCheckpoint::parse(t.as_str().unwrap()).unwrap())
            .collect();
        // The evidence: two checkpoints, each signed by Tianjin's log, that cannot both be true.
        assert!(both.iter().all(|c| c.verify(&tj_log).is_ok()));
        assert_ne!(both[0].checkpoint.root, both[1].checkpoint.root);
    }

    // A log that is not a partner, and a checkpoint not signed by the partner's key.
    let stranger = SigningKey::generate(Role::Log, &mut rand::thread_rng());
    let other = SignedCheckpoint::sign(
        Checkpoint::new("credence.test/elsewhere", 1, [1; 32]).unwrap(),
        "credence.test/elsewhere",
        &stranger,
    )
    .unwrap();
    assert_eq!(cosign(&other.to_text(), None).0, 403);
    let fake = SignedCheckpoint::sign(
        Checkpoint::new("credence.test/tianjin", 99, [1; 32]).unwrap(),
        "credence.test/tianjin",
        &stranger,
    )
    .unwrap();
    assert_eq!(cosign(&fake.to_text(), None).0, 400);
    // Beijing's auditor sees the alarm.
    let report = credence::party::auditor::audit(
        &bj_op,
        &bj_op.anchors().unwrap(),
        &credence::party::auditor::AuditOptions {
            previous: None,
            replay: 0,
            engine: None,
            today: 0,
            spike_per_day: 0,
        },
    )
    .unwrap();
    assert!(report.ok(), "{}", report.render());
    assert_eq!(
        report
            .flags
            .iter()
            .filter(|f| f.contains("equivocation alarm: partner log credence.test/tianjin"))
            .count(),
        1,
        "{:?}",
        report.flags
    );
    // Beijing publishes its witness key for relying parties.
    let anchors = bj_op.get("/v1/anchors").unwrap();
    assert_eq!(
        anchors["witness"]["key"],
        hex::encode(wkey.public().to_bytes())
    );
    tj.stop();
    bj.stop();
}

/// Two regions in one test. A bank in Beijing asks about an enterprise whose records live in
/// Tianjin: the query is forwarded under Beijing's identity at Tianjin, the receipt verified in
/// Beijing against Tianjin's pinned log key, logged in Beijing as a forwarded query, and
/// verified again by the bank with Tianjin's anchors. Then Beijing witnesses Tianjin's log and
/// detects an injected equivocation.
#[test]
fn a_query_is_forwarded_to_the_region_holding_the_records() {
    use credence::party::client::{Client, ClientError};
    use credence::protocols::log::entry::{LogEntry, Outcome};

    let tianjin = service_as("credence.test/tianjin", None);
    let tj = credence::server::process::Running::start(tianjin.app.clone()).unwrap();
    let tj_op = Client::new(
        &tj.addr,
        PartyId::new("operator").unwrap(),
        tianjin.operator.clone(),
    );
    let new = |addr: &str, name: &str, role: Role| {
        Client::new(
            addr,
            PartyId::new(name).unwrap(),
            SigningKey::generate(role, &mut rand::thread_rng()),
        )
    };
    let credit = new(&tj.addr, "credit.tianjin", Role::Holder);
    let market = new(&tj.addr, "market.tianjin", Role::Holder);
    // Tianjin registers Beijing's region identity as a bank.
    let beijing_at_tj = SigningKey::generate(Role::Bank, &mut rand::thread_rng());
    for (p, k) in [
        (credit.party(), credit.key().public()),
        (market.party(), market.key().public()),
    ] {
        tj_op.register_party(p, &k, None).unwrap();
    }
    tj_op
        .register_party(
            &PartyId::new("region.beijing").unwrap(),
            &beijing_at_tj.public(),
            None,
        )
        .unwrap();
    let text = credence::circuits::policy::BUILTIN_POLICIES
        .iter()
        .find(|(n, _)| *n == "public_procurement")
        .unwrap()
        .1;
    tj_op.publish_policy(text).unwrap();
    let id = credence::protocols::identifiers::SubjectId::parse(
        credence::protocols::identifiers::SubjectKind::Enterprise,
        USCC,
    )
    .unwrap();
    let (who_tj, _) = credit.pseudonym(&id).unwrap();
    let public = world().engine.public();
    for (h, vals) in [
        (&credit, vec![("credit.serious_dishonesty", 0u64)]),
        (
            &market,
            vec![("market.abnormal_operation", 0), ("market.registered", 1)],
        ),
    ] {
        let vals: Vec<(AttributeId, u64)> = vals
            .iter()
            .map(|(a, v)| (AttributeId::new(a).unwrap(), *v))
            .collect();
        let r = encrypt_record(
            &Catalog::builtin(),
            &public.public_key,
            &public.crs,
            h.party(),
            h.key(),
            who_tj,
            1,
            &vals,
        )
        .unwrap();
        h.submit_sealed(&r).unwrap();
    }

    let tj_log = NoteVerifier::log("credence.test/tianjin", tianjin.log_key.public()).unwrap();
    let beijing_witness = SigningKey::generate(Role::Witness, &mut rand::thread_rng());
    let beijing = service_as(
        "credence.test/beijing",
        Some(credence::server::Witness {
            name: "credence.test/beijing".into(),
            key: beijing_witness.clone(),
            partners: vec![tj_log.clone()],
            forward: vec![credence::server::Forward {
                origin: "credence.test/tianjin".into(),
                addr: tj.addr.clone(),
                anchors: credence::protocols::verdict::TrustAnchors {
                    service: tj_log.key,
                    log: tj_log,
                    key_authority: world().ka_key,
                    witnesses: vec![],
                    witness_quorum: 0,
                },
                party: PartyId::new("region.beijing").unwrap(),
                key: beijing_at_tj,
            }],
        }),
    );
    let bj = credence::server::process::Running::start(beijing.app.clone()).unwrap();
    let bj_op = Client::new(
        &bj.addr,
        PartyId::new("operator").unwrap(),
        beijing.operator.clone(),
    );
    bj_op.publish_policy(text).unwrap();
    let bank = new(&bj.addr, "bank.bj", Role::Bank);
    bj_op
        .register_party(bank.party(), &bank.key().public(), None)
        .unwrap();
    let day = (now() / 86_400) as u32;
    let ask = |region: &str| {
        bank.post(
            "/v1/bank/query",
            &serde_json::json!({
                "subject": {"kind": "enterprise", "id": USCC}, "policy": "public_procurement",
                "day": day, "purpose": "cross-region bid", "region": region,
            }),
        )
    };
    let answer = ask("credence.test/tianjin").unwrap();
    assert_eq!(answer["outcome"]["eligible"], true, "{answer}");
    // The bank verifies the partner's receipt with the partner's anchors.
    let receipt = credence::protocols::verdict::VerdictReceipt::from_bytes(
        &hex::decode(answer["receipt"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let tj_anchors = tj_op.anchors().unwrap();
    let policy = credence::circuits::policy::builtin("public_procurement").unwrap();
    assert_eq!(
        receipt
            .verify(
                &tj_anchors,
                &credence::protocols::question::Question {
                    subject: who_tj,
                    policy: pinned(&policy.hash()),
                    as_of_day: day
                }
            )
            .unwrap()
            .outcome,
        Outcome::Eligible(true)
    );
    // Beijing logged the forward; Tianjin logged the query by Beijing's region identity.
    let qi = answer["log_indices"]["query"].as_u64().unwrap();
    let leaf = bj_op.entry(qi).unwrap().unwrap();
    assert!(
        matches!(&leaf.entry, LogEntry::Query { purpose, bank: b, .. } if purpose.starts_with("forwarded to credence.test/tianjin") && b.as_str() == "bank.bj")
    );
    let tj_leaves = shown(
        tj_op
            .entries(0, tj_op.checkpoint().unwrap().checkpoint.size)
            .unwrap(),
    );
    assert!(tj_leaves.iter().any(|(_, l)| matches!(&l.entry, LogEntry::Query { bank: b, .. } if b.as_str() == "region.beijing")));
    // No route to an unknown region; the partner's errors come back with their status.
    match ask("credence.test/shanghai") {
        Err(ClientError::Status { status: 404, .. }) => {}
        other => panic!("{other:?}"),
    }
    let bad = bank.post(
        "/v1/bank/query",
        &serde_json::json!({
            "subject": {"kind": "enterprise", "id": USCC}, "policy": "no_such_policy",
            "day": day, "purpose": "x", "region": "credence.test/tianjin",
        }),
    );
    match bad {
        Err(ClientError::Status {
            status: 404,
            message,
        }) => assert!(message.contains("no_such_policy"), "{message}"),
        other => panic!("{other:?}"),
    }

    // The same two regions: Beijing witnesses Tianjin's log, and an injected equivocation (a
    // second root for the size Beijing cosigned) is detected and kept as evidence.
    let cp = tj_op.checkpoint().unwrap();
    let cosign = |text: String| {
        let body = serde_json::json!({ "checkpoint": text });
        let (st, b) = credence::party::client::call(
            &bj.addr,
            "credence.test/beijing",
            "POST",
            "/v1/witness/cosign",
            body.to_string().as_bytes(),
            bank.key(),
            bank.party(),
        )
        .unwrap();
        (st, String::from_utf8(b).unwrap())
    };
    let (st, cosigned) = cosign(cp.to_text());
    assert_eq!(st, 200, "{cosigned}");
    let bj_witness =
        NoteVerifier::witness("credence.test/beijing", beijing_witness.public()).unwrap();
    let tj_verifier = NoteVerifier::log("credence.test/tianjin", tianjin.log_key.public()).unwrap();
    SignedCheckpoint::parse(&cosigned)
        .unwrap()
        .verify_with_witnesses(&tj_verifier, &[bj_witness], 1)
        .unwrap();
    let forged = SignedCheckpoint::sign(
        credence::protocols::log::checkpoint::Checkpoint::new(
            "credence.test/tianjin",
            cp.checkpoint.size,
            [3; 32],
        )
        .unwrap(),
        "credence.test/tianjin",
        &tianjin.log_key,
    )
    .unwrap();
    assert_eq!(cosign(forged.to_text()).0, 409);
    let report = credence::party::auditor::audit(
        &bj_op,
        &bj_op.anchors().unwrap(),
        &credence::party::auditor::AuditOptions {
            previous: None,
            replay: 0,
            engine: None,
            today: 0,
            spike_per_day: 0,
        },
    )
    .unwrap();
    assert!(
        report
            .flags
            .iter()
            .any(|f| f.contains("equivocation alarm")),
        "{:?}",
        report.flags
    );
    bj.stop();
    tj.stop();
}

/// Graded supervision (分级分类监管): four enterprises are graded by `credit_grade` on the sealed
/// path (A, B, C, D, each verdict verified); the "double random" inspection draw with
/// grade-specific ratios is seeded by the checkpoint the last verdict's receipt is signed
/// under, so an auditor holding that checkpoint and the graded population recomputes exactly
/// the same draw.
#[test]
fn graded_supervision_draws_inspections_from_a_logged_checkpoint() {
    use credence::party::client::{Client, Question};
    use credence::protocols::identifiers::{SubjectId, Uscc};
    use credence::protocols::inspection::draw;
    use credence::protocols::log::entry::Outcome;
    use std::collections::BTreeMap;

    let svc = service();
    let running = credence::server::process::Running::start(svc.app.clone()).unwrap();
    let addr = running.addr.clone();
    let operator = Client::new(
        &addr,
        PartyId::new("operator").unwrap(),
        svc.operator.clone(),
    );
    let new = |name: &str, role: Role| {
        Client::new(
            &addr,
            PartyId::new(name).unwrap(),
            SigningKey::generate(role, &mut rand::thread_rng()),
        )
    };
    let (tax, market, credit, bank) = (
        new("tax.grade", Role::Holder),
        new("market.grade", Role::Holder),
        new("credit.grade", Role::Holder),
        new("bank.regulator", Role::Bank),
    );
    for c in [&tax, &market, &credit, &bank] {
        operator
            .register_party(c.party(), &c.key().public(), None)
            .unwrap();
    }
    let text = credence::circuits::policy::BUILTIN_POLICIES
        .iter()
        .find(|(n, _)| *n == "credit_grade")
        .unwrap()
        .1;
    let policy_hash = operator.publish_policy(text).unwrap();
    let public = world().engine.public();
    let anchors = bank.anchors().unwrap();
    let day = (now() / 86_400) as u32;
    // score = 300 + tax + market − 25·breaches: 460 (A), 390 (B), 310 (C), 250 (D).
    let cases: [(&str, u64, u64, u64, u8); 4] = [
        ("91110108MA01AB2C", 100, 60, 0, 0),
        ("91110108MA02CD4E", 50, 40, 0, 1),
        ("91110105MA03EF6G", 0, 10, 0, 2),
        ("91110106MA04GH8J", 0, 0, 2, 3),
    ];
    let mut population = Vec::new();
    let mut last = None;
    for (n, (prefix, t, m, breaches, expected)) in cases.into_iter().enumerate() {
        let id = SubjectId::Enterprise(Uscc::with_check_chars(prefix).unwrap());
        let (who, _) = tax.pseudonym(&id).unwrap();
        for (h, vals) in [
            (&tax, vec![("tax.credit_score", t)]),
            (&market, vec![("market.compliance_score", m)]),
            (&credit, vec![("commit.breaches", breaches)]),
        ] {
            let vals: Vec<(AttributeId, u64)> = vals
                .iter()
                .map(|(a, v)| (AttributeId::new(a).unwrap(), *v))
                .collect();
            let r = encrypt_record(
                &Catalog::builtin(),
                &public.public_key,
                &public.crs,
                h.party(),
                h.key(),
                who,
                n as u64 + 1,
                &vals,
            )
            .unwrap();
            h.submit_sealed(&r).unwrap();
        }
        let answer = bank
            .query_sealed(&Question {
                subject: &id,
                policy: "credit_grade",
                day,
                purpose: "graded supervision 2026",
                consent: None,
            })
            .unwrap();
        let grade = answer
            .receipt
            .verify(
                &anchors,
                &credence::protocols::question::Question {
                    subject: who,
                    policy: pinned(&policy_hash),
                    as_of_day: day,
                },
            )
            .unwrap()
            .outcome;
        assert_eq!(grade, Outcome::Grade(expected));
        population.push((who, expected));
        last = Some(answer.receipt.checkpoint);
    }
    // The seed: the signed checkpoint of the last grading (announced rule: "the checkpoint the
    // last grading verdict is included under").
    let seed = last.unwrap();
    let checkpoint = seed.verify(&anchors.log).unwrap().clone();
    // A and B: 0 ‰ (not drawn this round); C: 50 %; D: every subject.
    let ratios = BTreeMap::from([(0u8, 0u32), (1, 0), (2, 500), (3, 1000)]);
    let drawn = draw(&checkpoint, &population, &ratios);
    assert!(drawn[&0].is_empty() && drawn[&1].is_empty());
    assert_eq!(drawn[&2], vec![population[2].0]);
    assert_eq!(drawn[&3], vec![population[3].0]);
    // An auditor re-parses the same note text and recomputes the same draw.
    let again = SignedCheckpoint::parse(&seed.to_text()).unwrap();
    assert_eq!(
        draw(again.verify(&anchors.log).unwrap(), &population, &ratios),
        drawn
    );
    running.stop();
}
