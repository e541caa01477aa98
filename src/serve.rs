//! `credence serve`: the service on the embedded store, with every key it needs kept under one
//! data directory (created on first start):
//!
//! ```text
//! DIR/credence.redb              the store (one file)
//! DIR/keys/public/               TFHE server key, compact public key, CRS
//! DIR/keys/authority/            TFHE client key, key-authority signing seed (0600)
//! DIR/keys/log.seed              the log's signing seed (0600)
//! DIR/keys/witness.seed          the seed of its witness key for partner logs (0600)
//! DIR/keys/pseudonym.key         the pseudonym key (0600)
//! DIR/operator.seed              the operator's signing seed (0600), registered as `operator`
//! DIR/operator.party             the same as a party file for the CLI (`--as`, 0600)
//! ```

use crate::auth::Authenticator;
use crate::circuits::catalog::Catalog;
use crate::fhe::engine::Engine;
use crate::fhe::keys::{generate, write_file, KeyPaths, PublicMaterial, SecretMaterial};
use crate::key_authority::KeyAuthority;
use crate::log_service::{CheckpointPolicy, LogService};
use crate::protocols::names::PartyId;
use crate::protocols::pseudonym::PseudonymKey;
use crate::protocols::signing::{Role, SigningKey};
use crate::service::{router, ServiceParts, ServiceState};
use crate::store::embedded::EmbeddedStore;
use crate::store::{Batch, Store, Table};
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn seed(path: &Path) -> Result<[u8; 32], Error> {
    if let Ok(b) = std::fs::read(path) {
        return b
            .as_slice()
            .try_into()
            .map_err(|_| format!("{} is not a 32-byte seed", path.display()).into());
    }
    let mut s = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut s);
    write_file(path, &s, true)?;
    Ok(s)
}

/// Service settings: `credence serve --config FILE` (TOML, every key optional), overridden by
/// the environment (`CREDENCE_DIR`, `CREDENCE_ADDR`) and then by `--dir` / `--addr`.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Data directory (store, keys).
    pub dir: PathBuf,
    /// Listening address.
    pub addr: String,
    /// The log's origin (checkpoint name).
    pub origin: String,
    /// Concurrent FHE jobs admitted; more get 503.
    pub fhe_slots: usize,
    /// Accepted clock skew of signed requests, seconds.
    pub window_secs: u64,
    /// Sign a checkpoint after this many entries…
    pub checkpoint_every_entries: u64,
    /// …or after this many seconds with new entries.
    pub checkpoint_every_seconds: u64,
    /// Federation file: the partner regions' logs this service witnesses (TOML,
    /// `[[partner]] origin = "…" log_key = "<64 hex digits>"`).
    pub federation: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dir: PathBuf::from("credence-data"),
            addr: "127.0.0.1:8080".into(),
            origin: "credence.local/log".into(),
            fhe_slots: 4,
            window_secs: 300,
            checkpoint_every_entries: 256,
            checkpoint_every_seconds: 60,
            federation: None,
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Partner {
    origin: String,
    log_key: String,
    /// The partner's API address, to forward queries to it.
    #[serde(default)]
    address: Option<String>,
    /// A party file (`credence party new bank …`) with this region's identity at the partner.
    #[serde(default)]
    party_file: Option<PathBuf>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Federation {
    #[serde(default)]
    partner: Vec<Partner>,
}

/// The partner logs a federation file pins, and the routes to forward queries to them.
pub type FederationRoutes = (
    Vec<crate::protocols::log::checkpoint::NoteVerifier>,
    Vec<crate::service::Forward>,
);

/// Reads a federation file: the partner logs' origins and keys, and (where `address` and
/// `party_file` are given) how to forward queries to them.
pub fn read_federation(path: &Path) -> Result<FederationRoutes, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read federation {}: {e}", path.display()))?;
    let f: Federation =
        toml::from_str(&text).map_err(|e| format!("federation {}: {e}", path.display()))?;
    let mut forward = Vec::new();
    for p in &f.partner {
        match (&p.address, &p.party_file) {
            (Some(addr), Some(file)) => {
                let party = crate::cli::Party::load(file).map_err(|e| e.to_string())?;
                if party.key.role() != Role::Bank {
                    return Err(format!(
                        "federation: partner `{}`: the party file must hold a bank key",
                        p.origin
                    )
                    .into());
                }
                forward.push(crate::service::Forward {
                    origin: p.origin.clone(),
                    addr: addr.clone(),
                    party: party.id,
                    key: party.key,
                });
            }
            (None, None) => {}
            _ => {
                return Err(format!(
                    "federation: partner `{}`: give both address and party_file, or neither",
                    p.origin
                )
                .into())
            }
        }
    }
    let partners = f
        .partner
        .iter()
        .map(|p| {
            let key: [u8; 32] =
                crate::protocols::request::parse_hex(&p.log_key).ok_or_else(|| {
                    format!(
                        "federation: partner `{}`: log_key is 64 hex digits",
                        p.origin
                    )
                })?;
            let key = crate::protocols::signing::PublicKey::from_bytes(Role::Log, &key)
                .map_err(|e| format!("federation: partner `{}`: {e}", p.origin))?;
            crate::protocols::log::checkpoint::NoteVerifier::log(&p.origin, key)
                .map_err(|e| format!("federation: partner `{}`: {e}", p.origin).into())
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok((partners, forward))
}

impl Config {
    /// Reads a TOML config file; unknown keys are an error.
    pub fn from_file(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        let c: Config =
            toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))?;
        if c.fhe_slots == 0 || c.window_secs == 0 || c.checkpoint_every_entries == 0 {
            return Err(format!(
                "config {}: fhe_slots, window_secs and checkpoint_every_entries must be at least 1",
                path.display()
            )
            .into());
        }
        Ok(c)
    }
}

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
    if !paths.server_key.exists() {
        progress("first start: generating TFHE keys (a few seconds)");
        let (secret, public) = generate(&mut |step, took| {
            progress(&format!("  {step}: {:.1} s", took.as_secs_f64()))
        })?;
        public.save(&keys)?;
        secret.save(&keys)?;
    }
    let public = PublicMaterial::load(&keys)?;
    let secret = SecretMaterial::load(&keys)?;
    let ka_key = SigningKey::from_seed(
        Role::KeyAuthority,
        &seed(&keys.join("authority/signing.seed"))?,
    );
    let log_key = SigningKey::from_seed(Role::Log, &seed(&keys.join("log.seed"))?);
    let pseudonyms = PseudonymKey::from_bytes(seed(&keys.join("pseudonym.key"))?);
    let operator_seed = seed(&dir.join("operator.seed"))?;
    let operator = SigningKey::from_seed(Role::Operator, &operator_seed);
    let party_file = dir.join("operator.party");
    if !party_file.exists() {
        crate::cli::write_party(
            &party_file,
            "operator",
            Role::Operator,
            &operator_seed,
            None,
            None,
        )
        .map_err(|e| e.to_string())?;
    }

    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.join("credence.redb"))?);
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
    let catalog = Catalog::builtin();
    let authority = KeyAuthority::new(secret, public.clone(), ka_key, catalog.clone(), 0)?;
    let engine = Engine::new(public, 0)?;
    let state = ServiceState::new(ServiceParts {
        store,
        log,
        catalog,
        pseudonyms,
        engine: Arc::new(engine),
        authority: Arc::new(authority),
        fhe_slots: config.fhe_slots,
        window_secs: config.window_secs,
        witness: {
            let (partners, forward) = match &config.federation {
                Some(f) => read_federation(f)?,
                None => (vec![], vec![]),
            };
            Some(crate::service::Witness {
                name: config.origin.clone(),
                key: SigningKey::from_seed(Role::Witness, &seed(&keys.join("witness.seed"))?),
                partners,
                forward,
            })
        },
    })?;
    Ok(Opened {
        app: router(state),
        dir: dir.to_path_buf(),
    })
}

