//! `credence serve`'s configuration: the TOML file (every key optional, unknown keys refused),
//! the federation file and the witnesses.

use crate::protocols::signing::Role;
use std::path::{Path, PathBuf};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Service settings: `credence serve --config FILE` (TOML, every key optional), overridden by
/// the environment (`CREDENCE_DIR`, `CREDENCE_ADDR`, `CREDENCE_STORE`) and then by `--dir` /
/// `--addr` / `--store`.
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
    /// The witnesses that cosign this service's checkpoints (`[[witness]] vkey = "…"
    /// address = "host:port"`).
    #[serde(rename = "witness")]
    pub witnesses: Vec<WitnessConfig>,
    /// How many of them must cosign a checkpoint handed out with a receipt (default: all).
    pub witness_quorum: Option<usize>,
    /// Log output: `text` (default) or `json`, one line per event. Never raw identifiers.
    pub log_format: String,
    /// TLS: the certificate chain (PEM). With `tls_key`, the service speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// TLS: the private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (only behind a TLS-terminating proxy on a
    /// network you trust). Without TLS and without this, only loopback addresses are served.
    pub allow_plain_http: bool,
    /// Connections served at once (the next waits in the kernel's backlog).
    pub max_connections: usize,
    /// Seconds a client may take to send a request's headers, and may sit idle between
    /// requests on a kept-alive connection.
    pub header_timeout_secs: u64,
    /// Seconds a request body may go without a byte.
    pub body_timeout_secs: u64,
    /// Where the store lives: absent for the embedded file `DIR/credence.redb` (the default),
    /// or a PostgreSQL URL (`postgres://user@host:port/db`; `CREDENCE_STORE` in the
    /// environment, `--store` on the command line). Never printed with its password.
    pub store: Option<StoreUrl>,
    /// The PostgreSQL schema the tables live in (several services may share one database).
    pub store_schema: String,
    /// PostgreSQL connections (each on its own thread of the store's pool).
    pub store_connections: usize,
    /// Days either side of its clock the key authority decides queries about (30).
    pub day_window_days: u32,
    /// Questions one bank may ask about one subject per day, both paths (10; 0: no limit).
    pub queries_per_subject_per_day: u32,
    /// Pseudonym lookups one holder or bank may make per day (10000; 0: no limit). Each is
    /// logged once per subject and day.
    pub lookups_per_party_per_day: u32,
    /// Memory for decompressed input blocks of the most recently ingested records in the engine
    /// that evaluates (the in-process key authority's), MiB (256; 0: off). Filled at ingest,
    /// never at use (SECURITY.md); `credence_fhe_block_cache_*` in `/metrics`.
    pub block_cache_mib: usize,
    /// The key authority process that decides sealed queries (`[key_authority] key = "<64
    /// hex digits>" address = "host:port"`; `--key-authority KEY@ADDR`). Remembered in
    /// `DIR/key-authority.json` once given. Absent (and never given): a key authority in this
    /// process, with the client key in `DIR/keys/authority/` — for development only.
    pub key_authority: Option<crate::server::decider::KeyAuthorityConfig>,
    /// Where `serve init` copies the FHE public material from when the key authority runs apart
    /// (its `KADIR/keys/public` folder; `--fhe-public`).
    pub fhe_public: Option<PathBuf>,
    /// Authority root keys that certify holder keys (`[authorities] court = "<64 hex
    /// digits>"`; `--authority court=HEX`). Remembered in `DIR/authorities.json` once given.
    /// Where any are pinned, a holder is registered only with its authority's certificate, and
    /// verifiers take holder keys only from certificates in the log.
    pub authorities: std::collections::BTreeMap<String, String>,
}

/// A store URL from the configuration; its `Debug` hides any password.
#[derive(Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct StoreUrl(pub String);

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", crate::store::postgres::redact(&self.0))
    }
}

