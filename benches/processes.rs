//! The sealed 信易贷 query end to end, as a bank sees it: through three processes (the service,
//! the key authority apart, a witness; `server::apart`, as the README starts them) — once as
//! shipped (the key authority evaluates each query once and decides it without replaying,
//! verifies each upload once, when it is first logged, keeping its compressed blocks, and keeps
//! the decompressed blocks of recent uploads, filled at ingest), once with that cache off, once
//! before evaluating once (`--service-evaluates`: the service evaluates, the key authority
//! replays; no cache), and once before ingesting once as well
//! (`--verify-uploads-every-decision`) — and, in the same run for the
//! ratios, through one service process with its key authority inside (`LocalRegion`, the
//! development mode). 14 attributes from 10 holders, one eligible
//! enterprise, `CREDENCE_BENCH_QUERIES` (default 10) timed queries after one warm-up; p50 and
//! p95 of the bank's round trip, and where the service's time went (its
//! `credence_sealed_stage_seconds`: evaluation, the key authority's own time — follow the log,
//! replay, decrypt, sign —, transport to and from it, log and receipts).
//!
//! `cargo bench --bench processes` (or `--profile dev` to reuse the test build).

use credence::circuits::catalog::Catalog;
use credence::circuits::eval::Inputs;
use credence::circuits::policy::builtin;
use credence::fhe::keys::EncryptionMaterial;
use credence::party::client::{Client, Question};
use credence::party::holder::encrypt_record;
use credence::protocols::identifiers::{SubjectId, SubjectKind};
use credence::protocols::names::{AttributeId, PartyId};
use credence::protocols::signing::{Role, SigningKey};
use credence::server::process::operator_key;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

const USCC: &str = "91110108MA01AB2C3T";
fn today() -> u32 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400) as u32
}

/// Publishes 信易贷, registers one holder per authority it reads and a bank, and uploads the
/// enterprise's sealed records; returns the bank and the subject. Also the number of holders
/// and attributes.
fn setup(addr: &str, dir: &Path) -> Result<(Client, SubjectId, usize, usize), Error> {
    let operator = Client::new(addr, PartyId::new("operator")?, operator_key(dir)?);
    let policy = builtin("xinyidai").ok_or("xinyidai is shipped")?;
    operator.publish_policy(policy.canonical())?;
    let catalog = Catalog::builtin();
    let public = EncryptionMaterial::load(&dir.join("keys"))?;
    let inputs = Inputs::new(&catalog, credence::cli::demo::ELIGIBLE.iter().copied())?;
    let mut by_holder: BTreeMap<String, Vec<(AttributeId, u64)>> = BTreeMap::new();
    for (a, _, _, default) in &policy.reads {
        let holder = catalog.get(a.as_str())?.holder.clone();
        by_holder
            .entry(holder)
            .or_default()
            .push((a.clone(), inputs.get(a.as_str()).unwrap_or(*default)));
    }
    let id = SubjectId::parse(SubjectKind::Enterprise, USCC)?;
    let mut attributes = 0;
    for (authority, values) in &by_holder {
        let key = SigningKey::generate(Role::Holder, &mut rand::thread_rng());
        let party = PartyId::new(&format!("{authority}.bench"))?;
        // A region apart pins its authorities' roots: the holder comes with its certificate.
        let root = dir.join("authorities").join(format!("{authority}.party"));
        if root.exists() {
            let root = credence::party::keyfile::Party::load(&root)?;
            let c = credence::party::keyfile::Certificate::issue(&root, &party, key.public())?;
            operator.register_holder(&party, &key.public(), authority, &c.signature)?;
        } else {
            operator.register_party(&party, &key.public(), None)?;
        }
        let holder = Client::new(addr, party, key);
        let (who, _) = holder.pseudonym(&id)?;
        let record = encrypt_record(
            &catalog,
            &public.public_key,
            &public.crs,
            holder.party(),
            holder.key(),
            who,
            1,
            values,
        )?;
        holder.submit_sealed(&record)?;
        attributes += values.len();
    }
    let bank_key = SigningKey::generate(Role::Bank, &mut rand::thread_rng());
    let bank_id = PartyId::new("bank.bench")?;
    operator.register_party(&bank_id, &bank_key.public(), None)?;
    Ok((
        Client::new(addr, bank_id, bank_key),
        id,
        by_holder.len(),
        attributes,
    ))
}

