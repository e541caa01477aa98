#![allow(missing_docs)] // criterion_group! generates undocumented public functions
//! Sealed-path benchmarks: each shipped policy evaluated by the plaintext oracle and by the
//! naive FHE lowering, with bootstrap counts, in one run.
//!
//! `cargo bench --bench fhe` generates FHE keys once (tfhe defaults), runs the criterion
//! groups, then prints a table: bootstraps, FHE time, plaintext time and their ratio. The
//! optimised lowering joins this table when it exists.

use credence_circuits::catalog::Catalog;
use credence_circuits::eval::{evaluate, Inputs};
use credence_circuits::fhe::{evaluate_naive, EncryptedInputs};
use credence_circuits::policy::{builtin, Policy, BUILTIN_POLICIES};
use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tfhe::prelude::*;
use tfhe::{generate_keys, set_server_key, ClientKey, ConfigBuilder, FheUint16, ServerKey};

const D: u32 = 20_415;

fn keys() -> &'static (ClientKey, ServerKey) {
    static K: OnceLock<(ClientKey, ServerKey)> = OnceLock::new();
    K.get_or_init(|| generate_keys(ConfigBuilder::default().build()))
}

/// Every input the policy reads, freshly encrypted at its default value.
fn encrypted(policy: &Policy) -> EncryptedInputs {
    let mut e = EncryptedInputs::new();
    for (id, _, _, default) in &policy.reads {
        e.insert(id.as_str(), FheUint16::encrypt(*default as u16, &keys().0));
    }
    e
}

fn bench_policies(c: &mut Criterion) {
    set_server_key(keys().1.clone());
    let inputs = Inputs::new(&Catalog::builtin(), []).unwrap();
    for (name, _) in BUILTIN_POLICIES {
        let policy = builtin(name).unwrap();
        let enc = encrypted(&policy);
        let mut g = c.benchmark_group(format!("policy_{name}"));
        g.sample_size(10);
        g.bench_function("plaintext", |b| {
            b.iter(|| evaluate(black_box(&policy), &inputs, D))
        });
        g.bench_function("fhe_naive", |b| {
            b.iter(|| evaluate_naive(black_box(&policy), &enc, D).unwrap())
        });
        g.finish();
    }
}

fn summary() {
    set_server_key(keys().1.clone());
    let inputs = Inputs::new(&Catalog::builtin(), []).unwrap();
    println!(
        "\n== sealed path: naive FHE lowering vs plaintext oracle (this machine, tfhe defaults) =="
    );
    println!(
        "{:<20} {:>10} {:>12} {:>12} {:>12}",
        "policy", "bootstraps", "fhe naive", "plaintext", "fhe/plain"
    );
    for (name, _) in BUILTIN_POLICIES {
        let policy = builtin(name).unwrap();
        let enc = encrypted(&policy);
        tfhe::reset_pbs_count();
        let start = Instant::now();
        let out = evaluate_naive(&policy, &enc, D).unwrap();
        let fhe = start.elapsed();
        let pbs = tfhe::get_pbs_count();
        assert_eq!(out.decrypt(&keys().0), evaluate(&policy, &inputs, D));
        let runs = 10_000u32;
        let start = Instant::now();
        for _ in 0..runs {
            black_box(evaluate(black_box(&policy), &inputs, D));
        }
        let plain = start.elapsed() / runs;
        println!(
            "{name:<20} {pbs:>10} {:>10.0}ms {:>10.2}µs {:>12.0}",
            fhe.as_secs_f64() * 1e3,
            plain.as_secs_f64() * 1e6,
            fhe.as_secs_f64() / plain.as_secs_f64()
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(1));
    targets = bench_policies
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
