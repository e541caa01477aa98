//! The key authority decides from the log, attacked by a dishonest service.
//!
//! The test plays the service: it keeps a log of its own (signed with the log key the key
//! authority pins) and can append anything to it — forged evaluations, evaluations with an
//! input left out or a stale one, queries for another day — and hand the key authority any
//! ciphertext. Every such request must be refused, the refusal logged through the service,
//! nothing decided and no plaintext returned; the honest requests get verdicts that name the
//! query, the evaluation, the inputs the key authority selected itself and its checkpoint.
//!
//! Keys are generated once for this test binary; FHE tests run one at a time.

use credence::circuits::catalog::Catalog;
use credence::circuits::eval::{evaluate, Inputs};
use credence::circuits::policy::{builtin, Policy};
use credence::fhe::engine::{sha3, Engine};
use credence::fhe::keys::{generate, SecretMaterial};
use credence::fhe::SealedRecord;
use credence::key_authority::{DecideRequest, KeyAuthority, LogView, Refusal, ReplayPolicy};
use credence::party::holder::encrypt_record;
use credence::protocols::identifiers::SubjectKind;
use credence::protocols::log::checkpoint::{Checkpoint, NoteVerifier, SignedCheckpoint};
use credence::protocols::log::entry::{EvaluationPath, LogEntry, LogLeaf, Outcome};
use credence::protocols::log::hash::Hash;
use credence::protocols::log::tree::MemoryTree;
use credence::protocols::log::Sha3Log;
use credence::protocols::names::{AttributeId, PartyId};
use credence::protocols::pseudonym::Pseudonym;
use credence::protocols::signing::{Role, SigningKey};
use credence::protocols::verdict::{Evidence, TrustAnchors};
use credence::store::memory::MemoryStore;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tfhe::prelude::*;

const D: u32 = 20_415;
const ORIGIN: &str = "credence.test/dishonest";

struct World {
    engine: Arc<Engine>,
    secret: Arc<SecretMaterial>,
    ka: SigningKey,
    log_key: SigningKey,
    credit: SigningKey,
    market: SigningKey,
    tax: SigningKey,
    bank: SigningKey,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let (secret, public) = generate(&mut |_, _| {}).unwrap();
        let mut rng = rand::thread_rng();
        World {
            engine: Arc::new(Engine::new(public, 0).unwrap()),
            secret: Arc::new(secret),
            ka: SigningKey::generate(Role::KeyAuthority, &mut rng),
            log_key: SigningKey::generate(Role::Log, &mut rng),
            credit: SigningKey::generate(Role::Holder, &mut rng),
            market: SigningKey::generate(Role::Holder, &mut rng),
            tax: SigningKey::generate(Role::Holder, &mut rng),
            bank: SigningKey::generate(Role::Bank, &mut rng),
        }
    })
}

fn serial() -> MutexGuard<'static, ()> {
    static S: Mutex<()> = Mutex::new(());
    S.lock().unwrap_or_else(|e| e.into_inner())
}

fn party(s: &str) -> PartyId {
    PartyId::new(s).unwrap()
}

fn subject(n: u8) -> Pseudonym {
    Pseudonym {
        kind: SubjectKind::Enterprise,
        bytes: [n; 32],
    }
}

/// The service, as a dishonest operator runs it: a log it appends anything to.
#[derive(Default)]
struct Inner {
    leaves: Vec<LogLeaf>,
    uploads: BTreeMap<Hash, Vec<u8>>,
    policies: BTreeMap<Hash, String>,
    consents: BTreeMap<Hash, Vec<u8>>,
    /// Uploads handed to the key authority.
    fetches: u64,
}

#[derive(Default)]
struct DishonestLog(Mutex<Inner>);

