//! Three processes apart on loopback: `credence serve` (API, engine, log), `credence
//! key-authority serve` (the client key and its signing key, in its own directory) and `credence
//! witness serve`. The sealed path runs end to end through them; then the test turns into a
//! dishonest operator of the service — it holds the service's directory, its store and its log
//! key — and tries to get decryptions the log does not justify: a raw attribute ciphertext, an
//! evaluation with an input left out, a stale input, another day's evaluation, an unlogged
//! query, a forged output, and requests not signed by the service. Each is refused by the key
//! authority process, its refusal is in the log, and no verdict comes back.

mod common;

use credence::circuits::catalog::Catalog;
use credence::circuits::policy::{builtin, Policy};
use credence::fhe::engine::{sha3, Engine};
use credence::fhe::keys::PublicMaterial;
use credence::fhe::SealedRecord;
use credence::party::client::{Client, Entry};
use credence::protocols::identifiers::SubjectId;
use credence::protocols::log::entry::{LogEntry, Outcome};
use credence::protocols::log::hash::Hash;
use credence::protocols::names::PartyId;
use credence::protocols::signing::{Role, SigningKey};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use tfhe::prelude::*;

const USCC: &str = "91110108MA01AB2C3T";
const ORIGIN: &str = "credence.local/log";

fn run(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_credence"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "credence {}\nstdout: {}\nstderr: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn seed(path: &Path) -> [u8; 32] {
    std::fs::read(path).unwrap().try_into().unwrap()
}

fn stop(mut c: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status();
    let _ = c.wait();
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The service's directory holds neither the client key nor the key authority's seed, under
/// any name.
fn assert_no_authority_secrets(data: &Path, ka: &Path) {
    let secrets = [
        std::fs::read(ka.join("keys/authority/client.key")).unwrap(),
        std::fs::read(ka.join("signing.seed")).unwrap(),
    ];
    for f in files(data) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name != "client.key" && name != "signing.seed",
            "{} in the service's directory",
            f.display()
        );
        let bytes = std::fs::read(&f).unwrap();
        for s in &secrets {
            assert!(
                bytes.len() < s.len() || !bytes.windows(s.len()).any(|w| w == s.as_slice()),
                "{} holds a key authority secret",
                f.display()
            );
        }
    }
}

struct Parties {
    credit: Client,
    market: Client,
    bank: Client,
    auditor: Client,
}

fn parties(addr: &str, operator: &Client) -> Parties {
    let make = |name: &str, role: Role| {
        let c = Client::new(
            addr,
            PartyId::new(name).unwrap(),
            SigningKey::generate(role, &mut rand::thread_rng()),
        );
        operator
            .register_party(c.party(), &c.key().public(), None)
            .unwrap();
        c
    };
    Parties {
        credit: make("credit.proc", Role::Holder),
        market: make("market.proc", Role::Holder),
        bank: make("bank.proc", Role::Bank),
        auditor: make("auditor.proc", Role::Auditor),
    }
}

/// A dishonest service's direct call to the key authority, signed with the service's key.
fn decide(ka: &str, key: &SigningKey, query_index: u64, output: &[u8]) -> (u16, String) {
    let body = serde_json::json!({"query_index": query_index, "output": hex::encode(output)});
    let (status, out) = credence::party::http::call(
        ka,
        ORIGIN,
        "POST",
        "/v1/decide",
        body.to_string().as_bytes(),
        key,
        &PartyId::new("service").unwrap(),
    )
    .unwrap();
    (status, String::from_utf8_lossy(&out).into_owned())
}

/// A direct call to the key authority's evaluate route, signed with `key`.
fn evaluate_call(ka: &str, key: &SigningKey, body: &[u8]) -> (u16, String) {
    let (status, out) = credence::party::http::call(
        ka,
        ORIGIN,
        "POST",
        "/v1/evaluate",
        body,
        key,
        &PartyId::new("service").unwrap(),
    )
    .unwrap();
    (status, String::from_utf8_lossy(&out).into_owned())
}

