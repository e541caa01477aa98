//! `credence policy list|show|cost`, `credence listing` and `credence catalog`.

use super::args::Result;
use crate::circuits::catalog::Catalog;
use crate::circuits::policy::{Policy, BUILTIN_POLICIES};
use crate::circuits::proof::lower_to_proof;
use crate::protocols::question::TemplatePredicate;
use tfhe::prelude::FheEncrypt;

/// `credence policy list`.
pub fn list() -> Result<()> {
    let catalog = Catalog::builtin();
    for (name, text) in BUILTIN_POLICIES {
        let p = Policy::parse(text, &catalog)?;
        println!("{name:<20} v{}  {}", p.version, hex::encode(p.hash()));
    }
    Ok(())
}

/// A shipped policy by name, or a policy file.
pub fn load_policy(which: &str, catalog: &Catalog) -> Result<Policy> {
    let text = match BUILTIN_POLICIES.iter().find(|(n, _)| *n == which) {
        Some((_, t)) => t.to_string(),
        None => std::fs::read_to_string(which).map_err(|e| {
            format!("`{which}` is neither a shipped policy nor a readable file: {e}")
        })?,
    };
    Ok(Policy::parse(&text, catalog).map_err(|e| format!("{which}: {e}"))?)
}

/// `credence policy cost P --day D`.
pub fn cost(which: &str, day: u32) -> Result<()> {
    use crate::circuits::fhe::exec::{evaluate_plan, LookupKey};
    use crate::circuits::fhe::plan::Plan;
    use crate::circuits::fhe::{evaluate_naive, EncryptedInputs};
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
                .inputs()
                .iter()
                .map(|_| crate::protocols::commitment::Opening::random(0, &mut rng).commit())
                .collect();
            let subject = crate::protocols::pseudonym::Pseudonym {
                kind: crate::protocols::identifiers::SubjectKind::Enterprise,
                bytes: [0; 32],
            };
            let s = plan.statement_over(subject, day, &commitments)?;
            let n = s.bits()?;
            let m = plan.predicates().len().next_power_of_two();
            let lg = (n * m).trailing_zeros() as usize;
            println!(
                "proven path: {} committed inputs, {} predicates -> one {n}-bit range proof over {m} values, {} bytes",
                plan.inputs().len(),
                plan.predicates().len(),
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
    // A plan is specialised to its day: a listing's threshold (day + 1) with low base-4 digits
    // 0 needs fewer lookups. So the cost over every day of the next 64 (every pattern of the
    // three low digits), not only the one asked about.
    let mut counts = (0..64)
        .map(|i| Plan::compile(&p, day.saturating_add(i), &all).map(|pl| pl.cost().bootstraps))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    counts.sort_unstable();
    println!(
        "over the 64 days from day {day}: {} bootstraps at fewest, {} median, {} at most",
        counts[0],
        counts[counts.len() / 2],
        counts[counts.len() - 1]
    );
    print!("generating FHE keys … ");
    std::io::stdout().flush()?;
    let start = Instant::now();
    crate::fhe::determinism::pin_fft_plans();
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

/// `credence listing ATTRIBUTE --class C --decided DAY [--extension DAYS]`.
pub fn listing(attribute: &str, class: &str, decided: u32, extension: u32) -> Result<()> {
    use crate::circuits::periods::Regimes;
    let l = Regimes::builtin().listing(attribute, class, decided, extension)?;
    println!("regime: {}", l.regime);
    println!("class: {}", l.class);
    println!("decided: day {}", l.decided);
    println!(
        "until: {} (listed while until > D; submit this value)",
        l.until
    );
    println!("earliest repair: day {}", l.earliest_repair);
    Ok(())
}

/// `credence policy show P`.
pub fn show(which: &str) -> Result<()> {
    let catalog = Catalog::builtin();
    let p = load_policy(which, &catalog)?;
    println!("policy hash: {}\n", hex::encode(p.hash()));
    println!("canonical form:\n{}", p.canonical());
    match lower_to_proof(&p) {
        Ok(plan) => {
            println!(
                "proof lowering: {} committed inputs, {} predicates (one aggregated proof)",
                plan.inputs().len(),
                plan.predicates().len()
            );
            for i in plan.inputs() {
                println!(
                    "  input {}: commitment by a `{}` holder, certified in [0, {}]",
                    i.attribute, i.authority, i.max
                );
            }
            for pred in plan.predicates() {
                let name = |i: &u32| plan.inputs()[*i as usize].attribute.to_string();
                let line = match pred {
                    TemplatePredicate::NotListed(i) => format!("{} <= D", name(i)),
                    TemplatePredicate::Listed(i) => format!("{} >= D + 1", name(i)),
                    TemplatePredicate::AtLeast(i, t) => format!("{} >= {t}", name(i)),
                    TemplatePredicate::AtMost(i, t) => format!("{} <= {t}", name(i)),
                    TemplatePredicate::Sum {
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

/// `credence catalog`: every attribute with its holder, kind, range and default.
pub fn catalog() -> Result<()> {
    let catalog = Catalog::builtin();
    println!(
        "catalogue v{}: {} attributes (upload them as subject,attribute,value rows)\n",
        catalog.version,
        catalog.attributes().count()
    );
    println!(
        "{:<34} {:<10} {:<11} {:>10} {:>8}  name",
        "attribute", "holder", "kind", "max", "default"
    );
    for a in catalog.attributes() {
        println!(
            "{:<34} {:<10} {:<11} {:>10} {:>8}  {}",
            a.id.as_str(),
            a.holder,
            a.kind.to_string(),
            a.max,
            a.default,
            a.name
        );
    }
    Ok(())
}
