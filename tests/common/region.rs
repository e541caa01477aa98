//! An in-process region for whole-story tests: the service on an in-memory store behind a real
//! loopback listener, parties registered through the operator's signed client, and the FHE keys
//! (slow to make) shared by every test of one binary. Each test gets its own store, log and
//! operator, so tests register their parties under their own names.

use credence::circuits::catalog::Catalog;
use credence::fhe::engine::Engine;
use credence::fhe::keys::{generate, SecretMaterial};
use credence::fhe::SealedRecord;
use credence::key_authority::KeyAuthority;
use credence::party::client::Client;
use credence::protocols::identifiers::SubjectId;
use credence::protocols::names::{AttributeId, PartyId};
use credence::protocols::pseudonym::{Pseudonym, PseudonymKey};
use credence::protocols::seal::SealingSecretKey;
use credence::protocols::sealed::{SealedSubmission, SignedSealedSubmission};
use credence::protocols::signing::{PublicKey, Role, SigningKey};
use credence::protocols::verdict::TrustAnchors;
use credence::server::log::{CheckpointPolicy, LogService};
use credence::server::process::Running;
use credence::server::{router, ServiceParts, ServiceState};
use credence::store::memory::MemoryStore;
use credence::store::{Batch, Store, Table};
use std::sync::{Arc, OnceLock};

/// The bearer token the regions' `/metrics` takes.
pub const METRICS_TOKEN: &str = "test-metrics-token-for-scrapers";

/// Keys shared by the tests of one binary.
pub struct Keys {
    /// The compute engine (public material).
    pub engine: Arc<Engine>,
    /// The client key (each region's key authority holds it; no service does).
    pub secret: Arc<SecretMaterial>,
    /// The key authorities' signing key.
    pub ka: SigningKey,
    /// Its verdict key.
    pub ka_key: PublicKey,
}

/// The binary's keys (generated on first use).
pub fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let (secret, public) = generate(&mut |_, _| {}).unwrap();
        let ka = SigningKey::generate(Role::KeyAuthority, &mut rand::thread_rng());
        Keys {
            engine: Arc::new(Engine::new(public, 0).unwrap()),
            secret: Arc::new(secret),
            ka_key: ka.public(),
            ka,
        }
    })
}

/// A key authority for the log of `origin` signed by `log_key`, cosigned by `witnesses`
/// (quorum `quorum`), pinning the authority `roots`, with its own (memory) store.
pub fn key_authority(
    origin: &str,
    log_key: &SigningKey,
    witnesses: &[credence::witness::WitnessClient],
    quorum: usize,
    roots: &std::collections::BTreeMap<String, PublicKey>,
) -> Arc<KeyAuthority> {
    let k = keys();
    let anchors = TrustAnchors {
        log: credence::protocols::log::checkpoint::NoteVerifier::log(origin, log_key.public())
            .unwrap(),
        service: log_key.public(),
        key_authority: k.ka_key,
        witnesses: witnesses.iter().map(|w| w.verifier.clone()).collect(),
        witness_quorum: quorum,
        authorities: roots.clone(),
    };
    Arc::new(
        KeyAuthority::new(
            k.secret.clone(),
            k.engine.clone(),
            k.ka.clone(),
            Catalog::builtin(),
            anchors,
            Arc::new(MemoryStore::new()),
        )
        .unwrap(),
    )
}

