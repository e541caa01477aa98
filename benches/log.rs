#![allow(missing_docs)] // criterion_group! generates undocumented public functions
//! Log benchmarks at 10⁶ leaves: append, inclusion and consistency proof generation and
//! verification, leaf parsing, checkpoint signing and verification.
//!
//! `cargo bench --bench log` builds a 10⁶-leaf SHA3-256 tree once (its build time and memory
//! are printed), runs the criterion groups, and prints a summary.

use credence_protocols::log::checkpoint::{Checkpoint, NoteVerifier, SignedCheckpoint};
use credence_protocols::log::entry::{EvaluationPath, LogEntry, LogLeaf};
use credence_protocols::log::tree::MemoryTree;
use credence_protocols::log::{LogHasher, Sha256Log, Sha3Log};
use credence_protocols::names::{AttributeId, PartyId};
use credence_protocols::pseudonym::Pseudonym;
use credence_protocols::signing::{Role, SigningKey};
use criterion::{criterion_group, Criterion};
use rand::{thread_rng, Rng};
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const N: u64 = 1_000_000;

/// The full leaf of entry `i` (what the log stores and an auditor reads).
fn leaf(i: u64) -> Vec<u8> {
    entry(i).to_bytes()
}

/// Entry `i`: a submission (a sealed kind: the tree hashes its sealed leaf, `leaf_data`).
fn entry(i: u64) -> LogLeaf {
    LogLeaf {
        time: 1_763_856_000 + i,
        entry: LogEntry::AttributeSubmitted {
            holder: PartyId::new("court.beijing").unwrap(),
            attribute: AttributeId::new("court.dishonest_debtor").unwrap(),
            subject: Pseudonym {
                kind: credence_protocols::identifiers::SubjectKind::Enterprise,
                bytes: [(i % 251) as u8; 32],
            },
            submission: i,
            path: EvaluationPath::Proven,
            content_hash: [7; 32],
        },
    }
}

struct Fixture {
    tree: MemoryTree<Sha3Log>,
    build: Duration,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let start = Instant::now();
        let mut tree = MemoryTree::new();
        for i in 0..N {
            tree.append(&entry(i).leaf_data());
        }
        Fixture {
            tree,
            build: start.elapsed(),
        }
    })
}

fn bench_log(c: &mut Criterion) {
    let f = fixture();
    let t = &f.tree;
    let root = t.root();
    let mut g = c.benchmark_group("log_1e6");
    g.bench_function("inclusion/generate", |b| {
        b.iter(|| t.inclusion_proof(thread_rng().gen_range(0..N), N).unwrap())
    });
    let i = 777_777;
    let p = t.inclusion_proof(i, N).unwrap();
    let lh = t.leaf_hash(i).unwrap();
    g.bench_function("inclusion/verify", |b| {
        b.iter(|| p.verify::<Sha3Log>(black_box(&lh), &root).unwrap())
    });
    g.bench_function("consistency/generate", |b| {
        b.iter(|| {
            t.consistency_proof(thread_rng().gen_range(1..N), N)
                .unwrap()
        })
    });
    let old = 654_321;
    let cp = t.consistency_proof(old, N).unwrap();
    let old_root = t.root_at(old).unwrap();
    g.bench_function("consistency/verify", |b| {
        b.iter(|| cp.verify::<Sha3Log>(black_box(&old_root), &root).unwrap())
    });
    g.bench_function("root_at/random_size", |b| {
        b.iter(|| t.root_at(thread_rng().gen_range(1..N)).unwrap())
    });
    let bytes = entry(5).leaf_data();
    g.bench_function("leaf/parse", |b| {
        b.iter(|| LogLeaf::from_bytes(black_box(&bytes)).unwrap())
    });
    g.bench_function("leaf/hash_sha3", |b| {
        b.iter(|| Sha3Log::hash_leaf(black_box(&bytes)))
    });
    g.bench_function("leaf/hash_sha256", |b| {
        b.iter(|| Sha256Log::hash_leaf(black_box(&bytes)))
    });
    let key = SigningKey::generate(Role::Log, &mut thread_rng());
    let v = NoteVerifier::log("credence.example/beijing", key.public()).unwrap();
    let signed = SignedCheckpoint::sign(
        Checkpoint::new("credence.example/beijing", N, root).unwrap(),
        "credence.example/beijing",
        &key,
    )
    .unwrap();
    let text = signed.to_text();
    g.bench_function("checkpoint/sign", |b| {
        b.iter(|| {
            SignedCheckpoint::sign(
                Checkpoint::new("credence.example/beijing", N, root).unwrap(),
                "credence.example/beijing",
                &key,
            )
            .unwrap()
        })
    });
    g.bench_function("checkpoint/parse_verify", |b| {
        b.iter(|| {
            SignedCheckpoint::parse(black_box(&text))
                .unwrap()
                .verify(&v)
                .unwrap();
        })
    });
    g.finish();
}

fn summary() {
    let f = fixture();
    let t = &f.tree;
    let stored = 2 * N - u64::from(N.count_ones());
    println!("\n== log at {N} leaves (this machine) ==");
    println!(
        "build (encode + hash + append {N} leaves): {:.2}s, {:.0} leaves/s",
        f.build.as_secs_f64(),
        N as f64 / f.build.as_secs_f64()
    );
    println!(
        "stored subtree hashes: {stored} ({:.1} MiB)",
        (stored * 32) as f64 / (1 << 20) as f64
    );
    let p = t.inclusion_proof(777_777, N).unwrap();
    let c = t.consistency_proof(654_321, N).unwrap();
    println!(
        "inclusion proof: {} hashes, {} bytes encoded; consistency proof: {} hashes, {} bytes",
        p.path.len(),
        p.to_bytes().len(),
        c.path.len(),
        c.to_bytes().len()
    );
    let start = Instant::now();
    let mut replay = MemoryTree::<Sha3Log>::new();
    for i in 0..100_000 {
        let l = leaf(i);
        replay.append_leaf_hash(LogLeaf::from_bytes(&l).unwrap().hash());
    }
    let e = start.elapsed();
    println!(
        "auditor replay (parse + hash + append): {:.0} leaves/s",
        100_000.0 / e.as_secs_f64()
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300));
    targets = bench_log
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