/// Every log entry, as an auditor reads them.
fn entries(auditor: &Client) -> Vec<LogEntry> {
    let size = auditor.checkpoint().unwrap().checkpoint.size;
    let mut out = Vec::new();
    let mut from = 0;
    while from < size {
        let to = (from + 1000).min(size);
        for (_, e) in auditor.entries(from, to).unwrap() {
            if let Entry::Leaf(l) = e {
                out.push(l.entry);
            }
        }
        from = to;
    }
    out
}

/// The reasons of the `DecryptionRefused` entries for `query` in the log.
fn refusals(auditor: &Client, query: u64) -> Vec<String> {
    entries(auditor)
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::DecryptionRefused {
                query_index,
                reason,
                ..
            } if query_index == query => Some(reason),
            _ => None,
        })
        .collect()
}

/// A "service" that lists public FHE material of its own choosing (every request it gets is
/// answered with that listing); returns its address.
fn foreign_material_listing() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let body = serde_json::json!({"parts": [
            {"part": "public_key", "sha3_256": "00".repeat(32), "bytes": 1},
            {"part": "crs", "sha3_256": "00".repeat(32), "bytes": 1},
        ], "parameters": "other"})
        .to_string();
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.flush();
        }
    });
    addr
}

fn ciphertext<T: tfhe::named::Named + tfhe::Versionize + serde::Serialize>(ct: &T) -> Vec<u8> {
    let mut b = Vec::new();
    tfhe::safe_serialization::safe_serialize(ct, &mut b, 1 << 20).unwrap();
    b
}

/// A fresh temporary directory (`credence-<tag>-<pid>`) with a key authority's (it makes the
/// TFHE keys) and a service's initialised in it (the service gets the public part only), and
/// free addresses for both.
struct Initialised {
    tmp: PathBuf,
    ka_dir: PathBuf,
    data: PathBuf,
    wdir: PathBuf,
    /// What `key-authority init` printed: its public key.
    ka_key: String,
    ka_addr: String,
    svc_addr: String,
}

