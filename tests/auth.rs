//! Request authentication: signed by a registered key, inside the time window, once; the role
//! decides 403. Every refusal leaves the store as it was (but for the accepted nonces).

use credence::protocols::names::PartyId;
use credence::protocols::request::{RequestStatement, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIME};
use credence::protocols::signing::{Role, SigningKey};
use credence::server::auth::{AuthError, Authenticator};
use credence::store::embedded::EmbeddedStore;
use credence::store::{Batch, Store, Table};
use std::collections::HashMap;
use std::sync::Arc;

const NOW: u64 = 1_763_900_000;
const ORIGIN: &str = "credence.test/auth";

struct Req {
    headers: HashMap<&'static str, String>,
    method: &'static str,
    path: &'static str,
    body: Vec<u8>,
}

fn signed(
    key: &SigningKey,
    party: &str,
    method: &'static str,
    path: &'static str,
    body: &[u8],
    time: u64,
    nonce: u8,
) -> Req {
    let s = RequestStatement::new(
        ORIGIN,
        PartyId::new(party).unwrap(),
        method,
        path,
        time,
        [nonce; 16],
        body,
    );
    Req {
        headers: s.sign_headers(key).into_iter().collect(),
        method,
        path,
        body: body.to_vec(),
    }
}

fn check(
    auth: &Authenticator,
    r: &Req,
    now: u64,
    allowed: &[Role],
) -> Result<credence::server::auth::Caller, AuthError> {
    auth.authenticate(
        |h| r.headers.get(h).map(String::as_str),
        ORIGIN,
        r.method,
        r.path,
        &r.body,
        now,
        allowed,
    )
}

fn setup(store: Arc<dyn Store>) -> (Authenticator, SigningKey, SigningKey) {
    let mut rng = rand::thread_rng();
    let bank = SigningKey::generate(Role::Bank, &mut rng);
    let holder = SigningKey::generate(Role::Holder, &mut rng);
    let mut b = Batch::new();
    Authenticator::register(&mut b, &PartyId::new("icbc").unwrap(), &bank.public());
    Authenticator::register(&mut b, &PartyId::new("court").unwrap(), &holder.public());
    store.commit(&b).unwrap();
    (Authenticator::new(store, 300), bank, holder)
}

#[test]
fn accepts_once_and_refuses_everything_else() {
    let dir = std::env::temp_dir().join(format!("credence-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("auth.redb");
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&path).unwrap());
    let (auth, bank, holder) = setup(store.clone());
    let banks = [Role::Bank];

    let ok = signed(
        &bank,
        "icbc",
        "POST",
        "/v1/query",
        b"{\"policy\":\"xinyidai\"}",
        NOW,
        1,
    );
    let caller = check(&auth, &ok, NOW, &banks).unwrap();
    assert_eq!(caller.role, Role::Bank);
    assert_eq!(caller.party.as_str(), "icbc");
    // Replayed: refused.
    assert!(matches!(
        check(&auth, &ok, NOW + 5, &banks),
        Err(AuthError::Replayed)
    ));

    let nonces = store.count(Table::Nonces).unwrap();
    let status = |r: &Req, allowed: &[Role]| check(&auth, r, NOW, allowed).unwrap_err().status();

    // Missing or malformed headers.
    for h in [
        HEADER_TIME,
        HEADER_NONCE,
        HEADER_SIGNATURE,
        "x-credence-party",
    ] {
        let mut r = signed(&bank, "icbc", "POST", "/v1/query", b"", NOW, 2);
        r.headers.remove(h);
        let e = check(&auth, &r, NOW, &banks).unwrap_err();
        assert_eq!(e.status(), 401);
        assert!(e.to_string().contains(h), "{e}");
        let mut r = signed(&bank, "icbc", "POST", "/v1/query", b"", NOW, 2);
        r.headers.insert(h, "zz".into());
        assert_eq!(status(&r, &banks), 401);
    }
    // Unknown party; stale or future time; tampered body, path or method; signed by another key.
    assert_eq!(
        status(
            &signed(&bank, "boc", "POST", "/v1/query", b"", NOW, 3),
            &banks
        ),
        401
    );
    assert_eq!(
        status(
            &signed(&bank, "icbc", "POST", "/v1/query", b"", NOW - 301, 3),
            &banks
        ),
        401
    );
    assert_eq!(
        status(
            &signed(&bank, "icbc", "POST", "/v1/query", b"", NOW + 301, 3),
            &banks
        ),
        401
    );
    let mut r = signed(&bank, "icbc", "POST", "/v1/query", b"a", NOW, 3);
    r.body = b"b".to_vec();
    assert_eq!(status(&r, &banks), 401);
    let mut r = signed(&bank, "icbc", "POST", "/v1/query", b"", NOW, 3);
    r.path = "/v1/audit";
    assert_eq!(status(&r, &banks), 401);
    let mut r = signed(&bank, "icbc", "POST", "/v1/query", b"", NOW, 3);
    r.method = "GET";
    assert_eq!(status(&r, &banks), 401);
    assert_eq!(
        status(
            &signed(&holder, "icbc", "POST", "/v1/query", b"", NOW, 3),
            &banks
        ),
        401
    );
    // Wrong role: 403.
    let e = check(
        &auth,
        &signed(&holder, "court", "POST", "/v1/query", b"", NOW, 4),
        NOW,
        &banks,
    )
    .unwrap_err();
    assert_eq!(e.status(), 403);
    assert!(e.to_string().contains("holder"), "{e}");
    // None of that recorded a nonce.
    assert_eq!(store.count(Table::Nonces).unwrap(), nonces);

    // Replay protection survives a restart.
    drop(auth);
    drop(store);
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&path).unwrap());
    let auth = Authenticator::new(store.clone(), 300);
    assert!(matches!(
        check(&auth, &ok, NOW + 10, &banks),
        Err(AuthError::Replayed)
    ));
    // Pruning forgets only what the window already refuses — with a window's margin for
    // instances sharing the store whose clocks differ.
    assert_eq!(auth.prune(NOW + 100).unwrap(), 0);
    assert_eq!(auth.prune(NOW + 302).unwrap(), 0);
    assert_eq!(auth.prune(NOW + 602).unwrap(), 1);
    assert_eq!(store.count(Table::Nonces).unwrap(), 0);
    assert_eq!(
        check(&auth, &ok, NOW + 302, &banks).unwrap_err().status(),
        401
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two service instances share one store and their clocks disagree by most of a window: the
/// one running ahead prunes nonces, and a request the other accepted must still be refused
/// there when replayed.
#[test]
fn a_fast_clock_at_one_instance_never_enables_a_replay_at_another() {
    let store: Arc<dyn Store> = Arc::new(credence::store::memory::MemoryStore::new());
    let (slow, bank, _) = setup(store.clone());
    let fast = Authenticator::new(store.clone(), 300);
    let banks = [Role::Bank];
    let r = signed(&bank, "icbc", "POST", "/v1/query", b"{}", NOW, 7);
    // Accepted at the slow instance, near the end of its window.
    check(&slow, &r, NOW + 290, &banks).unwrap();
    // The fast instance (290 s ahead) prunes what it thinks is too old.
    fast.prune(NOW + 290 + 290).unwrap();
    assert!(matches!(
        check(&slow, &r, NOW + 295, &banks),
        Err(AuthError::Replayed)
    ));
}
