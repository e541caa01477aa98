//! `credence serve`: the service on the embedded store, with every key it needs kept under one
//! data directory (created on first start):
//!
//! ```text
//! DIR/credence.redb              the store (one file)
//! DIR/keys/public/               TFHE server key, compact public key, CRS
//! DIR/keys/authority/            TFHE client key, key-authority signing seed (0600)
//! DIR/keys/log.seed              the log's signing seed (0600)
//! DIR/keys/pseudonym.key         the pseudonym key (0600)
//! DIR/operator.seed              the operator's signing seed (0600), registered as `operator`
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

/// Everything `serve` opens, ready to route.
pub struct Opened {
    /// The router.
    pub app: axum::Router,
    /// The data directory.
    pub dir: PathBuf,
}

/// Opens (creating on first start) the data directory and builds the service.
pub fn open(dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<Opened, Error> {
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
    let operator = SigningKey::from_seed(Role::Operator, &seed(&dir.join("operator.seed"))?);

    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.join("credence.redb"))?);
    let operator_id = PartyId::new("operator")?;
    if store.get(Table::Parties, b"operator")?.is_none() {
        let mut b = Batch::new();
        Authenticator::register(&mut b, &operator_id, &operator.public());
        store.commit(&b)?;
    }
    let log = LogService::open(
        store.clone(),
        "credence.local/log",
        log_key,
        CheckpointPolicy {
            every_entries: 256,
            every_seconds: 60,
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
        fhe_slots: 4,
        window_secs: 300,
    })?;
    Ok(Opened {
        app: router(state),
        dir: dir.to_path_buf(),
    })
}

/// Serves on `addr` until SIGINT or SIGTERM, then finishes in-flight requests and returns.
pub fn run(dir: &Path, addr: &str) -> Result<(), Error> {
    let opened = open(dir, &mut |m| eprintln!("{m}"))?;
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