/// How to build a region.
pub struct Options {
    /// Log origin.
    pub origin: String,
    /// Authority roots the region pins (holders of these authorities are certified).
    pub roots: Vec<&'static str>,
    /// Of those, the authorities for which the service pins a root of the operator's own
    /// making instead (the key authority and the region's `anchors` pin the genuine one).
    pub operator_roots: Vec<&'static str>,
    /// Request window.
    pub window_secs: u64,
    /// Questions per (bank, subject) per day (0: no limit, the default here).
    pub query_limit: u32,
    /// Pseudonym lookups per party per day (0: none).
    pub lookup_limit: u32,
    /// Witnesses of its checkpoints and their quorum.
    pub witnesses: Vec<credence::witness::WitnessClient>,
    /// Quorum.
    pub witness_quorum: usize,
    /// Partner witnessing and forwarding.
    pub partners: Option<credence::server::Witness>,
    /// Connection bounds.
    pub limits: credence::server::connections::Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            origin: "credence.test/region".into(),
            roots: Vec::new(),
            operator_roots: Vec::new(),
            window_secs: 300,
            query_limit: 0,
            lookup_limit: 0,
            witnesses: Vec::new(),
            witness_quorum: 0,
            partners: None,
            limits: Default::default(),
        }
    }
}

/// A running region.
pub struct Region {
    /// The listener.
    pub running: Running,
    /// Its store (tests read table counts to see that refusals changed nothing).
    pub store: Arc<dyn Store>,
    /// The operator.
    pub operator: Client,
    /// The log key (tests playing a dishonest operator use it).
    pub log_key: SigningKey,
    /// The anchors a verifier pins.
    pub anchors: TrustAnchors,
    /// The service's state (tests of start-up work call it).
    pub state: Arc<ServiceState>,
    /// The authority roots its anchors pin (by authority name).
    pub roots: std::collections::BTreeMap<String, SigningKey>,
    /// The operator's own roots the service pins (see [`Options::operator_roots`]).
    pub operator_roots: std::collections::BTreeMap<String, SigningKey>,
}

impl Region {
    /// A region with default options.
    pub fn new() -> Region {
        Region::with(Options::default())
    }