impl DishonestLog {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, entry: LogEntry) -> u64 {
        let mut i = self.inner();
        i.leaves.push(LogLeaf {
            time: u64::from(D) * 86_400,
            entry,
        });
        i.leaves.len() as u64 - 1
    }

    fn size(&self) -> u64 {
        self.inner().leaves.len() as u64
    }

    /// A log with the three holders registered and the shipped policies published.
    fn new() -> DishonestLog {
        let w = world();
        let log = DishonestLog::default();
        for (name, key) in [
            ("credit", &w.credit),
            ("market", &w.market),
            ("tax", &w.tax),
            ("bank.a", &w.bank),
        ] {
            log.append(LogEntry::PartyRegistered {
                party: party(name),
                key: key.public(),
            });
        }
        for name in ["public_procurement", "rongque", "credit_grade"] {
            let p = builtin(name).unwrap();
            log.inner()
                .policies
                .insert(p.hash(), p.canonical().to_string());
            log.append(LogEntry::PolicyPublished {
                policy: p.name.clone(),
                version: p.version,
                policy_hash: p.hash(),
            });
        }
        log
    }

    /// Logs a holder's sealed upload (one entry per attribute, as the service does).
    fn submit(&self, record: &SealedRecord) -> Hash {
        let s = &record.submission.submission;
        let hash = record.submission.hash();
        self.inner().uploads.insert(hash, record.to_bytes());
        for a in &s.attributes {
            self.append(LogEntry::AttributeSubmitted {
                holder: s.holder.clone(),
                attribute: a.clone(),
                subject: s.subject,
                submission: s.submission_id,
                path: EvaluationPath::Sealed,
                content_hash: hash,
            });
        }
        hash
    }

    fn query(&self, who: Pseudonym, policy: &Policy, day: u32) -> u64 {
        self.query_by(who, policy, day, None, &world().bank)
    }

    /// A query as bank.a signs it with `key` (its own key, or a key of the service's).
    fn query_by(
        &self,
        who: Pseudonym,
        policy: &Policy,
        day: u32,
        consent_hash: Option<Hash>,
        key: &SigningKey,
    ) -> u64 {
        let request = signed_request(who, policy, day, consent_hash, key);
        self.append(query_entry(who, policy, day, consent_hash, Some(request)))
    }

    fn evaluation(&self, query: u64, policy: &Policy, inputs: &[Hash], output: &[u8]) -> u64 {
        self.append(LogEntry::Evaluation {
            query_index: query,
            policy_hash: policy.hash(),
            input_hashes: inputs.to_vec(),
            output_hash: sha3(output),
            salt: [0; 16],
        })
    }

    /// Refusals logged for `query`.
    fn refusals(&self, query: u64) -> Vec<String> {
        self.inner()
            .leaves
            .iter()
            .filter_map(|l| match &l.entry {
                LogEntry::DecryptionRefused {
                    query_index,
                    reason,
                    ..
                } if *query_index == query => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }
}

impl LogView for DishonestLog {
    fn checkpoint(&self) -> Result<SignedCheckpoint, String> {
        let i = self.inner();
        let mut tree = MemoryTree::<Sha3Log>::new();
        for l in &i.leaves {
            tree.append_leaf_hash(l.hash());
        }
        let cp = Checkpoint::new(ORIGIN, tree.size(), tree.root()).map_err(|e| e.to_string())?;
        SignedCheckpoint::sign(cp, ORIGIN, &world().log_key).map_err(|e| e.to_string())
    }
    fn entries(&self, from: u64, to: u64) -> Result<Vec<(u64, LogLeaf)>, String> {
        let i = self.inner();
        Ok((from..to.min(i.leaves.len() as u64))
            .map(|n| (n, i.leaves[n as usize].clone()))
            .collect())
    }
    fn upload(&self, hash: &Hash) -> Result<Vec<u8>, String> {
        let mut i = self.inner();
        i.fetches += 1;
        i.uploads
            .get(hash)
            .cloned()
            .ok_or_else(|| "no such upload".into())
    }
    fn consent(&self, hash: &Hash) -> Result<Vec<u8>, String> {
        self.inner()
            .consents
            .get(hash)
            .cloned()
            .ok_or_else(|| "no such consent".into())
    }
    fn policy_text(&self, hash: &Hash) -> Result<String, String> {
        self.inner()
            .policies
            .get(hash)
            .cloned()
            .ok_or_else(|| "no such policy".into())
    }
    fn record_refusal(&self, query_index: u64, reason: &str) -> Result<u64, String> {
        Ok(self.append(LogEntry::DecryptionRefused {
            query_index,
            reason: reason.into(),
            salt: [0; 16],
        }))
    }
}

/// bank.a's signed request for a question (`key`: its own key, or one the service holds).
fn signed_request(
    who: Pseudonym,
    policy: &Policy,
    day: u32,
    consent_hash: Option<Hash>,
    key: &SigningKey,
) -> credence::protocols::query::RequestSignature {
    credence::protocols::query::QueryRequest::new(
        ORIGIN,
        &party("bank.a"),
        who,
        policy.hash(),
        day,
        "loan",
        consent_hash,
        None,
        &mut rand::thread_rng(),
    )
    .sign(key)
}

/// The `Query` entry of bank.a's question, carrying `request`.
fn query_entry(
    who: Pseudonym,
    policy: &Policy,
    day: u32,
    consent_hash: Option<Hash>,
    request: Option<credence::protocols::query::RequestSignature>,
) -> LogEntry {
    LogEntry::Query {
        bank: party("bank.a"),
        subject: who,
        policy_hash: policy.hash(),
        as_of_day: day,
        purpose: "loan".into(),
        consent_hash,
        salt: [0; 16],
        region: None,
        request,
    }
}

/// A key authority pinned to the dishonest log, its clock on day `D`.
fn authority() -> KeyAuthority {
    let w = world();
    let anchors = TrustAnchors {
        log: NoteVerifier::log(ORIGIN, w.log_key.public()).unwrap(),
        service: w.log_key.public(),
        key_authority: w.ka.public(),
        witnesses: vec![],
        witness_quorum: 0,
        authorities: Default::default(),
    };
    let mut ka = KeyAuthority::new(
        w.secret.clone(),
        w.engine.clone(),
        w.ka.clone(),
        Catalog::builtin(),
        anchors,
        Arc::new(MemoryStore::new()),
    )
    .unwrap();
    ka.set_clock(Arc::new(|| u64::from(D) * 86_400 + 3_600));
    ka
}

fn seal(holder: &str, who: Pseudonym, id: u64, values: &[(&str, u64)]) -> SealedRecord {
    let w = world();
    let key = match holder {
        "credit" => &w.credit,
        "market" => &w.market,
        _ => &w.tax,
    };
    let values: Vec<(AttributeId, u64)> = values
        .iter()
        .map(|(a, v)| (AttributeId::new(a).unwrap(), *v))
        .collect();
    encrypt_record(
        &Catalog::builtin(),
        &w.engine.public().public_key,
        &w.engine.public().crs,
        &party(holder),
        key,
        who,
        id,
        &values,
    )
    .unwrap()
}

fn procurement(who: Pseudonym, listed_until: u64, registered: u64, id: u64) -> Vec<SealedRecord> {
    vec![
        seal(
            "credit",
            who,
            id,
            &[("credit.serious_dishonesty", listed_until)],
        ),
        seal(
            "market",
            who,
            id,
            &[
                ("market.abnormal_operation", 0),
                ("market.registered", registered),
            ],
        ),
    ]
}

/// What the engine (honest) computes for `records` on `day`.
fn evaluate_records(policy: &Policy, day: u32, records: &[SealedRecord]) -> Vec<u8> {
    let w = world();
    let keys: BTreeMap<&str, _> = [
        ("credit", w.credit.public()),
        ("market", w.market.public()),
        ("tax", w.tax.public()),
    ]
    .into_iter()
    .collect();
    let stored: Vec<_> = records
        .iter()
        .map(|r| {
            w.engine
                .ingest(
                    r,
                    &keys[r.submission.submission.holder.as_str()],
                    &Catalog::builtin(),
                )
                .unwrap()
                .stored
        })
        .collect();
    w.engine.evaluate(policy, day, &stored).unwrap().output
}

fn decide(
    ka: &KeyAuthority,
    log: &DishonestLog,
    q: u64,
    output: &[u8],
) -> Result<Outcome, Refusal> {
    ka.decide(
        log,
        &DecideRequest {
            query_index: q,
            output: output.to_vec(),
        },
    )
    .map(|v| v.verdict.outcome)
}

#[test]
fn honest_queries_are_decided_from_the_log() {
    let _s = serial();
    let ka = authority();
    let log = DishonestLog::new();
    let policy = builtin("public_procurement").unwrap();
    for (n, listed_until, registered) in [(1u8, 0u64, 1u64), (2, u64::from(D) + 1, 1), (3, 0, 0)] {
        let who = subject(n);
        let records = procurement(who, listed_until, registered, 1);
        let hashes: Vec<Hash> = records.iter().map(|r| log.submit(r)).collect();
        let q = log.query(who, &policy, D);
        let output = evaluate_records(&policy, D, &records);
        let e = log.evaluation(q, &policy, &hashes, &output);
        let signed = ka
            .decide(
                &log,
                &DecideRequest {
                    query_index: q,
                    output: output.clone(),
                },
            )
            .unwrap();
        let oracle = evaluate(
            &policy,
            &Inputs::new(
                &Catalog::builtin(),
                [
                    ("credit.serious_dishonesty", listed_until),
                    ("market.abnormal_operation", 0),
                    ("market.registered", registered),
                ],
            )
            .unwrap(),
            D,
        );
        assert_eq!(signed.verdict.outcome, oracle, "subject {n}");
        assert_eq!(signed.verdict.subject, who);
        assert_eq!(signed.verdict.as_of_day, D);
        ka.public_key()
            .verify(Role::KeyAuthority, &signed.verdict, &signed.signature)
            .unwrap();
        // The verdict names what the key authority relied on, read from the log.
        let Evidence::Decryption {
            query_index,
            evaluation_index,
            input_hashes,
            output_hash,
            checkpoint_size,
            ..
        } = &signed.verdict.evidence
        else {
            panic!("not a sealed verdict")
        };
        assert_eq!(
            (*query_index, *evaluation_index, input_hashes, *output_hash),
            (q, e, &hashes, sha3(&output))
        );
        assert_eq!(*checkpoint_size, e + 1);
        assert!(log.refusals(q).is_empty());
        // Asking again gives the same verdict; nothing is decrypted twice.
        let again = ka
            .decide(
                &log,
                &DecideRequest {
                    query_index: q,
                    output,
                },
            )
            .unwrap();
        assert_eq!(again.hash(), signed.hash());
    }
    assert!(ka.log_size() > 0);
}

/// Evaluate once: the key authority evaluates a logged query for the service to log and then
/// decides without replaying — but only an evaluation that is exactly its own: a service that
/// logs other output bytes for the query is replayed and refused, a question no bank signed is
/// not evaluated, and one that replays a sample evaluates nothing.
#[test]
fn a_query_is_evaluated_once_and_only_its_own_evaluation_skips_the_replay() {
    let _s = serial();
    let ka = authority();
    let log = DishonestLog::new();
    let policy = builtin("public_procurement").unwrap();
    // Subject 21 is eligible, subject 22 is listed.
    let eligible = subject(21);
    let records = procurement(eligible, 0, 1, 1);
    let hashes: Vec<Hash> = records.iter().map(|r| log.submit(r)).collect();
    let q = log.query(eligible, &policy, D);
    let before = ka.evaluations_run();
    let own = ka.evaluate(&log, q).unwrap();
    assert_eq!(own.input_hashes, hashes, "it selects the inputs itself");
    // Bit-exact: what anyone evaluating the logged inputs gets.
    assert_eq!(own.output, evaluate_records(&policy, D, &records));
    assert_eq!(ka.evaluations_run(), before + 1);
    log.evaluation(q, &policy, &hashes, &own.output);
    assert_eq!(
        decide(&ka, &log, q, &own.output),
        Ok(Outcome::Eligible(true))
    );
    assert_eq!(
        ka.evaluations_run(),
        before + 1,
        "decided without replaying"
    );
    assert!(log.refusals(q).is_empty());
    // The decision took its kept evaluation; evaluating the decided query again keeps
    // nothing (it is never decided again), and the verdict is the same.
    let kept = ka.kept_evaluations();
    let again = ka.evaluate(&log, q).unwrap();
    assert_eq!(again.output, own.output);
    assert_eq!(ka.kept_evaluations(), kept);
    assert_eq!(
        decide(&ka, &log, q, &own.output),
        Ok(Outcome::Eligible(true))
    );

    // A dishonest service logs, for the listed subject's query, the eligible subject's output
    // (a "yes"), with the right inputs: not the key authority's evaluation, so it is replayed,
    // and the replay differs.
    let listed = subject(22);
    let records = procurement(listed, u64::from(D) + 1, 1, 1);
    let hashes: Vec<Hash> = records.iter().map(|r| log.submit(r)).collect();
    let q2 = log.query(listed, &policy, D);
    let theirs = ka.evaluate(&log, q2).unwrap();
    assert_ne!(theirs.output, own.output);
    log.evaluation(q2, &policy, &hashes, &own.output);
    let size = log.size();
    let runs = ka.evaluations_run();
    assert_eq!(
        decide(&ka, &log, q2, &own.output),
        Err(Refusal::OutputMismatch)
    );
    assert_eq!(ka.evaluations_run(), runs + 1, "replayed");
    assert_eq!(log.refusals(q2), vec!["output-mismatch".to_string()]);
    assert_eq!(log.size(), size + 1, "only the refusal is logged");

    // Its own evaluation of one query decides no other: the eligible output logged for a
    // second query about the listed subject is replayed too.
    let q3 = log.query(listed, &policy, D);
    log.evaluation(q3, &policy, &hashes, &theirs.output);
    let runs = ka.evaluations_run();
    assert_eq!(
        decide(&ka, &log, q3, &theirs.output),
        Ok(Outcome::Eligible(false))
    );
    assert_eq!(ka.evaluations_run(), runs + 1);

    // A question no bank signed is not evaluated, and the refusal is logged.
    let unsigned = log.append(query_entry(eligible, &policy, D, None, None));
    let runs = ka.evaluations_run();
    assert!(matches!(
        ka.evaluate(&log, unsigned),
        Err(Refusal::Unasked(_))
    ));
    assert_eq!(log.refusals(unsigned), vec!["unasked".to_string()]);
    assert_eq!(ka.evaluations_run(), runs);
    // Nor is an index that is no query.
    assert!(matches!(
        ka.evaluate(&log, unsigned + 1_000),
        Err(Refusal::UnloggedQuery(_))
    ));

    // A key authority that replays a sample evaluates nothing (the service does), and says so
    // without logging anything.
    let mut sampled = authority();
    sampled.set_replay(ReplayPolicy::Sampled { one_in: 4 });
    let q4 = log.query(eligible, &policy, D);
    let size = log.size();
    assert_eq!(sampled.evaluate(&log, q4), Err(Refusal::NotEvaluating));
    assert_eq!(log.size(), size);
}

#[test]
fn grades_and_the_latest_record_per_attribute() {
    let _s = serial();
    let ka = authority();
    let log = DishonestLog::new();
    let who = subject(9);
    // credit_grade: 300 + 100 + compliance; 449 → B (index 1), 450 → A (index 0). The second
    // market record supersedes the first: the key authority reads only the latest.
    let grade = builtin("credit_grade").unwrap();
    let tax = seal(
        "tax",
        who,
        2,
        &[("tax.grade_a", 0), ("tax.credit_score", 100)],
    );
    let tax_hash = log.submit(&tax);
    for (id, compliance, expected) in [(10u64, 49u64, 1u8), (11, 50, 0)] {
        let market = seal(
            "market",
            who,
            id,
            &[("market.compliance_score", compliance)],
        );
        let market_hash = log.submit(&market);
        let q = log.query(who, &grade, D);
        let output = evaluate_records(&grade, D, &[tax.clone(), market]);
        log.evaluation(q, &grade, &[tax_hash, market_hash], &output);
        assert_eq!(
            decide(&ka, &log, q, &output).unwrap(),
            Outcome::Grade(expected)
        );
    }
}

#[test]
fn a_dishonest_service_gets_no_decryption() {
    let _s = serial();
    let w = world();
    let ka = authority();
    let log = DishonestLog::new();
    let policy = builtin("public_procurement").unwrap();
    let who = subject(5);
    // Listed until D + 1: not eligible on D. An older record said "never listed".
    let stale = seal("credit", who, 1, &[("credit.serious_dishonesty", 0)]);
    let stale_hash = log.submit(&stale);
    let records = procurement(who, u64::from(D) + 1, 1, 2);
    let hashes: Vec<Hash> = records.iter().map(|r| log.submit(r)).collect();
    let honest = evaluate_records(&policy, D, &records);

    let refused = |q: u64, output: &[u8], code: &str, check: &dyn Fn(&Refusal) -> bool| {
        let before = log.refusals(q).len();
        let r = decide(&ka, &log, q, output).unwrap_err();
        assert!(check(&r), "query {q}: refused for the wrong reason: {r:?}");
        assert_eq!(r.code(), code);
        let logged = log.refusals(q);
        assert_eq!(logged.len(), before + 1, "the refusal of {q} is logged");
        assert_eq!(logged.last().unwrap(), code);
    };

    // 1. A raw attribute ciphertext, logged as if it were the evaluation's output.
    let raw = {
        let list = tfhe::CompactCiphertextList::builder(&w.engine.public().public_key)
            .push(u16::MAX)
            .build_packed();
        let ct: tfhe::FheUint16 = w
            .engine
            .install(|| list.expand().unwrap().get(0).unwrap().unwrap());
        let mut b = Vec::new();
        tfhe::safe_serialization::safe_serialize(&ct, &mut b, 1 << 20).unwrap();
        b
    };
    let q = log.query(who, &policy, D);
    log.evaluation(q, &policy, &hashes, &raw);
    refused(q, &raw, "not-an-output", &|r| {
        matches!(r, Refusal::NotAnOutput(_))
    });

    // 2. A forged output: a fresh encryption of "eligible", logged as the output.
    let forged = encrypt_u8(1);
    let q = log.query(who, &policy, D);
    log.evaluation(q, &policy, &hashes, &forged);
    refused(q, &forged, "output-mismatch", &|r| {
        *r == Refusal::OutputMismatch
    });

    // 3. The evaluation for another day (the listing has lapsed by D + 400), logged for a
    //    query about D: the replay for the query's own day differs.
    let other_day = evaluate_records(&policy, D + 400, &records);
    let q = log.query(who, &policy, D);
    log.evaluation(q, &policy, &hashes, &other_day);
    refused(q, &other_day, "output-mismatch", &|r| {
        *r == Refusal::OutputMismatch
    });

    // 4. An input left out (the credit record that lists the subject).
    let without = evaluate_records(&policy, D, &records[1..]);
    let q = log.query(who, &policy, D);
    log.evaluation(q, &policy, &hashes[1..], &without);
    refused(q, &without, "inputs", &|r| {
        matches!(r, Refusal::WrongInputs(_))
    });

    // 5. A stale input: the superseded credit record instead of the latest.
    let with_stale = evaluate_records(&policy, D, &[stale.clone(), records[1].clone()]);
    let q = log.query(who, &policy, D);
    log.evaluation(q, &policy, &[stale_hash, hashes[1]], &with_stale);
    refused(q, &with_stale, "inputs", &|r| {
        matches!(r, Refusal::WrongInputs(_))
    });

    // 6. An unlogged query: an index that is no query, and one beyond the log.
    let not_a_query = 0;
    refused(not_a_query, &honest, "unlogged-query", &|r| {
        matches!(r, Refusal::UnloggedQuery(0))
    });
    let beyond = log.size() + 10;
    refused(beyond, &honest, "unlogged-query", &|r| {
        matches!(r, Refusal::UnloggedQuery(_))
    });

    // 7. Another day: a query about a day far from the key authority's clock (day probing).
    let far = log.query(who, &policy, D + 31);
    let far_output = evaluate_records(&policy, D + 31, &records);
    log.evaluation(far, &policy, &hashes, &far_output);
    refused(far, &far_output, "day-window", &|r| {
        matches!(r, Refusal::DayOutOfWindow { .. })
    });

    // 8. A query with no logged evaluation, and one with two.
    let q = log.query(who, &policy, D);
    refused(q, &honest, "no-evaluation", &|r| {
        matches!(r, Refusal::NoEvaluation(_))
    });
    let q = log.query(who, &policy, D);
    log.evaluation(q, &policy, &hashes, &honest);
    log.evaluation(q, &policy, &hashes, &honest);
    refused(q, &honest, "no-evaluation", &|r| {
        matches!(r, Refusal::NoEvaluation(_))
    });

    // 9. An output other than the logged one.
    let q = log.query(who, &policy, D);
    log.evaluation(q, &policy, &hashes, &honest);
    refused(q, &forged, "not-logged", &|r| *r == Refusal::NotLogged);

    // 10. A policy the log never published.
    let xinyidai = builtin("xinyidai").unwrap();
    let q = log.query(who, &xinyidai, D);
    log.evaluation(q, &xinyidai, &[], &honest);
    refused(q, &honest, "unknown-policy", &|r| {
        *r == Refusal::UnknownPolicy
    });

    // 11. An upload the service swaps under a logged hash. A key authority that has not
    //     verified it yet fetches it and refuses it; this one verified the genuine upload in the
    //     replays above (it pays for ingest once) and decides on its own verified copy, never
    //     reading the swapped bytes.
    let q = log.query(who, &policy, D);
    log.evaluation(q, &policy, &hashes, &honest);
    let original = log.inner().uploads[&hashes[0]].clone();
    log.inner().uploads.insert(hashes[0], stale.to_bytes());
    let first_time = authority();
    let r = decide(&first_time, &log, q, &honest).unwrap_err();
    assert!(matches!(r, Refusal::BadInput(_)), "{r:?}");
    assert_eq!(log.refusals(q), vec!["bad-input".to_string()]);
    let fetched = log.inner().fetches;
    assert_eq!(
        decide(&ka, &log, q, &honest).unwrap(),
        Outcome::Eligible(false)
    );
    assert_eq!(log.inner().fetches, fetched, "nothing fetched again");
    log.inner().uploads.insert(hashes[0], original);

    // Asked again, the same verdict: "not eligible" (listed until D + 1).
    assert_eq!(
        decide(&ka, &log, q, &honest).unwrap(),
        Outcome::Eligible(false)
    );

    // Sampled replay that skips the request still refuses a non-boolean output.
    let mut sampled = authority();
    sampled.set_replay(ReplayPolicy::Sampled { one_in: u32::MAX });
    let seven = encrypt_u8(7);
    let q = log.query(who, &policy, D);
    log.evaluation(q, &policy, &hashes, &seven);
    assert_eq!(
        decide(&sampled, &log, q, &seven).unwrap_err(),
        Refusal::InvalidOutcome
    );
}

/// A query the key authority decides must be one its bank signed, over exactly the logged
/// fields, for this log, once. A dishonest service that makes up a question (an enterprise
/// needs no consent), signs it with a key of its own, re-registers the bank under its key,
/// changes a field of a question a bank did sign, replays one, or logs one signed for another
/// region gets no decision: each is refused with `unasked` and the refusal logged, whatever the
/// evaluation it logs is honest.
#[test]
fn a_question_no_bank_signed_gets_no_decryption() {
    let _s = serial();
    let ka = authority();
    let log = DishonestLog::new();
    let policy = builtin("public_procurement").unwrap();
    let who = subject(21);
    let records = procurement(who, 0, 1, 1);
    let hashes: Vec<Hash> = records.iter().map(|r| log.submit(r)).collect();
    let honest = evaluate_records(&policy, D, &records);
    let unasked = |entry: LogEntry| {
        let q = log.append(entry);
        log.evaluation(q, &policy, &hashes, &honest);
        let r = decide(&ka, &log, q, &honest).unwrap_err();
        assert!(matches!(r, Refusal::Unasked(_)), "query {q}: {r:?}");
        assert_eq!(log.refusals(q), vec!["unasked".to_string()]);
        q
    };
    // 1. Made up: no request at all.
    unasked(query_entry(who, &policy, D, None, None));
    // 2. Signed by a bank key the service holds, never registered.
    let own = SigningKey::generate(Role::Bank, &mut rand::thread_rng());
    unasked(query_entry(
        who,
        &policy,
        D,
        None,
        Some(signed_request(who, &policy, D, None, &own)),
    ));
    // 3. The bank's own signature over another question: another day, another subject, another
    //    policy hash, another purpose.
    let real = signed_request(who, &policy, D - 1, None, &world().bank);
    unasked(query_entry(who, &policy, D, None, Some(real)));
    let real = signed_request(subject(22), &policy, D, None, &world().bank);
    unasked(query_entry(who, &policy, D, None, Some(real)));
    let mut other_purpose = query_entry(
        who,
        &policy,
        D,
        None,
        Some(signed_request(who, &policy, D, None, &world().bank)),
    );
    if let LogEntry::Query { purpose, .. } = &mut other_purpose {
        *purpose = "marketing".into();
    }
    unasked(other_purpose);
    // 4. Signed for another region's log.
    let elsewhere = credence::protocols::query::QueryRequest::new(
        "credence.test/elsewhere",
        &party("bank.a"),
        who,
        policy.hash(),
        D,
        "loan",
        None,
        None,
        &mut rand::thread_rng(),
    )
    .sign(&world().bank);
    unasked(query_entry(who, &policy, D, None, Some(elsewhere)));
    // 5. The operator registers bank.a again, under its own key, and signs with it: the first
    //    registration is the bank's key.
    log.append(LogEntry::PartyRegistered {
        party: party("bank.a"),
        key: own.public(),
    });
    unasked(query_entry(
        who,
        &policy,
        D,
        None,
        Some(signed_request(who, &policy, D, None, &own)),
    ));
    // 6. A request to forward the question to a partner: neither the forward itself nor the
    //    same signature logged again as a question to answer here is decided.
    let to_forward = credence::protocols::query::QueryRequest::new(
        ORIGIN,
        &party("bank.a"),
        who,
        policy.hash(),
        D,
        "loan",
        None,
        Some("credence.test/partner"),
        &mut rand::thread_rng(),
    )
    .sign(&world().bank);
    let mut forward = query_entry(who, &policy, D, None, Some(to_forward));
    if let LogEntry::Query { region, .. } = &mut forward {
        *region = Some("credence.test/partner".into());
    }
    unasked(forward);
    unasked(query_entry(who, &policy, D, None, Some(to_forward)));
    // 7. A genuine request: decided once; logged again, refused as a replay.
    let genuine = signed_request(who, &policy, D, None, &world().bank);
    let q = log.append(query_entry(who, &policy, D, None, Some(genuine)));
    log.evaluation(q, &policy, &hashes, &honest);
    assert_eq!(
        decide(&ka, &log, q, &honest).unwrap(),
        Outcome::Eligible(true)
    );
    let again = unasked(query_entry(who, &policy, D, None, Some(genuine)));
    let Err(Refusal::Unasked(why)) = decide(&ka, &log, again, &honest) else {
        panic!("a replayed request was decided")
    };
    assert!(
        why.contains(&format!("already logged at index {q}")),
        "{why}"
    );
}

/// The key authority verifies every upload when it first appears in the log, whoever it is
/// about: a decision about one subject verifies the uploads logged about another, so a later
/// decision about that other subject fetches nothing — its time does not show whether anyone
/// asked about it before. What it kept is still checked against the log at every decision: an
/// upload logged again afterwards is refused; a key authority that verifies every time fetches
/// every input again.
#[test]
fn uploads_are_verified_when_first_logged_and_what_is_kept_is_rechecked() {
    let _s = serial();
    let ka = authority();
    let log = DishonestLog::new();
    let policy = builtin("public_procurement").unwrap();
    let (a, b) = (subject(31), subject(32));
    let records_a = procurement(a, 0, 1, 1);
    let hashes_a: Vec<Hash> = records_a.iter().map(|r| log.submit(r)).collect();
    let records_b = procurement(b, 0, 1, 2);
    let hashes_b: Vec<Hash> = records_b.iter().map(|r| log.submit(r)).collect();
    let ask = |who: Pseudonym, records: &[SealedRecord], hashes: &[Hash]| {
        let q = log.query(who, &policy, D);
        let out = evaluate_records(&policy, D, records);
        log.evaluation(q, &policy, hashes, &out);
        (q, out)
    };
    let (qa, out_a) = ask(a, &records_a, &hashes_a);
    assert_eq!(
        decide(&ka, &log, qa, &out_a).unwrap(),
        Outcome::Eligible(true)
    );
    assert_eq!(
        log.inner().fetches,
        4,
        "all four uploads verified at first sight"
    );
    let (qb, out_b) = ask(b, &records_b, &hashes_b);
    assert_eq!(
        decide(&ka, &log, qb, &out_b).unwrap(),
        Outcome::Eligible(true)
    );
    assert_eq!(
        log.inner().fetches,
        4,
        "nothing fetched for b: kept since a's decision"
    );

    // Followed outside any request (the process does it on a timer): c's uploads are verified
    // then, and c's decision fetches nothing.
    let c = subject(33);
    let records_c = procurement(c, 0, 1, 3);
    let hashes_c: Vec<Hash> = records_c.iter().map(|r| log.submit(r)).collect();
    assert_eq!(ka.follow_log(&log).unwrap(), log.size());
    assert_eq!(
        log.inner().fetches,
        6,
        "c's two uploads verified with no request"
    );
    let (qc, out_c) = ask(c, &records_c, &hashes_c);
    assert_eq!(
        decide(&ka, &log, qc, &out_c).unwrap(),
        Outcome::Eligible(true)
    );
    assert_eq!(log.inner().fetches, 6);

    // b's credit record logged again: what was kept no longer matches the log.
    log.submit(&records_b[0]);
    let (q, out) = ask(b, &records_b, &hashes_b);
    let r = decide(&ka, &log, q, &out).unwrap_err();
    assert!(matches!(r, Refusal::WrongInputs(_)), "{r:?}");
    assert_eq!(log.refusals(q), vec!["inputs".to_string()]);

    // Verifying every time: each decision fetches its inputs.
    let mut every = authority();
    every.set_ingest_once(false);
    let before = log.inner().fetches;
    assert_eq!(
        decide(&every, &log, qa, &out_a).unwrap(),
        Outcome::Eligible(true)
    );
    assert_eq!(log.inner().fetches, before + 2);
}

/// The log's own entries about an upload are checked against the upload: a service that
/// re-logs an old upload after a newer one, labels one holder's upload with another's
/// attribute, or logs a key rotation to slip in forged records gets no decision.
#[test]
fn relogged_mislabelled_or_rekeyed_uploads_are_refused() {
    let _s = serial();
    let policy = builtin("public_procurement").unwrap();
    let who = subject(13);
    let stale = seal("credit", who, 1, &[("credit.serious_dishonesty", 0)]);
    let records = procurement(who, u64::from(D) + 1, 1, 2);
    let setup = || {
        let log = DishonestLog::new();
        let stale_hash = log.submit(&stale);
        let hashes: Vec<Hash> = records.iter().map(|r| log.submit(r)).collect();
        (log, stale_hash, hashes)
    };
    // A fresh key authority for each log (each is another history).
    let check = |log: &DishonestLog, q: u64, output: &[u8], code: &str| {
        let r = decide(&authority(), log, q, output).unwrap_err();
        assert_eq!(r.code(), code, "{r:?}");
        assert_eq!(log.refusals(q), vec![code.to_string()]);
    };

    // 1. The stale credit record logged again after the current one: it would be "the
    //    latest" if the log's word were taken.
    let (log, stale_hash, hashes) = setup();
    log.append(LogEntry::AttributeSubmitted {
        holder: party("credit"),
        attribute: AttributeId::new("credit.serious_dishonesty").unwrap(),
        subject: who,
        submission: 1,
        path: EvaluationPath::Sealed,
        content_hash: stale_hash,
    });
    let with_stale = evaluate_records(&policy, D, &[stale.clone(), records[1].clone()]);
    let q = log.query(who, &policy, D);
    log.evaluation(q, &policy, &[stale_hash, hashes[1]], &with_stale);
    check(&log, q, &with_stale, "inputs");

    // 2. The credit attribute logged as carried by the market upload: the credit record
    //    would silently drop out.
    let (log, _, hashes) = setup();
    log.append(LogEntry::AttributeSubmitted {
        holder: party("market"),
        attribute: AttributeId::new("credit.serious_dishonesty").unwrap(),
        subject: who,
        submission: 2,
        path: EvaluationPath::Sealed,
        content_hash: hashes[1],
    });
    let without = evaluate_records(&policy, D, &records[1..]);
    let q = log.query(who, &policy, D);
    log.evaluation(q, &policy, &hashes[1..], &without);
    check(&log, q, &without, "inputs");

    // 3. A logged "rotation" of the credit bureau's key to one the operator holds, then a
    //    credit record signed with it: the key authority keeps the registered key.
    let (log, _, hashes) = setup();
    let operator = SigningKey::generate(Role::Holder, &mut rand::thread_rng());
    log.append(LogEntry::KeyRotation {
        party: party("credit"),
        old_key: world().credit.public(),
        new_key: operator.public(),
    });
    let forged = encrypt_record(
        &Catalog::builtin(),
        &world().engine.public().public_key,
        &world().engine.public().crs,
        &party("credit"),
        &operator,
        who,
        3,
        &[(AttributeId::new("credit.serious_dishonesty").unwrap(), 0)],
    )
    .unwrap();
    let forged_hash = log.submit(&forged);
    let output = {
        let w = world();
        let stored = vec![
            w.engine
                .ingest(&records[1], &w.market.public(), &Catalog::builtin())
                .unwrap()
                .stored,
            w.engine
                .ingest(&forged, &operator.public(), &Catalog::builtin())
                .unwrap()
                .stored,
        ];
        w.engine.evaluate(&policy, D, &stored).unwrap().output
    };
    let q = log.query(who, &policy, D);
    log.evaluation(q, &policy, &[hashes[1], forged_hash], &output);
    check(&log, q, &output, "bad-input");
}

/// An honest query about `subject(n)` decided from `log`; then the service rewrites history
/// (the subject's credit record now lists it: the new log has the same size and more, under
/// another root) and logs the question again with the honest output. Returns the new query's
/// index, that output, and the log size the key authority had verified.
fn decided_then_forked(ka: &KeyAuthority, log: &DishonestLog, n: u8) -> (u64, Vec<u8>, u64) {
    let policy = builtin("public_procurement").unwrap();
    let who = subject(n);
    let records = procurement(who, 0, 1, 1);
    let hashes: Vec<Hash> = records.iter().map(|r| log.submit(r)).collect();
    let q = log.query(who, &policy, D);
    let output = evaluate_records(&policy, D, &records);
    log.evaluation(q, &policy, &hashes, &output);
    assert_eq!(
        decide(ka, log, q, &output).unwrap(),
        Outcome::Eligible(true)
    );
    let seen = ka.log_size();
    {
        let listed = seal("credit", who, 1, &[("credit.serious_dishonesty", 60_000)]);
        let mut i = log.inner();
        let LogEntry::AttributeSubmitted { content_hash, .. } = &mut i.leaves[7].entry else {
            panic!("entry 7 is the credit submission")
        };
        *content_hash = listed.submission.hash();
    }
    let q2 = log.query(who, &policy, D);
    log.evaluation(q2, &policy, &hashes, &output);
    (q2, output, seen)
}

#[test]
fn a_forked_or_rolled_back_log_is_refused() {
    let _s = serial();
    let ka = authority();
    let log = DishonestLog::new();
    let (q2, output, seen) = decided_then_forked(&ka, &log, 11);
    let r = decide(&ka, &log, q2, &output).unwrap_err();
    assert!(matches!(r, Refusal::Checkpoint(_)), "{r:?}");
    assert_eq!(ka.log_size(), seen, "nothing of the forked log is kept");

    // A shorter log with another history is refused too.
    let short = DishonestLog::default();
    short.append(LogEntry::PartyRegistered {
        party: party("someone.else"),
        key: world().tax.public(),
    });
    let r = decide(&ka, &short, 0, &output).unwrap_err();
    assert!(matches!(r, Refusal::Checkpoint(_)), "{r:?}");
}

/// The service forks its log, then hides the fork behind entries it does not hand over: it
/// signs the forked checkpoint but answers the entries past what the key authority verified
/// with an error. That is its doing, not an outage: refused as `checkpoint` (evidence), not as
/// `log-unreadable`, and nothing of the fork is kept. A checkpoint it does not hand over at all
/// is `log-unreadable`.
#[test]
fn a_fork_behind_withheld_entries_is_still_evidence() {
    struct Withholding<'a>(&'a DishonestLog, u64, bool);
    impl LogView for Withholding<'_> {
        fn checkpoint(&self) -> Result<SignedCheckpoint, String> {
            if self.2 {
                return Err("HTTP 503".into());
            }
            self.0.checkpoint()
        }
        fn entries(&self, from: u64, to: u64) -> Result<Vec<(u64, LogLeaf)>, String> {
            if to > self.1 {
                return Err(format!("the service withheld entry {}", self.1.max(from)));
            }
            self.0.entries(from, to)
        }
        fn upload(&self, hash: &Hash) -> Result<Vec<u8>, String> {
            self.0.upload(hash)
        }
        fn consent(&self, hash: &Hash) -> Result<Vec<u8>, String> {
            self.0.consent(hash)
        }
        fn policy_text(&self, hash: &Hash) -> Result<String, String> {
            self.0.policy_text(hash)
        }
        fn record_refusal(&self, query_index: u64, reason: &str) -> Result<u64, String> {
            self.0.record_refusal(query_index, reason)
        }
    }
    let _s = serial();
    let ka = authority();
    let log = DishonestLog::new();
    let (q2, output, seen) = decided_then_forked(&ka, &log, 12);
    let request = DecideRequest {
        query_index: q2,
        output: output.clone(),
    };
    let r = ka
        .decide(&Withholding(&log, seen, false), &request)
        .unwrap_err();
    assert!(matches!(r, Refusal::Checkpoint(_)), "{r:?}");
    assert_eq!(r.code(), "checkpoint");
    assert_eq!(ka.log_size(), seen, "nothing of the forked log is kept");
    // No checkpoint at all: it cannot follow, and says so without accusing anyone.
    let r = ka
        .decide(&Withholding(&log, seen, true), &request)
        .unwrap_err();
    assert!(matches!(r, Refusal::LogUnreadable(_)), "{r:?}");
    assert_eq!(ka.log_size(), seen);
    // Handed over, the fork itself is caught.
    let r = decide(&ka, &log, q2, &output).unwrap_err();
    assert!(matches!(r, Refusal::Checkpoint(_)), "{r:?}");
    assert_eq!(ka.log_size(), seen);
}

