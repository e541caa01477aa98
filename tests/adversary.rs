//! The adversary suite: every attack is done the way an attacker would do it — through the
//! signed HTTP API with the typed client, or through the `credence` CLI — and each test asserts
//! the refusal, a message that says why, and that the store and the log are unchanged.
//!
//! Attacks seen succeed against the code before this suite (commit d85cbed): a listed
//! enterprise's proof over its own commitments accepted by `POST /v1/bank/proof` and by
//! `credence verify --package`; a receipt whose statement is `score ≥ 0` accepted by `credence
//! verify --receipt --policy xinyidai`; a purpose with a tab accepted, after which `GET
//! /v1/audit/entries` answered 500; a court's later record of another attribute dropping its
//! listing; a tax bureau's out-of-range sealed score (0x00ff, 0x0fff, 0xffff) making a listed
//! enterprise eligible; an enterprise nobody reported on answered "eligible"; one witness key
//! counted twice toward a quorum; one bank reading another's verdict and query; an all-zero
//! sealing key accepted; one metrics series per unknown path.

mod common;

use common::region::{commit, keys, raw_commitment, seal, seal_raw, Options, Region};
use credence::party::client::{anchors_to_json, Client, ClientError, Question};
use credence::protocols::identifiers::{SubjectId, SubjectKind, Uscc};
use credence::protocols::log::entry::Outcome;
use credence::protocols::names::{AttributeId, PartyId};
use credence::protocols::pseudonym::Pseudonym;
use credence::protocols::signing::{Role, SigningKey};
use std::path::Path;
use std::process::Command;

/// Today: the key authority decides only days within 30 of its clock.
fn day() -> u32 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400) as u32
}

fn enterprise(prefix: &str) -> SubjectId {
    SubjectId::Enterprise(Uscc::with_check_chars(prefix).unwrap())
}

fn question<'a>(id: &'a SubjectId, policy: &'a str, purpose: &'a str) -> Question<'a> {
    Question {
        subject: id,
        policy,
        day: day(),
        purpose,
        consent: None,
    }
}

/// `auditor`'s audit of region `r`, today, under the region's published anchors.
fn audited(r: &Region, auditor: &Client) -> credence::party::auditor::AuditReport {
    credence::party::auditor::audit(
        auditor,
        &r.anchors,
        &credence::party::auditor::AuditOptions::on(day()),
    )
    .unwrap()
}