    /// A region with `o`.
    pub fn with(o: Options) -> Region {
        let k = keys();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mut rng = rand::thread_rng();
        let operator = SigningKey::generate(Role::Operator, &mut rng);
        let mut b = Batch::new();
        credence::server::auth::Authenticator::register(
            &mut b,
            &PartyId::new("operator").unwrap(),
            &operator.public(),
        );
        store.commit(&b).unwrap();
        let log_key = SigningKey::generate(Role::Log, &mut rng);
        let roots: std::collections::BTreeMap<String, SigningKey> = o
            .roots
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    SigningKey::generate(Role::Authority, &mut rng),
                )
            })
            .collect();
        let operator_roots: std::collections::BTreeMap<String, SigningKey> = o
            .operator_roots
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    SigningKey::generate(Role::Authority, &mut rng),
                )
            })
            .collect();
        let log = LogService::open(
            store.clone(),
            &o.origin,
            log_key.clone(),
            CheckpointPolicy {
                every_entries: 1000,
                every_seconds: 3600,
            },
        )
        .unwrap();
        let state = ServiceState::new(ServiceParts {
            store: store.clone(),
            log,
            catalog: Catalog::builtin(),
            pseudonyms: PseudonymKey::from_bytes([7; 32]),
            engine: k.engine.clone(),
            authority: key_authority(
                &o.origin,
                &log_key,
                &o.witnesses,
                o.witness_quorum,
                &roots.iter().map(|(n, k)| (n.clone(), k.public())).collect(),
            )
            .into(),
            fhe_slots: 2,
            window_secs: o.window_secs,
            query_limit: o.query_limit,
            lookup_limit: o.lookup_limit,
            witness: o.partners,
            witnesses: o.witnesses,
            witness_quorum: o.witness_quorum,
            authorities: roots
                .iter()
                .map(|(n, k)| (n.clone(), operator_roots.get(n).unwrap_or(k).public()))
                .collect(),
            metrics_token: Some(
                credence::server::metrics::MetricsToken::new(METRICS_TOKEN).unwrap(),
            ),
        })
        .unwrap();
        let mut anchors = state.trust_anchors().unwrap();
        anchors.authorities = roots.iter().map(|(n, k)| (n.clone(), k.public())).collect();
        let running = Running::start_with(router(state.clone()), o.limits).unwrap();
        let operator = Client::with_origin(
            &running.addr,
            &o.origin,
            PartyId::new("operator").unwrap(),
            operator,
        );
        Region {
            running,
            store,
            operator,
            log_key,
            anchors,
            state,
            roots,
            operator_roots,
        }
    }

    /// The address.
    pub fn addr(&self) -> &str {
        &self.running.addr
    }

    /// `/metrics`, scraped with the metrics token.
    pub fn metrics(&self) -> String {
        let (status, _, body) = credence::party::client::http(
            self.addr(),
            "GET",
            "/metrics",
            &[("authorization", format!("Bearer {METRICS_TOKEN}"))],
            b"",
        )
        .unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        String::from_utf8(body).unwrap()
    }

    /// Registers a party of `role` named `name`; its client.
    pub fn party(&self, name: &str, role: Role) -> Client {
        let key = SigningKey::generate(role, &mut rand::thread_rng());
        let id = PartyId::new(name).unwrap();
        let authority = name.split('.').next().unwrap_or(name);
        match self
            .operator_roots
            .get(authority)
            .or(self.roots.get(authority))
        {
            Some(root) if role == Role::Holder => {
                let c = credence::protocols::keys::HolderCertificate {
                    authority: authority.into(),
                    holder: id.clone(),
                    key: key.public(),
                };
                self.operator
                    .register_holder(&id, &key.public(), authority, &root.sign(&c))
                    .unwrap();
            }
            _ => {
                self.operator
                    .register_party(&id, &key.public(), None)
                    .unwrap();
            }
        }
        Client::with_origin(self.addr(), &self.anchors.log.name, id, key)
    }

    /// Registers a subject party for `id`; its client and sealing key.
    pub fn subject(&self, name: &str, id: &SubjectId) -> (Client, SealingSecretKey) {
        let key = SigningKey::generate(Role::Subject, &mut rand::thread_rng());
        let sealing = SealingSecretKey::generate(&mut rand::rngs::OsRng);
        let party = PartyId::new(name).unwrap();
        self.operator
            .register_party(&party, &key.public(), Some((id, &sealing.public())))
            .unwrap();
        (
            Client::with_origin(self.addr(), &self.anchors.log.name, party, key),
            sealing,
        )
    }

    /// Publishes a shipped policy.
    pub fn publish(&self, name: &str) {
        let text = credence::circuits::policy::BUILTIN_POLICIES
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1;
        self.operator.publish_policy(text).unwrap();
    }

    /// Row counts of every table but the nonces (which every accepted request adds to): what
    /// a refusal must leave unchanged.
    pub fn snapshot(&self) -> Vec<u64> {
        Table::ALL
            .iter()
            .filter(|t| **t != Table::Nonces)
            .map(|t| self.store.count(*t).unwrap())
            .collect()
    }

    /// The log size.
    pub fn log_size(&self) -> u64 {
        self.store.count(Table::LogLeaves).unwrap()
    }

    /// The log as a dishonest operator writes it around the API: the region's store and log
    /// key.
    pub fn log_around_the_api(&self) -> LogService {
        LogService::open(
            self.store.clone(),
            &self.anchors.log.name,
            self.log_key.clone(),
            CheckpointPolicy {
                every_entries: 1000,
                every_seconds: 3600,
            },
        )
        .unwrap()
    }
}

impl Default for Region {
    fn default() -> Self {
        Self::new()
    }
}

/// A holder's honest sealed record (range-checked by the holder's tooling).
pub fn seal(holder: &Client, who: Pseudonym, id: u64, values: &[(&str, u64)]) -> SealedRecord {
    seal_with(keys().engine.public(), holder, who, id, values)
}

