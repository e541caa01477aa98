//! `credence serve`: the service on the embedded store, with every key it needs kept under one
//! data directory (created on first start):
//!
//! ```text
//! DIR/credence.redb              the store (one file)
//! DIR/keys/public/               TFHE server key, compact public key, CRS
//! DIR/keys/authority/            TFHE client key, key-authority signing seed (0600)
//! DIR/keys/log.seed              the log's signing seed (0600)
//! DIR/keys/witness.seed          the seed of its witness key for partner logs (0600)
//! DIR/log.vkey                   the log's verifier key (public: give it to witnesses)
//! DIR/anchors.json               the trust anchors verifiers pin (public: hand it out out of
//!                                band; `credence anchors --expect` checks its fingerprint)
//! DIR/keys/pseudonym.key         the pseudonym key (0600)
//! DIR/operator.seed              the operator's signing seed (0600), registered as `operator`
//! DIR/operator.party             the same as a party file for the CLI (`--as`, 0600)
//! DIR/authorities.json           the authority root keys it pins, once given (`--authority`)
//! ```

use crate::circuits::catalog::Catalog;
use crate::fhe::engine::Engine;
use crate::fhe::keys::{generate, KeyPaths, PublicMaterial};
use crate::protocols::names::PartyId;
use crate::protocols::pseudonym::PseudonymKey;
use crate::protocols::signing::{Role, SigningKey};
use crate::server::auth::Authenticator;
use crate::server::log::{CheckpointPolicy, LogService};
use crate::server::{router, ServiceParts, ServiceState};
use crate::store::embedded::EmbeddedStore;
use crate::store::{Batch, Store, Table};
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn seed(path: &Path) -> Result<[u8; 32], Error> {
    Ok(crate::fhe::keys::seed_file(path)?)
}

pub use crate::server::config::{read_federation, Config, Listen, WitnessConfig};

/// Everything `serve` opens, ready to route.
pub struct Opened {
    /// The router.
    pub app: axum::Router,
    /// The data directory.
    pub dir: PathBuf,
}

