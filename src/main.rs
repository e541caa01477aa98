//! The `credence` command.
#![forbid(unsafe_code)]

use credence_circuits::catalog::Catalog;
use credence_circuits::policy::{Policy, BUILTIN_POLICIES};
use credence_circuits::proof::{lower_to_proof, PlanPredicate};
use std::process::ExitCode;

const USAGE: &str = "\
credence — privacy-preserving credit computation

USAGE:
    credence demo                 run the verifiable-core story in process (holders commit, a
                                  subject proves 信易贷 eligibility, the bank verifies a logged,
                                  witnessed verdict, an auditor replays the log)
    credence policy list          list the shipped policies with their hashes
    credence policy show <P>      print policy <P> (a shipped name or a .policy file): canonical
                                  form, hash, and its proof lowering or why it has none
    credence help                 show this message
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["demo"] => demo(),
        ["policy", "list"] => policy_list(),
        ["policy", "show", p] => policy_show(p),
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
    let report = credence::demo::run()?;
    print!("{}", report.text);
    if !report.audit_ok {
        return Err("demo finished but the audit FAILED".into());
    }
    println!(
        "\ndemo finished: {} log entries, audit passed",
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

fn policy_show(which: &str) -> CliResult {
    let catalog = Catalog::builtin();
    let text = match BUILTIN_POLICIES.iter().find(|(n, _)| *n == which) {
        Some((_, t)) => t.to_string(),
        None => std::fs::read_to_string(which).map_err(|e| {
            format!("`{which}` is neither a shipped policy nor a readable file: {e}")
        })?,
    };
    let p = Policy::parse(&text, &catalog).map_err(|e| format!("{which}: {e}"))?;
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
