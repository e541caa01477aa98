#![allow(missing_docs)] // criterion_group! generates undocumented public functions
//! Proof benchmarks: attribute certificates, and predicate conjunctions of 1, 4 and 16
//! predicates proven as one aggregated proof versus one proof per predicate; and what a bank
//! really runs on a proven-path answer — the **whole check** of a receipt for a 16-predicate
//! policy: decode, witness-cosigned checkpoint, holder keys from the log (inclusion proofs),
//! holder signatures and range certificates, the statement derived from the bank's question,
//! the aggregated proof, the verdict's inclusion — and the bytes it receives.
//!
//! `cargo bench --bench proofs` runs the criterion groups, then prints a summary table with
//! sizes and the aggregated-vs-separate ratios measured in the same run.

use credence_protocols::commitment::{
    AttributeCommitment, AttributeContext, Opening, ATTRIBUTE_TRANSCRIPT_LABEL,
};
use credence_protocols::identifiers::SubjectKind;
use credence_protocols::names::{AttributeId, PartyId};
use credence_protocols::predicate::{
    CommittedInput, Predicate, PredicateProof, Statement, StatementContext,
};
use credence_protocols::pseudonym::Pseudonym;
use criterion::{criterion_group, BenchmarkId, Criterion};
use merlin::Transcript;
use rand::thread_rng;
use std::hint::black_box;
use std::time::{Duration, Instant};

const LABEL: &[u8] = b"credence/bench";

fn subject() -> Pseudonym {
    Pseudonym {
        kind: SubjectKind::Enterprise,
        bytes: [1; 32],
    }
}

/// `k` predicates in the 信易贷 mix: `until ≤ D` lists, and (from 4 up) one weighted score.
fn statement(k: usize) -> (Statement, Vec<Opening>) {
    let mut rng = thread_rng();
    let mut inputs = Vec::new();
    let mut openings = Vec::new();
    let mut predicates = Vec::new();
    let lists = if k >= 4 { k - 1 } else { k };
    for i in 0..lists {
        let o = Opening::random(if i % 3 == 0 { 20_000 } else { 0 }, &mut rng);
        inputs.push(CommittedInput {
            commitment: o.commit(),
            max: 40_000,
        });
        openings.push(o);
        predicates.push(Predicate::NotListedOn {
            input: i as u32,
            day: 20_415,
        });
    }
    if k >= 4 {
        let mut terms = Vec::new();
        for (j, w) in [3i64, 2, 2, 1, 1, 1].into_iter().enumerate() {
            let o = Opening::random(80, &mut rng);
            inputs.push(CommittedInput {
                commitment: o.commit(),
                max: 100,
            });
            openings.push(o);
            terms.push(((lists + j) as u32, w));
        }
        predicates.push(Predicate::WeightedSumAtLeast {
            terms,
            constant: 0,
            threshold: 600,
        });
    }
    let s = Statement {
        context: StatementContext {
            policy_hash: [2; 32],
            subject: subject(),
            as_of_day: 20_415,
        },
        inputs,
        predicates,
    };
    (s, openings)
}

fn prove(s: &Statement, o: &[Opening]) -> PredicateProof {
    PredicateProof::prove(&mut Transcript::new(LABEL), s, o, &mut thread_rng()).unwrap()
}

fn verify(s: &Statement, p: &PredicateProof) {
    p.verify(&mut Transcript::new(LABEL), s).unwrap()
}

/// The statement for `k` predicates, its openings, its aggregated proof, and the separate
/// single-predicate statements with their proofs.
#[allow(clippy::type_complexity)]
fn proven(
    k: usize,
) -> (
    Statement,
    Vec<Opening>,
    PredicateProof,
    Vec<(Statement, PredicateProof)>,
) {
    let (s, o) = statement(k);
    let agg = prove(&s, &o);
    let parts = s
        .split()
        .into_iter()
        .map(|p| {
            let q = prove(&p, &o);
            (p, q)
        })
        .collect();
    (s, o, agg, parts)
}

