//! Crash safety: `credence serve` is killed with SIGKILL while holders submit sealed records;
//! after a restart every acknowledged submission is in the log, the log verifies, and a
//! consistency proof links the last checkpoint before the crash to one after it.

mod common;

use credence::circuits::catalog::Catalog;
use credence::fhe::keys::PublicMaterial;
use credence::party::holder::encrypt_record;
use credence::protocols::log::checkpoint::{NoteVerifier, SignedCheckpoint};
use credence::protocols::log::entry::{LogEntry, LogLeaf};
use credence::protocols::log::{ConsistencyProof, Sha3Log};
use credence::protocols::names::{AttributeId, PartyId};
use credence::protocols::pseudonym::Pseudonym;
use credence::protocols::signing::{Role, SigningKey};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const USCC: &str = "914403001922038216";

use common::{call, json, seed};

fn start(dir: &std::path::Path, store: Option<&str>) -> (std::process::Child, String) {
    match store {
        None => common::start_server(dir, Stdio::null()),
        Some(url) => common::spawn_listening(
            &[
                "serve",
                "--dir",
                dir.to_str().unwrap(),
                "--addr",
                "127.0.0.1:0",
                "--store",
                url,
            ],
            Stdio::null(),
        ),
    }
}

#[test]
#[cfg(unix)]
fn acknowledged_submissions_survive_sigkill() {
    story(None);
}

/// The same on PostgreSQL: what the database acknowledged (synchronous commit) survives the
/// service's death.
#[test]
#[cfg(unix)]
fn acknowledged_submissions_survive_sigkill_on_postgres() {
    if let Some(url) = common::postgres_database("crash") {
        story(Some(&url));
    }
}

fn story(store: Option<&str>) {
    let dir = std::env::temp_dir().join(format!(
        "credence-crash-{}-{}",
        std::process::id(),
        store.is_some()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let (child, addr) = start(&dir, store);
    let operator = SigningKey::from_seed(Role::Operator, &seed(dir.join("operator.seed")));
    let log_key = SigningKey::from_seed(Role::Log, &seed(dir.join("keys/log.seed")));
    let verifier = NoteVerifier::log("credence.local/log", log_key.public()).unwrap();
    let holder = SigningKey::generate(Role::Holder, &mut rand::thread_rng());
    let reg = serde_json::json!({"party": "credit", "role": "holder", "key": hex::encode(holder.public().to_bytes())});
    let (st, _) = call(
        &addr,
        "POST",
        "/v1/operator/parties",
        &serde_json::to_vec(&reg).unwrap(),
        &operator,
        "operator",
    )
    .unwrap();
    assert_eq!(st, 200);
    let (st, b) = call(
        &addr,
        "POST",
        "/v1/holder/pseudonym",
        br#"{"kind":"enterprise","id":"914403001922038216"}"#,
        &holder,
        "credit",
    )
    .unwrap();
    assert_eq!(st, 200);
    let who = Pseudonym::from_text(json(&b)["pseudonym"].as_str().unwrap()).unwrap();
    let _ = USCC;

    // Records prepared before the run (sealing is the slow, holder-side part).
    let public = PublicMaterial::load(&dir.join("keys")).unwrap();
    let records: Vec<Vec<u8>> = (1..=6u64)
        .map(|id| {
            let r = encrypt_record(
                &Catalog::builtin(),
                &public.public_key,
                &public.crs,
                &PartyId::new("credit").unwrap(),
                &holder,
                who,
                id,
                &[(AttributeId::new("credit.serious_dishonesty").unwrap(), id)],
            )
            .unwrap();
            r.to_bytes()
        })
        .collect();
    let (st, b) = call(&addr, "GET", "/v1/audit/checkpoint", b"", &holder, "credit").unwrap();
    assert_eq!(st, 200);
    let before = SignedCheckpoint::parse(std::str::from_utf8(&b).unwrap()).unwrap();
    let before = before.verify(&verifier).unwrap().clone();

    // Submit in a loop; kill the server after the third acknowledgement.
    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let submitter = {
        let (acked, addr, holder) = (acked.clone(), addr.clone(), holder.clone());
        std::thread::spawn(move || {
            for (i, body) in records.iter().enumerate() {
                match call(&addr, "POST", "/v1/holder/sealed", body, &holder, "credit") {
                    Ok((200, _)) => acked.lock().unwrap().push(i as u64 + 1),
                    Ok((st, b)) => panic!("{st}: {}", String::from_utf8_lossy(&b)),
                    Err(_) => return, // the server died under us
                }
            }
        })
    };
    while acked.lock().unwrap().len() < 3 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap()
        .success());
    let mut child = child;
    let _ = child.wait();
    submitter.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 3);

    // Restart on the same directory.
    let (mut child, addr) = start(&dir, store);
    let (st, b) = call(&addr, "GET", "/v1/audit/checkpoint", b"", &holder, "credit").unwrap();
    assert_eq!(st, 200);
    let after = SignedCheckpoint::parse(std::str::from_utf8(&b).unwrap()).unwrap();
    let after = after.verify(&verifier).unwrap().clone();
    assert!(after.size >= before.size);
    let path = format!(
        "/v1/audit/proof/consistency?old={}&new={}",
        before.size, after.size
    );
    let (st, b) = call(&addr, "GET", &path, b"", &holder, "credit").unwrap();
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    ConsistencyProof::from_bytes(&hex::decode(json(&b)["proof"].as_str().unwrap()).unwrap())
        .unwrap()
        .verify::<Sha3Log>(&before.root, &after.root)
        .unwrap();
    // Every acknowledged submission is logged.
    let path = format!("/v1/audit/entries?from=0&to={}", after.size);
    let (st, b) = call(&addr, "GET", &path, b"", &holder, "credit").unwrap();
    assert_eq!(st, 200);
    let mut logged = Vec::new();
    for e in json(&b)["entries"].as_array().unwrap() {
        let leaf = LogLeaf::from_bytes(&hex::decode(e["leaf"].as_str().unwrap()).unwrap()).unwrap();
        if let LogEntry::AttributeSubmitted { submission, .. } = leaf.entry {
            logged.push(submission);
        }
    }
    for id in &acked {
        assert!(
            logged.contains(id),
            "acknowledged submission {id} lost; logged {logged:?}"
        );
    }
    // Shut the restarted server down.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    std::fs::remove_dir_all(&dir).unwrap();
}
