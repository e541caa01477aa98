//! The `credence` command.
#![forbid(unsafe_code)]

use credence_circuits::catalog::Catalog;
use credence_circuits::policy::{Policy, BUILTIN_POLICIES};
use credence_circuits::proof::{lower_to_proof, PlanPredicate};
use std::process::ExitCode;
use tfhe::prelude::FheEncrypt;

const USAGE: &str = "\
credence — privacy-preserving credit computation

USAGE:
    credence demo                 the whole service in process on the embedded store: a court,
                                  a tax bureau and a market regulator submit records of four
                                  enterprises on both paths, a bank asks 信易贷 (sealed: FHE;
                                  proven: the enterprise's zero-knowledge proof) and verifies
                                  every verdict, an auditor checks the log
    credence policy list          list the shipped policies with their hashes
    credence policy show <P>      print policy <P> (a shipped name or a .policy file): canonical
                                  form, hash, and its proof lowering or why it has none
    credence policy cost <P> [--day D]
                                  cost of policy <P>: proof size; FHE bootstraps, depth and
                                  time of the optimised lowering (compiled for day D, default
                                  20415) and of the naive one, measured (generates FHE keys)
    credence keygen [--dir DIR]   generate the TFHE key material with a progress display: the
                                  public store DIR/public/ (server key, compact public key, CRS)
                                  and the key authority store DIR/authority/ (client key, 0600);
                                  DIR defaults to ./credence-keys
    credence serve [--dir DIR] [--addr ADDR]
                                  run the service on the embedded store in DIR (default
                                  $CREDENCE_DIR or ./credence-data; keys are generated there on
                                  first start), listening on ADDR (default $CREDENCE_ADDR or
                                  127.0.0.1:8080); SIGINT/SIGTERM shut it down gracefully
    credence help                 show this message
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["demo"] => demo(),
        ["policy", "list"] => policy_list(),
        ["policy", "show", p] => policy_show(p),
        ["policy", "cost", p] => policy_cost(p, 20_415),
        ["policy", "cost", p, "--day", d] => match d.parse() {
            Ok(d) => policy_cost(p, d),
            Err(_) => {
                Err(format!("--day takes a day number (days since 1970-01-01), got `{d}`").into())
            }
        },
        ["serve", rest @ ..] => serve(rest),
        ["keygen"] => keygen("credence-keys"),
        ["keygen", "--dir", d] => keygen(d),
        [] | ["help" | "--help" | "-h"] => {
            print!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("error: unknown command `{}`\n\n{USAGE}", args.join(" "));
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

fn demo() -> CliResult {
    let report = credence::demo::run(&mut |line| println!("{line}")).map_err(|e| e.to_string())?;
    if !report.audit_ok {
        return Err("demo finished but the audit found problems".into());
    }
    println!(
        "{} log entries; every verdict verified by the bank; audit passed",
        report.log_size
    );
    Ok(())
}

fn policy_list() -> CliResult {
    let catalog = Catalog::builtin();
    for (name, text) in BUILTIN_POLICIES {
        let p = Policy::parse(text, &catalog)?;
        println!("{name:<20} v{}  {}", p.version, hex::encode(p.hash()));
    }
    Ok(())
}

/// A shipped policy by name, or a policy file.
fn load_policy(which: &str, catalog: &Catalog) -> Result<Policy, Box<dyn std::error::Error>> {
    let text = match BUILTIN_POLICIES.iter().find(|(n, _)| *n == which) {
        Some((_, t)) => t.to_string(),
        None => std::fs::read_to_string(which).map_err(|e| {
            format!("`{which}` is neither a shipped policy nor a readable file: {e}")
        })?,
    };
    Ok(Policy::parse(&text, catalog).map_err(|e| format!("{which}: {e}"))?)
}

fn policy_cost(which: &str, day: u32) -> CliResult {
    use credence_circuits::fhe::exec::{evaluate_plan, LookupKey};
    use credence_circuits::fhe::plan::Plan;
    use credence_circuits::fhe::{evaluate_naive, EncryptedInputs};
    use std::io::Write as _;
    use std::time::Instant;
    let catalog = Catalog::builtin();
    let p = load_policy(which, &catalog)?;
    println!(
        "policy `{}` v{} ({}…)",
        p.name,
        p.version,
        &hex::encode(p.hash())[..16]
    );
    match lower_to_proof(&p) {
        Ok(plan) => {
            let mut rng = rand::rngs::OsRng;
            let commitments: Vec<_> = plan
                .inputs
                .iter()
                .map(|_| credence_protocols::commitment::Opening::random(0, &mut rng).commit())
                .collect();
            let subject = credence_protocols::pseudonym::Pseudonym {
                kind: credence_protocols::identifiers::SubjectKind::Enterprise,
                bytes: [0; 32],
            };
            let s = plan.statement(subject, day, &commitments)?;
            let n = s.bits()?;
            let m = plan.predicates.len().next_power_of_two();
            let lg = (n * m).trailing_zeros() as usize;
            println!(
                "proven path: {} committed inputs, {} predicates -> one {n}-bit range proof over {m} values, {} bytes",
                plan.inputs.len(),
                plan.predicates.len(),
                1 + 4 + 32 * (9 + 2 * lg)
            );
        }
        Err(e) => println!("proven path: none — {}", e.reason),
    }
    let all: Vec<&str> = p.reads.iter().map(|r| r.0.as_str()).collect();
    let plan = Plan::compile(&p, day, &all)?;
    let cost = plan.cost();
    println!(
        "sealed path, optimised lowering (compiled for day {day}): {} bootstraps, depth {}, {} of {} input blocks read",
        cost.bootstraps,
        cost.depth,
        cost.input_blocks,
        8 * p.reads.len()
    );
    print!("generating FHE keys … ");
    std::io::stdout().flush()?;
    let start = Instant::now();
    let (ck, sk) = tfhe::generate_keys(tfhe::ConfigBuilder::default().build());
    println!("{:.1} s", start.elapsed().as_secs_f64());
    let lookup = LookupKey::new(&sk)?;
    tfhe::set_server_key(sk.clone());
    rayon::broadcast(|_| tfhe::set_server_key(sk.clone()));
    // Every input freshly encrypted (at its default), as the service would hold them.
    let mut inputs = EncryptedInputs::new();
    for (id, _, _, default) in &p.reads {
        let v = u16::try_from(*default)?;
        inputs.insert(id.as_str(), tfhe::FheUint16::encrypt(v, &ck));
    }
    tfhe::reset_pbs_count();
    let start = Instant::now();
    let out = evaluate_naive(&p, &inputs, day)?;
    let naive_time = start.elapsed();
    let naive_pbs = tfhe::get_pbs_count();
    println!(
        "sealed path, naive lowering: {naive_pbs} bootstraps, {:.2} s (result on the defaults: {:?})",
        naive_time.as_secs_f64(),
        out.decrypt(&ck)
    );
    tfhe::reset_pbs_count();
    let start = Instant::now();
    let out = evaluate_plan(&plan, &inputs, &lookup)?;
    let opt_time = start.elapsed();
    let opt_pbs = tfhe::get_pbs_count();
    println!(
        "sealed path, optimised lowering: {opt_pbs} bootstraps, {:.2} s (result: {:?})",
        opt_time.as_secs_f64(),
        out.decrypt(&ck)
    );
    println!(
        "optimised vs naive: {:.1}x fewer bootstraps, {:.1}x faster",
        naive_pbs as f64 / opt_pbs.max(1) as f64,
        naive_time.as_secs_f64() / opt_time.as_secs_f64().max(1e-9)
    );
    Ok(())
}

fn serve(args: &[&str]) -> CliResult {
    let mut dir = std::env::var("CREDENCE_DIR").unwrap_or_else(|_| "credence-data".into());
    let mut addr = std::env::var("CREDENCE_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (*a, it.next()) {
            ("--dir", Some(v)) => dir = v.to_string(),
            ("--addr", Some(v)) => addr = v.to_string(),
            _ => {
                return Err(
                    format!("serve: unexpected argument `{a}` (--dir DIR, --addr ADDR)").into(),
                )
            }
        }
    }
    credence::serve::run(std::path::Path::new(&dir), &addr).map_err(|e| e.to_string())?;
    Ok(())
}

fn keygen(dir: &str) -> CliResult {
    use credence::fhe::keys::{generate, KeyPaths};
    let dir = std::path::Path::new(dir);
    let paths = KeyPaths::new(dir);
    if paths.client_key.exists() || paths.server_key.exists() {
        return Err(format!(
            "{} already holds keys; refusing to overwrite them (move them away first)",
            dir.display()
        )
        .into());
    }
    let steps = 5;
    let mut n = 0;
    eprintln!("generating TFHE keys (PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128, compact public key, compression, proof CRS)");
    let (secret, public) = generate(&mut |step, took| {
        n += 1;
        eprintln!("  [{n}/{steps}] {step:<28} {:>6.1} s", took.as_secs_f64());
    })?;
    public.save(dir)?;
    secret.save(dir)?;
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!(
        "public store   {}: server key {:.1} MB, public key {:.1} KB, CRS {:.1} MB",
        dir.join("public").display(),
        size(&paths.server_key) as f64 / 1e6,
        size(&paths.public_key) as f64 / 1e3,
        size(&paths.crs) as f64 / 1e6
    );
    println!(
        "authority store {}: client key (owner-only) — give it to the key authority alone",
        dir.join("authority").display()
    );
    Ok(())
}

fn policy_show(which: &str) -> CliResult {
    let catalog = Catalog::builtin();
    let p = load_policy(which, &catalog)?;
    println!("policy hash: {}\n", hex::encode(p.hash()));
    println!("canonical form:\n{}", p.canonical());
    match lower_to_proof(&p) {
        Ok(plan) => {
            println!(
                "proof lowering: {} committed inputs, {} predicates (one aggregated proof)",
                plan.inputs.len(),
                plan.predicates.len()
            );
            for pred in &plan.predicates {
                let name = |i: &u32| plan.inputs[*i as usize].0.to_string();
                let line = match pred {
                    PlanPredicate::NotListed(i) => format!("{} <= D", name(i)),
                    PlanPredicate::Listed(i) => format!("{} >= D + 1", name(i)),
                    PlanPredicate::AtLeast(i, t) => format!("{} >= {t}", name(i)),
                    PlanPredicate::AtMost(i, t) => format!("{} <= {t}", name(i)),
                    PlanPredicate::Sum {
                        terms,
                        constant,
                        threshold,
                    } => {
                        let t: Vec<String> = terms
                            .iter()
                            .map(|(i, w)| format!("{w}*{}", name(i)))
                            .collect();
                        format!("{} + {constant} >= {threshold}", t.join(" + "))
                    }
                };
                println!("  {line}");
            }
        }
        Err(e) => println!("proof lowering: none — {}", e.reason),
    }
    Ok(())
}