/// Serves on `addr` until SIGINT or SIGTERM, then finishes in-flight requests and returns.
pub fn run(config: &Config) -> Result<(), Error> {
    let addr = config.addr.as_str();
    let opened = open_with(config, &mut |m| eprintln!("{m}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!("data directory {}", opened.dir.display());
        // Tests and scripts read this line to find the port. Nothing else goes to stdout, and a
        // closed stdout must not take the server down.
        {
            use std::io::Write as _;
            let mut out = std::io::stdout();
            let _ = writeln!(out, "listening on {}", listener.local_addr()?);
            let _ = out.flush();
        }
        axum::serve(listener, opened.app)
            .with_graceful_shutdown(async {
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
            })
            .await?;
        Ok::<(), Error>(())
    })
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
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?.to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
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

/// The operator's signing key of a data directory made by [`open`].
pub fn operator_key(dir: &Path) -> Result<SigningKey, Error> {
    Ok(SigningKey::from_seed(
        Role::Operator,
        &seed(&dir.join("operator.seed"))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_parse_and_refuse_unknown_keys() {
        let dir = std::env::temp_dir().join(format!("credence-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(
            &good,
            "dir = \"/var/lib/credence\"\norigin = \"credence.example/beijing\"\nfhe_slots = 8\n",
        )
        .unwrap();
        let c = Config::from_file(&good).unwrap();
        assert_eq!(c.dir, PathBuf::from("/var/lib/credence"));
        assert_eq!(c.origin, "credence.example/beijing");
        assert_eq!(c.fhe_slots, 8);
        assert_eq!(c.addr, Config::default().addr);
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "fhe_slot = 8\n").unwrap();
        let e = Config::from_file(&bad).unwrap_err().to_string();
        assert!(e.contains("fhe_slot"), "{e}");
        // A federation: one partner witnessed only, one also reachable for forwarded queries.
        let key = SigningKey::generate(Role::Log, &mut rand::rngs::OsRng).public();
        let party = dir.join("beijing-at-tianjin.party");
        crate::cli::write_party(&party, "region.beijing", Role::Bank, &[3; 32], None, None)
            .unwrap();
        let fed = dir.join("federation.toml");
        std::fs::write(
            &fed,
            format!(
                "[[partner]]\norigin = \"credence.example/tianjin\"\nlog_key = \"{k}\"\naddress = \"10.0.0.2:8080\"\nparty_file = \"{}\"\n\n[[partner]]\norigin = \"credence.example/hebei\"\nlog_key = \"{k}\"\n",
                party.display(),
                k = hex::encode(key.to_bytes())
            ),
        )
        .unwrap();
        let (partners, forward) = read_federation(&fed).unwrap();
        assert_eq!(partners.len(), 2);
        assert_eq!(forward.len(), 1);
        assert_eq!(forward[0].party.as_str(), "region.beijing");
        std::fs::write(&fed, "[[partner]]\norigin = \"x\"\nlog_key = \"00\"\n").unwrap();
        assert!(read_federation(&fed)
            .unwrap_err()
            .to_string()
            .contains("64 hex"));
        std::fs::write(&bad, "fhe_slots = 0\n").unwrap();
        let e = Config::from_file(&bad).unwrap_err().to_string();
        assert!(e.contains("at least 1"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