struct Run {
    p50: Duration,
    p95: Duration,
    shares: String,
    holders: usize,
    attributes: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Times `n` sealed queries (after one warm-up) against the service at `addr` on `dir`.
fn measure(addr: &str, dir: &Path, n: usize) -> Result<Run, Error> {
    let (bank, id, holders, attributes) = setup(addr, dir)?;
    let ask = || -> Result<Duration, Error> {
        let t = Instant::now();
        let answer = bank.query_sealed(&Question {
            subject: &id,
            policy: "xinyidai",
            day: today(),
            purpose: "bench",
            consent: None,
        })?;
        let took = t.elapsed();
        if answer.json["outcome"]["eligible"] != true {
            return Err(format!("expected an eligible verdict: {}", answer.json).into());
        }
        Ok(took)
    };
    ask()?;
    let mut times = (0..n).map(|_| ask()).collect::<Result<Vec<_>, _>>()?;
    times.sort();
    let token = std::fs::read_to_string(dir.join("metrics.token"))?;
    let bearer = [("authorization", format!("Bearer {}", token.trim()))];
    let (status, _, body) = credence::party::client::http(addr, "GET", "/metrics", &bearer, b"")?;
    if status != 200 {
        return Err(format!("GET /metrics: HTTP {status}").into());
    }
    Ok(Run {
        p50: percentile(&times, 0.5),
        p95: percentile(&times, 0.95),
        shares: credence::server::metrics::sealed_shares(&String::from_utf8_lossy(&body))
            .unwrap_or_default(),
        holders,
        attributes,
    })
}

fn main() -> Result<(), Error> {
    let n: usize = std::env::var("CREDENCE_BENCH_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
        .max(1);
    let exe = Path::new(env!("CARGO_BIN_EXE_credence"));
    let base =
        std::env::temp_dir().join(format!("credence-bench-processes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let apart_run = |name: &str, before: usize, cache_mib: usize| -> Result<Run, Error> {
        // `before`: 0 as shipped, 1 before evaluating once, 2 before ingesting once too.
        let options = credence::server::apart::ApartOptions {
            queries_per_subject_per_day: 0,
            service_evaluates: before >= 1,
            verify_uploads_every_decision: before >= 2,
            block_cache_mib: cache_mib,
            ..Default::default()
        };
        let dir = base.join(name);
        let region =
            credence::server::apart::Apart::start(exe, &dir, &options, &mut |m| eprintln!("{m}"))?;
        let run = measure(&region.service, &dir, n)?;
        region.stop();
        Ok(run)
    };
    let shipped = credence::fhe::engine::DEFAULT_BLOCK_CACHE_BYTES >> 20;
    let apart = apart_run("apart", 0, shipped)?;
    let cold = apart_run("apart-cold", 0, 0)?;
    let twice = apart_run("apart-twice", 1, 0)?;
    let every = apart_run("apart-every", 2, 0)?;
    let one_dir = base.join("one");
    let one = credence::server::process::LocalRegion::start_with(
        credence::server::process::Config {
            dir: one_dir.clone(),
            queries_per_subject_per_day: 0,
            ..Default::default()
        },
        &mut |m| eprintln!("{m}"),
    )?;
    let inside = measure(&one.service.addr, &one_dir, n)?;
    one.stop();
    let _ = std::fs::remove_dir_all(&base);

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "\nsealed xinyidai query, {} attributes from {} holders, {n} queries after one warm-up, as the bank sees it",
        apart.attributes, apart.holders
    );
    // The plan is compiled for the query's day, and its cost depends on the day's digits.
    let cost = credence::fhe::engine::Engine::plan_cost(
        &builtin("xinyidai").ok_or("xinyidai is shipped")?,
        today(),
    )?;
    println!(
        "asked for today, day {}: the plan has {} bootstraps, depth {} (`credence policy cost xinyidai --day {}`)",
        today(),
        cost.bootstraps,
        cost.depth,
        today()
    );
    println!("{:<66} {:>10} {:>10}", "deployment", "p50 ms", "p95 ms");
    for (name, r) in [
        (
            "three processes (as shipped: evaluated once, block cache)",
            &apart,
        ),
        ("three processes, evaluated once, block cache off", &cold),
        (
            "three processes, service evaluates, key authority replays",
            &twice,
        ),
        ("  … and uploads verified every decision (before)", &every),
        ("one process (key authority inside)", &inside),
    ] {
        println!("{name:<66} {:>10.0} {:>10.0}", ms(r.p50), ms(r.p95));
    }
    println!(
        "three processes / one process: p50 {:.2}x, p95 {:.2}x",
        ms(apart.p50) / ms(inside.p50),
        ms(apart.p95) / ms(inside.p95)
    );
    println!(
        "evaluated once (cache off) / evaluated twice: p50 {:.2}x, p95 {:.2}x; as shipped / evaluated twice: p50 {:.2}x, p95 {:.2}x; as shipped / before: p50 {:.2}x, p95 {:.2}x",
        ms(cold.p50) / ms(twice.p50),
        ms(cold.p95) / ms(twice.p95),
        ms(apart.p50) / ms(twice.p50),
        ms(apart.p95) / ms(twice.p95),
        ms(apart.p50) / ms(every.p50),
        ms(apart.p95) / ms(every.p95)
    );
    println!(
        "three processes (as shipped), the service's time: {}",
        apart.shares
    );
    println!(
        "three processes, block cache off, the service's time: {}",
        cold.shares
    );
    println!(
        "three processes, evaluated twice, the service's time: {}",
        twice.shares
    );
    println!(
        "three processes, before, the service's time: {}",
        every.shares
    );
    println!("one process, the service's time: {}", inside.shares);
    Ok(())
}
