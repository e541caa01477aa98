//! The command line, declared for `clap`: every command, flag and default.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// CLI errors are messages for a person.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// A CLI result.
pub type Result<T> = std::result::Result<T, Error>;

/// Parses a day: `YYYY-MM-DD` or a day number, within the range the protocols accept.
pub fn parse_day(s: &str) -> std::result::Result<u32, String> {
    let d = crate::circuits::periods::parse_date(s)
        .or_else(|| s.parse().ok())
        .ok_or_else(|| {
            format!("`{s}` is neither a YYYY-MM-DD date nor a day number (days since 1970-01-01)")
        })?;
    crate::protocols::question::check_day("day", d)
}

/// Today, as a day number (UTC).
pub fn today() -> u32 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        / 86_400) as u32
}

/// credence — privacy-preserving credit computation.
#[derive(Parser, Debug)]
#[command(name = "credence", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the service is (party commands).
#[derive(Args, Debug, Clone)]
pub struct Server {
    /// The service's address: `https://host:port` (TLS, verified with --tls-ca), or
    /// `host:port` (plain HTTP: loopback only, unless CREDENCE_ALLOW_PLAIN_HTTP=1).
    #[arg(long, env = "CREDENCE_SERVER", default_value = "127.0.0.1:8080")]
    pub server: String,
    /// The CA certificate (or the service's pinned self-signed certificate), PEM, that an
    /// https:// service must present a certificate from.
    #[arg(long, env = "CREDENCE_TLS_CA", value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
}

/// The party whose key signs the requests.
#[derive(Args, Debug, Clone)]
pub struct As {
    /// The party file whose key signs the requests.
    #[arg(long = "as", value_name = "PARTY_FILE")]
    pub party: PathBuf,
}

/// The top-level commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// The whole service in process on the embedded store: a court, a tax bureau and a market
    /// regulator submit records of four enterprises on both paths, a bank asks 信易贷 (sealed:
    /// FHE; proven: the enterprise's zero-knowledge proof) and verifies every verdict, an auditor
    /// checks the log.
    Demo,
    /// Shipped policies: list, show, cost.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Every attribute of the catalogue with its holder, kind, range and default.
    Catalog,
    /// Print the service's OpenAPI document (what `GET /openapi.json` serves).
    Openapi,
    /// A listing's period from the regimes table (circuits/regimes.toml): the `until` a holder
    /// submits and the earliest day the subject may apply for repair.
    Listing {
        /// The list attribute, e.g. `market.abnormal_operation`.
        attribute: String,
        /// Severity class (minor, general, serious).
        #[arg(long)]
        class: String,
        /// Decision day.
        #[arg(long, value_parser = parse_day, value_name = "DAY")]
        decided: u32,
        /// Extension of the period, days.
        #[arg(long, default_value_t = 0, value_name = "DAYS")]
        extension: u32,
    },
    /// Generate the TFHE key material with a progress display: the public store DIR/public/
    /// (server key, compact public key, CRS) and the key authority store DIR/authority/ (client
    /// key, 0600).
    Keygen {
        /// Where to write the keys.
        #[arg(long, default_value = "credence-keys")]
        dir: PathBuf,
    },
    /// The service's public FHE material.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Run the service on the embedded store (`serve init`: create the data directory and exit).
    Serve(ServeArgs),
    /// Party key files.
    #[command(subcommand)]
    Party(PartyCmd),
    /// Register the parties of these key files (operator).
    Register {
        #[command(flatten)]
        #[allow(missing_docs)]
        who: As,
        #[command(flatten)]
        #[allow(missing_docs)]
        server: Server,
        /// Party files to register.
        files: Vec<PathBuf>,
        /// A holder certificate (`credence authority certify`), required for holders where the
        /// service pins authority roots (repeatable). A certificate for a holder registered
        /// before is logged on its own.
        #[arg(long, value_name = "CERT_FILE")]
        certificate: Vec<PathBuf>,
    },
    /// An authority root (`credence party new authority court --out court-root.party`).
    #[command(subcommand)]
    Authority(AuthorityCmd),
    /// Publish a shipped policy (by name) or a policy file (operator).
    Publish {
        #[command(flatten)]
        #[allow(missing_docs)]
        who: As,
        #[command(flatten)]
        #[allow(missing_docs)]
        server: Server,
        /// A shipped policy's name or a .policy file.
        policy: String,
    },
    /// Holder commands.
    #[command(subcommand)]
    Holder(HolderCmd),
    /// Ask (sealed path, or proven with a subject's package), verify the receipt against the
    /// pinned anchors and your own question, print the outcome and the records it rests on.
    Query(QueryCmd),
    /// Subject commands.
    #[command(subcommand)]
    Subject(SubjectCmd),
    /// Fetch the service's trust anchors, print their fingerprint to compare out of band, and
    /// pin them in FILE (never replaced silently).
    Anchors {
        #[command(flatten)]
        #[allow(missing_docs)]
        who: As,
        #[command(flatten)]
        #[allow(missing_docs)]
        server: Server,
        /// Where to pin the anchors.
        #[arg(long)]
        out: PathBuf,
        /// The fingerprint you were given out of band, or the anchors file it came in.
        #[arg(long, value_name = "FINGERPRINT|FILE")]
        expect: Option<String>,
    },
    /// Offline: check a verdict receipt or a proof package against YOUR question (subject, your
    /// copy of the policy, day).
    Verify(VerifyCmd),
    /// Follow the log: recompute the root, check consistency with the saved checkpoint, re-verify
    /// every verdict, check decryptions and consents, re-check recent FHE evaluations' inputs.
    /// Exits 1 on any problem.
    Audit(AuditCmd),
    /// An independent witness.
    #[command(subcommand)]
    Witness(WitnessCmd),
    /// The key authority, apart from the service: the only holder of the TFHE client key.
    #[command(subcommand)]
    KeyAuthority(KeyAuthorityCmd),
}

