//! The `credence` command.
#![forbid(unsafe_code)]

use credence_circuits::catalog::Catalog;
use credence_circuits::policy::{Policy, BUILTIN_POLICIES};
use credence_circuits::proof::lower_to_proof;
use credence_protocols::question::TemplatePredicate;
use std::collections::BTreeMap;
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
    credence listing LIST --class C --decided DATE [--extension DAYS]
                                  a listing's period from the regimes table
                                  (circuits/regimes.toml): the `until` a holder submits and the
                                  earliest day the subject may apply for repair
    credence keygen [--dir DIR]   generate the TFHE key material with a progress display: the
                                  public store DIR/public/ (server key, compact public key, CRS)
                                  and the key authority store DIR/authority/ (client key, 0600);
                                  DIR defaults to ./credence-keys
    credence serve [--config FILE] [--dir DIR] [--addr ADDR] [--witness VKEY@ADDR]
                   [--witness-quorum N]
                                  run the service on the embedded store in DIR (default
                                  ./credence-data; keys and DIR/operator.party are created there
                                  on first start), listening on ADDR (default 127.0.0.1:8080);
                                  FILE is TOML with any of dir, addr, origin, fhe_slots,
                                  window_secs, checkpoint_every_entries, checkpoint_every_seconds,
                                  federation, witness_quorum, [[witness]] vkey/address (the
                                  witnesses that cosign its checkpoints; --witness adds one);
                                  $CREDENCE_DIR / $CREDENCE_ADDR override the file, flags
                                  override both; SIGINT/SIGTERM shut it down gracefully

  Parties (each command signs its requests with the key in the party file given by --as;
  --server ADDR, default $CREDENCE_SERVER or 127.0.0.1:8080; a day is days since 1970-01-01,
  default today):
    credence party new ROLE PARTY --out FILE [--subject enterprise:USCC|person:ID]
                                  new key file (0600) for a holder, bank, subject or witness
                                  (`serve` writes DIR/operator.party for the operator)
    credence register --as OPERATOR FILE...
                                  register the parties of these key files
    credence publish --as OPERATOR POLICY
                                  publish a shipped policy (by name) or a policy file
    credence holder submit --as HOLDER --path sealed|proven --input FILE [--keys DIR]
                                  upload values from CSV (subject,attribute,value) or JSON
                                  ([{subject, attribute, value}]), one record per subject, with
                                  progress; sealed uploads encrypt with the service's public
                                  TFHE material in DIR (default $CREDENCE_DIR/keys)
    credence query --as BANK --anchors FILE --subject S --policy P --purpose TEXT [--day D]
                   [--consent FILE] [--proof PACKAGE] [--out RECEIPT]
                                  ask (sealed path, or proven with a subject's package), verify
                                  the receipt against the pinned anchors and your own question
                                  (policy P as you have it), print the outcome and the records
                                  it rests on, save the receipt
    credence subject prove --as SUBJECT --policy P [--day D] --out PACKAGE
                                  open my commitments and prove P about me
    credence subject consent --as SUBJECT --bank B --policy P --purpose TEXT
                             [--from D] [--until D] --out FILE
                                  sign a consent token for a bank
    credence subject history --as SUBJECT
                                  every query and verdict about me
    credence anchors --as PARTY --out FILE [--expect FINGERPRINT]
                                  fetch the service's trust anchors (log key, key authority,
                                  witnesses and quorum), print their fingerprint to compare out
                                  of band, and pin them in FILE (never replaced silently)
    credence verify --anchors FILE (--receipt FILE | --package FILE) --policy P
                    --subject PSEUDONYM|KIND:ID --day D [--as PARTY]
                                  offline: check a verdict receipt or a proof package against
                                  YOUR question (subject, your copy of policy P, day D): the
                                  statement is derived from it, holder keys come from the log
                                  under a checkpoint the pinned anchors accept; an identifier
                                  needs --as to ask the service for its pseudonym
    credence serve init [--dir DIR] [--config FILE]
                                  create the data directory (keys, operator.party, log.vkey,
                                  anchors.json) and exit: give DIR/log.vkey to the witnesses
    credence witness init [--dir DIR] [--name NAME]
                                  make a witness key (printed, and in DIR/witness.vkey)
    credence witness serve --log VKEY [--dir DIR] [--addr ADDR] [--name NAME]
                                  an independent witness (its own key in DIR, default
                                  ./credence-witness; ADDR default 127.0.0.1:8090): cosigns the
                                  checkpoints of the log VKEY (DIR/log.vkey of the service)
                                  after checking consistency; prints and writes its verifier
                                  key DIR/witness.vkey
    credence audit --as PARTY --anchors FILE [--state FILE] [--replay N] [--keys DIR]
                   [--spike-per-day N]
                                  follow the log: recompute the root, check consistency with
                                  the checkpoint in FILE (updated after a clean audit),
                                  re-verify every verdict, check every decryption and consent,
                                  re-check the inputs of the last N FHE evaluations; flag disputes
                                  past their answer day and banks asking more than N questions
                                  a day (default 1000); exit 1 on any problem

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
        ["listing", rest @ ..] => listing(rest),
        [cmd @ ("party" | "register" | "publish" | "holder" | "query" | "subject" | "anchors"
        | "verify" | "audit" | "witness"), rest @ ..] => roles(cmd, rest),
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
                .inputs()
                .iter()
                .map(|_| credence_protocols::commitment::Opening::random(0, &mut rng).commit())
                .collect();
            let subject = credence_protocols::pseudonym::Pseudonym {
                kind: credence_protocols::identifiers::SubjectKind::Enterprise,
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
    use credence::serve::Config;
    let (pos, mut f) = flags(args)?;
    let init = match pos.as_slice() {
        [] => false,
        ["init"] => true,
        [p, ..] => {
            return Err(format!(
                "serve: unexpected argument `{p}` (init, --config FILE, --dir DIR, --addr ADDR, --witness VKEY@ADDR, --witness-quorum N)"
            )
            .into())
        }
    };
    let mut config = match f.remove("config") {
        Some(path) => Config::from_file(std::path::Path::new(path)).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    if let Ok(d) = std::env::var("CREDENCE_DIR") {
        config.dir = d.into();
    }
    if let Ok(a) = std::env::var("CREDENCE_ADDR") {
        config.addr = a;
    }
    if let Some(d) = f.remove("dir") {
        config.dir = d.into();
    }
    if let Some(a) = f.remove("addr") {
        config.addr = a.into();
    }
    if let Some(w) = f.remove("witness") {
        config
            .witnesses
            .push(credence::serve::WitnessConfig::parse(w).map_err(|e| e.to_string())?);
    }
    if let Some(q) = f.remove("witness-quorum") {
        config.witness_quorum = Some(
            q.parse()
                .map_err(|_| format!("--witness-quorum takes a count, got `{q}`"))?,
        );
    }
    if let Some((k, _)) = f.into_iter().next() {
        return Err(
            format!("serve: unknown option --{k} (--config FILE, --dir DIR, --addr ADDR, --witness VKEY@ADDR, --witness-quorum N)").into(),
        );
    }
    if init {
        credence::serve::init(&config).map_err(|e| e.to_string())?;
    } else {
        credence::serve::run(&config).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Splits `args` into positional arguments and `--flag value` pairs.
fn flags<'a>(args: &[&'a str]) -> Result<(Vec<&'a str>, BTreeMap<&'a str, &'a str>), String> {
    let mut pos = Vec::new();
    let mut map = BTreeMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(name) = a.strip_prefix("--") {
            let v = it.next().ok_or(format!("--{name} needs a value"))?;
            if map.insert(name, *v).is_some() {
                return Err(format!("--{name} given twice"));
            }
        } else {
            pos.push(*a);
        }
    }
    Ok((pos, map))
}

