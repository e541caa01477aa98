//! Several regions: witnessing partner logs, equivocation, forwarded queries.

use super::*;

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
        &credence::party::auditor::AuditOptions::on(0),
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
    use credence::party::client::{Client, ClientError, Question};
    use credence::protocols::identifiers::{SubjectId, SubjectKind};
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
                    authorities: Default::default(),
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
    let ask = |region: &str| bank.post("/v1/bank/query", &forwarded(&bank, day, region));
    // A question signed to be answered here, sent to be forwarded (or the other way round), is
    // refused with nothing stored.
    let id = SubjectId::parse(SubjectKind::Enterprise, USCC).unwrap();
    let here = bank
        .signed_question(&Question {
            subject: &id,
            policy: "public_procurement",
            day,
            purpose: "cross-region bid",
            consent: None,
        })
        .unwrap();
    let mut moved = here.clone();
    moved["region"] = "credence.test/tianjin".into();
    // `body` refused with `status` and a message containing `text`, nothing stored.
    let refused = |body: &serde_json::Value, status: u16, text: &str| {
        let before = snapshot(&*beijing.store);
        match bank.post("/v1/bank/query", body) {
            Err(ClientError::Status { status: s, message }) if s == status => {
                assert!(message.contains(text), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(snapshot(&*beijing.store), before);
    };
    refused(&moved, 400, "request.signature");
    let answer = ask("credence.test/tianjin").unwrap();
    // One signed request, one question at the partner: the same body again is refused here,
    // before the partner is asked.
    let once = forwarded(&bank, day, "credence.test/tianjin");
    bank.post("/v1/bank/query", &once).unwrap();
    refused(&once, 409, "already");
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
    // Beijing logged the forward, naming the region, with the bank's signed request (which
    // names it too, and checks); Tianjin logged the query by Beijing's region identity, with
    // Beijing's own signed request.
    let qi = answer["log_indices"]["query"].as_u64().unwrap();
    let leaf = bj_op.entry(qi).unwrap().unwrap();
    assert!(
        matches!(&leaf.entry, LogEntry::Query { purpose, bank: b, region: Some(r), request: Some(_), .. } if purpose == "cross-region bid" && r == "credence.test/tianjin" && b.as_str() == "bank.bj"),
        "{leaf:?}"
    );
    let bj_leaves: Vec<Option<credence::protocols::log::entry::LogLeaf>> = shown(
        bj_op
            .entries(0, bj_op.checkpoint().unwrap().checkpoint.size)
            .unwrap(),
    )
    .into_iter()
    .map(|(_, l)| Some(l))
    .collect();
    assert_eq!(
        credence::protocols::query::check_logged_request("credence.test/beijing", &bj_leaves, qi),
        Ok(())
    );
    let tj_leaves = shown(
        tj_op
            .entries(0, tj_op.checkpoint().unwrap().checkpoint.size)
            .unwrap(),
    );
    assert!(tj_leaves.iter().any(|(_, l)| matches!(&l.entry, LogEntry::Query { bank: b, .. } if b.as_str() == "region.beijing")));
    // No route to an unknown region (answered here, not by a partner).
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
        &credence::party::auditor::AuditOptions::on(0),
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

/// A hostile partner region answers every forwarded question with a 401 and a long message full
/// of terminal escapes. The bank is told 502 (the 401 is the partner's, not a verdict on the
/// bank's own credentials), with the partner's reason cut short and stripped of control
/// characters; nothing is logged in the forwarding region.
#[test]
fn a_hostile_partners_refusal_is_not_passed_through() {
    use credence::party::client::{Client, ClientError};
    use std::io::Write;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hostile = std::thread::spawn(move || {
        let body = serde_json::json!({"error": {
            "code": "unauthorized",
            "message": format!("\u{1b}[31myour credentials are revoked\r\n{}", "call now ".repeat(2000)),
        }})
        .to_string();
        // Answer the connections the forward makes (pseudonym first), then stop.
        for stream in listener.incoming().take(1) {
            let mut s = stream.unwrap();
            // Read the whole request before answering: closing a socket with unread bytes makes
            // the kernel send a reset, and the forward would see "connection reset" instead.
            read_request(&mut s);
            let _ = write!(
                s,
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.flush();
            let _ = s.shutdown(std::net::Shutdown::Write);
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let _ = std::io::copy(&mut s, &mut std::io::sink());
        }
    });
    let tj_log_key = SigningKey::generate(Role::Log, &mut rand::thread_rng());
    let tj_log = NoteVerifier::log("credence.test/hostile", tj_log_key.public()).unwrap();
    let beijing = service_as(
        "credence.test/beijing",
        Some(credence::server::Witness {
            name: "credence.test/beijing".into(),
            key: SigningKey::generate(Role::Witness, &mut rand::thread_rng()),
            partners: vec![tj_log.clone()],
            forward: vec![credence::server::Forward {
                origin: "credence.test/hostile".into(),
                addr,
                anchors: credence::protocols::verdict::TrustAnchors {
                    service: tj_log.key,
                    log: tj_log,
                    key_authority: world().ka_key,
                    witnesses: vec![],
                    witness_quorum: 0,
                    authorities: Default::default(),
                },
                party: PartyId::new("region.beijing").unwrap(),
                key: SigningKey::generate(Role::Bank, &mut rand::thread_rng()),
            }],
        }),
    );
    let bj = credence::server::process::Running::start(beijing.app.clone()).unwrap();
    let bj_op = Client::new(
        &bj.addr,
        PartyId::new("operator").unwrap(),
        beijing.operator.clone(),
    );
    let text = credence::circuits::policy::BUILTIN_POLICIES
        .iter()
        .find(|(n, _)| *n == "public_procurement")
        .unwrap()
        .1;
    bj_op.publish_policy(text).unwrap();
    let bank = Client::new(
        &bj.addr,
        PartyId::new("bank.bj").unwrap(),
        SigningKey::generate(Role::Bank, &mut rand::thread_rng()),
    );
    bj_op
        .register_party(bank.party(), &bank.key().public(), None)
        .unwrap();
    let question = forwarded(&bank, (now() / 86_400) as u32, "credence.test/hostile");
    let before = snapshot(&*beijing.store);
    let answer = bank.post("/v1/bank/query", &question);
    match answer {
        Err(ClientError::Status { status, message }) => {
            assert_eq!(status, 502, "{message}");
            assert!(
                message.starts_with(
                    "partner region `credence.test/hostile`: refused the question (401)"
                ),
                "{message}"
            );
            assert!(
                message.chars().count() < 260,
                "{} characters",
                message.chars().count()
            );
            assert!(!message.chars().any(char::is_control), "{message:?}");
        }
        other => panic!("a partner's refusal must not pass: {other:?}"),
    }
    hostile.join().unwrap();
    assert_eq!(snapshot(&*beijing.store), before);
}

/// Reads one HTTP/1.1 request (headers, then `content-length` bytes of body) from `s`.
fn read_request(s: &mut std::net::TcpStream) {
    use std::io::Read;
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

/// A bank's procurement question about `USCC` for `region`, to be forwarded by its home
/// service: signed for the home service (its origin, the pseudonym there, its policy).
fn forwarded(bank: &credence::party::client::Client, day: u32, region: &str) -> serde_json::Value {
    let id = credence::protocols::identifiers::SubjectId::parse(
        credence::protocols::identifiers::SubjectKind::Enterprise,
        USCC,
    )
    .unwrap();
    bank.signed_question_via(
        &credence::party::client::Question {
            subject: &id,
            policy: "public_procurement",
            day,
            purpose: "cross-region bid",
            consent: None,
        },
        Some(region),
    )
    .unwrap()
}
