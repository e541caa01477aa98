//! TLS for every party's connection to the service (`rustls`, with the `ring` provider).
//!
//! * The service (`credence serve`, `credence witness serve`) takes a certificate chain and a
//!   private key (PEM). Without them it serves plain HTTP **only** on a loopback address, or
//!   when the configuration says `allow_plain_http = true` explicitly: otherwise a bank's
//!   request — with the raw USCC or resident ID it asks about — would cross the network in clear.
//! * Parties connect to `https://host:port` and verify the server against the CA certificates
//!   (or the pinned self-signed certificate) in `--tls-ca FILE` / `$CREDENCE_TLS_CA`; there is no
//!   fallback to system roots or to no verification. A `host:port` without a scheme is plain
//!   HTTP, accepted only to a loopback address unless `$CREDENCE_ALLOW_PLAIN_HTTP=1`.
//!
//! The handshake of each connection runs in its own task with a timeout, so a client that
//! connects and never speaks cannot hold up the others.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::Path;
use std::sync::{Arc, OnceLock};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate of a PEM file.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()).into());
    }
    Ok(certs)
}

/// The server's TLS configuration from a PEM certificate chain and a PEM private key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, Error> {
    let chain = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let mut c = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(c))
}

/// A client configuration trusting exactly the certificates in `ca` (PEM).
pub fn client_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for c in read_certs(ca)? {
        roots
            .add(c)
            .map_err(|e| format!("{}: not a usable CA certificate: {e}", ca.display()))?;
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

static TRUST: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// Sets the process's trust for `https://` addresses (the CLI's `--tls-ca`); the first call
/// wins. Without it, `$CREDENCE_TLS_CA` is read on first use.
pub fn set_trust(ca: &Path) -> Result<(), Error> {
    let c = client_config(ca)?;
    let _ = TRUST.set(c);
    Ok(())
}

/// The process's client trust.
pub fn trust() -> Result<Arc<rustls::ClientConfig>, Error> {
    if let Some(c) = TRUST.get() {
        return Ok(c.clone());
    }
    let ca = std::env::var_os("CREDENCE_TLS_CA").ok_or(
        "an https:// address needs the CA certificate to verify the service with \
         (--tls-ca FILE or $CREDENCE_TLS_CA)",
    )?;
    let c = client_config(Path::new(&ca))?;
    Ok(TRUST.get_or_init(|| c).clone())
}

/// A party's view of an address: `https://host:port` (TLS), `http://host:port` or `host:port`
/// (plain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Whether TLS is used.
    pub tls: bool,
    /// `host:port`.
    pub authority: String,
    /// The host (for SNI and certificate verification).
    pub host: String,
}

impl Target {
    /// Parses an address.
    pub fn parse(addr: &str) -> Result<Target, Error> {
        let (tls, rest) = if let Some(r) = addr.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = addr.strip_prefix("http://") {
            (false, r)
        } else {
            (false, addr)
        };
        let authority = rest.trim_end_matches('/').to_string();
        let host = match authority.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => h.trim_matches(['[', ']']).to_string(),
            _ => return Err(format!("`{addr}`: expected host:port or https://host:port").into()),
        };
        Ok(Target {
            tls,
            authority,
            host,
        })
    }

    /// Refuses plain HTTP to anything but a loopback address, unless allowed explicitly.
    pub fn check_plain_allowed(&self, resolved: &std::net::SocketAddr) -> Result<(), Error> {
        if self.tls || resolved.ip().is_loopback() || plain_http_allowed() {
            return Ok(());
        }
        Err(format!(
            "{}: plain HTTP to a non-loopback address would send identifiers in clear; use \
             https:// (with --tls-ca), or set CREDENCE_ALLOW_PLAIN_HTTP=1 on a network you trust",
            self.authority
        )
        .into())
    }

    /// The server name to verify.
    pub fn server_name(&self) -> Result<ServerName<'static>, Error> {
        ServerName::try_from(self.host.clone())
            .map_err(|e| format!("{}: not a valid server name: {e}", self.host).into())
    }
}

fn plain_http_allowed() -> bool {
    std::env::var("CREDENCE_ALLOW_PLAIN_HTTP").is_ok_and(|v| v == "1")
}

/// A TCP listener that hands out TLS streams: each accepted connection's handshake runs in its
/// own task (bounded by [`HANDSHAKE_TIMEOUT`]); failed handshakes are dropped and logged.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        std::net::SocketAddr,
    )>,
    local: std::net::SocketAddr,
}

impl TlsListener {
    /// Wraps `listener`.
    pub fn new(listener: tokio::net::TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    break;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::info!(error = %e, "TLS handshake refused"),
                        Err(_) => tracing::info!("TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { rx, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Some(c) = self.rx.recv().await {
                return c;
            }
            // The accept task ended (it never does while the listener lives): wait forever,
            // as a listener with no more connections does.
            std::future::pending::<()>().await;
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
