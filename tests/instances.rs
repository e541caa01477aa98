//! Several `credence serve` processes on one PostgreSQL database (`CREDENCE_TEST_POSTGRES`):
//! holders submit through both at once, one is killed with SIGKILL mid-ingest, the other keeps
//! serving; every acknowledged write is in the one log, no index is used twice, roots and
//! consistency proofs verify, and what one instance published the other serves.

mod common;

use credence::circuits::catalog::Catalog;
use credence::fhe::keys::PublicMaterial;
use credence::party::holder::encrypt_record;
use credence::protocols::log::checkpoint::{NoteVerifier, SignedCheckpoint};
use credence::protocols::log::entry::{LogEntry, LogLeaf};
use credence::protocols::log::tree::MemoryTree;
use credence::protocols::log::{ConsistencyProof, Sha3Log};
use credence::protocols::names::{AttributeId, PartyId};
use credence::protocols::pseudonym::Pseudonym;
use credence::protocols::signing::{Role, SigningKey};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{call, json, seed};

fn start(dir: &std::path::Path, store: &str) -> (Child, String) {
    common::spawn_listening(
        &[
            "serve",
            "--dir",
            dir.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--store",
            store,
        ],
        Stdio::inherit(),
    )
}

fn kill(child: &mut Child, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[test]
#[cfg(unix)]
fn two_instances_share_one_log_and_survive_one_being_killed() {
    let Some(url) = common::postgres_database("instances") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("credence-instances-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // One data directory (keys) for both; the store is the database, not a file in it.
    let (mut a, addr_a) = start(&dir, &url);
    // B is configured the way an operator would: `store = "postgres://…"` in its TOML file.
    let config =
        std::env::temp_dir().join(format!("credence-instances-{}.toml", std::process::id()));
    std::fs::write(&config, format!("store = {:?}\n", url)).unwrap();
    let (mut b, addr_b) = common::spawn_listening(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--dir",
            dir.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ],
        Stdio::inherit(),
    );
    assert!(
        !dir.join("credence.redb").exists(),
        "no embedded store beside PostgreSQL"
    );
    let operator = SigningKey::from_seed(Role::Operator, &seed(dir.join("operator.seed")));
    let log_key = SigningKey::from_seed(Role::Log, &seed(dir.join("keys/log.seed")));
    let verifier = NoteVerifier::log("credence.local/log", log_key.public()).unwrap();

    // Registered through A, known to B; a pseudonym asked of B.
    let holder = SigningKey::generate(Role::Holder, &mut rand::thread_rng());
    let reg = serde_json::json!({"party": "credit", "role": "holder", "key": hex::encode(holder.public().to_bytes())});
    let (st, body) = call(
        &addr_a,
        "POST",
        "/v1/operator/parties",
        &serde_json::to_vec(&reg).unwrap(),
        &operator,
        "operator",
    )
    .unwrap();
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let (st, body) = call(
        &addr_b,
        "POST",
        "/v1/holder/pseudonym",
        br#"{"kind":"enterprise","id":"914403001922038216"}"#,
        &holder,
        "credit",
    )
    .unwrap();
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let who = Pseudonym::from_text(json(&body)["pseudonym"].as_str().unwrap()).unwrap();
    // A policy published through B is served by A.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/circuits/policies/public_procurement.policy"
    ))
    .unwrap();
    let (st, body) = call(
        &addr_b,
        "POST",
        "/v1/operator/policies",
        text.as_bytes(),
        &operator,
        "operator",
    )
    .unwrap();
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let (st, body) = call(
        &addr_a,
        "GET",
        "/v1/audit/policies",
        b"",
        &operator,
        "operator",
    )
    .unwrap();
    assert_eq!(st, 200);
    assert!(
        String::from_utf8_lossy(&body).contains("public_procurement"),
        "{}",
        String::from_utf8_lossy(&body)
    );

    // Sealed records, prepared before the run (sealing is the slow, holder-side part).
    let public = PublicMaterial::load(&dir.join("keys")).unwrap();
    let records: Vec<(u64, Vec<u8>)> = (1..=12u64)
        .map(|id| {
            let r = encrypt_record(
                &Catalog::builtin(),
                &public.public_key,
                &public.crs,
                &PartyId::new("credit").unwrap(),
                &holder,
                who,
                id,
                &[(
                    AttributeId::new("credit.serious_dishonesty").unwrap(),
                    id % 2,
                )],
            )
            .unwrap();
            (id, r.to_bytes())
        })
        .collect();
    let (st, body) = call(
        &addr_a,
        "GET",
        "/v1/audit/checkpoint",
        b"",
        &holder,
        "credit",
    )
    .unwrap();
    assert_eq!(st, 200);
    let before = SignedCheckpoint::parse(std::str::from_utf8(&body).unwrap()).unwrap();
    let before = before.verify(&verifier).unwrap().clone();

    // Odd ids through A, even through B, at once.
    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let submitters: Vec<_> = [(addr_a.clone(), 1u64), (addr_b.clone(), 0u64)]
        .into_iter()
        .map(|(addr, parity)| {
            let mine: Vec<(u64, Vec<u8>)> = records
                .iter()
                .filter(|(id, _)| id % 2 == parity)
                .cloned()
                .collect();
            let (acked, holder) = (acked.clone(), holder.clone());
            std::thread::spawn(move || {
                for (id, body) in mine {
                    match call(&addr, "POST", "/v1/holder/sealed", &body, &holder, "credit") {
                        Ok((200, _)) => acked.lock().unwrap().push(id),
                        Ok((st, b)) => panic!("{st}: {}", String::from_utf8_lossy(&b)),
                        Err(_) => return, // the instance died under us
                    }
                }
            })
        })
        .collect();
    // Kill A once it has acknowledged two of its own.
    while acked
        .lock()
        .unwrap()
        .iter()
        .filter(|id| *id % 2 == 1)
        .count()
        < 2
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    kill(&mut a, "-KILL");
    for s in submitters {
        s.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    // B kept serving: all of its six were acknowledged, after A died too.
    assert_eq!(
        acked.iter().filter(|id| *id % 2 == 0).count(),
        6,
        "{acked:?}"
    );

    let (st, body) = call(
        &addr_b,
        "GET",
        "/v1/audit/checkpoint",
        b"",
        &holder,
        "credit",
    )
    .unwrap();
    assert_eq!(st, 200);
    let after = SignedCheckpoint::parse(std::str::from_utf8(&body).unwrap()).unwrap();
    let after = after.verify(&verifier).unwrap().clone();
    assert!(after.size > before.size);
    let path = format!(
        "/v1/audit/proof/consistency?old={}&new={}",
        before.size, after.size
    );
    let (st, body) = call(&addr_b, "GET", &path, b"", &holder, "credit").unwrap();
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    ConsistencyProof::from_bytes(&hex::decode(json(&body)["proof"].as_str().unwrap()).unwrap())
        .unwrap()
        .verify::<Sha3Log>(&before.root, &after.root)
        .unwrap();
    // The whole log, recomputed: one tree, its root the checkpoint's; every acknowledged
    // submission in it exactly once; every index once.
    let path = format!("/v1/audit/entries?from=0&to={}", after.size);
    let (st, body) = call(&addr_b, "GET", &path, b"", &operator, "operator").unwrap();
    assert_eq!(st, 200);
    let mut tree = MemoryTree::<Sha3Log>::new();
    let mut logged = Vec::new();
    let mut indices = Vec::new();
    for e in json(&body)["entries"].as_array().unwrap() {
        indices.push(e["index"].as_u64().unwrap());
        let bytes =
            hex::decode(e["leaf"].as_str().expect("the operator reads every leaf")).unwrap();
        let leaf = LogLeaf::from_bytes(&bytes).unwrap();
        tree.append_leaf_hash(leaf.hash());
        if let LogEntry::AttributeSubmitted { submission, .. } = leaf.entry {
            logged.push(submission);
        }
    }
    assert_eq!(indices, (0..after.size).collect::<Vec<_>>());
    assert_eq!(tree.root(), after.root);
    for id in &acked {
        assert_eq!(
            logged.iter().filter(|l| *l == id).count(),
            1,
            "acknowledged submission {id}: logged {logged:?}"
        );
    }
    kill(&mut b, "-TERM");

    // A restarted instance picks the log up where the others left it.
    let (mut c, addr_c) = start(&dir, &url);
    let (st, body) = call(
        &addr_c,
        "GET",
        "/v1/audit/checkpoint",
        b"",
        &holder,
        "credit",
    )
    .unwrap();
    assert_eq!(st, 200);
    let again = SignedCheckpoint::parse(std::str::from_utf8(&body).unwrap()).unwrap();
    assert!(again.verify(&verifier).unwrap().size >= after.size);
    kill(&mut c, "-TERM");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&config);
}