fn bench_certificates(c: &mut Criterion) {
    let mut rng = thread_rng();
    let context = AttributeContext {
        holder: PartyId::new("court.beijing").unwrap(),
        attribute: AttributeId::new("court.dishonest_debtor").unwrap(),
        subject: subject(),
        submission: 1,
    };
    let mut g = c.benchmark_group("attribute_certificate");
    for max in [100u64, 40_000, u32::MAX as u64] {
        let o = Opening::random(max / 2, &mut rng);
        let cert = AttributeCommitment::create(
            &mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL),
            context.clone(),
            &o,
            max,
            &mut rng,
        )
        .unwrap();
        g.bench_with_input(BenchmarkId::new("create", max), &max, |b, &max| {
            b.iter(|| {
                AttributeCommitment::create(
                    &mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL),
                    context.clone(),
                    &o,
                    max,
                    &mut thread_rng(),
                )
                .unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("verify", max), &max, |b, _| {
            b.iter(|| cert.verify_standalone().unwrap())
        });
    }
    g.finish();
}

fn bench_predicates(c: &mut Criterion) {
    for k in [1usize, 4, 16] {
        let (s, o, agg, parts) = proven(k);
        let mut g = c.benchmark_group(format!("predicates_{k}"));
        g.sample_size(if k == 16 { 10 } else { 20 });
        g.bench_function("aggregated/prove", |b| b.iter(|| prove(black_box(&s), &o)));
        g.bench_function("aggregated/verify", |b| {
            b.iter(|| verify(black_box(&s), &agg))
        });
        if k > 1 {
            g.bench_function("separate/prove", |b| {
                b.iter(|| {
                    for (p, _) in &parts {
                        prove(black_box(p), &o);
                    }
                })
            });
            g.bench_function("separate/verify", |b| {
                b.iter(|| {
                    for (p, q) in &parts {
                        verify(black_box(p), q);
                    }
                })
            });
        }
        g.finish();
    }
}

/// A 16-predicate policy a bank pins: not on any of 9 lists, every one of 6 indicators at
/// least 50, and the weighted score at least 600.
const POLICY16: &str = "policy bank_check_16 version 1
let score = 3*tax.credit_score + 2*market.compliance_score + 2*court.performance_score
          + social.insurance_score + utility.payment_score + assoc.industry_score
eligible = all(not_listed(court.dishonest_debtor), not_listed(credit.serious_dishonesty),
  not_listed(market.abnormal_operation), not_listed(credit.key_attention),
  not_listed(tax.major_violation), not_listed(customs.dishonest), not_listed(env.serious_violation),
  not_listed(safety.blacklist), not_listed(credit.red_list),
  tax.credit_score >= 50, market.compliance_score >= 50, court.performance_score >= 50,
  social.insurance_score >= 50, utility.payment_score >= 50, assoc.industry_score >= 50,
  score >= 600)
";

/// A receipt for a proven 16-predicate answer as the service hands it out, with the anchors
/// and pinned policy a bank checks it against.
struct BankAnswer {
    receipt: Vec<u8>,
    anchors: credence_protocols::verdict::TrustAnchors,
    policy: credence_protocols::question::PinnedPolicy,
    subject: Pseudonym,
    statement: Statement,
    proof: PredicateProof,
}

fn bank_answer() -> BankAnswer {
    use credence_protocols::commitment::SignedAttributeCommitment;
    use credence_protocols::keys::{KeyEvidence, Registration};
    use credence_protocols::log::checkpoint::{Checkpoint, NoteVerifier, SignedCheckpoint};
    use credence_protocols::log::entry::{LogEntry, LogLeaf, Outcome};
    use credence_protocols::log::tree::MemoryTree;
    use credence_protocols::log::Sha3Log;
    use credence_protocols::signing::{Role, SigningKey};
    use credence_protocols::verdict::{Evidence, TrustAnchors, Verdict, VerdictReceipt};
    let mut rng = thread_rng();
    let policy = credence_circuits::policy::Policy::parse(
        POLICY16,
        &credence_circuits::catalog::Catalog::builtin(),
    )
    .unwrap();
    let pinned = policy.pin();
    let template = pinned.proof().unwrap().clone();
    assert_eq!(template.predicates().len(), 16);
    let origin = "credence.bench/log";
    let log = SigningKey::generate(Role::Log, &mut rng);
    let witness = SigningKey::generate(Role::Witness, &mut rng);
    let anchors = TrustAnchors {
        log: NoteVerifier::log(origin, log.public()).unwrap(),
        service: log.public(),
        key_authority: SigningKey::generate(Role::KeyAuthority, &mut rng).public(),
        witnesses: vec![NoteVerifier::witness("witness.bench", witness.public()).unwrap()],
        witness_quorum: 1,
        authorities: Default::default(),
    };
    // A log of 10⁶ entries would make inclusion proofs 20 hashes long; 2¹⁴ filler entries
    // give 14-15 and keep setup quick.
    let mut tree = MemoryTree::<Sha3Log>::new();
    for i in 0..(1u32 << 14) {
        tree.append(&i.to_be_bytes());
    }
    let mut holders: Vec<(PartyId, SigningKey, u64, LogLeaf)> = Vec::new();
    let mut inputs = Vec::new();
    let mut openings = Vec::new();
    let subject = subject();
    for slot in template.inputs() {
        let holder = PartyId::new(&format!("{}.beijing", slot.authority)).unwrap();
        if !holders.iter().any(|h| h.0 == holder) {
            let k = SigningKey::generate(Role::Holder, &mut rng);
            let leaf = LogLeaf {
                time: 1,
                entry: LogEntry::PartyRegistered {
                    party: holder.clone(),
                    key: k.public(),
                },
            };
            let i = tree.append(&leaf.leaf_data());
            holders.push((holder.clone(), k, i, leaf));
        }
        let key = &holders.iter().find(|h| h.0 == holder).unwrap().1;
        let o = Opening::random(if slot.max == 100 { 80 } else { 0 }, &mut rng);
        let c = AttributeCommitment::create(
            &mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL),
            AttributeContext {
                holder,
                attribute: slot.attribute.clone(),
                subject,
                submission: 1,
            },
            &o,
            slot.max,
            &mut rng,
        )
        .unwrap();
        inputs.push(SignedAttributeCommitment::sign(c, key));
        openings.push(o);
    }
    let commitments: Vec<_> = inputs.iter().map(|s| s.commitment.commitment).collect();
    let statement = template
        .statement_over(subject, 20_415, &commitments)
        .unwrap();
    let proof = PredicateProof::prove(
        &mut Transcript::new(credence_protocols::transcript::labels::APP_VERDICT),
        &statement,
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
        policy_hash: pinned.hash(),
        subject,
        as_of_day: 20_415,
        outcome: Outcome::Eligible(true),
        coverage,
        evidence: Evidence::Proof {
            proof: proof.to_bytes(),
            inputs,
        },
        log_indices: vec![1],
        issued_at: 0,
    }
    .sign(&log)
    .unwrap();
    let leaf = LogLeaf {
        time: 2,
        entry: LogEntry::Verdict {
            verdict_hash: verdict.hash(),
            subject,
            bank: PartyId::new("bank.bench").unwrap(),
        },
    };
    let index = tree.append(&leaf.leaf_data());
    let size = tree.size();
    let mut checkpoint = SignedCheckpoint::sign(
        Checkpoint::new(origin, size, tree.root()).unwrap(),
        origin,
        &log,
    )
    .unwrap();
    checkpoint.cosign("witness.bench", &witness, 1).unwrap();
    let receipt = VerdictReceipt {
        verdict,
        leaf,
        leaf_index: index,
        inclusion: tree.inclusion_proof(index, size).unwrap(),
        checkpoint,
        keys: KeyEvidence {
            registrations: holders
                .iter()
                .map(|(_, _, i, l)| Registration {
                    index: *i,
                    leaf: l.clone(),
                    inclusion: tree.inclusion_proof(*i, size).unwrap(),
                })
                .collect(),
        },
    };
    BankAnswer {
        receipt: receipt.to_bytes(),
        anchors,
        policy: pinned,
        subject,
        statement,
        proof,
    }
}