/// [`seal`] under the public material `public` (another key set than the tests' shared one).
pub fn seal_with(
    public: &credence::fhe::keys::PublicMaterial,
    holder: &Client,
    who: Pseudonym,
    id: u64,
    values: &[(&str, u64)],
) -> SealedRecord {
    let values: Vec<(AttributeId, u64)> = values
        .iter()
        .map(|(a, v)| (AttributeId::new(a).unwrap(), *v))
        .collect();
    credence::party::holder::encrypt_record(
        &Catalog::builtin(),
        &public.public_key,
        &public.crs,
        holder.party(),
        holder.key(),
        who,
        id,
        &values,
    )
    .unwrap()
}

/// A sealed record made without the holder-side range check: what a dishonest holder (or its
/// own tooling) can send, any 16-bit value per attribute.
pub fn seal_raw(holder: &Client, who: Pseudonym, id: u64, values: &[(&str, u16)]) -> SealedRecord {
    use tfhe::safe_serialization::safe_serialize;
    use tfhe::zk::ZkComputeLoad;
    let public = keys().engine.public();
    let ids: Vec<AttributeId> = values
        .iter()
        .map(|(a, _)| AttributeId::new(a).unwrap())
        .collect();
    let mut builder = tfhe::ProvenCompactCiphertextList::builder(&public.public_key);
    for (_, v) in values {
        builder.push(*v);
    }
    let metadata = SealedSubmission::metadata(holder.party(), &who, id, &ids);
    let list = builder
        .build_with_proof_packed(&public.crs, &metadata, ZkComputeLoad::Proof)
        .unwrap();
    let mut bytes = Vec::new();
    safe_serialize(&list, &mut bytes, 1 << 20).unwrap();
    SealedRecord {
        submission: SignedSealedSubmission::sign(
            SealedSubmission {
                holder: holder.party().clone(),
                subject: who,
                submission_id: id,
                attributes: ids,
                list_hash: SealedSubmission::hash_list(&bytes),
            },
            holder.key(),
        ),
        list: bytes,
    }
}

/// A holder's honest commitments to `values` of `who`, openings sealed to `sealing`, submitted
/// through its client (submission ids from `first`); their log indices.
pub fn commit(
    holder: &Client,
    who: Pseudonym,
    sealing: &credence::protocols::seal::SealingPublicKey,
    values: &[(&str, u64)],
    first: u64,
) -> Vec<u64> {
    let values: Vec<(AttributeId, u64)> = values
        .iter()
        .map(|(a, v)| (AttributeId::new(a).unwrap(), *v))
        .collect();
    holder
        .submit_committed(
            &credence::party::holder::commit_attributes(
                &Catalog::builtin(),
                holder.party(),
                holder.key(),
                who,
                sealing,
                &values,
                first,
            )
            .unwrap(),
        )
        .unwrap()
}

/// A commitment made by hand, without the holder tooling's checks: any attribute, any value,
/// a certificate for any `max` — what a dishonest holder can sign. With its opening sealed.
pub fn raw_commitment(
    holder: &Client,
    who: Pseudonym,
    sealing: &credence::protocols::seal::SealingPublicKey,
    attribute: &str,
    value: u64,
    max: u64,
    submission: u64,
) -> (
    credence::protocols::commitment::SignedAttributeCommitment,
    credence::protocols::seal::SealedOpening,
) {
    use credence::protocols::commitment::*;
    let context = AttributeContext {
        holder: holder.party().clone(),
        attribute: AttributeId::new(attribute).unwrap(),
        subject: who,
        submission,
    };
    let o = Opening::random(value, &mut rand::rngs::OsRng);
    let c = AttributeCommitment::create(
        &mut merlin::Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL),
        context.clone(),
        &o,
        max,
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    let sealed = credence::protocols::seal::SealedOpening::seal(
        sealing,
        &context,
        &c.commitment,
        &o,
        &mut rand::rngs::OsRng,
    );
    (SignedAttributeCommitment::sign(c, holder.key()), sealed)
}