impl Config {
    /// Opens the configured store: the embedded file in `dir` unless `store` names a
    /// PostgreSQL database.
    pub fn open_store(
        &self,
        dir: &Path,
    ) -> Result<std::sync::Arc<dyn crate::store::Store>, crate::store::StoreError> {
        match &self.store {
            None => Ok(std::sync::Arc::new(
                crate::store::embedded::EmbeddedStore::open(&dir.join("credence.redb"))?,
            )),
            Some(StoreUrl(url))
                if url.starts_with("postgres://") || url.starts_with("postgresql://") =>
            {
                let location = crate::store::postgres::Location::new(url, &self.store_schema)?;
                Ok(std::sync::Arc::new(
                    crate::store::postgres::PostgresStore::open(location, self.store_connections)?,
                ))
            }
            Some(StoreUrl(url)) => Err(crate::store::StoreError::Backend(format!(
                "store {:?}: give a postgres:// URL, or leave `store` out for the embedded file",
                crate::store::postgres::redact(url)
            ))),
        }
    }
}

/// How `serve` listens: TLS with a certificate and key, or plain HTTP where that is allowed.
#[derive(Clone, Debug, Default)]
pub struct Listen {
    /// Certificate chain and key (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Plain HTTP on a non-loopback address is allowed explicitly.
    pub allow_plain_http: bool,
    /// Connection bounds.
    pub limits: crate::server::connections::Limits,
}

impl Config {
    /// The listening settings: both TLS files or neither.
    pub fn listen(&self) -> Result<Listen, Error> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            _ => return Err("tls_cert and tls_key go together: give both or neither".into()),
        };
        let positive = |name: &str, v: u64| -> Result<u64, Error> {
            if v == 0 {
                Err(format!("{name} must be at least 1").into())
            } else {
                Ok(v)
            }
        };
        Ok(Listen {
            tls,
            allow_plain_http: self.allow_plain_http,
            limits: crate::server::connections::Limits {
                max_connections: positive("max_connections", self.max_connections as u64)? as usize,
                header_timeout: std::time::Duration::from_secs(positive(
                    "header_timeout_secs",
                    self.header_timeout_secs,
                )?),
                body_timeout: std::time::Duration::from_secs(positive(
                    "body_timeout_secs",
                    self.body_timeout_secs,
                )?),
            },
        })
    }
}

/// One witness of this service's log.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// Its verifier key (`name+id+base64`, as `credence witness serve` prints it).
    pub vkey: String,
    /// Its address (`host:port`).
    pub address: String,
}

impl WitnessConfig {
    /// Parses `VKEY@ADDR` (the `--witness` flag).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let (vkey, address) = s
            .rsplit_once('@')
            .ok_or("--witness takes VKEY@HOST:PORT (the witness's verifier key and address)")?;
        Ok(WitnessConfig {
            vkey: vkey.to_string(),
            address: address.to_string(),
        })
    }

    pub(crate) fn client(&self) -> Result<crate::witness::WitnessClient, Error> {
        let verifier = crate::protocols::log::checkpoint::NoteVerifier::from_vkey(&self.vkey)
            .map_err(|e| format!("witness key `{}`: {e}", self.vkey))?;
        if verifier.key.role() != Role::Witness {
            return Err(format!("`{}` is not a witness verifier key", self.vkey).into());
        }
        Ok(crate::witness::WitnessClient {
            verifier,
            addr: self.address.clone(),
        })
    }
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
            witnesses: Vec::new(),
            witness_quorum: None,
            log_format: "text".into(),
            tls_cert: None,
            tls_key: None,
            allow_plain_http: false,
            max_connections: crate::server::connections::MAX_CONNECTIONS,
            header_timeout_secs: crate::server::connections::HEADER_TIMEOUT.as_secs(),
            body_timeout_secs: crate::server::connections::BODY_TIMEOUT.as_secs(),
            store: None,
            store_schema: "credence".into(),
            store_connections: crate::store::postgres::DEFAULT_CONNECTIONS,
            day_window_days: crate::key_authority::DEFAULT_DAY_WINDOW,
            queries_per_subject_per_day: 10,
            lookups_per_party_per_day: 10_000,
            block_cache_mib: crate::fhe::engine::DEFAULT_BLOCK_CACHE_BYTES >> 20,
            key_authority: None,
            fhe_public: None,
            authorities: Default::default(),
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
    /// The partner's key authority key (64 hex digits): pinned, to verify its verdicts.
    #[serde(default)]
    key_authority_key: Option<String>,
    /// The verifier keys of the partner's witnesses, and their quorum.
    #[serde(default)]
    witnesses: Vec<String>,
    #[serde(default)]
    witness_quorum: usize,
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
    Vec<crate::server::Forward>,
);