/// Opens (creating on first start) the data directory and builds the service with the default
/// settings.
pub fn open(dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<Opened, Error> {
    open_with(
        &Config {
            dir: dir.to_path_buf(),
            ..Config::default()
        },
        progress,
    )
}

/// [`open`] with explicit settings.
pub fn open_with(config: &Config, progress: &mut dyn FnMut(&str)) -> Result<Opened, Error> {
    let dir = config.dir.as_path();
    std::fs::create_dir_all(dir)?;
    let keys = dir.join("keys");
    let paths = KeyPaths::new(&keys);
    let remote =
        crate::server::decider::remembered_key_authority(dir, config.key_authority.as_ref())?;
    if remote.is_some() {
        // The key authority runs apart: this directory must never hold its secrets.
        for secret in [&paths.client_key, &keys.join("authority/signing.seed")] {
            if secret.exists() {
                return Err(format!(
                    "{} is here, but the key authority runs apart: move it to the key \
                     authority's machine and remove it from this directory",
                    secret.display()
                )
                .into());
            }
        }
        if !paths.server_key.exists() {
            let from = config.fhe_public.as_ref().ok_or(
                "the key authority runs apart: give `serve init --fhe-public KADIR/keys/public` \
                 (its public FHE material) once",
            )?;
            progress(&format!(
                "copying the key authority's public FHE material from {}",
                from.display()
            ));
            crate::server::decider::copy_public(from, &keys)?;
        }
    } else if paths.server_key.exists() && !paths.client_key.exists() {
        return Err(format!(
            "{} holds public FHE keys but no client key: they came from a key authority apart; \
             give --key-authority KEY@ADDR (or restore DIR/key-authority.json)",
            keys.display()
        )
        .into());
    } else if !paths.server_key.exists() {
        progress("first start: generating TFHE keys (a few seconds)");
        let (secret, public) = generate(&mut |step, took| {
            progress(&format!("  {step}: {:.1} s", took.as_secs_f64()))
        })?;
        public.save(&keys)?;
        secret.save(&keys)?;
    }
    let public = PublicMaterial::load(&keys)?;
    let log_key = SigningKey::from_seed(Role::Log, &seed(&keys.join("log.seed"))?);
    let pseudonyms = PseudonymKey::from_bytes(seed(&keys.join("pseudonym.key"))?);
    let operator_seed = seed(&dir.join("operator.seed"))?;
    let operator = SigningKey::from_seed(Role::Operator, &operator_seed);
    let party_file = dir.join("operator.party");
    if !party_file.exists() {
        crate::party::keyfile::write_party(
            &party_file,
            "operator",
            Role::Operator,
            &operator_seed,
            None,
            None,
        )
        .map_err(|e| e.to_string())?;
    }

    let catalog = Catalog::builtin();
    let roots = crate::server::roots::remembered(dir, &config.authorities, &catalog)?;
    let store: Arc<dyn Store> = config.open_store(dir)?;
    let operator_id = PartyId::new("operator")?;
    if store.get(Table::Parties, b"operator")?.is_none() {
        let mut b = Batch::new();
        Authenticator::register(&mut b, &operator_id, &operator.public());
        store.commit(&b)?;
    }
    let log = LogService::open(
        store.clone(),
        &config.origin,
        log_key,
        CheckpointPolicy {
            every_entries: config.checkpoint_every_entries,
            every_seconds: config.checkpoint_every_seconds,
        },
    )?;
    let witnesses = config
        .witnesses
        .iter()
        .map(WitnessConfig::client)
        .collect::<Result<Vec<_>, Error>>()?;
    let witness_quorum = config.witness_quorum.unwrap_or(witnesses.len());
    if witness_quorum > witnesses.len() {
        return Err(format!(
            "witness_quorum {witness_quorum} is more than the {} witness(es) configured",
            witnesses.len()
        )
        .into());
    }
    let log_verifier =
        crate::protocols::log::checkpoint::NoteVerifier::log(&config.origin, log.public_key())?;
    let log_vkey = log_verifier.to_vkey();
    // What the key authority pins (its own key filled in below when it runs here).
    let anchors = crate::protocols::verdict::TrustAnchors {
        log: log_verifier,
        service: log.public_key(),
        key_authority: match &remote {
            Some(c) => c.public_key()?,
            None => SigningKey::from_seed(
                Role::KeyAuthority,
                &seed(&keys.join("authority/signing.seed"))?,
            )
            .public(),
        },
        witnesses: witnesses.iter().map(|w| w.verifier.clone()).collect(),
        witness_quorum,
        authorities: roots.clone(),
    };
    let cache_bytes = config.block_cache_mib.saturating_mul(1 << 20);
    let engine = Arc::new(Engine::new(public.clone(), 0)?);
    let authority = match remote {
        Some(c) => crate::server::decider::remote(
            &c,
            &store,
            &log,
            config.window_secs,
            SigningKey::from_seed(Role::Log, &seed(&keys.join("log.seed"))?),
            {
                // Where it does not evaluate, the service does: its engine takes the cache.
                let (engine, bytes) = (engine.clone(), cache_bytes);
                Some(Box::new(move || engine.set_block_cache(bytes)))
            },
        )?,
        None => crate::server::decider::in_process(
            &keys,
            config.store.is_none(),
            config.day_window_days,
            {
                let e = Engine::new(public.clone(), 0)?;
                e.set_block_cache(config.block_cache_mib.saturating_mul(1 << 20));
                Arc::new(e)
            },
            catalog.clone(),
            anchors,
        )?,
    };
    // The engine that evaluates keeps the block cache: the key authority's, wherever it
    // evaluates queries (in this process or apart); the service's own only where it does not
    // (one apart that declines to evaluate hands it over then).
    if !authority.may_evaluate() {
        engine.set_block_cache(cache_bytes);
    }
    write_public(&dir.join("log.vkey"), &log_vkey)?;
    let state = ServiceState::new(ServiceParts {
        store,
        log,
        catalog,
        pseudonyms,
        engine,
        authority,
        fhe_slots: config.fhe_slots,
        window_secs: config.window_secs,
        query_limit: config.queries_per_subject_per_day,
        lookup_limit: config.lookups_per_party_per_day,
        witnesses,
        witness_quorum,
        authorities: roots,
        metrics_token: Some(crate::server::metrics::MetricsToken::load_or_create(
            &dir.join("metrics.token"),
        )?),
        witness: {
            let (partners, forward) = match &config.federation {
                Some(f) => read_federation(f)?,
                None => (vec![], vec![]),
            };
            Some(crate::server::Witness {
                name: config.origin.clone(),
                key: SigningKey::from_seed(Role::Witness, &seed(&keys.join("witness.seed"))?),
                partners,
                forward,
            })
        },
    })?;
    state.log_engine_parameters()?;
    state.log_missing_bindings()?;
    // The anchors verifiers pin, as a public file the operator hands out (out of band).
    write_public(
        &dir.join("anchors.json"),
        &serde_json::to_string_pretty(&state.anchors_body()?)?,
    )?;
    Ok(Opened {
        app: router(state),
        dir: dir.to_path_buf(),
    })
}

/// `credence witness init`: makes a witness's key in `dir` (if it has none) and writes its
/// verifier key to `dir/witness.vkey`; returns it.
pub fn witness_init(dir: &Path, name: &str) -> Result<String, Error> {
    std::fs::create_dir_all(dir)?;
    let key = SigningKey::from_seed(Role::Witness, &seed(&dir.join("witness.seed"))?);
    let vkey =
        crate::protocols::log::checkpoint::NoteVerifier::witness(name, key.public())?.to_vkey();
    write_public(&dir.join("witness.vkey"), &vkey)?;
    Ok(vkey)
}

/// `credence serve init`: creates the data directory's keys and files (as the first start
/// does) and returns, so that the log's verifier key (`DIR/log.vkey`) can be given to a witness
/// before the service runs.
pub fn init(config: &Config) -> Result<(), Error> {
    open_with(config, &mut |m| eprintln!("{m}"))?;
    eprintln!(
        "initialised {}: log key {}",
        config.dir.display(),
        log_verifier(config)?
    );
    Ok(())
}

/// Writes a public file (replacing it).
fn write_public(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, format!("{text}\n"))?;
    Ok(())
}

