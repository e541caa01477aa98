//! Graded supervision: inspection draws seeded by a logged checkpoint.

use super::*;

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
