//! The `credence` command: arguments parsed by `clap` ([`Cli`]), one module per command group.
//!
//! A **day** is taken everywhere as `YYYY-MM-DD` or as a day number (days since 1970-01-01), and
//! defaults to today (UTC) wherever it is optional.

pub mod args;
pub mod audit;
pub mod bank;
pub mod demo;
pub mod holder;
pub mod party;
pub mod policy;
pub mod progress;
pub mod serve;
pub mod subject;

pub use args::*;
use std::path::PathBuf;

/// The service's public FHE material by default: `$CREDENCE_DIR/keys`, else `credence-data/keys`.
fn default_keys() -> PathBuf {
    PathBuf::from(std::env::var("CREDENCE_DIR").unwrap_or_else(|_| "credence-data".into()))
        .join("keys")
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<()> {
    if let Some(ca) = tls_ca(&cli.command) {
        crate::tls::set_trust(&ca)?;
    }
    use crate::party::keyfile::Party;
    let load = |a: &As| Party::load(&a.party);
    match cli.command {
        Command::Demo => demo_command(),
        Command::Policy(PolicyCmd::List) => policy::list(),
        Command::Policy(PolicyCmd::Show { policy: p }) => policy::show(&p),
        Command::Policy(PolicyCmd::Cost { policy: p, day }) => policy::cost(&p, day),
        Command::Catalog => policy::catalog(),
        Command::Openapi => {
            use utoipa::OpenApi;
            println!(
                "{}",
                crate::server::openapi::ApiDoc::openapi().to_pretty_json()?
            );
            Ok(())
        }
        Command::Listing {
            attribute,
            class,
            decided,
            extension,
        } => policy::listing(&attribute, &class, decided, extension),
        Command::Keygen { dir } => serve::keygen(&dir),
        Command::Serve(a) => serve::serve(a),
        Command::Keys(KeysCmd::Fetch {
            server,
            out,
            expect_crs,
            expect_public_key,
        }) => serve::fetch_keys(
            &server.server,
            &out,
            expect_public_key.as_deref(),
            expect_crs.as_deref(),
        ),
        Command::Party(PartyCmd::New {
            role,
            party: id,
            out,
            subject,
        }) => party::party_new(&role, &id, &out, subject.as_deref()),
        Command::Register {
            who,
            server,
            files,
            certificate,
        } => {
            let files: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
            let certs: Vec<&std::path::Path> = certificate.iter().map(PathBuf::as_path).collect();
            party::register(&server.server, &load(&who)?, &files, &certs)
        }
        Command::Authority(AuthorityCmd::Certify {
            who,
            holder_file,
            holder,
            key,
            out,
        }) => party::certify(
            &load(&who)?,
            holder_file.as_deref(),
            holder.as_deref().zip(key.as_deref()),
            &out,
        ),
        Command::Publish {
            who,
            server,
            policy,
        } => party::publish(&server.server, &load(&who)?, &policy),
        Command::Holder(HolderCmd::Submit {
            who,
            server,
            path,
            input,
            keys,
        }) => holder::holder_submit(
            &server.server,
            &load(&who)?,
            &path,
            &input,
            &keys.unwrap_or_else(default_keys),
        ),
        Command::Query(q) => bank::query(
            &q.server.server,
            &load(&q.who)?,
            &bank::QueryArgs {
                subject: &q.subject,
                policy: &q.policy,
                day: q.day.unwrap_or_else(today),
                purpose: &q.purpose,
                consent: q.consent.as_deref(),
                proof: q.proof.as_deref(),
                out: q.out.as_deref(),
                anchors: &q.anchors,
            },
        ),
        Command::Subject(SubjectCmd::Prove {
            who,
            server,
            policy: p,
            day,
            out,
        }) => subject::subject_prove(
            &server.server,
            &load(&who)?,
            &p,
            day.unwrap_or_else(today),
            &out,
        ),
        Command::Subject(SubjectCmd::Consent {
            who,
            server,
            bank: b,
            policy: p,
            purpose,
            from,
            until,
            out,
        }) => {
            let from = from.unwrap_or_else(today);
            let until = match until {
                Some(u) => u,
                None => parse_day(&(from + 30).to_string())?,
            };
            subject::subject_consent(
                &server.server,
                &load(&who)?,
                &b,
                &p,
                &purpose,
                from,
                until,
                &out,
            )
        }
        Command::Subject(SubjectCmd::Binding {
            who,
            server,
            anchors,
        }) => subject::subject_binding(&server.server, &load(&who)?, &anchors),
        Command::Subject(SubjectCmd::History { who, server }) => {
            subject::subject_history(&server.server, &load(&who)?)
        }
        Command::Subject(SubjectCmd::Records { who, server }) => {
            subject::subject_records(&server.server, &load(&who)?)
        }
        Command::Anchors {
            who,
            server,
            out,
            expect,
        } => bank::save_anchors(&server.server, &load(&who)?, &out, expect.as_deref()),
        Command::Verify(v) => {
            let who = match &v.party {
                Some(p) => Some(Party::load(p)?),
                None => None,
            };
            bank::verify(
                Some(v.server.server.as_str()),
                who.as_ref(),
                &bank::VerifyArgs {
                    anchors: &v.anchors,
                    receipt: v.receipt.as_deref(),
                    package: v.package.as_deref(),
                    policy: &v.policy,
                    subject: &v.subject,
                    day: v.day,
                },
            )
        }
        Command::Audit(a) => {
            let ok = audit::run_audit(
                &a.server.server,
                &load(&a.who)?,
                &a.anchors,
                a.state.as_deref(),
                a.replay,
                Some(&a.keys.unwrap_or_else(default_keys)),
                a.spike_per_day,
            )?;
            if ok {
                Ok(())
            } else {
                Err("the audit found problems".into())
            }
        }
        Command::Witness(WitnessCmd::Init { dir, name }) => {
            let vkey = crate::server::process::witness_init(&dir, &name)?;
            println!("{vkey}");
            Ok(())
        }
        Command::KeyAuthority(KeyAuthorityCmd::Init { dir }) => {
            let key = crate::key_authority::process::init(&dir, &mut |m| eprintln!("{m}"))?;
            eprintln!(
                "key authority in {}: give {} to the service (`serve init --fhe-public`)",
                dir.display(),
                dir.join("keys/public").display()
            );
            // Holders pin these (published out of band), so that no service can hand them a
            // key of its own choosing.
            use sha3::Digest;
            let hash = |f: &str| -> Result<String> {
                Ok(hex::encode(sha3::Sha3_256::digest(std::fs::read(
                    dir.join("keys/public").join(f),
                )?)))
            };
            eprintln!(
                "publish for holders (`keys fetch`): --expect-public-key {} --expect-crs {}",
                hash("public.key")?,
                hash("crs.bin")?
            );
            println!("{key}");
            Ok(())
        }
        Command::KeyAuthority(KeyAuthorityCmd::Serve {
            dir,
            service,
            anchors,
            addr,
            day_window,
            per_bank,
            per_subject,
            accept_anchors,
            verify_uploads_every_decision,
            service_evaluates,
            follow_every,
            block_cache_mib,
            tls,
        }) => {
            crate::server::process::init_tracing("text")?;
            let text = std::fs::read_to_string(&anchors)
                .map_err(|e| format!("--anchors {}: {e}", anchors.display()))?;
            let anchors = crate::party::client::anchors_from_json(&serde_json::from_str(&text)?)
                .map_err(|e| format!("--anchors {}: {e}", anchors.display()))?;
            let listen = crate::server::process::Listen {
                tls: tls.tls_cert.zip(tls.tls_key),
                allow_plain_http: tls.allow_plain_http,
                limits: Default::default(),
            };
            Ok(crate::key_authority::process::run(
                &dir,
                &addr,
                crate::key_authority::process::Settings {
                    service: &service,
                    anchors,
                    day_window,
                    budget: crate::key_authority::Budget {
                        per_bank,
                        per_subject,
                    },
                    accept_anchors,
                    verify_uploads_every_decision,
                    block_cache_mib,
                    service_evaluates,
                    follow_every_secs: follow_every,
                },
                &listen,
            )?)
        }
        Command::Witness(WitnessCmd::Serve {
            log,
            dir,
            addr,
            name,
            tls,
        }) => {
            crate::server::process::init_tracing("text")?;
            let listen = crate::server::process::Listen {
                tls: tls.tls_cert.zip(tls.tls_key),
                allow_plain_http: tls.allow_plain_http,
                limits: Default::default(),
            };
            Ok(crate::server::process::run_witness(
                &dir,
                &addr,
                &name,
                &[log],
                &listen,
            )?)
        }
    }
}

/// `credence demo`.
fn demo_command() -> Result<()> {
    let exe = std::env::current_exe()?;
    let report = demo::run(&exe, &mut |line| println!("{line}"))?;
    if !report.audit_ok {
        return Err("demo finished but the audit found problems".into());
    }
    println!(
        "{} log entries; every verdict verified by the bank; audit passed",
        report.log_size
    );
    Ok(())
}

/// The `--tls-ca` of a command that talks to a service.
fn tls_ca(c: &Command) -> Option<PathBuf> {
    let s = match c {
        Command::Register { server, .. }
        | Command::Publish { server, .. }
        | Command::Anchors { server, .. }
        | Command::Keys(KeysCmd::Fetch { server, .. })
        | Command::Holder(HolderCmd::Submit { server, .. })
        | Command::Subject(SubjectCmd::Prove { server, .. })
        | Command::Subject(SubjectCmd::Consent { server, .. })
        | Command::Subject(SubjectCmd::History { server, .. })
        | Command::Subject(SubjectCmd::Binding { server, .. })
        | Command::Subject(SubjectCmd::Records { server, .. }) => server,
        Command::Query(q) => &q.server,
        Command::Verify(v) => &v.server,
        Command::Audit(a) => &a.server,
        _ => return None,
    };
    s.tls_ca.clone()
}