/// The bank's whole check: decode the receipt and verify it against its own question.
fn whole_check(a: &BankAnswer) {
    let r = credence_protocols::verdict::VerdictReceipt::from_bytes(&a.receipt).unwrap();
    r.verify(
        &a.anchors,
        &credence_protocols::question::Question {
            subject: a.subject,
            policy: &a.policy,
            as_of_day: 20_415,
        },
    )
    .unwrap();
}

fn bench_bank(c: &mut Criterion) {
    let a = bank_answer();
    let mut g = c.benchmark_group("bank_check_16");
    g.sample_size(20);
    g.bench_function("whole", |b| b.iter(|| whole_check(black_box(&a))));
    g.bench_function("bare_proof", |b| {
        b.iter(|| {
            a.proof
                .verify(
                    &mut Transcript::new(credence_protocols::transcript::labels::APP_VERDICT),
                    black_box(&a.statement),
                )
                .unwrap()
        })
    });
    g.finish();
}

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[runs / 2]
}

/// The table the issue asks for: sizes, times and aggregated-vs-separate ratios, one run.
fn summary() {
    println!("\n== predicate proofs: aggregated vs separate (median of 15 runs, this machine) ==");
    println!(
        "{:>4} | {:>10} {:>10} {:>9} | {:>10} {:>10} {:>9} | {:>6} {:>6} {:>6}",
        "k",
        "agg prove",
        "agg verif",
        "agg size",
        "sep prove",
        "sep verif",
        "sep size",
        "prove×",
        "verif×",
        "size×"
    );
    for k in [1usize, 4, 16] {
        let (s, o, agg, parts) = proven(k);
        let ap = median(
            || {
                prove(&s, &o);
            },
            15,
        );
        let av = median(|| verify(&s, &agg), 15);
        let sp = median(
            || {
                for (p, _) in &parts {
                    prove(p, &o);
                }
            },
            15,
        );
        let sv = median(
            || {
                for (p, q) in &parts {
                    verify(p, q);
                }
            },
            15,
        );
        let asz = agg.size();
        let ssz: usize = parts.iter().map(|(_, q)| q.size()).sum();
        println!("{:>4} | {:>8.2}ms {:>8.2}ms {:>8}B | {:>8.2}ms {:>8.2}ms {:>8}B | {:>6.2} {:>6.2} {:>6.2}",
            k, ms(ap), ms(av), asz, ms(sp), ms(sv), ssz,
            sp.as_secs_f64() / ap.as_secs_f64(), sv.as_secs_f64() / av.as_secs_f64(), ssz as f64 / asz as f64);
    }
    println!("(× = separate / aggregated; bit width n = 16 for these statements)");

    let a = bank_answer();
    let whole = median(|| whole_check(&a), 15);
    let bare = median(
        || {
            a.proof
                .verify(
                    &mut Transcript::new(credence_protocols::transcript::labels::APP_VERDICT),
                    &a.statement,
                )
                .unwrap()
        },
        15,
    );
    let r = credence_protocols::verdict::VerdictReceipt::from_bytes(&a.receipt).unwrap();
    println!("\n== the bank's whole check of a proven 16-predicate answer (median of 15) ==");
    println!(
        "whole check {:.2} ms (bare aggregated proof {:.2} ms: ×{:.1}); evidence the bank receives: receipt {} B (proof {} B, {} signed commitments with range certificates, {} holder registrations with inclusion proofs, cosigned checkpoint)",
        ms(whole),
        ms(bare),
        whole.as_secs_f64() / bare.as_secs_f64(),
        a.receipt.len(),
        a.proof.size(),
        a.statement.inputs.len(),
        r.keys.registrations.len()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    targets = bench_certificates, bench_predicates, bench_bank
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
