#![allow(missing_docs)] // criterion_group! generates undocumented public functions
//! Proof benchmarks: attribute certificates, and predicate conjunctions of 1, 4 and 16
//! predicates proven as one aggregated proof versus one proof per predicate.
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
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    targets = bench_certificates, bench_predicates
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
