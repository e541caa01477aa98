//! The key authority: the only holder of the TFHE client key.
//!
//! It decrypts exactly one kind of ciphertext — the output of a logged evaluation of a published
//! policy on logged, holder-signed inputs — and signs the verdict. Everything else is refused:
//! a decryption oracle for arbitrary ciphertexts would leak every attribute (and, queried
//! adaptively, the key itself).
//!
//! By default, on **every** request ([`ReplayPolicy::Always`]), it then replays the evaluation
//! from the holders' own uploads — checks each holder's signature over its list, verifies each
//! proof of plaintext knowledge against the submission metadata, expands and compresses as the
//! engine does, compiles the policy for the day, evaluates on its own pool — and decrypts **its
//! own replay's output, never the ciphertext the service sent**. So the key authority decrypts
//! only ciphertexts it computed itself: a forged or wrong output cannot change a verdict, and
//! decryption gives no oracle on anything but the honest evaluation.
//!
//! (It does not compare the two outputs byte for byte: TFHE evaluation is deterministic within
//! one process, but tfhe chooses its FFT plans by timing at first use, so the low bits of a
//! bootstrap can differ between processes and machines. Comparing decryptions instead would
//! hand the service a one-bit oracle on whatever it sends. See `SECURITY.md`.)
//!
//! [`ReplayPolicy::Sampled`] replays a keyed-random share of the requests and decrypts the
//! engine's logged output for the rest; `SECURITY.md` says what that costs.

use crate::circuits::catalog::Catalog;
use crate::circuits::fhe::plan::OutputKind;
use crate::circuits::policy::{Output, Policy};
use crate::fhe::engine::{read_output, sha3, Engine, StoredRecord};
use crate::fhe::keys::{PublicMaterial, SecretMaterial};
use crate::fhe::SealedRecord;
use crate::protocols::log::entry::Outcome;
use crate::protocols::log::hash::Hash;
use crate::protocols::names::{AttributeId, PartyId};
use crate::protocols::pseudonym::Pseudonym;
use crate::protocols::signing::{PublicKey, Role, SigningKey};
use crate::protocols::verdict::{Evidence, SignedVerdict, Verdict};
use sha3::{Digest, Sha3_256};
use std::collections::BTreeMap;
use std::sync::RwLock;
use subtle::ConstantTimeEq;
use tfhe::prelude::*;

/// When the key authority replays an evaluation before decrypting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayPolicy {
    /// Every request (the default).
    Always,
    /// One request in `one_in`, chosen by a keyed hash of the output the service cannot predict.
    Sampled {
        /// Sampling ratio.
        one_in: u32,
    },
}

/// A request to decrypt an evaluation output and sign its verdict.
pub struct DecryptionRequest {
    /// The published policy evaluated.
    pub policy_hash: Hash,
    /// The day asked about.
    pub day: u32,
    /// The subject.
    pub subject: Pseudonym,
    /// The holders' records the evaluation read, as uploaded, in log order (an attribute in
    /// several is read from the latest).
    pub inputs: Vec<SealedRecord>,
    /// The output ciphertext to decrypt.
    pub output: Vec<u8>,
    /// The output hash recorded in the log's evaluation entry.
    pub logged_output_hash: Hash,
    /// Log index of the evaluation entry.
    pub evaluation_index: u64,
    /// Log index the decryption entry will take.
    pub decryption_index: u64,
    /// Log indices the verdict rests on (submissions, query, evaluation, decryption).
    pub log_indices: Vec<u64>,
    /// Issue time (seconds since the Unix epoch).
    pub issued_at: u64,
}

/// Why the key authority refused. It decrypted nothing in every case but
/// [`Refusal::InvalidOutcome`], which only sampled mode can reach.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The policy hash names no published policy.
    #[error("unknown policy")]
    UnknownPolicy,
    /// An input's holder is not registered.
    #[error("input from unregistered holder `{0}`")]
    UnknownHolder(String),
    /// An input's signature, list hash, subject, or proof does not check.
    #[error("input rejected: {0}")]
    BadInput(String),
    /// The ciphertext is not an evaluation output (e.g. a raw attribute ciphertext).
    #[error("not an evaluation output: {0}")]
    NotAnOutput(String),
    /// The output is not the one the log records.
    #[error("the output is not the logged evaluation output")]
    NotLogged,
    /// The decrypted value is not a boolean (eligibility) or a grade index.
    #[error("the output decrypts to no valid outcome for this policy")]
    InvalidOutcome,
    /// Internal failure.
    #[error("internal: {0}")]
    Internal(String),
}