fn initialised(tag: &str) -> Initialised {
    let tmp = std::env::temp_dir().join(format!("credence-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let (ka_dir, data, wdir) = (tmp.join("ka"), tmp.join("data"), tmp.join("witness"));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let ka_key = run(&["key-authority", "init", "--dir", &s(&ka_dir)]);
    let ka_addr = format!("127.0.0.1:{}", common::free_port());
    let svc_addr = format!("127.0.0.1:{}", common::free_port());
    run(&[
        "serve",
        "init",
        "--dir",
        &s(&data),
        "--key-authority",
        &format!("{}@{ka_addr}", ka_key.trim()),
        "--fhe-public",
        &s(&ka_dir.join("keys/public")),
    ]);
    Initialised {
        tmp,
        ka_dir,
        data,
        wdir,
        ka_key,
        ka_addr,
        svc_addr,
    }
}

/// What a dishonest service logs: (what, logged inputs, output, query day, expected refusal).
type Case<'a> = (&'a str, Vec<Hash>, Vec<u8>, u32, &'a str);

#[test]
fn the_key_authority_apart_decides_only_what_the_log_justifies() {
    let Initialised {
        tmp,
        ka_dir,
        data,
        wdir,
        ka_key,
        ka_addr,
        svc_addr,
    } = initialised("processes");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    assert_no_authority_secrets(&data, &ka_dir);
    let wkey = run(&["witness", "init", "--dir", &s(&wdir)]);
    let log_vkey = std::fs::read_to_string(data.join("log.vkey")).unwrap();
    let (witness, waddr) = common::spawn_listening(
        &[
            "witness",
            "serve",
            "--dir",
            &s(&wdir),
            "--addr",
            "127.0.0.1:0",
            "--log",
            log_vkey.trim(),
        ],
        Stdio::null(),
    );
    let wflag = format!("{}@{waddr}", wkey.trim());
    let serve_args = [
        "serve",
        "--dir",
        &s(&data),
        "--addr",
        &svc_addr,
        "--witness",
        &wflag,
    ];
    let (service, addr) = common::spawn_listening(&serve_args, Stdio::null());
    let (ka, ka_at) = common::spawn_listening(
        &[
            "key-authority",
            "serve",
            "--dir",
            &s(&ka_dir),
            "--service",
            &addr,
            "--anchors",
            &s(&data.join("anchors.json")),
            "--addr",
            &ka_addr,
            "--per-bank",
            "2",
        ],
        Stdio::null(),
    );
    assert_eq!(ka_at, ka_addr);
    assert_no_authority_secrets(&data, &ka_dir);

    // The sealed path end to end, through the three processes.
    let operator = Client::new(
        &addr,
        PartyId::new("operator").unwrap(),
        SigningKey::from_seed(Role::Operator, &seed(&data.join("operator.seed"))),
    );
    let p = parties(&addr, &operator);
    let policy: Policy = builtin("public_procurement").unwrap();
    operator.publish_policy(policy.canonical()).unwrap();
    let public = PublicMaterial::load(&data.join("keys")).unwrap();
    let id = SubjectId::parse(
        credence::protocols::identifiers::SubjectKind::Enterprise,
        USCC,
    )
    .unwrap();
    let (who, _) = p.credit.pseudonym(&id).unwrap();
    let day = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400) as u32;
    // An older credit record said "never listed"; the latest lists the subject until tomorrow.
    let stale = common::region::seal_with(
        &public,
        &p.credit,
        who,
        1,
        &[("credit.serious_dishonesty", 0)],
    );
    p.credit.submit_sealed(&stale).unwrap();
    let listed = common::region::seal_with(
        &public,
        &p.credit,
        who,
        2,
        &[("credit.serious_dishonesty", u64::from(day) + 1)],
    );
    p.credit.submit_sealed(&listed).unwrap();
    let market = common::region::seal_with(
        &public,
        &p.market,
        who,
        1,
        &[("market.abnormal_operation", 0), ("market.registered", 1)],
    );
    p.market.submit_sealed(&market).unwrap();
    let pinned = policy.pin();
    let question = credence::party::client::Question {
        subject: &id,
        policy: "public_procurement",
        day,
        purpose: "bid 7",
        consent: None,
    };
    let answer = p.bank.query_sealed(&question).unwrap();
    let verified = answer
        .receipt
        .verify(
            &p.bank.anchors().unwrap(),
            &credence::protocols::question::Question {
                subject: who,
                policy: &pinned,
                as_of_day: day,
            },
        )
        .unwrap();
    assert_eq!(verified.outcome, Outcome::Eligible(false));
    assert_eq!(answer.json["outcome"]["eligible"], false, "{}", answer.json);

    // The operator turns dishonest: it stops its service, appends what it likes to its own log
    // with its own log key, starts it again, and asks the key authority directly.
    stop(service);
    let log_key_seed = seed(&data.join("keys/log.seed"));
    let engine = Engine::new(public.clone(), 0).unwrap();
    let stored = |records: &[&SealedRecord]| -> Vec<_> {
        records
            .iter()
            .map(|r| {
                let holder = if r
                    .submission
                    .submission
                    .holder
                    .as_str()
                    .starts_with("credit")
                {
                    &p.credit
                } else {
                    &p.market
                };
                engine
                    .ingest(r, &holder.key().public(), &Catalog::builtin())
                    .unwrap()
                    .stored
            })
            .collect()
    };
    let output = |day: u32, records: &[&SealedRecord]| -> Vec<u8> {
        engine
            .evaluate(&policy, day, &stored(records))
            .unwrap()
            .output
    };
    let raw = {
        let list = tfhe::CompactCiphertextList::builder(&public.public_key)
            .push(u16::MAX)
            .build_packed();
        let ct: tfhe::FheUint16 =
            engine.install(|| list.expand().unwrap().get(0).unwrap().unwrap());
        ciphertext(&ct)
    };
    let forged = {
        let list = tfhe::CompactCiphertextList::builder(&public.public_key)
            .push(1u8)
            .build_packed();
        let ct: tfhe::FheUint8 = engine.install(|| list.expand().unwrap().get(0).unwrap().unwrap());
        ciphertext(&ct)
    };
    let h = |r: &SealedRecord| -> Hash { r.submission.hash() };
    let cases: Vec<Case> = vec![
        (
            "a raw attribute ciphertext logged as the output",
            vec![h(&listed), h(&market)],
            raw.clone(),
            day,
            "not-an-output",
        ),
        (
            "an evaluation with the listing left out",
            vec![h(&market)],
            output(day, &[&market]),
            day,
            "inputs",
        ),
        (
            "a stale input",
            vec![h(&stale), h(&market)],
            output(day, &[&stale, &market]),
            day,
            "inputs",
        ),
        (
            "another day's evaluation (the listing has lapsed by then)",
            vec![h(&listed), h(&market)],
            output(day + 400, &[&listed, &market]),
            day,
            "output-mismatch",
        ),
        (
            "a forged output",
            vec![h(&listed), h(&market)],
            forged.clone(),
            day,
            "output-mismatch",
        ),
    ];
    let honest_out = output(day, &[&listed, &market]);
    let (queries, unasked, asked): (Vec<u64>, Vec<u64>, Vec<u64>) = {
        let store: Arc<dyn credence::store::Store> = Arc::new(
            credence::store::embedded::EmbeddedStore::open(&data.join("credence.redb")).unwrap(),
        );
        let log = credence::server::log::LogService::open(
            store,
            ORIGIN,
            SigningKey::from_seed(Role::Log, &log_key_seed),
            credence::server::log::CheckpointPolicy {
                every_entries: 1,
                every_seconds: 1,
            },
        )
        .unwrap();
        let now = u64::from(day) * 86_400 + 1;
        // The bank's signature over a question, made by `signer` (the bank itself: the operator
        // replaying questions the bank did ask; or a key of the operator's own).
        let append = |inputs: &[Hash], out: &[u8], qday: u32, signer: Option<&SigningKey>| -> u64 {
            let request = signer.map(|k| {
                credence::protocols::query::QueryRequest::new(
                    ORIGIN,
                    p.bank.party(),
                    who,
                    policy.hash(),
                    qday,
                    "bid 7",
                    None,
                    None,
                    &mut rand::thread_rng(),
                )
                .sign(k)
            });
            let q = log
                .append(
                    &[LogEntry::Query {
                        bank: p.bank.party().clone(),
                        subject: who,
                        policy_hash: policy.hash(),
                        as_of_day: qday,
                        purpose: "bid 7".into(),
                        consent_hash: None,
                        salt: [7; 16],
                        region: None,
                        request,
                    }],
                    now,
                    credence::store::Batch::new(),
                )
                .unwrap()[0];
            log.append(
                &[LogEntry::Evaluation {
                    query_index: q,
                    policy_hash: policy.hash(),
                    input_hashes: inputs.to_vec(),
                    output_hash: sha3(out),
                    salt: [0; 16],
                }],
                now,
                credence::store::Batch::new(),
            )
            .unwrap();
            q
        };
        let operators_own = SigningKey::generate(Role::Bank, &mut rand::thread_rng());
        (
            cases
                .iter()
                .map(|(_, inputs, out, qday, _)| append(inputs, out, *qday, Some(p.bank.key())))
                .collect(),
            [None, Some(&operators_own)]
                .into_iter()
                .map(|k| append(&[h(&listed), h(&market)], &honest_out, day, k))
                .collect(),
            (0..2)
                .map(|_| {
                    append(
                        &[h(&listed), h(&market)],
                        &honest_out,
                        day,
                        Some(p.bank.key()),
                    )
                })
                .collect(),
        )
    };
    let (service, _) = common::spawn_listening(&serve_args, Stdio::null());
    let service_key = SigningKey::from_seed(Role::Log, &log_key_seed);
    for ((what, _, out, _, code), q) in cases.iter().zip(&queries) {
        let (status, body) = decide(&ka_addr, &service_key, *q, out);
        assert_ne!(status, 200, "{what}: {body}");
        assert!(!body.contains("\"verdict\""), "{what}: {body}");
        assert!(
            body.contains(&format!("\"code\":\"{code}\"")),
            "{what}: {body}"
        );
        assert_eq!(refusals(&p.auditor, *q), vec![code.to_string()], "{what}");
    }
    // An unlogged query: an index that is no query (the first entry), and one beyond the log.
    let honest_query = answer.json["log_indices"]["query"].as_u64().unwrap();
    for q in [0, 1_000_000] {
        let (status, body) = decide(&ka_addr, &service_key, q, &forged);
        assert_ne!(status, 200, "{body}");
        assert!(body.contains("\"code\":\"unlogged-query\""), "{body}");
    }
    assert_eq!(refusals(&p.auditor, 0), vec!["unlogged-query".to_string()]);
    // The honest query again, with the forged output instead of the logged one.
    let (status, body) = decide(&ka_addr, &service_key, honest_query, &forged);
    assert_ne!(status, 200, "{body}");
    assert!(body.contains("\"code\":\"not-logged\""), "{body}");
    // Requests not signed by the service's key are refused before anything is read or logged.
    let size = p.auditor.checkpoint().unwrap().checkpoint.size;
    for role in [Role::Log, Role::Bank] {
        let key = SigningKey::generate(role, &mut rand::thread_rng());
        let (status, body) = decide(&ka_addr, &key, honest_query, &forged);
        assert_eq!(status, 401, "{body}");
        // Nor does anyone else get an evaluation run (the route that evaluates once).
        let q = serde_json::json!({ "query_index": honest_query }).to_string();
        let (status, body) = evaluate_call(&ka_addr, &key, q.as_bytes());
        assert_eq!(status, 401, "{body}");
    }
    // The service's own malformed evaluate request: 400, saying what was wrong.
    let (status, body) = evaluate_call(&ka_addr, &service_key, br#"{"query_index":"x"}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("body"), "{body}");
    assert_eq!(p.auditor.checkpoint().unwrap().checkpoint.size, size);

    // Queries no bank asked, logged by the service with honest evaluations (one with no
    // signed request, one signed by a bank key of the operator's own): refused, and logged.
    for q in &unasked {
        let (status, body) = decide(&ka_addr, &service_key, *q, &honest_out);
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("\"code\":\"unasked\""), "{body}");
        assert!(!body.contains("\"verdict\""), "{body}");
        assert_eq!(refusals(&p.auditor, *q), vec!["unasked".to_string()]);
    }
    // Questions the bank did sign, logged again by the operator: the key authority's own daily
    // budget bounds how many it decides about one subject (here 2 per bank: the honest query
    // and one of these; the next is refused).
    let (status, body) = decide(&ka_addr, &service_key, asked[0], &honest_out);
    assert_eq!(status, 200, "{body}");
    let (status, body) = decide(&ka_addr, &service_key, asked[1], &honest_out);
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("\"code\":\"budget\""), "{body}");
    assert_eq!(refusals(&p.auditor, asked[1]), vec!["budget".to_string()]);

    // Another party with a key-authority key cannot log refusals in its name.
    let fake = Client::new(
        &addr,
        PartyId::new("ka.fake").unwrap(),
        SigningKey::generate(Role::KeyAuthority, &mut rand::thread_rng()),
    );
    operator
        .register_party(fake.party(), &fake.key().public(), None)
        .unwrap();
    match fake.post(
        "/v1/key-authority/refusals",
        &serde_json::json!({"query_index": honest_query, "reason": "output-mismatch"}),
    ) {
        Err(credence::party::client::ClientError::Status { status, .. }) => {
            assert_eq!(status, 403)
        }
        other => panic!("a fake key authority logged a refusal: {other:?}"),
    }
    assert_eq!(
        refusals(&p.auditor, honest_query),
        vec!["not-logged".to_string()]
    );
    // Bad input to either side of the link is refused with what was wrong, and logs nothing.
    let size = p.auditor.checkpoint().unwrap().checkpoint.size;
    for (body, expect) in [
        (&b"not json"[..], "body"),
        (br#"{"query_index":"one","output":"00"}"#, "body"),
        (
            br#"{"query_index":1,"output":"zz"}"#,
            "output: expected hex",
        ),
        (br#"{"query_index":1,"output":"00","extra":1}"#, "body"),
    ] {
        let (status, out) = credence::party::http::call(
            &ka_addr,
            ORIGIN,
            "POST",
            "/v1/decide",
            body,
            &service_key,
            &PartyId::new("service").unwrap(),
        )
        .unwrap();
        let out = String::from_utf8_lossy(&out);
        assert_eq!(status, 400, "{out}");
        assert!(
            out.contains("\"code\":\"bad-request\"") && out.contains(expect),
            "{out}"
        );
    }
    let real_ka = Client::new(
        &addr,
        PartyId::new("key-authority").unwrap(),
        SigningKey::from_seed(
            Role::KeyAuthority,
            &common::seed(ka_dir.join("signing.seed")),
        ),
    );
    for (body, expect) in [
        (
            serde_json::json!({"query_index": honest_query, "reason": "because"}),
            "reason: expected one of",
        ),
        (
            serde_json::json!({"query_index": 1_000_000_000u64, "reason": "inputs"}),
            "is beyond the log",
        ),
        (serde_json::json!({"query_index": honest_query}), "reason"),
    ] {
        match real_ka.post("/v1/key-authority/refusals", &body) {
            Err(credence::party::client::ClientError::Status { status, message }) => {
                assert_eq!(status, 400, "{message}");
                assert!(message.contains(expect), "{message}");
            }
            other => panic!("{body} was accepted: {other:?}"),
        }
    }
    assert_eq!(p.auditor.checkpoint().unwrap().checkpoint.size, size);
    // The key authority's registration with the service is itself in the log.
    let ka_public = credence::protocols::signing::PublicKey::from_bytes(
        Role::KeyAuthority,
        &hex::decode(ka_key.trim()).unwrap().try_into().unwrap(),
    )
    .unwrap();
    assert!(entries(&p.auditor).iter().any(|e| matches!(e,
        LogEntry::PartyRegistered { party, key } if party.as_str() == "key-authority" && *key == ka_public)));
    // The engine configuration it logged names the plan compiler (a replay needs the same).
    let compiler = format!(
        "plan compiler {}",
        hex::encode(credence::circuits::fhe::plan::compiler_digest())
    );
    assert!(entries(&p.auditor).iter().any(|e| matches!(e,
        LogEntry::EngineParameters { parameters, .. } if parameters.ends_with(&compiler))));

    // The key authority refuses to start on anchors without witnesses, on anchors that changed
    // since its last start, and for a service that hands holders other public FHE material.
    stop(ka);
    let mut anchors: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("anchors.json")).unwrap()).unwrap();
    let ka_fails = |anchors: &serde_json::Value, service: &str, expect: &str| {
        let file = tmp.join("anchors-variant.json");
        std::fs::write(&file, anchors.to_string()).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_credence"))
            .args([
                "key-authority",
                "serve",
                "--dir",
                &s(&ka_dir),
                "--service",
                service,
                "--anchors",
                &s(&file),
                "--addr",
                &ka_addr,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        for _ in 0..600 {
            if c.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if c.try_wait().unwrap().is_none() {
            let _ = c.kill();
            panic!("the key authority started ({expect})");
        }
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(expect), "{err}");
    };
    let mut no_witness = anchors.clone();
    no_witness["witnesses"] = serde_json::json!([]);
    no_witness["witness_quorum"] = serde_json::json!(0);
    ka_fails(&no_witness, &addr, "no witness quorum");
    let other = credence::protocols::log::checkpoint::NoteVerifier::witness(
        "witness.other",
        SigningKey::generate(Role::Witness, &mut rand::thread_rng()).public(),
    )
    .unwrap();
    anchors["witnesses"] = serde_json::json!([other.to_vkey()]);
    ka_fails(
        &anchors,
        &addr,
        "the anchors changed since this key authority last ran",
    );
    let foreign = foreign_material_listing();
    ka_fails(&anchors, &foreign, "is not this key authority's");
    // Only the public folder is taken from the key authority, never one with its client key.
    let o = Command::new(env!("CARGO_BIN_EXE_credence"))
        .args([
            "serve",
            "init",
            "--dir",
            &s(&tmp.join("data-copy")),
            "--key-authority",
            &format!("{}@{ka_addr}", ka_key.trim()),
            "--fhe-public",
            &s(&ka_dir.join("keys")),
        ])
        .output()
        .unwrap();
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("holds a client key"),
        "{o:?}"
    );
    assert!(!tmp.join("data-copy/keys/public/server.key").exists());

    stop(service);
    stop(witness);
    assert_no_authority_secrets(&data, &ka_dir);
    let _ = std::fs::remove_dir_all(&tmp);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

/// The operator forks its log behind the key authority's back: it rolls the service's
/// directory back — and the witness's, as an operator running its own witness could — and logs
/// other entries where the key authority had verified some. The key authority's background
/// follower (`--follow-every`) reports it at error level, where the service merely down was a
/// warning; every request on the forked log is refused as `checkpoint` before its query is
/// read, and still after a restart.
#[test]
fn a_forked_log_is_reported_by_the_background_follower_and_decides_nothing() {
    // (Not named after what it tests: the key authority prints its directory, and the test
    // looks for "fork" in what it prints.)
    let Initialised {
        tmp,
        ka_dir,
        data,
        wdir,
        ka_key: _,
        ka_addr,
        svc_addr,
    } = initialised("fk");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let w_addr = format!("127.0.0.1:{}", common::free_port());
    let wkey = run(&["witness", "init", "--dir", &s(&wdir)]);
    let log_vkey = std::fs::read_to_string(data.join("log.vkey")).unwrap();
    let wflag = format!("{}@{w_addr}", wkey.trim());
    let start = || {
        let witness_args = [
            "witness",
            "serve",
            "--dir",
            &s(&wdir),
            "--addr",
            &w_addr,
            "--log",
            log_vkey.trim(),
        ];
        let (witness, _) = common::spawn_listening(&witness_args, Stdio::null());
        let serve_args = [
            "serve",
            "--dir",
            &s(&data),
            "--addr",
            &svc_addr,
            "--witness",
            &wflag,
        ];
        let (service, at) = common::spawn_listening(&serve_args, Stdio::null());
        assert_eq!(at, svc_addr);
        (witness, service)
    };
    let register = |name: &str| {
        let operator = Client::new(
            &svc_addr,
            PartyId::new("operator").unwrap(),
            SigningKey::from_seed(Role::Operator, &seed(&data.join("operator.seed"))),
        );
        let key = SigningKey::generate(Role::Bank, &mut rand::thread_rng());
        operator
            .register_party(&PartyId::new(name).unwrap(), &key.public(), None)
            .unwrap();
    };
    let service_key = SigningKey::from_seed(Role::Log, &seed(&data.join("keys/log.seed")));

    // What the operator will roll back to.
    let (witness, service) = start();
    register("bank.before");
    stop(service);
    stop(witness);
    copy_dir(&data, &tmp.join("data-then"));
    copy_dir(&wdir, &tmp.join("witness-then"));

    // The key authority follows the log every second; its stderr is read as it comes.
    let (witness, service) = start();
    let ka_args = [
        "key-authority",
        "serve",
        "--dir",
        &s(&ka_dir),
        "--service",
        &svc_addr,
        "--anchors",
        &s(&data.join("anchors.json")),
        "--addr",
        &ka_addr,
        "--follow-every",
        "1",
    ];
    let (mut ka, at) = common::spawn_listening(&ka_args, Stdio::piped());
    assert_eq!(at, ka_addr);
    let stderr = Arc::new(std::sync::Mutex::new(String::new()));
    let lines = std::io::BufRead::lines(std::io::BufReader::new(ka.stderr.take().unwrap()));
    let sink = stderr.clone();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&l);
            s.push('\n');
        }
    });
    register("bank.seen.one");
    register("bank.seen.two");
    // A decision request makes it follow now (an index that is no query: refused as such,
    // which shows it has verified the log as it is).
    let (status, body) = decide(&ka_addr, &service_key, 0, b"x");
    assert_ne!(status, 200, "{body}");
    assert!(body.contains("\"code\":\"unlogged-query\""), "{body}");
    assert!(
        !stderr.lock().unwrap().contains("ERROR"),
        "{}",
        stderr.lock().unwrap()
    );

    // The service down is no evidence: a warning (once), not an error.
    stop(service);
    stop(witness);
    let warned = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        stderr
            .lock()
            .unwrap()
            .contains("the service's log could not be read")
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    {
        // One warning per change of what it meets (a connection refused, or reset while the
        // service stops), not one per second.
        let err = stderr.lock().unwrap();
        assert!(warned && !err.contains("ERROR"), "{err}");
        assert!(err.matches("could not be read").count() <= 2, "{err}");
    }

    // The fork: both directories as they were, then other entries past what it verified.
    for (dir, then) in [(&data, "data-then"), (&wdir, "witness-then")] {
        std::fs::remove_dir_all(dir).unwrap();
        copy_dir(&tmp.join(then), dir);
    }
    let (witness, service) = start();
    for i in 0..6 {
        register(&format!("bank.fork.{i}"));
    }
    // Its own fork detection (the root it recomputes), not any checkpoint problem.
    let reported = (0..300).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        stderr.lock().unwrap().lines().any(|l| {
            l.contains("ERROR") && l.contains("the log cannot be followed") && l.contains("fork")
        })
    });
    let err = stderr.lock().unwrap().clone();
    assert!(reported, "no error event for the fork:\n{err}");
    // A request is refused as `checkpoint` (before the query is even read: index 0 would
    // otherwise be `unlogged-query`), naming the fork.
    let (status, body) = decide(&ka_addr, &service_key, 0, b"x");
    assert_ne!(status, 200, "{body}");
    assert!(body.contains("\"code\":\"checkpoint\""), "{body}");
    assert!(body.contains("fork"), "{body}");
    assert!(!body.contains("\"verdict\""), "{body}");

    // Restarted, it still knows what it verified: the fork is refused again.
    stop(ka);
    let (ka, _) = common::spawn_listening(&ka_args, Stdio::null());
    let (status, body) = decide(&ka_addr, &service_key, 0, b"x");
    assert_ne!(status, 200, "{body}");
    assert!(body.contains("\"code\":\"checkpoint\""), "{body}");
    stop(ka);
    stop(service);
    stop(witness);
    let _ = std::fs::remove_dir_all(&tmp);
}
