//! The proven path over HTTP: subjects, consents, proof packages, receipts.

use super::*;

on_every_store! {
    /// The proven path, subjects and consents, through the typed client over loopback TCP: holders
    /// commit (openings sealed to the subject), the subject reads its records and proves, the bank
    /// submits the proof and verifies the receipt; stale, mismatched and tampered packages are
    /// refused with the store unchanged; a person is asked about only with a consent that covers
    /// the query, and the auditor finds that consent.
    test fn proven_path_subjects_and_consents_over_http() {
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
    let day = (now() / 86_400) as u32;
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

    // The subject sees who looked up its pseudonym, the query and the verdict about it.
    let history = subject.subject_queries().unwrap();
    let kinds: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    // The bank looked it up too: it signs its question over the pseudonym.
    assert_eq!(kinds, ["lookup", "lookup", "query", "verdict"], "{history}");
    assert_eq!(history["events"][0]["party"], "credit.proven");
    assert_eq!(history["events"][1]["party"], "bank.proven");
    assert_eq!(history["events"][2]["bank"], "bank.proven");

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
    bank.pseudonym(&person).unwrap();
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
    // The bank is not shown who is bound to the person, so it cannot check who signed the
    // consent; an auditor can.
    assert_eq!((report.consents_checked, report.consents_unchecked), (0, 1));
    assert_eq!(report.rechecked, 1);
    let auditor_key = SigningKey::generate(Role::Auditor, &mut rng);
    let auditor_id = PartyId::new("auditor.proven").unwrap();
    operator
        .register_party(&auditor_id, &auditor_key.public(), None)
        .unwrap();
    let real_auditor = Client::new(&addr, auditor_id, auditor_key);
    let report = credence::party::auditor::audit(
        &real_auditor,
        &anchors,
        &credence::party::auditor::AuditOptions::on(day),
    )
    .unwrap();
    assert!(report.ok(), "{}", report.render());
    assert_eq!((report.consents_checked, report.consents_unchecked), (1, 0));
    running.stop();
}
}