/// A decrypted outcome, not yet signed. Only the key authority makes one.
#[derive(Debug)]
pub struct Decision {
    policy_hash: Hash,
    subject: Pseudonym,
    day: u32,
    outcome: Outcome,
    coverage: Vec<AttributeId>,
    evaluation_index: u64,
    output_hash: Hash,
}

impl Decision {
    /// The decrypted outcome.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }
    /// Hash of the output ciphertext decrypted.
    pub fn output_hash(&self) -> Hash {
        self.output_hash
    }
    /// The policy attributes the inputs carried.
    pub fn coverage(&self) -> &[AttributeId] {
        &self.coverage
    }
}

/// The key authority.
pub struct KeyAuthority {
    secret: SecretMaterial,
    signing_key: SigningKey,
    engine: Engine,
    catalog: Catalog,
    policies: RwLock<BTreeMap<Hash, Policy>>,
    holders: RwLock<BTreeMap<PartyId, PublicKey>>,
    replay: ReplayPolicy,
    sample_key: [u8; 32],
}

impl KeyAuthority {
    /// A key authority with its own store and its own evaluation pool (`threads`, 0 = cores).
    pub fn new(
        secret: SecretMaterial,
        public: PublicMaterial,
        signing_key: SigningKey,
        catalog: Catalog,
        threads: usize,
    ) -> Result<Self, String> {
        if signing_key.role() != Role::KeyAuthority {
            return Err("the key authority signs with a key-authority key".into());
        }
        let mut sample_key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut sample_key);
        Ok(KeyAuthority {
            secret,
            signing_key,
            engine: Engine::new(public, threads)?,
            catalog,
            policies: RwLock::new(BTreeMap::new()),
            holders: RwLock::new(BTreeMap::new()),
            replay: ReplayPolicy::Always,
            sample_key,
        })
    }

    /// Sets the replay policy.
    pub fn set_replay(&mut self, replay: ReplayPolicy) {
        self.replay = replay;
    }

    /// Its verdict-signing public key.
    pub fn public_key(&self) -> PublicKey {
        self.signing_key.public()
    }

    /// Learns a published policy.
    pub fn publish(&self, policy: Policy) {
        self.policies
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(policy.hash(), policy);
    }

    /// Whether it knows `holder`'s key.
    pub fn knows_holder(&self, holder: &PartyId) -> bool {
        self.holders
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(holder)
    }

    /// Learns a registered holder's key.
    pub fn register_holder(&self, holder: PartyId, key: PublicKey) {
        self.holders
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(holder, key);
    }

    fn sampled(&self, output_hash: &Hash) -> bool {
        match self.replay {
            ReplayPolicy::Always => true,
            ReplayPolicy::Sampled { one_in } => {
                let mut h = Sha3_256::new();
                h.update(b"credence/v1/replay-sample\0");
                h.update(self.sample_key);
                h.update(output_hash);
                let d: [u8; 32] = h.finalize().into();
                u32::from_le_bytes([d[0], d[1], d[2], d[3]]).is_multiple_of(one_in.max(1))
            }
        }
    }

    /// Replays, decrypts and signs — or refuses. (`decrypt` then `sign`.)
    pub fn decide(&self, req: &DecryptionRequest) -> Result<SignedVerdict, Refusal> {
        let decision = self.decrypt(req)?;
        self.sign(
            decision,
            req.decryption_index,
            req.log_indices.clone(),
            req.issued_at,
        )
    }

    /// Checks, replays and decrypts; the [`Decision`] can only be turned into a verdict by
    /// [`KeyAuthority::sign`] (so the service can log the decryption first and learn its index).
    pub fn decrypt(&self, req: &DecryptionRequest) -> Result<Decision, Refusal> {
        let policy = self
            .policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&req.policy_hash)
            .cloned()
            .ok_or(Refusal::UnknownPolicy)?;
        let policy = &policy;
        // The ciphertext must be an evaluation output (an 8-bit result), well-formed for our
        // parameters, and the one the log records.
        let output =
            read_output(&req.output, self.engine.public()).map_err(Refusal::NotAnOutput)?;
        let output_hash = sha3(&req.output);
        if !bool::from(output_hash.ct_eq(&req.logged_output_hash)) {
            return Err(Refusal::NotLogged);
        }
        let stored_inputs: Vec<StoredRecord>;
        let to_decrypt = if self.sampled(&output_hash) {
            let (replayed, stored) = self.replay(policy, req)?;
            stored_inputs = stored;
            read_output(&replayed, self.engine.public()).map_err(Refusal::Internal)?
        } else {
            stored_inputs = req
                .inputs
                .iter()
                .map(|r| StoredRecord {
                    attributes: r.submission.submission.attributes.clone(),
                    bytes: Vec::new(),
                })
                .collect();
            output
        };
        let coverage = Engine::coverage(policy, &stored_inputs);
        let value: u8 = to_decrypt.decrypt(&self.secret.client_key);
        let outcome = match (&policy.output, value) {
            (Output::Eligible(_), 0 | 1) => Outcome::Eligible(value == 1),
            (Output::Grade { bands, .. }, g) if usize::from(g) <= bands.len() => Outcome::Grade(g),
            _ => return Err(Refusal::InvalidOutcome),
        };
        Ok(Decision {
            policy_hash: req.policy_hash,
            subject: req.subject,
            day: req.day,
            outcome,
            coverage,
            evaluation_index: req.evaluation_index,
            output_hash,
        })
    }

    /// Signs the verdict of a decision, citing the log index of its decryption entry.
    pub fn sign(
        &self,
        decision: Decision,
        decryption_index: u64,
        log_indices: Vec<u64>,
        issued_at: u64,
    ) -> Result<SignedVerdict, Refusal> {
        let verdict = Verdict {
            policy_hash: decision.policy_hash,
            subject: decision.subject,
            as_of_day: decision.day,
            outcome: decision.outcome,
            coverage: decision.coverage,
            evidence: Evidence::Decryption {
                evaluation_index: decision.evaluation_index,
                decryption_index,
                output_hash: decision.output_hash,
            },
            log_indices,
            issued_at,
        };
        verdict
            .sign(&self.signing_key)
            .map_err(|e| Refusal::Internal(e.to_string()))
    }

    /// Re-derives the evaluation output from the holders' uploads; returns it with the
    /// records it ingested.
    fn replay(
        &self,
        policy: &Policy,
        req: &DecryptionRequest,
    ) -> Result<(Vec<u8>, Vec<StoredRecord>), Refusal> {
        let mut seen = std::collections::BTreeSet::new();
        if !req.inputs.iter().all(|r| seen.insert(r.submission.hash())) {
            return Err(Refusal::BadInput("an input is given twice".into()));
        }
        let mut stored: Vec<StoredRecord> = Vec::new();
        for record in &req.inputs {
            let s = &record.submission.submission;
            let key = self
                .holders
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&s.holder)
                .copied()
                .ok_or_else(|| Refusal::UnknownHolder(s.holder.to_string()))?;
            let key = &key;
            if s.subject != req.subject {
                return Err(Refusal::BadInput(format!(
                    "submission {} of `{}` is about another subject",
                    s.submission_id, s.holder
                )));
            }
            let ingested = self
                .engine
                .ingest(record, key, &self.catalog)
                .map_err(|e| Refusal::BadInput(e.to_string()))?;
            stored.push(ingested.stored);
        }
        let evaluation = self
            .engine
            .evaluate(policy, req.day, &stored)
            .map_err(|e| Refusal::Internal(e.to_string()))?;
        let expected = match policy.output {
            Output::Eligible(_) => OutputKind::Eligible,
            Output::Grade { .. } => OutputKind::Grade,
        };
        if evaluation.plan.kind != expected {
            return Err(Refusal::Internal("plan kind".into()));
        }
        Ok((evaluation.output, stored))
    }
}