/// `credence witness serve`: an independent witness with its own data directory (its key
/// `DIR/witness.seed`, its store `DIR/witness.redb`, its verifier key `DIR/witness.vkey`),
/// cosigning the checkpoints of the logs pinned by `logs` (verifier keys) after checking each
/// against the last one it cosigned.
pub fn witness_open(
    dir: &Path,
    name: &str,
    logs: &[String],
) -> Result<Arc<crate::witness::Witness>, Error> {
    std::fs::create_dir_all(dir)?;
    let key = SigningKey::from_seed(Role::Witness, &seed(&dir.join("witness.seed"))?);
    let logs = logs
        .iter()
        .map(|l| {
            crate::protocols::log::checkpoint::NoteVerifier::from_vkey(l)
                .map_err(|e| -> Error { format!("--log `{l}`: {e}").into() })
                .and_then(|v| {
                    if v.key.role() == Role::Log {
                        Ok(v)
                    } else {
                        Err(format!("--log `{l}` is not a log verifier key").into())
                    }
                })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if logs.is_empty() {
        return Err("a witness needs at least one --log VKEY to witness".into());
    }
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.join("witness.redb"))?);
    let w = crate::witness::Witness::new(name, key, logs, store)?;
    write_public(&dir.join("witness.vkey"), &w.verifier().to_vkey())?;
    Ok(Arc::new(w))
}

/// Runs a witness on `addr` until SIGINT or SIGTERM.
pub fn run_witness(
    dir: &Path,
    addr: &str,
    name: &str,
    logs: &[String],
    listen: &Listen,
) -> Result<(), Error> {
    let w = witness_open(dir, name, logs)?;
    eprintln!("witness {} ({})", w.name, w.verifier().to_vkey());
    serve_until_signal(addr, crate::witness::router(w), dir, listen)
}

/// Serves on `addr` until SIGINT or SIGTERM, then finishes in-flight requests and returns.
pub fn run(config: &Config) -> Result<(), Error> {
    let listen = config.listen()?;
    let opened = open_with(config, &mut |m| eprintln!("{m}"))?;
    serve_until_signal(&config.addr, opened.app, &opened.dir, &listen)
}

pub(crate) fn serve_until_signal(
    addr: &str,
    app: axum::Router,
    dir: &Path,
    listen: &Listen,
) -> Result<(), Error> {
    // Checked before anything listens: a misconfiguration never serves a single request.
    let tls = match &listen.tls {
        Some((cert, key)) => Some(crate::tls::server_config(cert, key)?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        if tls.is_none() && !local.ip().is_loopback() && !listen.allow_plain_http {
            return Err(format!(
                "refusing to serve plain HTTP on {local}: requests carry identifiers; give \
                 --tls-cert and --tls-key, or listen on a loopback address, or set \
                 allow_plain_http = true (behind a TLS-terminating proxy only)"
            )
            .into());
        }
        eprintln!("data directory {}", dir.display());
        // Tests and scripts read this line to find the port. Nothing else goes to stdout, and a
        // closed stdout must not take the server down.
        {
            use std::io::Write as _;
            let mut out = std::io::stdout();
            // `https://ADDR` with TLS: what a party then gives as `--server`.
            let scheme = if tls.is_some() { "https://" } else { "" };
            let _ = writeln!(out, "listening on {scheme}{local}");
            let _ = out.flush();
        }
        let shutdown = async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("SIGTERM handler");
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            #[cfg(not(unix))]
            let _ = ctrl_c.await;
            eprintln!("shutting down: finishing requests in flight");
        };
        use crate::server::connections::serve;
        match tls {
            Some(config) => {
                serve(
                    crate::tls::TlsListener::new(listener, config),
                    app,
                    listen.limits,
                    shutdown,
                )
                .await
            }
            None => serve(listener, app, listen.limits, shutdown).await,
        }
        Ok::<(), Error>(())
    })
}