/// Its copy of the log is durable: after a restart it still knows what it verified, so a
/// service that rewrote history in the meantime is caught.
#[test]
fn its_copy_of_the_log_survives_a_restart_and_still_catches_a_fork() {
    let _s = serial();
    let w = world();
    let dir = std::env::temp_dir().join(format!("credence-ka-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let open = || {
        let anchors = TrustAnchors {
            log: NoteVerifier::log(ORIGIN, w.log_key.public()).unwrap(),
            service: w.log_key.public(),
            key_authority: w.ka.public(),
            witnesses: vec![],
            witness_quorum: 0,
            authorities: Default::default(),
        };
        KeyAuthority::new(
            w.secret.clone(),
            w.engine.clone(),
            w.ka.clone(),
            Catalog::builtin(),
            anchors,
            Arc::new(credence::store::embedded::EmbeddedStore::open(&dir.join("ka.redb")).unwrap()),
        )
        .unwrap()
    };
    let log = DishonestLog::new();
    let seen = log.size();
    {
        let ka = open();
        // Any request follows the log first (entry 0 is no query: refused, and logged).
        assert!(matches!(
            decide(&ka, &log, 0, &[]),
            Err(Refusal::UnloggedQuery(0))
        ));
        assert_eq!(ka.log_size(), seen);
    }
    let ka = open();
    assert_eq!(ka.log_size(), seen, "what it verified survives the restart");
    // The service rewrites the first registration while the key authority was down.
    log.inner().leaves[0].entry = LogEntry::PartyRegistered {
        party: party("credit"),
        key: w.tax.public(),
    };
    let r = decide(&ka, &log, 0, &[]).unwrap_err();
    assert!(matches!(r, Refusal::Checkpoint(_)), "{r:?}");
    assert_eq!(ka.log_size(), seen);
    drop(ka);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn evaluation_is_byte_identical_on_any_thread_count() {
    // Also: the decompressed-block cache changes no byte, and what a query finds in it depends
    // on when its records were ingested, never on earlier questions.
    let _s = serial();
    let w = world();
    let policy = builtin("public_procurement").unwrap();
    let records = procurement(subject(12), u64::from(D) + 1, 1, 1);
    let reference = evaluate_records(&policy, D, &records);
    let ingest = |engine: &Engine, records: &[SealedRecord]| -> Vec<_> {
        records
            .iter()
            .map(|r| {
                let key = if r.submission.submission.holder.as_str() == "credit" {
                    w.credit.public()
                } else {
                    w.market.public()
                };
                engine.ingest(r, &key, &Catalog::builtin()).unwrap().stored
            })
            .collect()
    };
    for threads in [1, 2, 3] {
        let engine = Engine::new(w.engine.public().clone(), threads).unwrap();
        engine.set_block_cache(64 << 20);
        let stored = ingest(&engine, &records);
        // Ingest decompressed every block a plan may read: the evaluation decompresses none.
        let warmed = engine.block_cache_stats();
        assert!(warmed.bytes > 0 && warmed.misses == 0, "{warmed:?}");
        let out = engine.evaluate(&policy, D, &stored).unwrap().output;
        assert!(
            out == reference,
            "{threads} threads gave other output bytes"
        );
        let after = engine.block_cache_stats();
        assert_eq!(after.misses, 0, "{after:?}");
        assert!(after.hits > 0, "{after:?}");
        engine.set_block_cache(0);
        assert_eq!(engine.block_cache_stats().bytes, 0);
        let cold = engine.evaluate(&policy, D, &stored).unwrap().output;
        assert!(cold == reference, "the cache off changed the output");
        assert!(engine.block_cache_stats().misses > 0);
    }
    // Room for one subject's blocks: a later subject's ingest pushes the earlier one out,
    // oldest ingested first, and neither an evaluation's miss nor its hit changes what is kept.
    let engine = Engine::new(w.engine.public().clone(), 0).unwrap();
    engine.set_block_cache(64 << 20);
    let first = ingest(&engine, &records);
    let one_subject = engine.block_cache_stats().bytes;
    engine.set_block_cache(one_subject);
    let other = procurement(subject(13), 0, 1, 1);
    let second = ingest(&engine, &other);
    assert_eq!(engine.block_cache_stats().bytes, one_subject);
    let before = engine.block_cache_stats();
    assert!(engine.evaluate(&policy, D, &first).unwrap().output == reference);
    let missed = engine.block_cache_stats();
    assert!(
        missed.misses > before.misses && missed.hits == before.hits,
        "{missed:?}"
    );
    // Asking about the first subject kept nothing of it: the second's blocks are all there.
    engine.evaluate(&policy, D, &second).unwrap();
    let hit = engine.block_cache_stats();
    assert_eq!(hit.misses, missed.misses, "{hit:?}");
    assert!(hit.hits > missed.hits, "{hit:?}");
    engine.evaluate(&policy, D, &first).unwrap();
    assert!(engine.block_cache_stats().misses > hit.misses);
}

fn encrypt_u8(v: u8) -> Vec<u8> {
    let w = world();
    let list = tfhe::CompactCiphertextList::builder(&w.engine.public().public_key)
        .push(v)
        .build_packed();
    let ct: tfhe::FheUint8 = w
        .engine
        .install(|| list.expand().unwrap().get(0).unwrap().unwrap());
    let mut b = Vec::new();
    tfhe::safe_serialization::safe_serialize(&ct, &mut b, 1 << 20).unwrap();
    b
}

/// A person's query with a consent signed by `signer`, as the dishonest service logs it.
fn consented_query(
    log: &DishonestLog,
    who: Pseudonym,
    policy: &Policy,
    signer: &SigningKey,
) -> u64 {
    let c = credence::protocols::consent::SignedConsent::sign(
        credence::protocols::consent::Consent {
            subject: who,
            bank: party("bank.a"),
            policy_hash: policy.hash(),
            purpose: "loan".into(),
            from_day: D,
            until_day: D,
            nonce: [9; 16],
        },
        signer,
    );
    log.inner().consents.insert(c.hash(), c.to_bytes());
    log.query_by(who, policy, D, Some(c.hash()), &world().bank)
}

fn bind(log: &DishonestLog, name: &str, who: Pseudonym, key: &SigningKey) {
    log.append(LogEntry::PartyRegistered {
        party: party(name),
        key: key.public(),
    });
    log.append(LogEntry::SubjectBound {
        party: party(name),
        subject: who,
        key: key.public(),
        sealing_key: [5; 32],
        salt: [6; 16],
    });
}

#[test]
fn a_consent_counts_only_under_the_key_the_log_binds_to_the_pseudonym() {
    let _s = serial();
    let ka = authority();
    let log = DishonestLog::new();
    let policy = builtin("public_procurement").unwrap();
    let mut rng = rand::thread_rng();
    let person = |n: u8| Pseudonym {
        kind: SubjectKind::Person,
        bytes: [n; 32],
    };
    let (alice, bob) = (person(1), person(2));
    let alice_key = SigningKey::generate(Role::Subject, &mut rng);
    let bob_key = SigningKey::generate(Role::Subject, &mut rng);
    bind(&log, "person.alice", alice, &alice_key);
    bind(&log, "person.bob", bob, &bob_key);
    // Alice's own consent passes the consent check: the next refusal is for the missing
    // evaluation, not the consent.
    let q = consented_query(&log, alice, &policy, &alice_key);
    assert_eq!(
        decide(&ka, &log, q, b"x").unwrap_err().code(),
        "no-evaluation"
    );
    // Another registered subject (Bob) signing a consent about Alice: refused (the old rule
    // took any registered subject key).
    let q = consented_query(&log, alice, &policy, &bob_key);
    assert_eq!(decide(&ka, &log, q, b"x").unwrap_err().code(), "consent");
    assert_eq!(log.refusals(q), ["consent"]);
    // A subject key the operator registered without binding it to any pseudonym.
    let loose = SigningKey::generate(Role::Subject, &mut rng);
    log.append(LogEntry::PartyRegistered {
        party: party("person.loose"),
        key: loose.public(),
    });
    let q = consented_query(&log, alice, &policy, &loose);
    assert_eq!(decide(&ka, &log, q, b"x").unwrap_err().code(), "consent");
    // A person nobody is bound to: no key speaks for it.
    let q = consented_query(&log, person(3), &policy, &loose);
    assert_eq!(decide(&ka, &log, q, b"x").unwrap_err().code(), "consent");
    // The operator binds Alice's pseudonym a second time, to a key it holds, and signs a
    // consent with it: refused, and so is every consent for Alice from now on (the binding
    // is ambiguous; the auditor flags it).
    let operator_key = SigningKey::generate(Role::Subject, &mut rng);
    bind(&log, "person.alice-2", alice, &operator_key);
    for signer in [&operator_key, &alice_key] {
        let q = consented_query(&log, alice, &policy, signer);
        assert_eq!(decide(&ka, &log, q, b"x").unwrap_err().code(), "consent");
    }
    // Bob is untouched by Alice's double binding.
    let q = consented_query(&log, bob, &policy, &bob_key);
    assert_eq!(
        decide(&ka, &log, q, b"x").unwrap_err().code(),
        "no-evaluation"
    );
    // The operator logs a rotation of Bob's key to one it holds (a rotation carries no
    // signature of the old key): no key speaks for Bob any more.
    log.append(LogEntry::KeyRotation {
        party: party("person.bob"),
        old_key: bob_key.public(),
        new_key: operator_key.public(),
    });
    for signer in [&operator_key, &bob_key] {
        let q = consented_query(&log, bob, &policy, signer);
        assert_eq!(decide(&ka, &log, q, b"x").unwrap_err().code(), "consent");
    }
    // A binding that names another key than the one the party registered.
    let carol_key = SigningKey::generate(Role::Subject, &mut rng);
    log.append(LogEntry::PartyRegistered {
        party: party("person.carol"),
        key: carol_key.public(),
    });
    log.append(LogEntry::SubjectBound {
        party: party("person.carol"),
        subject: person(4),
        key: operator_key.public(),
        sealing_key: [5; 32],
        salt: [7; 16],
    });
    for signer in [&operator_key, &carol_key] {
        let q = consented_query(&log, person(4), &policy, signer);
        assert_eq!(decide(&ka, &log, q, b"x").unwrap_err().code(), "consent");
    }
}
