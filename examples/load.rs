//! A bounded load run on loopback: `cargo run --release --example load [seconds] [clients]`.
//!
//! Starts the service in process on a fresh embedded store (temporary directory), registers a
//! holder pair and a bank, publishes `public_procurement`, submits one subject's sealed records,
//! then runs `clients` threads of mixed signed requests for `seconds`: audit checkpoints and
//! entries, pseudonym look-ups, proven-path bank queries (a subject's proof package, verified
//! and logged with a receipt each time) and sealed-path bank queries (FHE). Then a burst of
//! simultaneous bank queries, more than the FHE slots, to show overload is answered with 503.
//! Prints throughput, p50/p99 latency per route and the status counts.

use credence::circuits::catalog::Catalog;
use credence::fhe::keys::PublicMaterial;
use credence::party::holder::encrypt_record;
use credence::protocols::names::{AttributeId, PartyId};
use credence::protocols::pseudonym::Pseudonym;
use credence::protocols::signing::{Role, SigningKey};
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Samples = Arc<Mutex<BTreeMap<String, Vec<(u16, Duration)>>>>;

fn call(
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
    key: &SigningKey,
    party: &str,
) -> (u16, Vec<u8>) {
    static ORIGIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let origin = ORIGIN.get_or_init(|| credence::party::client::service_origin(addr).unwrap());
    credence::party::client::call(
        addr,
        origin,
        method,
        path,
        body,
        key,
        &PartyId::new(party).unwrap(),
    )
    .unwrap()
}