/// The refusal's status and message.
fn refused<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (u16, String) {
    match r {
        Err(ClientError::Status { status, message }) => (status, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The bank's own check of a sealed or proven answer, against its pinned anchors and its own
/// question (the pseudonym the service told it for the identifier, its copy of the policy).
fn bank_check(
    r: &Region,
    bank: &Client,
    id: &SubjectId,
    policy: &str,
    a: &credence::party::client::Answer,
) -> credence::protocols::verdict::VerifiedVerdict {
    let pinned = credence::circuits::policy::builtin(policy).unwrap().pin();
    let (subject, _) = bank.pseudonym(id).unwrap();
    a.receipt
        .verify(
            &r.anchors,
            &credence::protocols::question::Question {
                subject,
                policy: &pinned,
                as_of_day: day(),
            },
        )
        .unwrap()
}

/// Runs the `credence` CLI in `dir`.
fn cli(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_credence"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("credence-adversary-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Registers a party whose key comes from a seed, writes its party file, and returns both.
fn seeded_party(r: &Region, dir: &Path, name: &str, role: Role) -> (Client, String) {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let key = SigningKey::from_seed(role, &seed);
    let id = PartyId::new(name).unwrap();
    r.operator.register_party(&id, &key.public(), None).unwrap();
    let file = dir.join(format!("{name}.party"));
    credence::party::keyfile::write_party(&file, name, role, &seed, None, None).unwrap();
    (
        Client::with_origin(r.addr(), &r.anchors.log.name, id, key),
        file.display().to_string(),
    )
}

fn write_anchors(dir: &Path, r: &Region) -> String {
    let p = dir.join("anchors.json");
    std::fs::write(&p, anchors_to_json(&r.anchors).to_string()).unwrap();
    p.display().to_string()
}

/// The public-procurement story both proven-path attacks start from: a credit authority and a
/// market regulator (their holders named `credit.TAG`, `market.TAG`), a bank, a registered
/// enterprise, and the holders' commitments — the enterprise listed as seriously dishonest
/// until `listed_until` (0: never), registered and without an abnormal-operation listing.
struct Procurement {
    r: Region,
    credit: Client,
    bank: Client,
    subject: Client,
    sealing: credence::protocols::seal::SealingSecretKey,
    id: SubjectId,
    who: Pseudonym,
}

fn procurement(tag: &str, uscc_prefix: &str, listed_until: u64) -> Procurement {
    let r = Region::new();
    r.publish("public_procurement");
    let credit = r.party(&format!("credit.{tag}"), Role::Holder);
    let market = r.party(&format!("market.{tag}"), Role::Holder);
    let bank = r.party(&format!("bank.{tag}"), Role::Bank);
    let id = enterprise(uscc_prefix);
    let (subject, sealing) = r.subject(&format!("ent.{tag}"), &id);
    let (who, sealing_pub) = credit.pseudonym(&id).unwrap();
    let sealing_pub = sealing_pub.unwrap();
    commit(
        &credit,
        who,
        &sealing_pub,
        &[("credit.serious_dishonesty", listed_until)],
        1,
    );
    commit(
        &market,
        who,
        &sealing_pub,
        &[("market.abnormal_operation", 0), ("market.registered", 1)],
        1,
    );
    Procurement {
        r,
        credit,
        bank,
        subject,
        sealing,
        id,
        who,
    }
}

// ---------------------------------------------------------------------------------------------
// A subject that wants a "yes" it does not deserve.

/// A listed enterprise commits to passing values itself, proves the policy over *its own*
/// commitments and attaches its holders' real, current, signed commitments. The service
/// derives the statement from its own question over the attached commitments, so the proof
/// does not verify: 400, nothing logged. `credence verify --package` refuses it too.
#[test]
fn a_listed_enterprise_cannot_prove_over_its_own_commitments() {
    use credence::protocols::commitment::Opening;
    use credence::protocols::package::{Claim, ProofPackage};
    use credence::protocols::predicate::PredicateProof;
    // Listed as seriously dishonest for another 300 days.
    let Procurement {
        r,
        credit,
        bank,
        subject,
        id,
        who,
        ..
    } = procurement("forge", "91110108MA01AB2C", u64::from(day()) + 300);
    let market_party = PartyId::new("market.forge").unwrap();
    let policy = credence::circuits::policy::builtin("public_procurement").unwrap();
    let template = credence::circuits::proof::lower_to_proof(&policy).unwrap();
    let records = subject.subject_records().unwrap();
    let mut inputs = Vec::new();
    let mut own = Vec::new();
    let mut openings = Vec::new();
    for slot in template.inputs() {
        let (signed, _) = records
            .iter()
            .find(|(s, _)| s.commitment.context.attribute == slot.attribute)
            .unwrap();
        inputs.push(signed.clone());
        let v = u64::from(slot.attribute.as_str() == "market.registered");
        let o = Opening::random(v, &mut rand::rngs::OsRng);
        own.push(o.commit());
        openings.push(o);
    }
    let statement = template.statement_over(who, day(), &own).unwrap();
    let proof = PredicateProof::prove(
        &mut merlin::Transcript::new(credence::protocols::transcript::labels::APP_VERDICT),
        &statement,
        &openings,
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    let holders: Vec<PartyId> = vec![credit.party().clone(), market_party];
    let (checkpoint, keys_evidence) = subject.key_evidence(&holders).unwrap();
    let package = ProofPackage {
        claim: Claim {
            subject: who,
            policy_hash: policy.hash(),
            as_of_day: day(),
        },
        proof: proof.to_bytes(),
        inputs,
        checkpoint,
        keys: keys_evidence,
    };
    bank.pseudonym(&id).unwrap();
    let before = (r.snapshot(), r.log_size());
    let (status, message) =
        refused(bank.query_proven(&question(&id, "public_procurement", "bid 2026-9"), &package));
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("does not verify"), "{message}");
    assert_eq!(
        (r.snapshot(), r.log_size()),
        before,
        "nothing stored, nothing logged"
    );

    // `credence verify --package`, offline, for the bank's own question: exits non-zero and
    // says why.
    let dir = tmp("forged-package");
    let anchors = write_anchors(&dir, &r);
    std::fs::write(dir.join("forged.hex"), hex::encode(package.to_bytes())).unwrap();
    let o = cli(
        &dir,
        &[
            "verify",
            "--anchors",
            &anchors,
            "--package",
            "forged.hex",
            "--policy",
            "public_procurement",
            "--subject",
            &who.to_text(),
            "--day",
            &day().to_string(),
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the package does not prove this question"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A dishonest operator (it holds the log key) signs and logs a proven verdict for a low-score
/// enterprise whose proof is for `score ≥ 0`, labelled with the 信易贷 policy's hash. The
/// bank's offline check derives the statement from its own copy of the policy: refused.
#[test]
fn a_receipt_for_a_weaker_statement_is_refused_by_the_bank() {
    use credence::protocols::commitment::{
        AttributeCommitment, AttributeContext, Opening, SignedAttributeCommitment,
        ATTRIBUTE_TRANSCRIPT_LABEL,
    };
    use credence::protocols::keys::{KeyEvidence, Registration};
    use credence::protocols::log::checkpoint::{Checkpoint, SignedCheckpoint};
    use credence::protocols::log::entry::{LogEntry, LogLeaf};
    use credence::protocols::log::tree::MemoryTree;
    use credence::protocols::log::Sha3Log;
    use credence::protocols::predicate::{Predicate, PredicateProof};
    use credence::protocols::verdict::{Evidence, Verdict, VerdictReceipt};
    let r = Region::new();
    let mut rng = rand::rngs::OsRng;
    let policy = credence::circuits::policy::builtin("xinyidai").unwrap();
    let template = credence::circuits::proof::lower_to_proof(&policy).unwrap();
    let who = Pseudonym {
        kind: SubjectKind::Enterprise,
        bytes: [4; 32],
    };
    let mut tree = MemoryTree::<Sha3Log>::new();
    let mut registered: Vec<(PartyId, SigningKey, u64, LogLeaf)> = Vec::new();
    let mut inputs = Vec::new();
    let mut openings = Vec::new();
    for slot in template.inputs() {
        let holder = PartyId::new(&format!("{}.x", slot.authority)).unwrap();
        if !registered.iter().any(|(p, ..)| *p == holder) {
            let k = SigningKey::generate(Role::Holder, &mut rng);
            let leaf = LogLeaf {
                time: 1,
                entry: LogEntry::PartyRegistered {
                    party: holder.clone(),
                    key: k.public(),
                },
            };
            let i = tree.append(&leaf.leaf_data());
            registered.push((holder.clone(), k, i, leaf));
        }
        let k = &registered.iter().find(|(p, ..)| *p == holder).unwrap().1;
        // Every indicator at 10: the score is 100, far below 600.
        let v = if slot.max == 100 { 10 } else { 0 };
        let o = Opening::random(v, &mut rng);
        let c = AttributeCommitment::create(
            &mut merlin::Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL),
            AttributeContext {
                holder: holder.clone(),
                attribute: slot.attribute.clone(),
                subject: who,
                submission: 1,
            },
            &o,
            slot.max,
            &mut rng,
        )
        .unwrap();
        inputs.push(SignedAttributeCommitment::sign(c, k));
        openings.push(o);
    }
    let commitments: Vec<_> = inputs.iter().map(|s| s.commitment.commitment).collect();
    let mut weaker = template.statement_over(who, day(), &commitments).unwrap();
    for p in &mut weaker.predicates {
        if let Predicate::WeightedSumAtLeast { threshold, .. } = p {
            *threshold = 0;
        }
    }
    let proof = PredicateProof::prove(
        &mut merlin::Transcript::new(credence::protocols::transcript::labels::APP_VERDICT),
        &weaker,
        &openings,
        &mut rng,
    )
    .unwrap();
    let mut coverage: Vec<AttributeId> = template
        .inputs()
        .iter()
        .map(|i| i.attribute.clone())
        .collect();
    coverage.sort();
    let verdict = Verdict {
        policy_hash: policy.hash(),
        subject: who,
        as_of_day: day(),
        outcome: Outcome::Eligible(true),
        coverage,
        evidence: Evidence::Proof {
            proof: proof.to_bytes(),
            inputs,
        },
        log_indices: vec![0],
        issued_at: 0,
    }
    .sign(&r.log_key)
    .unwrap();
    let leaf = LogLeaf {
        time: 2,
        entry: LogEntry::Verdict {
            verdict_hash: verdict.hash(),
            subject: who,
            bank: PartyId::new("bank.x").unwrap(),
        },
    };
    let index = tree.append(&leaf.leaf_data());
    let size = tree.size();
    let origin = r.anchors.log.name.clone();
    let checkpoint = SignedCheckpoint::sign(
        Checkpoint::new(&origin, size, tree.root()).unwrap(),
        &origin,
        &r.log_key,
    )
    .unwrap();
    let receipt = VerdictReceipt {
        verdict,
        leaf,
        leaf_index: index,
        inclusion: tree.inclusion_proof(index, size).unwrap(),
        checkpoint,
        keys: KeyEvidence {
            registrations: registered
                .iter()
                .map(|(_, _, i, l)| Registration {
                    index: *i,
                    leaf: l.clone(),
                    inclusion: tree.inclusion_proof(*i, size).unwrap(),
                })
                .collect(),
        },
    };
    let dir = tmp("weaker-receipt");
    let anchors = write_anchors(&dir, &r);
    std::fs::write(dir.join("r.hex"), hex::encode(receipt.to_bytes())).unwrap();
    let o = cli(
        &dir,
        &[
            "verify",
            "--anchors",
            &anchors,
            "--receipt",
            "r.hex",
            "--policy",
            "xinyidai",
            "--subject",
            &who.to_text(),
            "--day",
            &day().to_string(),
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("does not verify"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The six holders 信易贷 requires, each sealing its indicators at `score` (and the court its
/// listing at `until`).
fn seal_all(r: &Region, id: &SubjectId, prefix: &str, score: u64, until: u64) -> Vec<Client> {
    let mut out = Vec::new();
    for (authority, attrs) in [
        (
            "court",
            vec!["court.dishonest_debtor", "court.performance_score"],
        ),
        ("tax", vec!["tax.credit_score"]),
        ("market", vec!["market.compliance_score"]),
        ("social", vec!["social.insurance_score"]),
        ("utility", vec!["utility.payment_score"]),
        ("assoc", vec!["assoc.industry_score"]),
    ] {
        let h = r.party(&format!("{authority}.{prefix}"), Role::Holder);
        let (who, _) = h.pseudonym(id).unwrap();
        let values: Vec<(&str, u64)> = attrs
            .iter()
            .map(|a| (*a, if a.ends_with("_debtor") { until } else { score }))
            .collect();
        h.submit_sealed(&seal(&h, who, 1, &values)).unwrap();
        out.push(h);
    }
    out
}

/// A holder's later record of *another* attribute does not drop its earlier listing (the
/// latest record is chosen per attribute), and an auditor re-checking the evaluation finds its
/// inputs are exactly the latest record of each attribute.
#[test]
fn a_later_record_of_another_attribute_does_not_drop_a_listing() {
    let r = Region::new();
    r.publish("xinyidai");
    let bank = r.party("bank.drop", Role::Bank);
    let id = enterprise("91110108MA02CD4E");
    // All six indicators at 100 and no listing: eligible.
    let holders = seal_all(&r, &id, "drop", 100, 0);
    let court = &holders[0];
    let (who, _) = court.pseudonym(&id).unwrap();
    // The court lists the enterprise (a record of the listing alone) …
    court
        .submit_sealed(&seal(
            court,
            who,
            2,
            &[("court.dishonest_debtor", u64::from(day()) + 100)],
        ))
        .unwrap();
    // … then records its performance score (a record without the listing).
    court
        .submit_sealed(&seal(court, who, 3, &[("court.performance_score", 90)]))
        .unwrap();
    let a = bank
        .query_sealed(&question(&id, "xinyidai", "working capital"))
        .unwrap();
    let v = bank_check(&r, &bank, &id, "xinyidai", &a);
    assert_eq!(
        v.outcome,
        Outcome::Eligible(false),
        "the listing still counts"
    );
    assert_eq!(v.coverage.len(), 7, "{:?}", v.coverage);
    // The auditor re-checks the evaluation: inputs complete, current, in log order.
    let auditor = r.party("auditor.drop", Role::Auditor);
    let report = credence::party::auditor::audit(
        &auditor,
        &r.anchors,
        &credence::party::auditor::AuditOptions {
            replay: 1,
            engine: Some(&keys().engine),
            ..credence::party::auditor::AuditOptions::on(day())
        },
    )
    .unwrap();
    assert!(report.ok() && report.rechecked == 1, "{}", report.render());

    // The output replay recomputes the logged output from public material: an Evaluation
    // entry naming another output (a dishonest service's log) fails it on its own.
    use credence::protocols::log::entry::{LogEntry, LogLeaf};
    let size = report.checkpoint.as_ref().unwrap().checkpoint.size;
    let mut leaves: Vec<Option<LogLeaf>> = auditor
        .entries(0, size)
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.into_leaf())
        .collect();
    let mut holder_keys = credence::protocols::question::HolderKeys::new();
    for l in leaves.iter().flatten() {
        if let LogEntry::PartyRegistered { party, key } = &l.entry {
            if key.role() == Role::Holder {
                holder_keys.entry(party.clone()).or_insert(*key);
            }
        }
    }
    let policy = credence::circuits::policy::builtin("xinyidai").unwrap();
    let pin = policy.pin();
    let policies = [(policy.hash(), (policy, pin))].into_iter().collect();
    let evaluation = leaves
        .iter()
        .rposition(|l| {
            matches!(
                l.as_ref().map(|l| &l.entry),
                Some(LogEntry::Evaluation { .. })
            )
        })
        .unwrap() as u64;
    let recheck = |leaves: &[Option<LogLeaf>]| {
        credence::party::replay::recheck(
            &auditor,
            &keys().engine,
            &holder_keys,
            &policies,
            &credence::circuits::catalog::Catalog::builtin(),
            leaves,
            evaluation,
        )
    };
    recheck(&leaves).unwrap();
    if let Some(LogEntry::Evaluation { output_hash, .. }) =
        leaves[evaluation as usize].as_mut().map(|l| &mut l.entry)
    {
        output_hash[0] ^= 1;
    }
    let e = recheck(&leaves).unwrap_err();
    assert!(e.contains("output replay"), "{e}");
}

/// A holder's proof of plaintext knowledge bounds each 2-bit block only, so a dishonest tax
/// bureau can seal any 16-bit score. Clamped at ingest, an out-of-range value acts exactly as
/// the bureau's own in-range extreme: it never unlists an enterprise the court listed (on the
/// old code 0x00ff, 0x0fff and 0xffff did).
#[test]
fn an_out_of_range_sealed_value_acts_as_its_in_range_extreme() {
    let r = Region::new();
    r.publish("xinyidai");
    let bank = r.party("bank.range", Role::Bank);
    let id = enterprise("91110105MA03EF6G");
    let holders = seal_all(&r, &id, "range", 100, 0);
    let (court, tax) = (&holders[0], &holders[1]);
    let (who, _) = court.pseudonym(&id).unwrap();
    let ask = || {
        let a = bank
            .query_sealed(&question(&id, "xinyidai", "working capital"))
            .unwrap();
        bank_check(&r, &bank, &id, "xinyidai", &a).outcome
    };
    assert_eq!(ask(), Outcome::Eligible(true));
    // The court lists the enterprise.
    court
        .submit_sealed(&seal(
            court,
            who,
            2,
            &[
                ("court.dishonest_debtor", u64::from(day()) + 100),
                ("court.performance_score", 100),
            ],
        ))
        .unwrap();
    assert_eq!(ask(), Outcome::Eligible(false));
    for (n, v) in [0x00ffu16, 0xffff].into_iter().enumerate() {
        tax.submit_sealed(&seal_raw(
            tax,
            who,
            10 + n as u64,
            &[("tax.credit_score", v)],
        ))
        .unwrap();
        assert_eq!(
            ask(),
            Outcome::Eligible(false),
            "tax.credit_score = {v:#06x} must act as 100"
        );
    }
}

/// An enterprise nobody ever reported on: the catalogue defaults add up to exactly the
/// threshold, but 信易贷 requires records of its six indicators. The answer is "not eligible",
/// the verdict's coverage says no record was found, and the CLI says so in words.
#[test]
fn nobody_knows_this_enterprise_so_it_is_not_eligible() {
    let r = Region::new();
    r.publish("xinyidai");
    let dir = tmp("unknown");
    let (_, bank_file) = seeded_party(&r, &dir, "bank.unknown", Role::Bank);
    let anchors = write_anchors(&dir, &r);
    let id = enterprise("91110106MA04GH8J");
    let o = cli(
        &dir,
        &[
            "query",
            "--server",
            r.addr(),
            "--as",
            &bank_file,
            "--anchors",
            &anchors,
            "--subject",
            &format!("enterprise:{}", id.as_str()),
            "--policy",
            "xinyidai",
            "--purpose",
            "loan application",
            "--day",
            &day().to_string(),
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("NOT ELIGIBLE under `xinyidai` v2: no record of"),
        "{out}"
    );
    assert!(out.contains("records of 0 of its 14 attributes"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// A holder that vouches for another authority.

#[test]
fn a_holder_cannot_vouch_for_another_authority() {
    let r = Region::new();
    let tax = r.party("tax.vouch", Role::Holder);
    let lookalike = r.party("courtyard", Role::Holder);
    let id = enterprise("91110108MA05KL2M");
    let (who, _) = tax.pseudonym(&id).unwrap();
    let before = (r.snapshot(), r.log_size());
    // Sealed: a tax bureau sealing a court list; a party merely named like the court.
    for (h, n) in [(&tax, 1u64), (&lookalike, 2)] {
        let (status, message) =
            refused(h.submit_sealed(&seal_raw(h, who, n, &[("court.dishonest_debtor", 0)])));
        assert_eq!(status, 400, "{message}");
        assert!(message.contains("not held by"), "{message}");
    }
    // Proven: the same as a commitment.
    let (_, sealing) = r.subject("ent.vouch", &id);
    let items = vec![raw_commitment(
        &tax,
        who,
        &sealing.public(),
        "court.dishonest_debtor",
        0,
        65_535,
        3,
    )];
    let before_commit = (r.snapshot(), r.log_size());
    let (status, message) = refused(tax.submit_committed(&items));
    assert_eq!(status, 400);
    assert!(
        message.contains("belongs to the `court` authority"),
        "{message}"
    );
    assert_eq!((r.snapshot(), r.log_size()), before_commit);
    assert_eq!(
        r.log_size(),
        before.1 + 2,
        "only the subject's registration and binding"
    );
}

// ---------------------------------------------------------------------------------------------
// A bank that probes, or reads other banks' answers.

/// One bank's question and answer are not another bank's to read: its verdict, its consent
/// and its log entries answer another bank as if they did not exist (the leaf hash only, so
/// roots still recompute); the asking bank and the subject read them.
#[test]
fn a_bank_cannot_read_another_banks_questions_or_answers() {
    let r = Region::new();
    r.publish("public_procurement");
    let one = r.party("bank.one", Role::Bank);
    let two = r.party("bank.two", Role::Bank);
    let id = enterprise("91110108MA01AB2C");
    let (subject, _) = r.subject("ent.read", &id);
    let a = one
        .query_sealed(&question(&id, "public_procurement", "secret acquisition"))
        .unwrap();
    let h = a.receipt.verdict.hash();
    let (status, _) = refused(two.object("verdict", &h));
    assert_eq!(status, 404);
    assert_eq!(
        one.object("verdict", &h).unwrap(),
        a.receipt.verdict.to_bytes()
    );
    let qi = a.json["log_indices"]["query"].as_u64().unwrap();
    let vi = a.receipt.leaf_index;
    for i in [qi, vi] {
        assert!(
            two.entry(i).unwrap().is_none(),
            "entry {i} shown to bank.two"
        );
        assert!(one.entry(i).unwrap().is_some());
        assert!(subject.entry(i).unwrap().is_some());
    }
    // The hidden entries still let bank.two recompute the root it was given.
    let cp = two.checkpoint().unwrap();
    let mut tree =
        credence::protocols::log::tree::MemoryTree::<credence::protocols::log::Sha3Log>::new();
    for (_, e) in two.entries(0, cp.checkpoint.size).unwrap() {
        tree.append_leaf_hash(e.leaf_hash());
    }
    assert_eq!(tree.root(), cp.checkpoint.root);
    // Its own fresh receipt, but not another bank's.
    one.receipt(&h).unwrap();
    assert_eq!(refused(two.receipt(&h)).0, 404);
}

/// A dishonest operator binding a subject's pseudonym to a key it holds: through the API the
/// second binding is refused and nothing changes; written straight into its own store (it
/// holds the log key), the log shows it — the subject's own check of its binding fails, the
/// audit flags the pseudonym, and no other bank reads the binding.
#[test]
fn an_operator_cannot_speak_for_a_subject_unseen() {
    use credence::party::subject::check_binding;
    use credence::protocols::log::entry::LogEntry;
    let r = Region::new();
    let id = enterprise("91110108MA01BD7K");
    let (alice, sealing) = r.subject("ent.alice", &id);
    let bank = r.party("bank.curious", Role::Bank);
    let auditor = r.party("auditor.bind", Role::Auditor);
    let today = day();
    let audit = |who: &Client| {
        credence::party::auditor::audit(
            who,
            &r.anchors,
            &credence::party::auditor::AuditOptions::on(today),
        )
        .unwrap()
    };
    let mine = check_binding(&alice, &sealing.public(), &r.anchors).unwrap();
    let Some(leaf) = alice.entry(mine.index).unwrap() else {
        panic!("the subject cannot read its own binding")
    };
    assert!(
        matches!(&leaf.entry, LogEntry::SubjectBound { party, key, .. }
        if party == alice.party() && *key == alice.key().public())
    );
    assert!(
        bank.entry(mine.index).unwrap().is_none(),
        "a bank reads a subject's binding"
    );
    assert!(audit(&auditor).ok(), "{}", audit(&auditor).render());
    // Through the API: a second party for the same enterprise is refused; nothing changes.
    let before = (r.snapshot(), r.log_size());
    let operator_key = SigningKey::generate(Role::Subject, &mut rand::thread_rng());
    let fake_sealing =
        credence::protocols::seal::SealingSecretKey::generate(&mut rand::rngs::OsRng);
    let (status, message) = refused(r.operator.register_party(
        &PartyId::new("ent.alice-2").unwrap(),
        &operator_key.public(),
        Some((&id, &fake_sealing.public())),
    ));
    assert_eq!(status, 409, "{message}");
    assert_eq!((r.snapshot(), r.log_size()), before);
    // Around the API: the operator appends the binding with its log key.
    let log = r.log_around_the_api();
    let fake = PartyId::new("ent.alice-2").unwrap();
    log.append(
        &[
            LogEntry::PartyRegistered {
                party: fake.clone(),
                key: operator_key.public(),
            },
            LogEntry::SubjectBound {
                party: fake,
                subject: mine.pseudonym,
                key: operator_key.public(),
                sealing_key: fake_sealing.public().to_bytes(),
                salt: [0; 16],
            },
        ],
        1,
        credence::store::Batch::new(),
    )
    .unwrap();
    let err = check_binding(&alice, &sealing.public(), &r.anchors).unwrap_err();
    assert!(
        err.contains("another party speaks for my pseudonym"),
        "{err}"
    );
    let report = audit(&auditor);
    assert!(!report.ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("bound to more than one subject party")),
        "{}",
        report.render()
    );
    // A rotation of another subject's key to one the operator holds: that subject's check
    // fails, and the audit flags it.
    let (bob, bob_sealing) = r.subject("ent.bob", &enterprise("91110108MA01BD8L"));
    check_binding(&bob, &bob_sealing.public(), &r.anchors).unwrap();
    log.append(
        &[LogEntry::KeyRotation {
            party: bob.party().clone(),
            old_key: bob.key().public(),
            new_key: operator_key.public(),
        }],
        1,
        credence::store::Batch::new(),
    )
    .unwrap();
    let err = check_binding(&bob, &bob_sealing.public(), &r.anchors).unwrap_err();
    assert!(err.contains("rotates my key"), "{err}");
    let report = audit(&auditor);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("a key rotation is logged for its subject party")),
        "{}",
        report.render()
    );
    // The subject's binding checked against anchors it did not pin is refused.
    let mut other = r.anchors.clone();
    other.log = credence::protocols::log::checkpoint::NoteVerifier::log(
        &r.anchors.log.name,
        SigningKey::generate(Role::Log, &mut rand::thread_rng()).public(),
    )
    .unwrap();
    assert!(check_binding(&alice, &sealing.public(), &other)
        .unwrap_err()
        .contains("checkpoint"));
}

/// A subject registered before bindings were logged (an upgraded data directory: no mark
/// that its binding is logged) gets its binding logged when the service starts, once; the
/// subject's own check and the audit then pass.
#[test]
fn bindings_missing_from_an_upgraded_log_are_logged_at_start() {
    let r = Region::new();
    let (carol, sealing) = r.subject("ent.carol", &enterprise("91110108MA01BD9M"));
    let auditor = r.party("auditor.upgrade", Role::Auditor);
    let mut b = credence::store::Batch::new();
    b.delete(credence::store::Table::Meta, b"bound/ent.carol".to_vec());
    r.store.commit(&b).unwrap();
    let size = r.log_size();
    assert_eq!(r.state.log_missing_bindings().unwrap(), 1);
    assert_eq!(r.log_size(), size + 1);
    assert_eq!(r.state.log_missing_bindings().unwrap(), 0, "logged twice");
    assert_eq!(r.log_size(), size + 1);
    let mine =
        credence::party::subject::check_binding(&carol, &sealing.public(), &r.anchors).unwrap();
    assert_eq!(mine.index, size);
    let report = audited(&r, &auditor);
    assert!(report.ok(), "{}", report.render());
}

/// Where the anchors pin authority roots, the operator cannot add a holder an authority did
/// not certify: a court holder without a certificate, certified by another authority's root,
/// or by a root the anchors do not pin, is refused and nothing changes; a certified holder's
/// key is what key evidence proves to a bank holding only the anchors.
#[test]
fn the_operator_cannot_add_a_holder_no_authority_certified() {
    use credence::protocols::keys::HolderCertificate;
    let r = Region::with(Options {
        roots: vec!["court", "tax"],
        ..Options::default()
    });
    assert_eq!(r.anchors.authorities.len(), 2);
    let court = r.party("court.beijing", Role::Holder);
    let (cp, evidence) = court.key_evidence(&[court.party().clone()]).unwrap();
    let cp = r.anchors.verify_checkpoint(&cp).unwrap();
    assert_eq!(
        evidence.holder_keys(cp, &r.anchors).unwrap()[court.party()],
        court.key().public()
    );
    let key = SigningKey::generate(Role::Holder, &mut rand::thread_rng()).public();
    let fake = PartyId::new("court.fake").unwrap();
    let cert = |authority: &str| HolderCertificate {
        authority: authority.into(),
        holder: fake.clone(),
        key,
    };
    let rogue = SigningKey::generate(Role::Authority, &mut rand::thread_rng());
    let before = (r.snapshot(), r.log_size());
    let (status, message) = refused(r.operator.register_party(&fake, &key, None));
    assert_eq!(status, 400);
    assert!(
        message.contains("needs `authority` and `certificate`"),
        "{message}"
    );
    for (authority, root, expect) in [
        ("tax", &r.roots["tax"], "does not belong"),
        ("court", &r.roots["tax"], "verification"),
        ("court", &rogue, "verification"),
        ("customs", &rogue, "no root key"),
    ] {
        let (status, message) = refused(r.operator.register_holder(
            &fake,
            &key,
            authority,
            &root.sign(&cert(authority)),
        ));
        assert_eq!(status, 400, "{authority}: {message}");
        assert!(
            message.to_lowercase().contains(expect),
            "{authority}: {message}"
        );
    }
    assert_eq!((r.snapshot(), r.log_size()), before);
}

/// With authority roots pinned, certified holders carry both paths end to end: the key
/// authority replays under certified keys and a bank's receipt checks the certificates.
#[test]
fn certified_holders_carry_both_paths_end_to_end() {
    let r = Region::with(Options {
        roots: vec![
            "court", "tax", "market", "social", "utility", "assoc", "credit",
        ],
        ..Options::default()
    });
    let (bank, id, subject, sealing, who) = roots_world(&r, "cert", "91110108MA07CE5F");
    let a = bank
        .query_sealed(&question(&id, "xinyidai", "working capital"))
        .unwrap();
    assert_eq!(
        bank_check(&r, &bank, &id, "xinyidai", &a).outcome,
        Outcome::Eligible(true)
    );
    let package = procurement_package(&subject, &sealing, who, None);
    let a = bank
        .query_proven(
            &question(&id, "public_procurement", "bid 2026-11"),
            &package,
        )
        .unwrap();
    assert_eq!(
        bank_check(&r, &bank, &id, "public_procurement", &a).outcome,
        Outcome::Eligible(true)
    );
    let auditor = r.party("auditor.cert", Role::Auditor);
    let report = audited(&r, &auditor);
    assert!(report.ok(), "{}", report.render());
}

/// The region for the root tests: both policies published, a bank, an enterprise, six holders
/// sealing 信易贷's indicators (eligible) and a credit and a market holder committing for 政府采购.
fn roots_world(
    r: &Region,
    tag: &str,
    uscc: &str,
) -> (
    Client,
    SubjectId,
    Client,
    credence::protocols::seal::SealingSecretKey,
    Pseudonym,
) {
    r.publish("xinyidai");
    r.publish("public_procurement");
    let bank = r.party(&format!("bank.{tag}"), Role::Bank);
    let id = enterprise(uscc);
    let (subject, sealing) = r.subject(&format!("ent.{tag}"), &id);
    seal_all(r, &id, tag, 100, 0);
    let credit = r.party(&format!("credit.{tag}"), Role::Holder);
    let market = r.party(&format!("market.{tag}p"), Role::Holder);
    let (who, sealing_pub) = credit.pseudonym(&id).unwrap();
    let sealing_pub = sealing_pub.unwrap();
    commit(
        &credit,
        who,
        &sealing_pub,
        &[("credit.serious_dishonesty", 0)],
        1,
    );
    commit(
        &market,
        who,
        &sealing_pub,
        &[("market.abnormal_operation", 0), ("market.registered", 1)],
        1,
    );
    (bank, id, subject, sealing, who)
}

/// The subject's 政府采购 proof over its current records (leaving out those of `skip`).
fn procurement_package(
    subject: &Client,
    sealing: &credence::protocols::seal::SealingSecretKey,
    who: Pseudonym,
    skip: Option<&str>,
) -> credence::protocols::package::ProofPackage {
    let records: Vec<_> = subject
        .subject_records()
        .unwrap()
        .into_iter()
        .filter(|(c, _)| Some(c.commitment.context.holder.as_str()) != skip)
        .collect();
    credence::party::subject::prove(
        &credence::circuits::policy::builtin("public_procurement").unwrap(),
        day(),
        who,
        &records,
        sealing,
        subject,
    )
    .unwrap()
}

/// An operator that pins roots of its own making for the court and the credit authority (the
/// key authority and the banks pin the genuine ones, published out of band) registers its
/// court and credit holders through the API. It gains nothing: the anchors it serves do not
/// match the published fingerprint, the key authority refuses the sealed replay over its
/// court's record (`unknown-holder`, logged), a bank refuses the proven receipt over its credit
/// holder's commitment, and the audit names both certificates. A certificate it logs around
/// the API under the genuine roots is refused by the service itself (403).
#[test]
fn a_certificate_the_operator_forged_counts_for_no_verifier() {
    use credence::protocols::keys::HolderCertificate;
    use credence::protocols::log::entry::LogEntry;
    let r = Region::with(Options {
        roots: vec![
            "court", "tax", "market", "social", "utility", "assoc", "credit",
        ],
        operator_roots: vec!["court", "credit"],
        ..Options::default()
    });
    let (bank, id, subject, sealing, who) = roots_world(&r, "forged", "91110108MA07CF6G");
    // What a bank pinning the published anchors would notice first.
    assert_ne!(
        bank.anchors().unwrap().fingerprint(),
        r.anchors.fingerprint(),
        "the service serves its own roots under the published fingerprint"
    );
    let auditor = r.party("auditor.forged", Role::Auditor);
    let size = r.log_size();
    let (status, message) =
        refused(bank.query_sealed(&question(&id, "xinyidai", "working capital")));
    assert_eq!(status, 500, "{message}");
    let refusal = (size..r.log_size()).find_map(|i| match auditor.entry(i).unwrap() {
        Some(l) => match l.entry {
            LogEntry::DecryptionRefused { reason, .. } => Some(reason),
            _ => None,
        },
        None => None,
    });
    assert_eq!(refusal.as_deref(), Some("unknown-holder"), "{message}");
    let package = procurement_package(&subject, &sealing, who, None);
    let a = bank
        .query_proven(
            &question(&id, "public_procurement", "bid 2026-12"),
            &package,
        )
        .unwrap();
    let pinned = credence::circuits::policy::builtin("public_procurement")
        .unwrap()
        .pin();
    let verified = a.receipt.verify(
        &r.anchors,
        &credence::protocols::question::Question {
            subject: who,
            policy: &pinned,
            as_of_day: day(),
        },
    );
    assert!(
        verified.is_err(),
        "a bank accepted a receipt over a holder no authority certified"
    );
    let audit = || audited(&r, &auditor);
    let report = audit();
    let named = |who: &str| {
        report
            .problems
            .iter()
            .any(|p| p.contains(who) && p.contains("does not verify under the pinned roots"))
    };
    assert!(
        named("court.forged") && named("credit.forged"),
        "{}",
        report.render()
    );

    // Around the API: a holder registered in the store and a certificate logged with the log
    // key, signed by yet another root. The service's own check refuses the holder.
    let rogue_root = SigningKey::generate(Role::Authority, &mut rand::thread_rng());
    let log = r.log_around_the_api();
    let key = SigningKey::generate(Role::Holder, &mut rand::thread_rng());
    let party = PartyId::new("tax.rogue").unwrap();
    let signature = rogue_root.sign(&HolderCertificate {
        authority: "tax".into(),
        holder: party.clone(),
        key: key.public(),
    });
    let at = r.log_size();
    let mut b = credence::store::Batch::new();
    credence::server::auth::Authenticator::register(&mut b, &party, &key.public());
    b.put(
        credence::store::Table::Meta,
        b"certificate/tax.rogue".to_vec(),
        (at + 1).to_be_bytes().to_vec(),
    );
    log.append(
        &[
            LogEntry::PartyRegistered {
                party: party.clone(),
                key: key.public(),
            },
            LogEntry::HolderCertified {
                holder: party.clone(),
                key: key.public(),
                authority: "tax".into(),
                signature,
            },
        ],
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        b,
    )
    .unwrap();
    let rogue = Client::with_origin(r.addr(), &r.anchors.log.name, party, key);
    let before = (r.snapshot(), r.log_size());
    let (status, message) =
        refused(rogue.submit_sealed(&seal(&rogue, who, 1, &[("tax.credit_score", 100)])));
    assert_eq!(status, 403, "{message}");
    assert!(message.contains("no valid certificate"), "{message}");
    assert_eq!((r.snapshot(), r.log_size()), before);
    assert!(audit().problems.iter().any(|p| p.contains("tax.rogue")));
}

/// An operator that logs questions around the API — one no bank signed (with an evaluation, or
/// with nothing after it),
/// a bank's genuine signed request logged a second time, and one whose day it changed after the
/// bank signed — is named by the audit for each, while the bank's own questions check. Through
/// the API the same replay gets 409, with nothing stored or logged.
#[test]
fn questions_the_operator_logs_for_a_bank_are_named_by_the_audit() {
    use credence::protocols::log::entry::LogEntry;
    let r = Region::new();
    r.publish("public_procurement");
    let bank = r.party("bank.asked", Role::Bank);
    let auditor = r.party("auditor.asked", Role::Auditor);
    let id = enterprise("91110108MA01AB2C");
    let a = bank
        .query_sealed(&question(&id, "public_procurement", "bid 2026-30"))
        .unwrap();
    let qi = a.json["log_indices"]["query"].as_u64().unwrap();
    let audit = || audited(&r, &auditor);
    let clean = audit();
    assert!(clean.ok(), "{}", clean.render());
    assert_eq!(clean.requests_checked, 1, "{}", clean.render());

    // Through the API: the bank's signed body sent again is refused, nothing changes.
    let body = bank
        .signed_question(&question(&id, "public_procurement", "bid 2026-31"))
        .unwrap();
    bank.post("/v1/bank/query", &body).unwrap();
    let before = (r.snapshot(), r.log_size());
    let (status, message) = refused(bank.post("/v1/bank/query", &body));
    assert_eq!(status, 409, "{message}");
    assert!(message.contains("already logged"), "{message}");
    assert_eq!((r.snapshot(), r.log_size()), before);

    // Around the API, with the log key.
    let LogEntry::Query {
        bank: asker,
        subject,
        policy_hash,
        as_of_day,
        purpose,
        consent_hash,
        request,
        ..
    } = auditor.entry(qi).unwrap().unwrap().entry
    else {
        panic!("no query at {qi}")
    };
    let query = |day: u32, request| LogEntry::Query {
        bank: asker.clone(),
        subject,
        policy_hash,
        as_of_day: day,
        purpose: purpose.clone(),
        consent_hash,
        salt: [3; 16],
        region: None,
        request,
    };
    let log = r.log_around_the_api();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let unsigned = log
        .append(
            &[query(as_of_day, None)],
            now,
            credence::store::Batch::new(),
        )
        .unwrap()[0];
    log.append(
        &[LogEntry::Evaluation {
            query_index: unsigned,
            policy_hash,
            input_hashes: vec![],
            output_hash: [0; 32],
            salt: [0; 16],
        }],
        now,
        credence::store::Batch::new(),
    )
    .unwrap();
    let replayed = log
        .append(
            &[query(as_of_day, request)],
            now,
            credence::store::Batch::new(),
        )
        .unwrap()[0];
    let changed = log
        .append(
            &[query(as_of_day - 1, request)],
            now,
            credence::store::Batch::new(),
        )
        .unwrap()[0];
    let report = audit();
    let named = |i: u64, what: &str| {
        report
            .problems
            .iter()
            .any(|p| p.contains(&format!("entry {}", i)) && p.contains(what))
    };
    assert!(
        named(unsigned, "carries no signed request of its bank"),
        "{}",
        report.render()
    );
    assert!(
        named(replayed, &format!("already logged at index {qi}")),
        "{}",
        report.render()
    );
    assert!(
        named(changed, "does not cover this logged question"),
        "{}",
        report.render()
    );
    assert_eq!(report.requests_checked, 2, "{}", report.render());
}

/// Malformed certificate requests get a 400 (or 404, 409) that names what is wrong, and change
/// nothing: the certification route and the registration's certificate fields.
#[test]
fn malformed_certificate_requests_change_nothing() {
    use credence::protocols::keys::HolderCertificate;
    let r = Region::with(Options {
        roots: vec!["court"],
        ..Options::default()
    });
    let court = r.party("court.inputs", Role::Holder);
    let bank = r.party("bank.inputs", Role::Bank);
    let good = r.roots["court"].sign(&HolderCertificate {
        authority: "court".into(),
        holder: court.party().clone(),
        key: court.key().public(),
    });
    let good = hex::encode(good.0);
    let holder_key = hex::encode(
        SigningKey::generate(Role::Holder, &mut rand::thread_rng())
            .public()
            .to_bytes(),
    );
    let before = (r.snapshot(), r.log_size());
    let certify =
        |body: serde_json::Value| refused(r.operator.post("/v1/operator/certificates", &body));
    for (body, status, says) in [
        (
            serde_json::json!({"party": "court.nobody", "authority": "court", "certificate": good}),
            404,
            "not a registered holder",
        ),
        (
            serde_json::json!({"party": "bank.inputs", "authority": "court", "certificate": good}),
            404,
            "not a registered holder",
        ),
        (
            serde_json::json!({"party": "court.inputs", "authority": "court", "certificate": "zz"}),
            400,
            "128 hex",
        ),
        (
            serde_json::json!({"party": "Court Inputs", "authority": "court", "certificate": good}),
            400,
            "party",
        ),
        (
            serde_json::json!({"party": "court.inputs", "certificate": good}),
            400,
            "authority",
        ),
        (
            serde_json::json!({"party": "court.inputs", "authority": "court", "certificate": good, "extra": 1}),
            400,
            "extra",
        ),
        (
            serde_json::json!({"party": "court.inputs", "authority": "court", "certificate": good}),
            409,
            "already certified",
        ),
    ] {
        let (got, message) = certify(body.clone());
        assert_eq!(got, status, "{body}: {message}");
        assert!(message.contains(says), "{body}: {message}");
    }
    let register =
        |body: serde_json::Value| refused(r.operator.post("/v1/operator/parties", &body));
    for (body, says) in [
        (
            serde_json::json!({"party": "court.hex", "role": "holder", "key": holder_key, "authority": "court", "certificate": "zz"}),
            "128 hex",
        ),
        (
            serde_json::json!({"party": "court.half", "role": "holder", "key": holder_key, "authority": "court"}),
            "needs `authority` and `certificate`",
        ),
        (
            serde_json::json!({"party": "bank.cert", "role": "bank", "key": hex::encode(bank.key().public().to_bytes()), "authority": "court", "certificate": good}),
            "only for holders",
        ),
        (
            serde_json::json!({"party": "court", "role": "authority", "key": holder_key}),
            "unknown role",
        ),
    ] {
        let (got, message) = register(body.clone());
        assert_eq!(got, 400, "{body}: {message}");
        assert!(message.contains(says), "{body}: {message}");
    }
    assert_eq!((r.snapshot(), r.log_size()), before);
    // A service that pins no roots has nothing to certify against.
    let plain = Region::new();
    let holder = plain.party("court.plain", Role::Holder);
    let before = (plain.snapshot(), plain.log_size());
    let (got, message) = refused(plain.operator.post(
        "/v1/operator/certificates",
        &serde_json::json!({"party": holder.party().as_str(), "authority": "court", "certificate": good}),
    ));
    assert_eq!(got, 400, "{message}");
    assert!(message.contains("pins no authority roots"), "{message}");
    assert_eq!((plain.snapshot(), plain.log_size()), before);
}

/// Turning identifiers into pseudonyms leaves a trace: each lookup is logged once per party,
/// subject and day — the subject sees who looked it up, another bank does not — and a party's
/// lookups a day are limited: past the limit, 429, and nothing is answered or logged.
#[test]
fn pseudonym_lookups_are_logged_and_limited() {
    use credence::protocols::log::entry::LogEntry;
    let r = Region::with(Options {
        lookup_limit: 2,
        ..Options::default()
    });
    let holder = r.party("credit.lookup", Role::Holder);
    let bank = r.party("bank.lookup", Role::Bank);
    let ids: Vec<SubjectId> = ["91110108MA06LK1A", "91110108MA06LK2B", "91110108MA06LK3C"]
        .iter()
        .map(|p| enterprise(p))
        .collect();
    let (subject, _) = r.subject("ent.looked", &ids[0]);
    let size = r.log_size();
    let (p, _) = holder.pseudonym(&ids[0]).unwrap();
    assert_eq!(r.log_size(), size + 1);
    let Some(leaf) = holder.entry(size).unwrap() else {
        panic!("the holder cannot read its own lookup")
    };
    assert!(
        matches!(&leaf.entry, LogEntry::PseudonymLookup { party, subject, day: d, .. }
        if party == holder.party() && *subject == p && *d == day())
    );
    assert!(
        subject.entry(size).unwrap().is_some(),
        "the subject does not see the lookup"
    );
    assert!(
        bank.entry(size).unwrap().is_none(),
        "another bank sees a holder's lookup"
    );
    let history = subject.subject_queries().unwrap();
    assert!(
        history["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "lookup" && e["party"] == "credit.lookup" && e["index"] == size),
        "{history}"
    );
    // The same lookup again that day adds nothing, even asked many times at once; another
    // subject counts.
    let go = std::sync::Barrier::new(8);
    std::thread::scope(|t| {
        for _ in 0..8 {
            t.spawn(|| {
                go.wait();
                holder.pseudonym(&ids[0]).unwrap();
            });
        }
    });
    assert_eq!(r.log_size(), size + 1);
    holder.pseudonym(&ids[1]).unwrap();
    assert_eq!(r.log_size(), size + 2);
    // The third distinct subject is past the limit: refused, nothing changes.
    let before = (r.snapshot(), r.log_size());
    let (status, message) = refused(holder.pseudonym(&ids[2]));
    assert_eq!(status, 429, "{message}");
    assert!(message.contains("the limit is 2 a day"), "{message}");
    assert_eq!((r.snapshot(), r.log_size()), before);
    // What it already looked up today is still answered; another party has its own limit.
    holder.pseudonym(&ids[1]).unwrap();
    assert_eq!((r.snapshot(), r.log_size()), before);
    bank.pseudonym(&ids[2]).unwrap();
    assert_eq!(r.log_size(), before.1 + 1);
}

/// A request signed for one region is refused by another where the same party (same key) is
/// registered: requests are bound to the service's origin.
#[test]
fn a_request_signed_for_another_region_is_refused() {
    let beijing = Region::with(Options {
        origin: "credence.test/beijing".into(),
        ..Options::default()
    });
    let tianjin = Region::with(Options {
        origin: "credence.test/tianjin".into(),
        ..Options::default()
    });
    let key = SigningKey::generate(Role::Bank, &mut rand::thread_rng());
    let id = PartyId::new("bank.both").unwrap();
    for r in [&beijing, &tianjin] {
        r.operator.register_party(&id, &key.public(), None).unwrap();
    }
    // A request signed for Beijing, sent (replayed) to Tianjin.
    let body = serde_json::json!({"kind": "enterprise", "id": "91110108MA01AB2C3T"}).to_string();
    let before = tianjin.snapshot();
    let (status, out) = credence::party::client::call(
        tianjin.addr(),
        "credence.test/beijing",
        "POST",
        "/v1/holder/pseudonym",
        body.as_bytes(),
        &key,
        &id,
    )
    .unwrap();
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&out));
    assert!(String::from_utf8_lossy(&out).contains("bad signature"));
    assert_eq!(tianjin.snapshot(), before);
    // Signed for Tianjin, it is answered.
    let (status, _) = credence::party::client::call(
        tianjin.addr(),
        "credence.test/tianjin",
        "POST",
        "/v1/holder/pseudonym",
        body.as_bytes(),
        &key,
        &id,
    )
    .unwrap();
    assert_eq!(status, 200);
}

/// Days after the last day a record can represent are refused with a 400 naming the day, on
/// every route that takes one — never a panic, a wrap or an answer.
#[test]
fn days_past_the_last_representable_day_are_refused() {
    let r = Region::new();
    r.publish("public_procurement");
    let bank = r.party("bank.days", Role::Bank);
    let market = r.party("market.days", Role::Holder);
    let id = enterprise("91110108MA01AB2C");
    // The bank learns the pseudonym it signs its questions over (a logged lookup) first.
    bank.pseudonym(&id).unwrap();
    let before = (r.snapshot(), r.log_size());
    for day in [65_536u32, u32::MAX - 1, u32::MAX] {
        let q = Question {
            day,
            ..question(&id, "public_procurement", "x")
        };
        let (status, message) = refused(bank.query_sealed(&q));
        assert_eq!(status, 400, "{message}");
        assert!(message.contains("day"), "{message}");
        let (status, message) = refused(market.post(
            "/v1/holder/listings",
            &serde_json::json!({
                "subject": {"kind": "enterprise", "id": id.as_str()},
                "attribute": "market.abnormal_operation", "class": "general", "decided": day,
            }),
        ));
        assert_eq!(status, 400, "{message}");
    }
    assert_eq!((r.snapshot(), r.log_size()), before);
}

// ---------------------------------------------------------------------------------------------
// Requests that would break the log for everyone.

/// A purpose with control characters, or too long, is refused at the API with a message
/// naming the field; nothing is logged, and every reader of the log still works.
#[test]
fn a_purpose_that_would_poison_the_log_is_refused() {
    let r = Region::new();
    r.publish("public_procurement");
    let bank = r.party("bank.poison", Role::Bank);
    let id = enterprise("91110108MA01AB2C");
    let (subject, _) = r.subject("ent.poison", &id);
    bank.pseudonym(&id).unwrap();
    let before = (r.snapshot(), r.log_size());
    let long_chinese = "贷".repeat(67); // 201 bytes
    for purpose in [
        "loan\tapplication",
        "loan\napplication",
        "\u{7}",
        "\u{85}loan",
        "",
        "   ",
        &"x".repeat(201),
        long_chinese.as_str(),
    ] {
        let (status, message) =
            refused(bank.query_sealed(&question(&id, "public_procurement", purpose)));
        assert_eq!(status, 400, "{purpose:?}: {message}");
        assert!(message.contains("purpose"), "{message}");
    }
    assert_eq!((r.snapshot(), r.log_size()), before);
    // A purpose in Chinese within the limit is fine, and every reader still answers.
    bank.query_sealed(&question(
        &id,
        "public_procurement",
        "政府采购投标 2026-117",
    ))
    .unwrap();
    let size = r.log_size();
    bank.entries(0, size).unwrap();
    subject.subject_queries().unwrap();
    let auditor = r.party("auditor.poison", Role::Auditor);
    let report = audited(&r, &auditor);
    assert!(report.ok(), "{}", report.render());
}

mod accepted_requests_keep_the_log_readable {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    struct World {
        r: Region,
        bank: Client,
        auditor: Client,
        subject: Client,
    }

    fn world() -> &'static World {
        static W: OnceLock<World> = OnceLock::new();
        W.get_or_init(|| {
            let r = Region::new();
            r.publish("public_procurement");
            let bank = r.party("bank.prop", Role::Bank);
            let auditor = r.party("auditor.prop", Role::Auditor);
            let (subject, _) = r.subject("ent.prop", &enterprise("91110108MA01AB2C"));
            bank.pseudonym(&enterprise("91110108MA01AB2C")).unwrap();
            World {
                r,
                bank,
                auditor,
                subject,
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// For any purpose and any policy text: whatever the service accepts, every entry it
        /// appended decodes and every reader of the log answers.
        #[test]
        fn whatever_is_accepted_is_readable(
            purpose in "\\PC{0,70}|[\\x00-\\x7f]{0,210}",
            policy in "policy [a-z_]{1,8} version [0-9]{1,3}\neligible = not_listed\\(court\\.dishonest_debtor\\)\n|[ -~\n]{0,60}",
        ) {
            let w = world();
            let id = enterprise("91110108MA01AB2C");
            let before = w.r.log_size();
            let asked = w.bank.query_sealed(&question(&id, "public_procurement", &purpose));
            let published = w.r.operator.publish_policy(&policy);
            let after = w.r.log_size();
            if asked.is_err() && published.is_err() {
                prop_assert_eq!(after, before);
            }
            let all = w.auditor.entries(0, after).unwrap();
            prop_assert_eq!(all.len() as u64, after);
            prop_assert!(all.iter().all(|(_, e)| matches!(e, credence::party::client::Entry::Leaf(_))));
            w.subject.subject_queries().unwrap();
            w.bank.entries(0, after).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Witnesses, anchors, and a partner region showing two views of its log.

/// Verdicts need the pinned witness quorum: with the service's witness unreachable, the key
/// authority (which follows the log only to cosigned checkpoints) decides nothing.
#[test]
fn a_receipt_without_the_witness_quorum_is_refused() {
    use credence::protocols::log::checkpoint::NoteVerifier;
    let wkey = SigningKey::generate(Role::Witness, &mut rand::thread_rng());
    // An address nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let r = Region::with(Options {
        witnesses: vec![credence::witness::WitnessClient {
            verifier: NoteVerifier::witness("witness.down", wkey.public()).unwrap(),
            addr,
        }],
        witness_quorum: 1,
        ..Options::default()
    });
    r.publish("public_procurement");
    let bank = r.party("bank.quorum", Role::Bank);
    let id = enterprise("91110108MA01AB2C");
    // The key authority decides only on a checkpoint cosigned by the quorum: with the witness
    // down it decrypts nothing, and the service says to retry.
    let e = bank
        .query_sealed(&question(&id, "public_procurement", "bid"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("503") && e.contains("cosignature"), "{e}");
    // The anchors it serves state the witness and the quorum.
    let served = bank.anchors().unwrap();
    assert_eq!(served.witness_quorum, 1);
    assert_eq!(served.fingerprint(), r.anchors.fingerprint());
}

/// A pinned anchors file is never replaced silently: `credence anchors` for another service
/// (other anchors) into the same file is refused and the file is unchanged; a wrong
/// `--expect` pins nothing.
#[test]
fn pinned_anchors_are_never_replaced_silently() {
    let a = Region::new();
    let b = Region::new();
    let dir = tmp("anchors");
    let (_, bank_a) = seeded_party(&a, &dir, "bank.pin", Role::Bank);
    let ok = cli(
        &dir,
        &[
            "anchors",
            "--server",
            a.addr(),
            "--as",
            &bank_a,
            "--out",
            "pinned.json",
        ],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let pinned = std::fs::read(dir.join("pinned.json")).unwrap();
    let _ = b.party("bank.pin", Role::Bank);
    let o = cli(
        &dir,
        &[
            "anchors",
            "--server",
            b.addr(),
            "--as",
            &bank_a,
            "--out",
            "pinned.json",
        ],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already pins other anchors"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read(dir.join("pinned.json")).unwrap(), pinned);
    let o = cli(
        &dir,
        &[
            "anchors",
            "--server",
            a.addr(),
            "--as",
            &bank_a,
            "--out",
            "other.json",
            "--expect",
            &"ab".repeat(32),
        ],
    );
    assert!(!o.status.success() && !dir.join("other.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A partner region that shows this region one view of its log and answers a forwarded query
/// from another: this region cosigned the partner's checkpoint earlier; the receipt the
/// partner returns rests on a tree that does not extend it. The forward is refused (502), an
/// equivocation alarm keeps both checkpoints, and nothing is logged here.
#[test]
fn a_partner_cannot_show_two_views_of_its_log() {
    use credence::protocols::log::checkpoint::{Checkpoint, NoteVerifier, SignedCheckpoint};
    use credence::protocols::log::entry::{LogEntry, LogLeaf};
    use credence::protocols::log::tree::MemoryTree;
    use credence::protocols::log::Sha3Log;
    use credence::protocols::verdict::{Evidence, TrustAnchors, Verdict, VerdictReceipt};
    let mut rng = rand::rngs::OsRng;
    let origin = "credence.test/fake-tianjin";
    let tj_log = SigningKey::generate(Role::Log, &mut rng);
    let tj_ka = SigningKey::generate(Role::KeyAuthority, &mut rng);
    let tj_verifier = NoteVerifier::log(origin, tj_log.public()).unwrap();
    let who = Pseudonym {
        kind: SubjectKind::Enterprise,
        bytes: [8; 32],
    };
    let policy = credence::circuits::policy::builtin("public_procurement").unwrap();
    // View A: what Beijing cosigns. View B: a fork of the same size + 1 with a verdict.
    let mut a = MemoryTree::<Sha3Log>::new();
    let mut b = MemoryTree::<Sha3Log>::new();
    for i in 0..5u32 {
        a.append(&i.to_be_bytes());
        b.append(&(i + 100).to_be_bytes());
    }
    let sign = |t: &MemoryTree<Sha3Log>| {
        SignedCheckpoint::sign(
            Checkpoint::new(origin, t.size(), t.root()).unwrap(),
            origin,
            &tj_log,
        )
        .unwrap()
    };
    let verdict = Verdict {
        policy_hash: policy.hash(),
        subject: who,
        as_of_day: day(),
        outcome: Outcome::Eligible(true),
        coverage: vec![],
        evidence: Evidence::Decryption {
            query_index: 2,
            evaluation_index: 3,
            input_hashes: vec![],
            output_hash: [1; 32],
            checkpoint_size: 4,
            checkpoint_root: [5; 32],
        },
        log_indices: vec![2, 3, 4],
        issued_at: 0,
    }
    .sign(&tj_ka)
    .unwrap();
    let leaf = LogLeaf {
        time: 9,
        entry: LogEntry::Verdict {
            verdict_hash: verdict.hash(),
            subject: who,
            bank: PartyId::new("region.beijing").unwrap(),
        },
    };
    let vi = b.append(&leaf.leaf_data());
    let receipt = VerdictReceipt {
        verdict,
        leaf,
        leaf_index: vi,
        inclusion: b.inclusion_proof(vi, b.size()).unwrap(),
        checkpoint: sign(&b),
        keys: Default::default(),
    };
    // The fake partner: pseudonym, query (answered from view B), consistency proofs (that do
    // not exist between the views: it sends one of its own).
    // The best it can send: a real proof from its fork's size 5 (not from what Beijing saw).
    let proof_a_to_b = b.consistency_proof(5, 6).unwrap().to_bytes();
    let receipt_hex = hex::encode(receipt.to_bytes());
    let fake = axum::Router::new()
        .route(
            "/v1/holder/pseudonym",
            axum::routing::post(move || async move {
                axum::Json(serde_json::json!({ "pseudonym": who.to_text(), "sealing_key": null }))
            }),
        )
        .route(
            "/v1/bank/query",
            axum::routing::post(move || {
                let r = receipt_hex.clone();
                async move { axum::Json(serde_json::json!({ "receipt": r })) }
            }),
        )
        .route(
            "/v1/audit/proof/consistency",
            axum::routing::get(move || {
                let p = hex::encode(&proof_a_to_b);
                async move { axum::Json(serde_json::json!({ "proof": p })) }
            }),
        );
    let fake = credence::server::process::Running::start(fake).unwrap();
    let bj_witness = SigningKey::generate(Role::Witness, &mut rng);
    let beijing = Region::with(Options {
        origin: "credence.test/beijing".into(),
        partners: Some(credence::server::Witness {
            name: "credence.test/beijing".into(),
            key: bj_witness,
            partners: vec![tj_verifier.clone()],
            forward: vec![credence::server::Forward {
                origin: origin.into(),
                addr: fake.addr.clone(),
                anchors: TrustAnchors {
                    service: tj_log.public(),
                    log: tj_verifier,
                    key_authority: tj_ka.public(),
                    witnesses: vec![],
                    witness_quorum: 0,
                    authorities: Default::default(),
                },
                party: PartyId::new("region.beijing").unwrap(),
                key: SigningKey::generate(Role::Bank, &mut rng),
            }],
        }),
        ..Options::default()
    });
    beijing.publish("public_procurement");
    let bank = beijing.party("bank.bj", Role::Bank);
    // Beijing witnesses view A.
    let (status, _, out) = credence::party::client::plain_post(
        beijing.addr(),
        "/v1/witness/cosign",
        serde_json::json!({ "checkpoint": sign(&a).to_text() })
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let id = SubjectId::parse(SubjectKind::Enterprise, "91110108MA01AB2C3T").unwrap();
    let asked = bank
        .signed_question_via(
            &question(&id, "public_procurement", "cross-region bid"),
            Some(origin),
        )
        .unwrap();
    let before = (beijing.snapshot(), beijing.log_size());
    let (status, message) = refused(bank.post("/v1/bank/query", &asked));
    assert_eq!(status, 502, "{message}");
    assert!(message.contains("equivocation"), "{message}");
    let alarms = bank.get("/v1/audit/alarms").unwrap();
    assert_eq!(alarms["alarms"].as_array().unwrap().len(), 1, "{alarms}");
    // The alarm is the only thing stored; no query was logged here.
    assert_eq!(beijing.log_size(), before.1);
}

// ---------------------------------------------------------------------------------------------
// The smaller holes.

/// Metrics are labelled by the matched route: unknown paths, however many and whatever they
/// contain, share one label.
#[test]
fn metrics_label_only_matched_routes() {
    let r = Region::new();
    for i in 0..20 {
        let (status, _, _) = credence::party::client::http(
            r.addr(),
            "GET",
            &format!("/v1/nope{i}/%22%7D%0Ainjected"),
            &[],
            b"",
        )
        .unwrap();
        assert_eq!(status, 404);
    }
    let m = r.metrics();
    assert!(m.contains("route=\"unmatched\",status=\"404\"} 20"), "{m}");
    assert!(!m.contains("nope") && !m.contains("injected"), "{m}");
}

/// Nonces are forgotten once their requests can no longer be accepted (the time window):
/// the replay table does not grow forever, and an old request is still refused.
#[test]
fn nonces_are_pruned_after_the_window() {
    let r = Region::with(Options {
        window_secs: 1,
        ..Options::default()
    });
    let bank = r.party("bank.nonce", Role::Bank);
    for _ in 0..5 {
        bank.get("/v1/audit/policies").unwrap();
    }
    let seen = r.store.count(credence::store::Table::Nonces).unwrap();
    assert!(seen >= 5, "{seen}");
    std::thread::sleep(std::time::Duration::from_millis(4100));
    bank.get("/v1/audit/policies").unwrap();
    let left = r.store.count(credence::store::Table::Nonces).unwrap();
    assert!(left <= 2, "{left} nonces kept after the window");
}

/// A subject's sealing key of small order (the identity among them) is refused at
/// registration: anyone could open what holders seal to it.
#[test]
fn a_small_order_sealing_key_is_refused_at_registration() {
    let r = Region::new();
    let id = enterprise("91110108MA01AB2C");
    let key = SigningKey::generate(Role::Subject, &mut rand::thread_rng());
    let before = (r.snapshot(), r.log_size());
    let mut one = [0u8; 32];
    one[0] = 1;
    for bad in [[0u8; 32], one] {
        let sealing = credence::protocols::seal::SealingPublicKey::from_bytes(bad);
        let (status, message) = refused(r.operator.register_party(
            &PartyId::new("ent.weak").unwrap(),
            &key.public(),
            Some((&id, &sealing)),
        ));
        assert_eq!(status, 400);
        assert!(message.contains("sealing_key"), "{message}");
    }
    assert_eq!((r.snapshot(), r.log_size()), before);
}

/// `GET /v1/anchors` has the same size however many holders register (their keys are
/// learned from the log).
#[test]
fn anchors_do_not_grow_with_the_registry() {
    let r = Region::new();
    let size = || {
        let (_, _, b) =
            credence::party::client::http(r.addr(), "GET", "/v1/anchors", &[], b"").unwrap();
        b.len()
    };
    let before = size();
    for i in 0..40 {
        let _ = r.party(&format!("court.n{i}"), Role::Holder);
    }
    assert_eq!(size(), before);
}

/// Policy constants are bounded so that no lowering overflows: a threshold or grade band of
/// 2^62 is refused at publication, naming the rule; nothing is published or logged.
#[test]
fn policy_constants_are_bounded() {
    let r = Region::new();
    let before = (r.snapshot(), r.log_size());
    for text in [
        "policy big version 1\neligible = tax.credit_score > 4611686018427387904\n",
        "policy big version 1\neligible = tax.credit_score < -4611686018427387904\n",
        "policy big version 1\ngrade tax.credit_score { A >= 4611686018427387904, B }\n",
        "policy big version 1\neligible = 4611686018427387904*tax.credit_score >= 1\n",
        "policy big version 1\nrequire tax.credit_score\ngrade tax.credit_score { A >= 50, B }\n",
    ] {
        let (status, message) = refused(r.operator.publish_policy(text));
        assert_eq!(status, 400, "{text}");
        assert!(
            message.contains("2^62")
                || message.contains("too large")
                || message.contains("require"),
            "{message}"
        );
    }
    assert_eq!((r.snapshot(), r.log_size()), before);
}

/// On the proven path the range is bound by the holder's certificate, which the service checks
/// against the catalogue: a commitment to a score of 5000 with a (valid) certificate for
/// `[0, 65535]` is refused, naming the catalogue range; nothing is stored.
#[test]
fn a_commitment_outside_its_catalogue_range_is_refused() {
    use credence::protocols::commitment::*;
    let r = Region::new();
    let tax = r.party("tax.wide", Role::Holder);
    let id = enterprise("91110108MA05KL2M");
    let (_, sealing) = r.subject("ent.wide", &id);
    let (who, _) = tax.pseudonym(&id).unwrap();
    // A certificate for the catalogue range cannot be made for 5000 at all; one for 16 bits can.
    let context = AttributeContext {
        holder: tax.party().clone(),
        attribute: AttributeId::new("tax.credit_score").unwrap(),
        subject: who,
        submission: 1,
    };
    assert!(AttributeCommitment::create(
        &mut merlin::Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL),
        context,
        &Opening::random(5000, &mut rand::rngs::OsRng),
        100,
        &mut rand::rngs::OsRng,
    )
    .is_err());
    let wide = raw_commitment(
        &tax,
        who,
        &sealing.public(),
        "tax.credit_score",
        5000,
        65_535,
        1,
    );
    let before = (r.snapshot(), r.log_size());
    let (status, message) = refused(tax.submit_committed(&[wide]));
    assert_eq!(status, 400);
    assert!(message.contains("ranges over [0, 100]"), "{message}");
    assert_eq!((r.snapshot(), r.log_size()), before);
}

/// The latest record per attribute spans both paths: a subject proving over its holder's old
/// commitment after the holder sealed a listing of that attribute is refused (409, naming the
/// input); nothing is logged.
#[test]
fn a_commitment_superseded_by_a_later_sealed_listing_cannot_be_proven_over() {
    let Procurement {
        r,
        credit,
        bank,
        subject,
        sealing,
        id,
        who,
    } = procurement("stale", "91110108MA02CD4E", 0);
    let policy = credence::circuits::policy::builtin("public_procurement").unwrap();
    let package = credence::party::subject::prove(
        &policy,
        day(),
        who,
        &subject.subject_records().unwrap(),
        &sealing,
        &subject,
    )
    .unwrap();
    // The credit authority then lists the enterprise — on the sealed path only.
    credit
        .submit_sealed(&seal(
            &credit,
            who,
            10,
            &[("credit.serious_dishonesty", u64::from(day()) + 300)],
        ))
        .unwrap();
    bank.pseudonym(&id).unwrap();
    let before = (r.snapshot(), r.log_size());
    let (status, message) = refused(bank.query_proven(
        &question(&id, "public_procurement", "bid 2026-10"),
        &package,
    ));
    assert_eq!(status, 409, "{message}");
    assert!(
        message.contains("superseded by a later sealed record"),
        "{message}"
    );
    assert_eq!((r.snapshot(), r.log_size()), before);
}

/// A bank accepts only verdicts issued to it: a receipt handed on by another bank (or
/// reassembled by the subject from what it may read) is refused by `credence verify --as`.
#[test]
fn a_receipt_issued_to_another_bank_proves_nothing_to_it() {
    let r = Region::new();
    r.publish("public_procurement");
    let dir = tmp("other-bank");
    let (one, one_file) = seeded_party(&r, &dir, "bank.first", Role::Bank);
    let (_, two_file) = seeded_party(&r, &dir, "bank.second", Role::Bank);
    let anchors = write_anchors(&dir, &r);
    let id = enterprise("91110108MA01AB2C");
    let a = one
        .query_sealed(&question(&id, "public_procurement", "bid"))
        .unwrap();
    std::fs::write(dir.join("r.hex"), hex::encode(a.receipt.to_bytes())).unwrap();
    let (who, _) = one.pseudonym(&id).unwrap();
    let verify = |party: &str| {
        cli(
            &dir,
            &[
                "verify",
                "--anchors",
                &anchors,
                "--receipt",
                "r.hex",
                "--policy",
                "public_procurement",
                "--subject",
                &who.to_text(),
                "--day",
                &day().to_string(),
                "--as",
                party,
                "--server",
                r.addr(),
            ],
        )
    };
    let mine = verify(&one_file);
    assert!(
        mine.status.success(),
        "{}",
        String::from_utf8_lossy(&mine.stderr)
    );
    let theirs = verify(&two_file);
    assert!(!theirs.status.success());
    let err = String::from_utf8_lossy(&theirs.stderr);
    assert!(err.contains("issued to another bank"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An unauthenticated caller sending a partner's genuine, newer checkpoint with a bogus
/// consistency proof is refused (400) — and plants no equivocation alarm: a proof the witness
/// did not get from the log proves nothing about the log.
#[test]
fn a_bogus_consistency_proof_plants_no_alarm() {
    use credence::protocols::log::checkpoint::{Checkpoint, NoteVerifier, SignedCheckpoint};
    use credence::protocols::log::tree::MemoryTree;
    use credence::protocols::log::Sha3Log;
    let origin = "credence.test/partner";
    let partner_log = SigningKey::generate(Role::Log, &mut rand::thread_rng());
    let r = Region::with(Options {
        partners: Some(credence::server::Witness {
            name: "credence.test/region".into(),
            key: SigningKey::generate(Role::Witness, &mut rand::thread_rng()),
            partners: vec![NoteVerifier::log(origin, partner_log.public()).unwrap()],
            forward: vec![],
        }),
        ..Options::default()
    });
    let mut tree = MemoryTree::<Sha3Log>::new();
    let note = |t: &MemoryTree<Sha3Log>| {
        SignedCheckpoint::sign(
            Checkpoint::new(origin, t.size(), t.root()).unwrap(),
            origin,
            &partner_log,
        )
        .unwrap()
        .to_text()
    };
    let cosign = |text: String, proof: Option<Vec<u8>>| {
        let mut body = serde_json::json!({ "checkpoint": text });
        if let Some(p) = proof {
            body["consistency"] = hex::encode(p).into();
        }
        credence::party::client::plain_post(
            r.addr(),
            "/v1/witness/cosign",
            body.to_string().as_bytes(),
        )
        .unwrap()
        .0
    };
    for i in 0..4u32 {
        tree.append(&i.to_be_bytes());
    }
    assert_eq!(cosign(note(&tree), None), 200);
    let old = tree.size();
    for i in 4..9u32 {
        tree.append(&i.to_be_bytes());
    }
    // A well-formed proof for the right sizes, but of another tree.
    let mut other = MemoryTree::<Sha3Log>::new();
    for i in 100..109u32 {
        other.append(&i.to_be_bytes());
    }
    let bogus = other
        .consistency_proof(old, other.size())
        .unwrap()
        .to_bytes();
    for _ in 0..3 {
        assert_eq!(cosign(note(&tree), Some(bogus.clone())), 400);
    }
    let auditor = r.party("auditor.alarm", Role::Auditor);
    let alarms = auditor.get("/v1/audit/alarms").unwrap();
    assert_eq!(alarms["alarms"].as_array().unwrap().len(), 0, "{alarms}");
    // The real proof is accepted.
    let real = tree.consistency_proof(old, tree.size()).unwrap().to_bytes();
    assert_eq!(cosign(note(&tree), Some(real)), 200);
}

/// What another bank is shown of a query: its sealed leaf — when, what kind, and a hash of the
/// content — which is exactly what the tree hashes, so it checks roots and inclusion, but carries
/// neither the bank, the subject, the purpose nor (for the verdict) the outcome, and cannot be
/// confirmed by guessing them: everything in a query may be guessable (bank, subject, policy,
/// day, purpose, time), but its random salt and the bank's signature are not.
#[test]
fn a_sealed_query_shows_no_bank_purpose_or_outcome_and_cannot_be_confirmed_by_guessing() {
    use credence::protocols::log::entry::{LogEntry, LogLeaf, SealedLeaf};
    let r = Region::new();
    r.publish("public_procurement");
    let one = r.party("bank.guessed", Role::Bank);
    let two = r.party("bank.guesser", Role::Bank);
    let id = enterprise("91110108MA01AB2C");
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let a = one
        .query_sealed(&question(&id, "public_procurement", "loan application"))
        .unwrap();
    let qi = a.json["log_indices"]["query"].as_u64().unwrap();
    let vi = a.json["log_indices"]["verdict"].as_u64().unwrap();
    let seen = two.entries(qi, vi + 1).unwrap();
    let credence::party::client::Entry::Hidden(hidden) = seen[0].1.clone() else {
        panic!("another bank's query is shown in full: {:?}", seen[0].1)
    };
    assert_eq!(hidden.kind, 5, "the kind is public");
    assert!((t0.saturating_sub(5)..t0 + 60).contains(&hidden.time));
    // Query, evaluation, decryption and verdict are all sealed to the other bank.
    let kinds: Vec<u8> = seen
        .iter()
        .map(|(_, e)| match e {
            credence::party::client::Entry::Hidden(s) => s.kind,
            credence::party::client::Entry::Leaf(l) => panic!("shown in full: {l:?}"),
        })
        .collect();
    assert_eq!(kinds, vec![5, 6, 7, 8]);
    // The raw answer carries the sealed leaf and its hash, and no clear field.
    let raw = two
        .get(&format!("/v1/audit/entries?from={qi}&to={}", vi + 1))
        .unwrap();
    let text = raw.to_string();
    for secret in [
        "bank.guessed",
        "loan application",
        &hex::encode("bank.guessed"),
    ] {
        assert!(!text.contains(secret), "{secret} leaks in {text}");
    }
    let sealed_hex = raw["entries"][0]["sealed_leaf"].as_str().unwrap();
    assert_eq!(sealed_hex.len(), 2 * (1 + 8 + 1 + 32));
    assert_eq!(
        SealedLeaf::from_bytes(&hex::decode(sealed_hex).unwrap()).unwrap(),
        hidden
    );
    let (who, _) = two.pseudonym(&id).unwrap();
    let policy_hash = credence::circuits::policy::builtin("public_procurement")
        .unwrap()
        .hash();
    for time in t0.saturating_sub(5)..t0 + 5 {
        let guess = LogLeaf {
            time,
            entry: LogEntry::Query {
                bank: one.party().clone(),
                subject: who,
                policy_hash,
                as_of_day: day(),
                purpose: "loan application".into(),
                consent_hash: None,
                salt: [0; 16],
                region: None,
                request: None,
            },
        };
        assert_ne!(guess.hash(), hidden.hash());
        assert_ne!(guess.sealed().unwrap().content_hash, hidden.content_hash);
    }
    // The asking bank reads the entry itself, salt, signed request and all, and it hashes to
    // the sealed leaf the other bank was shown.
    let full = one
        .entry(qi)
        .unwrap()
        .expect("the asking bank reads its query");
    assert_eq!(full.sealed(), Some(hidden));
    assert!(
        matches!(&full.entry, LogEntry::Query { request: Some(_), purpose, .. } if purpose == "loan application")
    );
    // Both views rebuild the same root.
    let cp = two.checkpoint().unwrap();
    let size = cp.checkpoint.size;
    let mut t1 =
        credence::protocols::log::tree::MemoryTree::<credence::protocols::log::Sha3Log>::new();
    let mut t2 =
        credence::protocols::log::tree::MemoryTree::<credence::protocols::log::Sha3Log>::new();
    let mut from = 0;
    while from < size {
        let to = (from + 1000).min(size);
        for ((_, e1), (_, e2)) in one
            .entries(from, to)
            .unwrap()
            .iter()
            .zip(two.entries(from, to).unwrap())
        {
            t1.append_leaf_hash(e1.leaf_hash());
            t2.append_leaf_hash(e2.leaf_hash());
        }
        from = to;
    }
    assert_eq!(t1.root(), cp.checkpoint.root);
    assert_eq!(t2.root(), cp.checkpoint.root);

    // The guesser asks the very same question. Evaluation is deterministic, so its evaluation
    // has the other bank's inputs and output (an auditor sees both): without their salts, its
    // own evaluation and decryption, re-pointed at the other query, would confirm that the
    // other bank asked this and got the same answer. They do not.
    let mine = two
        .query_sealed(&question(&id, "public_procurement", "loan application"))
        .unwrap();
    let my_eval = two
        .entry(mine.json["log_indices"]["evaluation"].as_u64().unwrap())
        .unwrap()
        .unwrap();
    let my_dec = two
        .entry(mine.json["log_indices"]["decryption"].as_u64().unwrap())
        .unwrap()
        .unwrap();
    let auditor = r.party("auditor.guess", Role::Auditor);
    let (ei, di) = (
        a.json["log_indices"]["evaluation"].as_u64().unwrap(),
        a.json["log_indices"]["decryption"].as_u64().unwrap(),
    );
    let theirs = auditor.entry(ei).unwrap().unwrap();
    let (
        LogEntry::Evaluation {
            policy_hash,
            input_hashes,
            output_hash,
            salt,
            ..
        },
        LogEntry::Evaluation {
            input_hashes: their_inputs,
            output_hash: their_output,
            ..
        },
    ) = (my_eval.entry, theirs.entry)
    else {
        panic!("not evaluations")
    };
    assert_eq!(
        (&input_hashes, output_hash),
        (&their_inputs, their_output),
        "the premise: the same question evaluates to the same bytes"
    );
    let (sealed_eval, sealed_dec) = match (&seen[1].1, &seen[2].1) {
        (credence::party::client::Entry::Hidden(e), credence::party::client::Entry::Hidden(d)) => {
            (*e, *d)
        }
        other => panic!("{other:?}"),
    };
    let guess = LogLeaf {
        time: sealed_eval.time,
        entry: LogEntry::Evaluation {
            query_index: qi,
            policy_hash,
            input_hashes,
            output_hash,
            salt,
        },
    };
    assert_ne!(guess.hash(), sealed_eval.hash());
    let LogEntry::Decryption { salt, .. } = my_dec.entry else {
        panic!("not a decryption")
    };
    let guess = LogLeaf {
        time: sealed_dec.time,
        entry: LogEntry::Decryption {
            evaluation_index: ei,
            output_hash,
            salt,
        },
    };
    assert_ne!(guess.hash(), sealed_dec.hash());
    assert_eq!(di, ei + 1);
}

/// A region whose connection bounds are `limits`.
fn bounded(limits: credence::server::connections::Limits) -> Region {
    Region::with(Options {
        limits,
        ..Options::default()
    })
}

/// What a raw connection reads until the server closes it or `patience` passes with nothing:
/// `None` when the server kept it open and silent.
fn read_until_closed(s: &mut std::net::TcpStream, patience: std::time::Duration) -> Option<String> {
    use std::io::Read;
    s.set_read_timeout(Some(patience)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => return Some(String::from_utf8_lossy(&out).into_owned()),
        }
    }
}

/// Slowloris: a client that opens connections and never finishes its request headers (or
/// sends a body that never ends) does not keep them: the server cuts each off, and a normal
/// request is answered afterwards.
#[test]
fn a_client_that_never_finishes_its_request_is_cut_off() {
    use std::io::Write;
    let r = bounded(credence::server::connections::Limits {
        max_connections: 8,
        header_timeout: std::time::Duration::from_secs(1),
        body_timeout: std::time::Duration::from_secs(1),
    });
    let patience = std::time::Duration::from_secs(120);
    // Headers that never end.
    let mut slow = std::net::TcpStream::connect(r.addr()).unwrap();
    write!(slow, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    let got = read_until_closed(&mut slow, patience);
    assert!(
        got.is_some(),
        "a connection with unfinished headers was kept open"
    );
    // A body that stops after 10 of the 1000 bytes announced.
    let mut slow = std::net::TcpStream::connect(r.addr()).unwrap();
    write!(
        slow,
        "POST /v1/witness/cosign HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"checkpo"
    )
    .unwrap();
    let got = read_until_closed(&mut slow, patience).expect("a stalled body was waited for");
    assert!(
        got.is_empty() || got.starts_with("HTTP/1.1 4"),
        "a stalled body must not be answered as a request: {got}"
    );
    // A kept-alive connection left idle after its answer is closed too.
    let mut idle = std::net::TcpStream::connect(r.addr()).unwrap();
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let got =
        read_until_closed(&mut idle, patience).expect("an idle kept-alive connection was kept");
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    let (status, _, _) =
        credence::party::client::http(r.addr(), "GET", "/healthz", &[], b"").unwrap();
    assert_eq!(status, 200);
}

/// Connections beyond the cap are not served (they wait in the backlog) until one ends; then
/// they are, and nothing was lost.
#[test]
fn connections_beyond_the_cap_wait_for_a_free_slot() {
    use std::io::Write;
    let r = bounded(credence::server::connections::Limits {
        max_connections: 2,
        header_timeout: std::time::Duration::from_secs(600),
        body_timeout: std::time::Duration::from_secs(600),
    });
    let hold: Vec<_> = (0..2)
        .map(|_| std::net::TcpStream::connect(r.addr()).unwrap())
        .collect();
    let mut third = std::net::TcpStream::connect(r.addr()).unwrap();
    write!(
        third,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    assert_eq!(
        read_until_closed(&mut third, std::time::Duration::from_secs(2)),
        None,
        "a third connection was served while two held the only slots"
    );
    drop(hold);
    let got = read_until_closed(&mut third, std::time::Duration::from_secs(120))
        .expect("the waiting connection was never served");
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
}

/// Binary search over the query day, or the same question again and again, needs many
/// questions about one subject: past the daily limit a bank gets 429 and nothing is logged or
/// stored; another bank, or another subject, is not affected.
#[test]
fn a_bank_probing_one_subject_is_rate_limited() {
    let r = Region::with(Options {
        query_limit: 2,
        ..Options::default()
    });
    r.publish("public_procurement");
    let bank = r.party("bank.probe", Role::Bank);
    let other = r.party("bank.other", Role::Bank);
    let id = enterprise("91110108MA05PR0B");
    let ask = |b: &Client, id: &SubjectId, d: u32| {
        b.query_sealed(&Question {
            day: d,
            ..question(id, "public_procurement", "probe")
        })
    };
    ask(&bank, &id, day()).unwrap();
    ask(&bank, &id, day() - 1).unwrap();
    let before = r.snapshot();
    let (status, message) = refused(ask(&bank, &id, day() - 2));
    assert!(
        status == 429 && message.contains("limit is 2"),
        "{status} {message}"
    );
    assert_eq!(r.snapshot(), before, "a refused question changes nothing");
    ask(&other, &id, day()).unwrap();
    ask(&bank, &enterprise("91110108MA06PR0C"), day()).unwrap();
}

/// Under the limit, a bank walking the day over one subject still shows in the audit.
#[test]
fn a_day_probing_bank_is_flagged_by_the_audit() {
    let r = Region::new();
    r.publish("public_procurement");
    let bank = r.party("bank.walk", Role::Bank);
    let id = enterprise("91110108MA07WA1K");
    for back in 0..credence::party::auditor::PROBE_DAYS as u32 {
        bank.query_sealed(&Question {
            day: day() - back,
            ..question(&id, "public_procurement", "walk")
        })
        .unwrap();
    }
    let auditor = r.party("auditor.walk", Role::Auditor);
    let report = audited(&r, &auditor);
    assert!(
        report
            .flags
            .iter()
            .any(|f| f.contains("bank.walk") && f.contains("day probing")),
        "{}",
        report.render()
    );
}
