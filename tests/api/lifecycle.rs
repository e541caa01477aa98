//! The credit lifecycle: listings that lapse, repair, disputes, pledges.

use super::*;

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

on_every_store! {
    /// Credit repair: the subject applies; a refusal is recorded with its reason; an approval
    /// submits the new value and logs a `Repair` entry in one commit; the subject's receipt
    /// verifies (checkpoint, inclusion, the entry names it, the new commitment opens to the repair
    /// day); verdicts on the repair day no longer see the listing.
    test fn credit_repair_ends_a_listing_with_a_receipt() {
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
        .verify::<Sha3Log>(&LogLeaf::from_bytes(&leaf).unwrap().hash(), &c.root)
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
}

on_every_store! {
    /// Disputes: the subject disputes its listing; the holder corrects it (a new submission and the
    /// answer in one commit), upholds another, leaves a third open — which the auditor flags once
    /// its answer day has passed. Disputes of someone else's entry or with a wrong leaf hash, and
    /// answers by another holder or twice, are refused.
    test fn disputes_are_answered_or_flagged() {
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
        l.hash()
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