/// Reads a federation file: the partner logs' origins and keys, and (where `address` and
/// `party_file` are given) how to forward queries to them.
pub fn read_federation(path: &Path) -> Result<FederationRoutes, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read federation {}: {e}", path.display()))?;
    let f: Federation =
        toml::from_str(&text).map_err(|e| format!("federation {}: {e}", path.display()))?;
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
    let mut forward = Vec::new();
    for (p, log) in f.partner.iter().zip(&partners) {
        let bad = |m: &str| -> Error { format!("federation: partner `{}`: {m}", p.origin).into() };
        match (&p.address, &p.party_file) {
            (Some(addr), Some(file)) => {
                let party = crate::party::keyfile::Party::load(file).map_err(|e| e.to_string())?;
                if party.key.role() != Role::Bank {
                    return Err(bad("the party file must hold a bank key"));
                }
                let ka = p
                    .key_authority_key
                    .as_deref()
                    .and_then(crate::protocols::request::parse_hex::<32>)
                    .ok_or_else(|| bad("forwarding needs key_authority_key (64 hex digits) to verify its verdicts"))?;
                let ka = crate::protocols::signing::PublicKey::from_bytes(Role::KeyAuthority, &ka)
                    .map_err(|e| bad(&e.to_string()))?;
                let witnesses = p
                    .witnesses
                    .iter()
                    .map(|w| {
                        crate::protocols::log::checkpoint::NoteVerifier::from_vkey(w)
                            .map_err(|e| bad(&format!("witness `{w}`: {e}")))
                    })
                    .collect::<Result<Vec<_>, Error>>()?;
                let anchors = crate::protocols::verdict::TrustAnchors {
                    log: log.clone(),
                    service: log.key,
                    key_authority: ka,
                    witnesses,
                    witness_quorum: p.witness_quorum,
                    authorities: Default::default(),
                };
                anchors.check().map_err(bad)?;
                forward.push(crate::server::Forward {
                    origin: p.origin.clone(),
                    addr: addr.clone(),
                    anchors,
                    party: party.id,
                    key: party.key,
                });
            }
            (None, None) => {}
            _ => return Err(bad("give both address and party_file, or neither")),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::signing::SigningKey;

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
        // Authority roots: a table of name = hex key.
        let roots = dir.join("roots.toml");
        std::fs::write(&roots, "[authorities]\ncourt = \"ab\"\n").unwrap();
        let c = Config::from_file(&roots).unwrap();
        assert_eq!(c.authorities["court"], "ab");
        // The store: a PostgreSQL URL, never printed with its password; anything else refused.
        let pg = dir.join("pg.toml");
        std::fs::write(
            &pg,
            "store = \"postgres://credence:s3cret@db.internal:5432/credence\"\nstore_schema = \"beijing\"\n",
        )
        .unwrap();
        let c = Config::from_file(&pg).unwrap();
        assert_eq!(c.store_schema, "beijing");
        assert!(!format!("{c:?}").contains("s3cret"), "{c:?}");
        std::fs::write(&pg, "store = \"mysql://root:s3cret@db/credence\"\n").unwrap();
        let e = Config::from_file(&pg)
            .unwrap()
            .open_store(&dir)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("postgres://") && !e.contains("s3cret"), "{e}");
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "fhe_slot = 8\n").unwrap();
        let e = Config::from_file(&bad).unwrap_err().to_string();
        assert!(e.contains("fhe_slot"), "{e}");
        // A federation: one partner witnessed only, one also reachable for forwarded queries.
        let key = SigningKey::generate(Role::Log, &mut rand::rngs::OsRng).public();
        let party = dir.join("beijing-at-tianjin.party");
        crate::party::keyfile::write_party(
            &party,
            "region.beijing",
            Role::Bank,
            &[3; 32],
            None,
            None,
        )
        .unwrap();
        let fed = dir.join("federation.toml");
        std::fs::write(
            &fed,
            format!(
                "[[partner]]\norigin = \"credence.example/tianjin\"\nlog_key = \"{k}\"\nkey_authority_key = \"{ka}\"\naddress = \"10.0.0.2:8080\"\nparty_file = \"{}\"\n\n[[partner]]\norigin = \"credence.example/hebei\"\nlog_key = \"{k}\"\n",
                party.display(),
                k = hex::encode(key.to_bytes()),
                ka = hex::encode(
                    SigningKey::generate(Role::KeyAuthority, &mut rand::rngs::OsRng)
                        .public()
                        .to_bytes()
                )
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