/// `credence policy …`.
#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// The shipped policies with their hashes.
    List,
    /// A policy's canonical form, hash, and its proof lowering or why it has none.
    Show {
        /// A shipped policy's name or a .policy file.
        policy: String,
    },
    /// Cost of a policy: proof size; FHE bootstraps, depth and time of the optimised lowering and
    /// of the naive one, measured (generates FHE keys).
    Cost {
        /// A shipped policy's name or a .policy file.
        policy: String,
        /// The day the plan is compiled for.
        #[arg(long, value_parser = parse_day, default_value = "20415")]
        day: u32,
    },
}

/// `credence keys …`.
#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Download the compact public key and proof CRS a holder encrypts with (GET
    /// /v1/fhe/public) into DIR/public/, checking each part's SHA3-256.
    Fetch {
        #[command(flatten)]
        #[allow(missing_docs)]
        server: Server,
        /// Where to write them (what `holder submit --keys` reads).
        #[arg(long, default_value = "credence-keys")]
        out: PathBuf,
        /// The SHA3-256 of the CRS the operator published (refuse any other).
        #[arg(long, value_name = "HEX")]
        expect_crs: Option<String>,
        /// The SHA3-256 of the compact public key the operator published (refuse any other: a
        /// service that hands out a key of its own choosing could read what holders encrypt).
        #[arg(long, value_name = "HEX")]
        expect_public_key: Option<String>,
    },
}

/// What `serve` does.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeAction {
    /// Create the data directory (keys, operator.party, log.vkey, anchors.json) and exit.
    Init,
}