/// The options each party command takes (besides `--server`).
fn known_options(cmd: &str, sub: Option<&str>) -> &'static [&'static str] {
    match (cmd, sub) {
        ("party", _) => &["out", "subject"],
        ("register", _) | ("publish", _) => &["as"],
        ("holder", _) => &["as", "path", "input", "keys"],
        ("query", _) => &[
            "as", "anchors", "subject", "policy", "purpose", "day", "consent", "proof", "out",
        ],
        ("subject", Some("prove")) => &["as", "policy", "day", "out"],
        ("subject", Some("consent")) => {
            &["as", "bank", "policy", "purpose", "from", "until", "out"]
        }
        ("subject", _) => &["as"],
        ("anchors", _) => &["as", "out", "expect"],
        ("verify", _) => &[
            "anchors", "receipt", "package", "policy", "subject", "day", "as",
        ],
        ("audit", _) => &["as", "anchors", "state", "replay", "keys", "spike-per-day"],
        ("witness", Some("init")) => &["dir", "name"],
        ("witness", _) => &["dir", "addr", "name", "log"],
        _ => &[],
    }
}

fn roles(cmd: &str, args: &[&str]) -> CliResult {
    let (pos, f) = flags(args)?;
    // Every option is checked before anything is done: a misspelt one (`--dya`) is an error,
    // never silently ignored (which would ask about today).
    let known = known_options(cmd, pos.first().copied());
    if let Some(k) = f.keys().find(|k| **k != "server" && !known.contains(k)) {
        return Err(format!(
            "{cmd}: unknown option --{k} (this command takes: {})",
            known
                .iter()
                .map(|o| format!("--{o}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
        .into());
    }
    let f = std::cell::RefCell::new(f);
    roles_with(cmd, args, &pos, &f)
}

fn roles_with(
    cmd: &str,
    args: &[&str],
    pos: &[&str],
    f: &std::cell::RefCell<BTreeMap<&str, &str>>,
) -> CliResult {
    use credence::cli::{self, Party, QueryArgs, VerifyArgs};
    use std::path::Path;
    let server = f
        .borrow_mut()
        .remove("server")
        .map(str::to_string)
        .or_else(|| std::env::var("CREDENCE_SERVER").ok())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let data = std::env::var("CREDENCE_DIR").unwrap_or_else(|_| "credence-data".into());
    let default_keys = Path::new(&data).join("keys");
    let today = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        / 86_400) as u32;
    let take = |name: &str| -> Result<String, String> {
        f.borrow_mut()
            .remove(name)
            .map(str::to_string)
            .ok_or(format!("{cmd}: --{name} is required"))
    };
    let party = |path: Result<String, String>| -> Result<Party, Box<dyn std::error::Error>> {
        Ok(Party::load(Path::new(&path?)).map_err(|e| e.to_string())?)
    };
    let day = |v: Option<String>| -> Result<u32, String> {
        let d = match v {
            None => today,
            Some(d) => d
                .parse()
                .map_err(|_| format!("a day is a number of days since 1970-01-01, got `{d}`"))?,
        };
        credence::protocols::question::check_day("day", d)
    };
    let e = |r: Result<(), cli::Error>| {
        r.map_err(|e| -> Box<dyn std::error::Error> { e.to_string().into() })
    };
    match (cmd, pos) {
        ("party", ["new", role, id]) => {
            let out = take("out")?;
            let subject = take("subject").ok();
            e(cli::party_new(
                role,
                id,
                Path::new(&out),
                subject.as_deref(),
            ))
        }
        ("register", files) if !files.is_empty() => {
            let op = party(take("as"))?;
            let files: Vec<&Path> = files.iter().map(Path::new).collect();
            e(cli::register(&server, &op, &files))
        }
        ("publish", [policy]) => e(cli::publish(&server, &party(take("as"))?, policy)),
        ("holder", ["submit"]) => {
            let h = party(take("as"))?;
            let path = take("path")?;
            let input = take("input")?;
            let keys = take("keys")
                .map(std::path::PathBuf::from)
                .unwrap_or(default_keys);
            e(cli::holder_submit(
                &server,
                &h,
                &path,
                Path::new(&input),
                &keys,
            ))
        }
        ("query", []) => {
            let b = party(take("as"))?;
            let (subject, policy, purpose) = (take("subject")?, take("policy")?, take("purpose")?);
            let d = day(take("day").ok())?;
            let anchors = take("anchors")?;
            let (consent, proof, out) =
                (take("consent").ok(), take("proof").ok(), take("out").ok());
            e(cli::query(
                &server,
                &b,
                &QueryArgs {
                    subject: &subject,
                    policy: &policy,
                    day: d,
                    purpose: &purpose,
                    consent: consent.as_deref().map(Path::new),
                    proof: proof.as_deref().map(Path::new),
                    out: out.as_deref().map(Path::new),
                    anchors: Path::new(&anchors),
                },
            ))
        }
        ("subject", ["prove"]) => {
            let me = party(take("as"))?;
            let (policy, out) = (take("policy")?, take("out")?);
            let d = day(take("day").ok())?;
            e(cli::subject_prove(
                &server,
                &me,
                &policy,
                d,
                Path::new(&out),
            ))
        }
        ("subject", ["consent"]) => {
            let me = party(take("as"))?;
            let (bank, policy, purpose, out) = (
                take("bank")?,
                take("policy")?,
                take("purpose")?,
                take("out")?,
            );
            let from = day(take("from").ok())?;
            let until = day(take("until").ok().or(Some((from + 30).to_string())))?;
            e(cli::subject_consent(
                &server,
                &me,
                &bank,
                &policy,
                &purpose,
                from,
                until,
                Path::new(&out),
            ))
        }
        ("subject", ["history"]) => e(cli::subject_history(&server, &party(take("as"))?)),
        ("anchors", []) => {
            let who = party(take("as"))?;
            let out = take("out")?;
            let expect = take("expect").ok();
            e(cli::save_anchors(
                &server,
                &who,
                Path::new(&out),
                expect.as_deref(),
            ))
        }
        ("verify", []) => {
            let anchors = take("anchors")?;
            let (receipt, package) = (take("receipt").ok(), take("package").ok());
            let (policy, subject) = (take("policy")?, take("subject")?);
            let d = day(Some(take("day")?))?;
            let who = match take("as").ok() {
                Some(p) => Some(party(Ok(p))?),
                None => None,
            };
            e(cli::verify(
                Some(server.as_str()),
                who.as_ref(),
                &VerifyArgs {
                    anchors: Path::new(&anchors),
                    receipt: receipt.as_deref().map(Path::new),
                    package: package.as_deref().map(Path::new),
                    policy: &policy,
                    subject: &subject,
                    day: d,
                },
            ))
        }
        ("audit", []) => {
            let who = party(take("as"))?;
            let anchors = take("anchors")?;
            let state = take("state").ok();
            let replay: usize = match take("replay").ok() {
                Some(n) => n
                    .parse()
                    .map_err(|_| format!("--replay takes a count, got `{n}`"))?,
                None => 0,
            };
            let keys = take("keys")
                .ok()
                .map(std::path::PathBuf::from)
                .or(Some(default_keys));
            let spikes: u64 = match take("spike-per-day").ok() {
                Some(n) => n
                    .parse()
                    .map_err(|_| format!("--spike-per-day takes a count, got `{n}`"))?,
                None => 1000,
            };
            let ok = cli::run_audit(
                &server,
                &who,
                Path::new(&anchors),
                state.as_deref().map(Path::new),
                replay,
                keys.as_deref(),
                spikes,
            )
            .map_err(|e| e.to_string())?;
            if ok {
                Ok(())
            } else {
                Err("the audit found problems".into())
            }
        }
        ("witness", ["init"]) => {
            let dir = take("dir").unwrap_or_else(|_| "credence-witness".into());
            let name = take("name").unwrap_or_else(|_| "witness.local".into());
            let vkey = credence::serve::witness_init(Path::new(&dir), &name)
                .map_err(|e| -> Box<dyn std::error::Error> { e.to_string().into() })?;
            println!("{vkey}");
            Ok(())
        }
        ("witness", ["serve"]) => {
            let dir = take("dir").unwrap_or_else(|_| "credence-witness".into());
            let addr = take("addr").unwrap_or_else(|_| "127.0.0.1:8090".into());
            let name = take("name").unwrap_or_else(|_| "witness.local".into());
            let log = take("log")?;
            credence::serve::run_witness(Path::new(&dir), &addr, &name, &[log])
                .map_err(|e| -> Box<dyn std::error::Error> { e.to_string().into() })
        }
        _ => Err(format!("`{cmd} {}`: see `credence help`", args.join(" ")).into()),
    }
}

/// `credence listing ATTRIBUTE --class C --decided DATE [--extension DAYS]`.
fn listing(args: &[&str]) -> CliResult {
    use credence_circuits::periods::{parse_date, Regimes};
    let (pos, mut f) = flags(args)?;
    let [attribute] = pos.as_slice() else {
        return Err("listing: give one list attribute, e.g. `credence listing market.abnormal_operation --class general --decided 2026-11-23`".into());
    };
    let class = f.remove("class").ok_or("listing: --class is required")?;
    let decided = f
        .remove("decided")
        .ok_or("listing: --decided is required")?;
    let decided = parse_date(decided)
        .or_else(|| decided.parse().ok())
        .ok_or(format!(
            "--decided `{decided}`: a YYYY-MM-DD date or a day number"
        ))?;
    let extension = match f.remove("extension") {
        Some(e) => e
            .parse()
            .map_err(|_| format!("--extension `{e}`: a number of days"))?,
        None => 0,
    };
    if let Some((k, _)) = f.into_iter().next() {
        return Err(format!("listing: unknown option --{k}").into());
    }
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