fn timed(samples: &Samples, route: &str, f: impl FnOnce() -> (u16, Vec<u8>)) -> u16 {
    let t = Instant::now();
    let (st, _) = f();
    samples
        .lock()
        .unwrap()
        .entry(route.to_string())
        .or_default()
        .push((st, t.elapsed()));
    st
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(20);
    let clients: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(8);
    let dir = std::env::temp_dir().join(format!("credence-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opened = credence::server::process::open(&dir, &mut |m| eprintln!("{m}")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap().to_string()).unwrap();
            axum::serve(l, opened.app).await.unwrap();
        })
    });
    let addr = rx.recv().unwrap();
    let seed = |p: &str| -> [u8; 32] { std::fs::read(dir.join(p)).unwrap().try_into().unwrap() };
    let operator = SigningKey::from_seed(Role::Operator, &seed("operator.seed"));
    let mut rng = rand::thread_rng();
    let credit = SigningKey::generate(Role::Holder, &mut rng);
    let market = SigningKey::generate(Role::Holder, &mut rng);
    let bank = SigningKey::generate(Role::Bank, &mut rng);
    for (p, r, k) in [
        ("credit", "holder", &credit),
        ("market", "holder", &market),
        ("icbc", "bank", &bank),
    ] {
        let body =
            serde_json::json!({"party": p, "role": r, "key": hex::encode(k.public().to_bytes())});
        assert_eq!(
            call(
                &addr,
                "POST",
                "/v1/operator/parties",
                &serde_json::to_vec(&body).unwrap(),
                &operator,
                "operator"
            )
            .0,
            200
        );
    }
    let text = credence::circuits::policy::BUILTIN_POLICIES
        .iter()
        .find(|(n, _)| *n == "public_procurement")
        .unwrap()
        .1;
    assert_eq!(
        call(
            &addr,
            "POST",
            "/v1/operator/policies",
            text.as_bytes(),
            &operator,
            "operator"
        )
        .0,
        200
    );
    let subject = br#"{"kind":"enterprise","id":"914403001922038216"}"#;
    let (_, b) = call(
        &addr,
        "POST",
        "/v1/holder/pseudonym",
        subject,
        &credit,
        "credit",
    );
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let who = Pseudonym::from_text(v["pseudonym"].as_str().unwrap()).unwrap();
    let public = PublicMaterial::load(&dir.join("keys")).unwrap();
    for (h, k, vals) in [
        ("credit", &credit, vec![("credit.serious_dishonesty", 0u64)]),
        (
            "market",
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
            &PartyId::new(h).unwrap(),
            k,
            who,
            1,
            &vals,
        )
        .unwrap();
        let (st, b) = call(&addr, "POST", "/v1/holder/sealed", &r.to_bytes(), k, h);
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    }
    let today = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400) as u32;
    let query = serde_json::json!({
        "subject": {"kind": "enterprise", "id": "914403001922038216"},
        "policy": "public_procurement", "purpose": "load test", "day": today,
    });

    // The proven path: the subject registers, the holders commit, the subject proves once; the
    // bank then submits that package over and over.
    let proof_query = {
        use credence::party::client::Client;
        use credence::protocols::identifiers::{SubjectId, SubjectKind};
        let id = SubjectId::parse(SubjectKind::Enterprise, "914403001922038216").unwrap();
        let op = Client::new(&addr, PartyId::new("operator").unwrap(), operator.clone());
        let sealing = credence::protocols::seal::SealingSecretKey::generate(&mut rand::rngs::OsRng);
        let me = Client::new(
            &addr,
            PartyId::new("ent").unwrap(),
            SigningKey::generate(Role::Subject, &mut rng),
        );
        op.register_party(
            me.party(),
            &me.key().public(),
            Some((&id, &sealing.public())),
        )
        .unwrap();
        for (h, k, vals) in [
            ("credit", &credit, vec![("credit.serious_dishonesty", 0u64)]),
            (
                "market",
                &market,
                vec![("market.abnormal_operation", 0), ("market.registered", 1)],
            ),
        ] {
            let holder = Client::new(&addr, PartyId::new(h).unwrap(), k.clone());
            let vals: Vec<(AttributeId, u64)> = vals
                .iter()
                .map(|(a, v)| (AttributeId::new(a).unwrap(), *v))
                .collect();
            let items = credence::party::holder::commit_attributes(
                &Catalog::builtin(),
                holder.party(),
                k,
                who,
                &sealing.public(),
                &vals,
                10,
            )
            .unwrap();
            holder.submit_committed(&items).unwrap();
        }
        let day = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 86_400) as u32;
        let policy = credence::circuits::policy::builtin("public_procurement").unwrap();
        let package = credence::party::subject::prove(
            &policy,
            day,
            who,
            &me.subject_records().unwrap(),
            &sealing,
            &me,
        )
        .unwrap();
        serde_json::json!({
            "subject": {"kind": "enterprise", "id": "914403001922038216"},
            "policy": "public_procurement", "purpose": "load test", "day": day,
            "package": hex::encode(package.to_bytes()),
        })
    };
    // Every question is signed afresh by the bank (query-request/v1; a signed request counts
    // once).
    let origin = credence::party::client::service_origin(&addr).unwrap();
    let policy_hash = credence::circuits::policy::builtin("public_procurement")
        .unwrap()
        .hash();
    let signed = move |body: &serde_json::Value, bank: &SigningKey| -> Vec<u8> {
        let r = credence::protocols::query::QueryRequest::new(
            &origin,
            &PartyId::new("icbc").unwrap(),
            who,
            policy_hash,
            body["day"].as_u64().unwrap() as u32,
            "load test",
            None,
            None,
            &mut rand::thread_rng(),
        )
        .sign(bank);
        let mut body = body.clone();
        body["request"] = serde_json::json!({
            "nonce": hex::encode(r.nonce),
            "signature": hex::encode(r.signature.0),
        });
        serde_json::to_vec(&body).unwrap()
    };

    eprintln!("mixed load: {clients} clients for {seconds} s");
    let samples: Samples = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, samples, credit, bank, query, proof_query, signed) = (
                addr.clone(),
                samples.clone(),
                credit.clone(),
                bank.clone(),
                query.clone(),
                proof_query.clone(),
                signed.clone(),
            );
            std::thread::spawn(move || {
                let mut rng = rand::thread_rng();
                while Instant::now() < deadline {
                    match rng.gen_range(0..100) {
                        0..=39 => timed(&samples, "GET /v1/audit/entries", || {
                            call(
                                &addr,
                                "GET",
                                "/v1/audit/entries?from=0&to=20",
                                b"",
                                &bank,
                                "icbc",
                            )
                        }),
                        40..=59 => timed(&samples, "GET /v1/audit/checkpoint", || {
                            call(&addr, "GET", "/v1/audit/checkpoint", b"", &bank, "icbc")
                        }),
                        85..=94 => timed(&samples, "POST /v1/bank/proof", || {
                            let body = signed(&proof_query, &bank);
                            call(&addr, "POST", "/v1/bank/proof", &body, &bank, "icbc")
                        }),
                        60..=84 => timed(&samples, "POST /v1/holder/pseudonym", || {
                            call(
                                &addr,
                                "POST",
                                "/v1/holder/pseudonym",
                                subject,
                                &credit,
                                "credit",
                            )
                        }),
                        _ => timed(&samples, "POST /v1/bank/query", || {
                            let body = signed(&query, &bank);
                            call(&addr, "POST", "/v1/bank/query", &body, &bank, "icbc")
                        }),
                    };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = |title: &str, samples: &Samples, wall: Duration| {
        println!("\n== {title} ==");
        println!(
            "{:<28} {:>7} {:>9} {:>10} {:>10}  statuses",
            "route", "count", "req/s", "p50", "p99"
        );
        let mut total = 0;
        for (route, v) in samples.lock().unwrap().iter() {
            let mut lat: Vec<Duration> = v.iter().map(|(_, d)| *d).collect();
            let mut by: BTreeMap<u16, usize> = BTreeMap::new();
            for (s, _) in v {
                *by.entry(*s).or_default() += 1;
            }
            total += v.len();
            println!(
                "{route:<28} {:>7} {:>9.1} {:>8.1}ms {:>8.1}ms  {by:?}",
                v.len(),
                v.len() as f64 / wall.as_secs_f64(),
                pct(&mut lat, 0.5).as_secs_f64() * 1e3,
                pct(&mut lat, 0.99).as_secs_f64() * 1e3
            );
        }
        println!(
            "total {total} requests, {:.1} req/s",
            total as f64 / wall.as_secs_f64()
        );
    };
    report("mixed load", &samples, Duration::from_secs(seconds));

    // Overload: more simultaneous FHE queries than slots.
    let burst: Samples = Arc::default();
    let start = Instant::now();
    let threads: Vec<_> = (0..12)
        .map(|_| {
            let (addr, burst, bank, body) = (
                addr.clone(),
                burst.clone(),
                bank.clone(),
                signed(&query, &bank),
            );
            std::thread::spawn(move || {
                timed(&burst, "POST /v1/bank/query", || {
                    call(&addr, "POST", "/v1/bank/query", &body, &bank, "icbc")
                });
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    report(
        "burst: 12 simultaneous sealed-path queries, 4 FHE slots",
        &burst,
        start.elapsed(),
    );
    let all: Vec<u16> = samples
        .lock()
        .unwrap()
        .values()
        .chain(burst.lock().unwrap().values())
        .flatten()
        .map(|(s, _)| *s)
        .collect();
    let failures = all.iter().filter(|s| **s != 200 && **s != 503).count();
    println!("\nnon-200 other than 503: {failures}");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        failures, 0,
        "overload must shed with 503, never fail otherwise"
    );
}