/// `credence serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// `init`: create the data directory and exit (give DIR/log.vkey to the witnesses).
    pub action: Option<ServeAction>,
    /// TOML configuration (dir, addr, origin, fhe_slots, window_secs, checkpoint_every_entries,
    /// checkpoint_every_seconds, federation, witness_quorum, log_format, tls_cert, tls_key,
    /// allow_plain_http, max_connections, header_timeout_secs, body_timeout_secs, store,
    /// store_schema, store_connections, day_window_days, queries_per_subject_per_day,
    /// lookups_per_party_per_day, block_cache_mib,
    /// fhe_public, `[[witness]]`, `[key_authority]`, `[authorities]`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory (default ./credence-data).
    #[arg(long, env = "CREDENCE_DIR")]
    pub dir: Option<PathBuf>,
    /// Listen address (default 127.0.0.1:8080).
    #[arg(long, env = "CREDENCE_ADDR")]
    pub addr: Option<String>,
    /// The store: a PostgreSQL URL (postgres://user@host:port/db); default the embedded file
    /// DIR/credence.redb.
    #[arg(
        long,
        env = "CREDENCE_STORE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub store: Option<String>,
    /// A witness that cosigns checkpoints, VKEY@ADDR (repeatable).
    #[arg(long, value_name = "VKEY@ADDR")]
    pub witness: Vec<String>,
    /// How many witnesses must cosign a checkpoint handed out with a receipt.
    #[arg(long, value_name = "N")]
    pub witness_quorum: Option<usize>,
    /// The key authority process, KEY@ADDR (its public key in hex and address; remembered).
    #[arg(long, value_name = "KEY@ADDR")]
    pub key_authority: Option<String>,
    /// An authority root key that certifies holder keys, NAME=HEX (repeatable; remembered).
    /// Give the roots at `serve init`: verifiers pin them in the anchors.
    #[arg(long, value_name = "NAME=HEX")]
    pub authority: Vec<String>,
    /// With `init` and a key authority apart: its public FHE material (the folder
    /// KADIR/keys/public; a folder holding a client key is refused).
    #[arg(long, value_name = "DIR")]
    pub fhe_public: Option<PathBuf>,
    /// Log output: text or json (overrides the file's log_format).
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub tls: TlsArgs,
}

/// How a server listens.
#[derive(Args, Debug, Clone)]
pub struct TlsArgs {
    /// TLS certificate chain (PEM); with --tls-key the service speaks HTTPS only.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (behind a TLS-terminating proxy only).
    #[arg(long)]
    pub allow_plain_http: bool,
}