/// A region on one machine, for the demo, the examples and tests: the service on the embedded
/// store in `dir` and an independent witness (its own key and store in `dir/witness`) that
/// cosigns its checkpoints (quorum 1), each on its own loopback port.
pub struct LocalRegion {
    /// The service.
    pub service: Running,
    /// The witness.
    pub witness: Running,
    /// The anchors a verifier of this region pins (computed from the keys the operator holds,
    /// as they would be published out of band).
    pub anchors: crate::protocols::verdict::TrustAnchors,
}

impl LocalRegion {
    /// Starts both on `dir` (keys are made on first start).
    pub fn start(dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<LocalRegion, Error> {
        LocalRegion::start_with(
            Config {
                dir: dir.to_path_buf(),
                ..Config::default()
            },
            progress,
        )
    }

    /// [`LocalRegion::start`] with settings (its `dir` is the region's directory).
    pub fn start_with(
        config: Config,
        progress: &mut dyn FnMut(&str),
    ) -> Result<LocalRegion, Error> {
        let dir = config.dir.clone();
        let dir = dir.as_path();
        let log_vkey = log_verifier(&config)?;
        let witness = witness_open(
            &dir.join("witness"),
            "witness.local",
            std::slice::from_ref(&log_vkey),
        )?;
        let witness_verifier = witness.verifier();
        let witness_running = Running::start(crate::witness::router(witness))?;
        let config = Config {
            witnesses: vec![WitnessConfig {
                vkey: witness_verifier.to_vkey(),
                address: witness_running.addr.clone(),
            }],
            witness_quorum: Some(1),
            ..config
        };
        let opened = open_with(&config, progress)?;
        let service = Running::start(opened.app)?;
        let log = crate::protocols::log::checkpoint::NoteVerifier::from_vkey(&log_vkey)?;
        let anchors = crate::protocols::verdict::TrustAnchors {
            service: log.key,
            log,
            key_authority: key_authority_key(dir)?,
            witnesses: vec![witness_verifier],
            witness_quorum: 1,
            authorities: crate::server::roots::remembered(
                dir,
                &Default::default(),
                &Catalog::builtin(),
            )?,
        };
        Ok(LocalRegion {
            service,
            witness: witness_running,
            anchors,
        })
    }

    /// Stops both.
    pub fn stop(self) {
        self.service.stop();
        self.witness.stop();
    }
}

/// A service running on a background thread (the demo and the examples use it).
pub struct Running {
    /// Where it listens.
    pub addr: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Starts `app` on a free loopback port, on its own tokio runtime.
    pub fn start(app: axum::Router) -> Result<Running, Error> {
        Running::start_with(app, Default::default())
    }

    /// [`Running::start`] with connection bounds `limits`.
    pub fn start_with(
        app: axum::Router,
        limits: crate::server::connections::Limits,
    ) -> Result<Running, Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?.to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                crate::server::connections::serve(listener, app, limits, async {
                    let _ = rx.await;
                })
                .await;
            })
        });
        Ok(Running {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops accepting, finishes requests in flight, and waits.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The log's verifier key of the data directory in `config` (its signing seed is created if
/// this is the first start): what a witness of this log pins.
pub fn log_verifier(config: &Config) -> Result<String, Error> {
    let keys = config.dir.join("keys");
    std::fs::create_dir_all(&keys)?;
    let log_key = SigningKey::from_seed(Role::Log, &seed(&keys.join("log.seed"))?);
    Ok(
        crate::protocols::log::checkpoint::NoteVerifier::log(&config.origin, log_key.public())?
            .to_vkey(),
    )
}

/// The key authority's verdict-signing public key of a data directory.
pub fn key_authority_key(dir: &Path) -> Result<crate::protocols::signing::PublicKey, Error> {
    let authority = dir.join("keys/authority");
    std::fs::create_dir_all(&authority)?;
    Ok(SigningKey::from_seed(Role::KeyAuthority, &seed(&authority.join("signing.seed"))?).public())
}

/// The operator's signing key of a data directory made by [`open`].
pub fn operator_key(dir: &Path) -> Result<SigningKey, Error> {
    Ok(SigningKey::from_seed(
        Role::Operator,
        &seed(&dir.join("operator.seed"))?,
    ))
}

/// Installs the tracing subscriber for `credence serve`: `text` or `json` lines on stderr,
/// filtered by `RUST_LOG` (default `info`). Events carry route templates, statuses, log
/// indices and pseudonyms at most: never a raw USCC or resident ID.
pub fn init_tracing(format: &str) -> Result<(), Error> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = match format {
        "text" => builder.try_init(),
        "json" => builder.json().try_init(),
        other => {
            return Err(format!("log_format `{other}`: choose `text` or `json`").into());
        }
    };
    // Already installed (a second service in one process): keep the first.
    let _ = result;
    Ok(())
}