/// `credence authority …`.
#[derive(Subcommand, Debug)]
pub enum AuthorityCmd {
    /// Certify a holder's key with this authority's root key: writes a certificate file that
    /// the operator sends with the holder's registration (`credence register --certificate`).
    Certify {
        #[command(flatten)]
        #[allow(missing_docs)]
        who: As,
        /// The holder's party file (its id and public key are read; the seed is not used).
        #[arg(long, value_name = "PARTY_FILE", conflicts_with_all = ["holder", "key"])]
        holder_file: Option<PathBuf>,
        /// The holder's id (with --key), e.g. `court.beijing-high`.
        #[arg(long, requires = "key")]
        holder: Option<String>,
        /// Hex of the holder's public key (with --holder).
        #[arg(long, requires = "holder")]
        key: Option<String>,
        /// Where to write the certificate.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `credence party …`.
#[derive(Subcommand, Debug)]
pub enum PartyCmd {
    /// A new key file (0600) for a holder, bank, subject, auditor, witness or authority root.
    New {
        /// holder, bank, subject, auditor, witness, authority (a root, named by its authority).
        role: String,
        /// The party's id, e.g. `court` or `bank-a`.
        party: String,
        /// Where to write the key file.
        #[arg(long)]
        out: PathBuf,
        /// The subject a subject party speaks for: enterprise:USCC or person:ID.
        #[arg(long)]
        subject: Option<String>,
    },
}

/// `credence holder …`.
#[derive(Subcommand, Debug)]
pub enum HolderCmd {
    /// Upload values from CSV (subject,attribute,value) or JSON ([{subject, attribute, value}]),
    /// one record per subject, with progress.
    Submit {
        #[command(flatten)]
        #[allow(missing_docs)]
        who: As,
        #[command(flatten)]
        #[allow(missing_docs)]
        server: Server,
        /// sealed (FHE) or proven (commitments).
        #[arg(long, value_parser = ["sealed", "proven"])]
        path: String,
        /// CSV or JSON file.
        #[arg(long)]
        input: PathBuf,
        /// The service's public FHE material (default $CREDENCE_DIR/keys, else credence-data/keys).
        #[arg(long)]
        keys: Option<PathBuf>,
    },
}

/// `credence query`.
#[derive(Args, Debug)]
pub struct QueryCmd {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub who: As,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub server: Server,
    /// The pinned trust anchors (from `credence anchors`).
    #[arg(long)]
    pub anchors: PathBuf,
    /// enterprise:USCC or person:ID.
    #[arg(long)]
    pub subject: String,
    /// The policy (a shipped name or a .policy file: your own copy).
    #[arg(long)]
    pub policy: String,
    /// Why you ask (logged).
    #[arg(long)]
    pub purpose: String,
    /// The day asked about (default today).
    #[arg(long, value_parser = parse_day)]
    pub day: Option<u32>,
    /// The subject's consent token (persons).
    #[arg(long)]
    pub consent: Option<PathBuf>,
    /// The subject's proof package: ask on the proven path.
    #[arg(long)]
    pub proof: Option<PathBuf>,
    /// Where to save the receipt.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `credence subject …`.
#[derive(Subcommand, Debug)]
pub enum SubjectCmd {
    /// Open my commitments and prove a policy about me.
    Prove {
        #[command(flatten)]
        #[allow(missing_docs)]
        who: As,
        #[command(flatten)]
        #[allow(missing_docs)]
        server: Server,
        /// The policy to prove.
        #[arg(long)]
        policy: String,
        /// The day the proof is about (default today).
        #[arg(long, value_parser = parse_day)]
        day: Option<u32>,
        /// Where to write the package.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a consent token for a bank.
    Consent {
        #[command(flatten)]
        #[allow(missing_docs)]
        who: As,
        #[command(flatten)]
        #[allow(missing_docs)]
        server: Server,
        /// The bank's party id.
        #[arg(long)]
        bank: String,
        /// The policy it may ask about.
        #[arg(long)]
        policy: String,
        /// The purpose it may ask for.
        #[arg(long)]
        purpose: String,
        /// First day (default today).
        #[arg(long, value_parser = parse_day)]
        from: Option<u32>,
        /// Last day (default 30 days after --from).
        #[arg(long, value_parser = parse_day)]
        until: Option<u32>,
        /// Where to write the token.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check from the log that my pseudonym is bound to my keys and to nobody else's.
    Binding {
        #[command(flatten)]
        #[allow(missing_docs)]
        who: As,
        #[command(flatten)]
        #[allow(missing_docs)]
        server: Server,
        /// The pinned trust anchors (from `credence anchors`).
        #[arg(long)]
        anchors: PathBuf,
    },
    /// Every query and verdict about me.
    History {
        #[command(flatten)]
        #[allow(missing_docs)]
        who: As,
        #[command(flatten)]
        #[allow(missing_docs)]
        server: Server,
    },
    /// My records: commitments (opened with my key) and sealed records, with their holders.
    Records {
        #[command(flatten)]
        #[allow(missing_docs)]
        who: As,
        #[command(flatten)]
        #[allow(missing_docs)]
        server: Server,
    },
}

/// `credence verify`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["receipt", "package"])))]
pub struct VerifyCmd {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub server: Server,
    /// The pinned trust anchors.
    #[arg(long)]
    pub anchors: PathBuf,
    /// A verdict receipt.
    #[arg(long)]
    pub receipt: Option<PathBuf>,
    /// A proof package.
    #[arg(long)]
    pub package: Option<PathBuf>,
    /// YOUR copy of the policy (shipped name or file).
    #[arg(long)]
    pub policy: String,
    /// The subject: a pseudonym, or KIND:ID (needs --as to ask for its pseudonym).
    #[arg(long)]
    pub subject: String,
    /// The day the verdict must be about.
    #[arg(long, value_parser = parse_day)]
    pub day: u32,
    /// A party file, to turn an identifier into its pseudonym.
    #[arg(long = "as", value_name = "PARTY_FILE")]
    pub party: Option<PathBuf>,
}

/// `credence audit`.
#[derive(Args, Debug)]
pub struct AuditCmd {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub who: As,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub server: Server,
    /// The pinned trust anchors.
    #[arg(long)]
    pub anchors: PathBuf,
    /// The checkpoint of the last clean audit (updated after a clean audit).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Re-check the inputs of the last N FHE evaluations.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub replay: usize,
    /// The service's public FHE material (for --replay).
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// Flag banks asking more than N questions a day.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub spike_per_day: u64,
}

/// `credence key-authority …`.
#[derive(Subcommand, Debug)]
pub enum KeyAuthorityCmd {
    /// Make its TFHE keys and signing key in DIR (prints its public key; give DIR/keys/public
    /// to the service with `serve init --fhe-public DIR/keys/public`).
    Init {
        /// The key authority's directory.
        #[arg(long, default_value = "credence-key-authority")]
        dir: PathBuf,
    },
    /// Decide the service's sealed queries from its log.
    Serve {
        /// The key authority's directory.
        #[arg(long, default_value = "credence-key-authority")]
        dir: PathBuf,
        /// The service's address.
        #[arg(long)]
        service: String,
        /// The trust anchors it pins (the service's anchors.json, checked out of band).
        #[arg(long)]
        anchors: PathBuf,
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8091")]
        addr: String,
        /// Days either side of its clock a query may ask about.
        #[arg(long, default_value_t = crate::key_authority::DEFAULT_DAY_WINDOW)]
        day_window: u32,
        /// Queries it decides per day about one subject for one bank (0: no limit).
        #[arg(long, default_value_t = 10, value_name = "N")]
        per_bank: u32,
        /// Queries it decides per day about one subject, all banks together (0: no limit).
        #[arg(long, default_value_t = 50, value_name = "N")]
        per_subject: u32,
        /// Accept anchors that changed since its last start, when this is their fingerprint.
        #[arg(long, value_name = "HEX")]
        accept_anchors: Option<String>,
        /// Verify, expand and compress every input upload again for every decision instead of
        /// once per upload (what it did before paying for ingest once; for measurement).
        #[arg(long)]
        verify_uploads_every_decision: bool,
        /// Do not evaluate queries for the service: it evaluates each query and this key
        /// authority replays it (what it did before evaluating once; for measurement).
        #[arg(long)]
        service_evaluates: bool,
        /// Follow the log and verify newly logged uploads in the background every SECS
        /// seconds, so that decisions do not wait for them (0: only when a request comes).
        #[arg(long, default_value_t = 2, value_name = "SECS")]
        follow_every: u64,
        /// Memory for decompressed input blocks of the most recently ingested uploads, MiB (0:
        /// off); filled when an upload is first verified, never at use.
        #[arg(long, default_value_t = crate::fhe::engine::DEFAULT_BLOCK_CACHE_BYTES >> 20, value_name = "MIB")]
        block_cache_mib: usize,
        #[command(flatten)]
        #[allow(missing_docs)]
        tls: TlsArgs,
    },
}

/// `credence witness …`.
#[derive(Subcommand, Debug)]
pub enum WitnessCmd {
    /// Make a witness key (printed, and in DIR/witness.vkey).
    Init {
        /// The witness's directory.
        #[arg(long, default_value = "credence-witness")]
        dir: PathBuf,
        /// The witness's name in cosignatures.
        #[arg(long, default_value = "witness.local")]
        name: String,
    },
    /// Cosign the checkpoints of the log VKEY after checking consistency.
    Serve {
        /// The log's verifier key (DIR/log.vkey of the service).
        #[arg(long)]
        log: String,
        /// The witness's directory.
        #[arg(long, default_value = "credence-witness")]
        dir: PathBuf,
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8090")]
        addr: String,
        /// The witness's name in cosignatures.
        #[arg(long, default_value = "witness.local")]
        name: String,
        #[command(flatten)]
        #[allow(missing_docs)]
        tls: TlsArgs,
    },
}
