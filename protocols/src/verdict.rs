//! Verdicts: the one signed object a querier receives, and the one call that verifies it.
//!
//! A [`Verdict`] names the policy (by hash), the subject (by pseudonym), the as-of day, the
//! outcome, the evaluation path, the evidence and the log indices it rests on. It is signed by
//! the service (proven path: the evidence is a predicate proof anyone can check) or by the key
//! authority (sealed path: the evidence is the logged evaluation and decryption it attests to).
//! The signed verdict is then logged; a [`VerdictReceipt`] carries the verdict with its log
//! leaf, an inclusion proof and a signed checkpoint. [`VerdictReceipt::verify`] is the bank's
//! single call. See `protocols/verdict.md`.

use crate::commitment::{decode_pseudonym, encode_pseudonym, SignedAttributeCommitment};
use crate::encoding::{Reader, Writer};
use crate::error::{CheckpointError, DecodeError, VerdictError};
use crate::keys::KeyEvidence;
use crate::log::checkpoint::{Checkpoint, NoteVerifier, SignedCheckpoint};
use crate::log::entry::{EvaluationPath, LogEntry, LogLeaf, Outcome};
use crate::log::hash::{Hash, Sha3Log};
use crate::log::proof::InclusionProof;
use crate::names::AttributeId;
use crate::package::MAX_PROOF_LEN;
use crate::pseudonym::Pseudonym;
use crate::question::{verify_proof, HolderKeys, OutputShape, Question};
use crate::signing::{PublicKey, Role, Signable, Signature, SigningKey};
use sha3::{Digest, Sha3_256};

/// Verdict format version.
pub const VERDICT_VERSION: u8 = 3;
/// Most inputs a sealed verdict may name.
pub const MAX_SEALED_INPUTS: usize = 256;
/// Most log indices a verdict may cite.
pub const MAX_LOG_INDICES: usize = 1024;
/// Largest encoded verdict receipt accepted.
pub const MAX_RECEIPT_LEN: usize = 1 << 20;

/// The evidence behind a verdict.
#[derive(Clone, Debug)]
pub enum Evidence {
    /// Proven path: a predicate proof over holder-signed commitments. There is no statement
    /// here: a verifier derives it from its own question.
    Proof {
        /// The aggregated proof ([`crate::predicate::PredicateProof::to_bytes`]).
        proof: Vec<u8>,
        /// One holder-signed commitment per input of the policy's proof, in order.
        inputs: Vec<SignedAttributeCommitment>,
    },
    /// Sealed path: the key authority attests that, following the log itself up to the
    /// checkpoint it names, it found the query, selected these inputs (the latest logged sealed
    /// record per attribute before the query), replayed the evaluation byte for byte to the
    /// logged output, and decrypted it.
    Decryption {
        /// Log index of the query entry.
        query_index: u64,
        /// Log index of the evaluation entry.
        evaluation_index: u64,
        /// The submissions it evaluated (holder-signed upload hashes, in log order).
        input_hashes: Vec<Hash>,
        /// Hash of the output ciphertext that was decrypted.
        output_hash: Hash,
        /// Size of the log checkpoint (signed by the log, cosigned by the witness quorum) it
        /// relied on.
        checkpoint_size: u64,
        /// Root hash of that checkpoint.
        checkpoint_root: Hash,
    },
}

impl Evidence {
    /// The path this evidence belongs to.
    pub fn path(&self) -> EvaluationPath {
        match self {
            Evidence::Proof { .. } => EvaluationPath::Proven,
            Evidence::Decryption { .. } => EvaluationPath::Sealed,
        }
    }

    fn encode(&self, w: &mut Writer) {
        match self {
            Evidence::Proof { proof, inputs } => {
                w.u8(1);
                w.bytes(proof);
                w.count(inputs.len());
                for i in inputs {
                    i.encode(w);
                }
            }
            Evidence::Decryption {
                query_index,
                evaluation_index,
                input_hashes,
                output_hash,
                checkpoint_size,
                checkpoint_root,
            } => {
                w.u8(2).u64(*query_index).u64(*evaluation_index);
                w.count(input_hashes.len());
                for h in input_hashes {
                    w.fixed(h);
                }
                w.fixed(output_hash)
                    .u64(*checkpoint_size)
                    .fixed(checkpoint_root);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("evidence tag")? {
            1 => {
                let proof = r.bytes("evidence proof", MAX_PROOF_LEN)?.to_vec();
                let n = r.count("evidence inputs", crate::predicate::MAX_INPUTS)?;
                let mut inputs = Vec::with_capacity(n);
                for _ in 0..n {
                    inputs.push(SignedAttributeCommitment::decode(r)?);
                }
                Ok(Evidence::Proof { proof, inputs })
            }
            2 => {
                let query_index = r.u64("query index")?;
                let evaluation_index = r.u64("evaluation index")?;
                let n = r.count("sealed inputs", MAX_SEALED_INPUTS)?;
                let mut input_hashes = Vec::with_capacity(n);
                for _ in 0..n {
                    input_hashes.push(r.array("input hash")?);
                }
                Ok(Evidence::Decryption {
                    query_index,
                    evaluation_index,
                    input_hashes,
                    output_hash: r.array("output hash")?,
                    checkpoint_size: r.u64("checkpoint size")?,
                    checkpoint_root: r.array("checkpoint root")?,
                })
            }
            tag => Err(DecodeError::UnknownTag {
                field: "evidence tag",
                tag,
            }),
        }
    }
}

/// A verdict: the answer to "is subject S eligible under policy P on day D?".
#[derive(Clone, Debug)]
pub struct Verdict {
    /// SHA3-256 of the published policy.
    pub policy_hash: Hash,
    /// The subject.
    pub subject: Pseudonym,
    /// The day asked about.
    pub as_of_day: u32,
    /// The answer.
    pub outcome: Outcome,
    /// Which of the policy's attributes had records (sorted); the others took their
    /// catalogue defaults.
    pub coverage: Vec<AttributeId>,
    /// The evidence.
    pub evidence: Evidence,
    /// Log indices this verdict rests on (submissions, query, evaluation, decryption).
    pub log_indices: Vec<u64>,
    /// When it was issued (seconds since the Unix epoch).
    pub issued_at: u64,
}

impl Signable for Verdict {
    const KIND: &'static str = "verdict/v1";
    fn encode_body(&self, w: &mut Writer) {
        self.encode(w);
    }
}

impl Verdict {
    /// Sealed or proven, from the evidence.
    pub fn path(&self) -> EvaluationPath {
        self.evidence.path()
    }

    /// The role that must sign a verdict on this path.
    pub fn signer_role(&self) -> Role {
        match self.path() {
            EvaluationPath::Proven => Role::Log,
            EvaluationPath::Sealed => Role::KeyAuthority,
        }
    }

    fn encode(&self, w: &mut Writer) {
        w.u8(VERDICT_VERSION).fixed(&self.policy_hash);
        encode_pseudonym(&self.subject, w);
        w.u32(self.as_of_day);
        self.outcome.encode(w);
        w.count(self.coverage.len());
        for a in &self.coverage {
            a.encode(w);
        }
        self.path().encode(w);
        self.evidence.encode(w);
        w.count(self.log_indices.len());
        for i in &self.log_indices {
            w.u64(*i);
        }
        w.u64(self.issued_at);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.u8("verdict version")?;
        if v != VERDICT_VERSION {
            return Err(DecodeError::UnknownTag {
                field: "verdict version",
                tag: v,
            });
        }
        let policy_hash = r.array("policy hash")?;
        let subject = decode_pseudonym(r)?;
        let as_of_day = r.u32("as-of day")?;
        let outcome = Outcome::decode(r)?;
        let n = r.count("coverage", crate::predicate::MAX_INPUTS)?;
        let mut coverage: Vec<AttributeId> = Vec::with_capacity(n);
        for _ in 0..n {
            let a = AttributeId::decode(r)?;
            if coverage.last().is_some_and(|last| *last >= a) {
                return Err(DecodeError::Invalid {
                    field: "coverage",
                    reason: "attributes must be sorted and distinct",
                });
            }
            coverage.push(a);
        }
        let path = EvaluationPath::decode(r)?;
        let evidence = Evidence::decode(r)?;
        if evidence.path() != path {
            return Err(DecodeError::Invalid {
                field: "verdict path",
                reason: "path does not match the evidence",
            });
        }
        let n = r.count("log indices", MAX_LOG_INDICES)?;
        let mut log_indices = Vec::with_capacity(n);
        for _ in 0..n {
            log_indices.push(r.u64("log index")?);
        }
        Ok(Verdict {
            policy_hash,
            subject,
            as_of_day,
            outcome,
            coverage,
            evidence,
            log_indices,
            issued_at: r.u64("issued at")?,
        })
    }

    /// Signs the verdict; the key's role must be [`Verdict::signer_role`].
    pub fn sign(self, key: &SigningKey) -> Result<SignedVerdict, VerdictError> {
        if key.role() != self.signer_role() {
            return Err(VerdictError::Mismatch(
                "verdict signed by a key of the wrong role",
            ));
        }
        let signature = key.sign(&self);
        Ok(SignedVerdict {
            verdict: self,
            signature,
        })
    }
}

/// A verdict with its signature.
#[derive(Clone, Debug)]
pub struct SignedVerdict {
    /// The verdict.
    pub verdict: Verdict,
    /// Signature by the service (proven) or the key authority (sealed).
    pub signature: Signature,
}

impl SignedVerdict {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.verdict.encode(&mut w);
        self.signature.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes [`SignedVerdict::to_bytes`] (untrusted input).
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let s = Self::decode(&mut r)?;
        r.finish()?;
        Ok(s)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedVerdict {
            verdict: Verdict::decode(r)?,
            signature: Signature::decode(r, "verdict signature")?,
        })
    }

    /// SHA3-256 of the canonical bytes: what the log's `Verdict` entry records.
    pub fn hash(&self) -> Hash {
        Sha3_256::digest(self.to_bytes()).into()
    }

    /// Checks the verdict against the verifier's own `question` (steps 2 to 4 of
    /// [`VerdictReceipt::verify`]): it answers exactly this subject, pinned policy and day; it
    /// is signed by the right party for its path; its coverage names only attributes the policy
    /// reads and includes every attribute the policy requires for a "yes"; its outcome has the
    /// policy's shape. Proven path: the evidence passes [`verify_proof`] for the statement
    /// derived from `question`, with holder keys from `keys`, and its coverage is the proof's.
    /// Sealed path: the cited evaluation and decryption indices are among the verdict's
    /// indices. Says nothing about the log: that is the receipt's job.
    pub fn verify(
        &self,
        anchors: &TrustAnchors,
        question: &Question<'_>,
        keys: &HolderKeys,
    ) -> Result<VerifiedVerdict, VerdictError> {
        let v = &self.verdict;
        if v.subject != question.subject {
            return Err(VerdictError::Mismatch("verdict is about another subject"));
        }
        if v.policy_hash != question.policy.hash() {
            return Err(VerdictError::Mismatch("verdict is for another policy"));
        }
        if v.as_of_day != question.as_of_day {
            return Err(VerdictError::Mismatch("verdict is for another day"));
        }
        let signer = match v.path() {
            EvaluationPath::Proven => &anchors.service,
            EvaluationPath::Sealed => &anchors.key_authority,
        };
        signer.verify(v.signer_role(), v, &self.signature)?;
        let policy = question.policy;
        if v.coverage
            .iter()
            .any(|a| policy.attributes().binary_search(a).is_err())
        {
            return Err(VerdictError::Mismatch(
                "verdict coverage names an attribute the policy does not read",
            ));
        }
        match (policy.output(), v.outcome) {
            (OutputShape::Eligible, Outcome::Eligible(_)) => {}
            (OutputShape::Grade { bands }, Outcome::Grade(g)) if g <= bands => {}
            _ => {
                return Err(VerdictError::Mismatch(
                    "the outcome is not one the policy can produce",
                ))
            }
        }
        if v.outcome == Outcome::Eligible(true)
            && policy
                .required()
                .iter()
                .any(|r| v.coverage.binary_search(r).is_err())
        {
            return Err(VerdictError::Mismatch(
                "an \"eligible\" verdict without a record the policy requires",
            ));
        }
        match &v.evidence {
            Evidence::Proof { proof, inputs } => {
                if v.outcome != Outcome::Eligible(true) {
                    return Err(VerdictError::VerificationFailed);
                }
                let answer = verify_proof(question, keys, proof, inputs)?;
                if answer.coverage != v.coverage {
                    return Err(VerdictError::Mismatch(
                        "verdict coverage is not the proof's inputs",
                    ));
                }
            }
            Evidence::Decryption {
                query_index,
                evaluation_index,
                checkpoint_size,
                ..
            } => {
                if !v.log_indices.contains(query_index)
                    || !v.log_indices.contains(evaluation_index)
                    || evaluation_index <= query_index
                    || *checkpoint_size <= *evaluation_index
                {
                    return Err(VerdictError::VerificationFailed);
                }
            }
        }
        Ok(VerifiedVerdict {
            outcome: v.outcome,
            coverage: v.coverage.clone(),
            path: v.path(),
        })
    }
}

/// What a verified verdict says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedVerdict {
    /// The answer.
    pub outcome: Outcome,
    /// The policy attributes that had records; the others took their defaults.
    pub coverage: Vec<AttributeId>,
    /// Sealed or proven.
    pub path: EvaluationPath,
}

/// Everything a verifier pins out of band: the log, the keys that sign verdicts, and the
/// witness policy. Holder keys are not here: they are learned from the log
/// ([`crate::keys::KeyEvidence`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustAnchors {
    /// The log's checkpoint verifier (its name is the log origin).
    pub log: NoteVerifier,
    /// The service key that signs proven-path verdicts (role `Log`).
    pub service: PublicKey,
    /// The key authority's key (role `KeyAuthority`).
    pub key_authority: PublicKey,
    /// Witnesses whose cosignatures count.
    pub witnesses: Vec<NoteVerifier>,
    /// How many cosignatures by distinct witness keys a checkpoint needs.
    pub witness_quorum: usize,
    /// Each authority's root key (role `Authority`), by authority name (`court`, `tax`, …):
    /// the keys that certify holder keys ([`crate::keys::HolderCertificate`]).
    pub authorities: std::collections::BTreeMap<String, PublicKey>,
}

impl TrustAnchors {
    /// Checks the anchors are usable: keys of the right roles, and a quorum that the listed
    /// witnesses (counted by distinct key) can reach.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.service.role() != Role::Log || self.log.key.role() != Role::Log {
            return Err("the log and service keys must be log keys");
        }
        if self.key_authority.role() != Role::KeyAuthority {
            return Err("the key authority key must be a key-authority key");
        }
        let mut keys: Vec<[u8; 32]> = self.witnesses.iter().map(|w| w.key.to_bytes()).collect();
        keys.sort();
        keys.dedup();
        if self.witness_quorum > keys.len() {
            return Err("the witness quorum is larger than the number of distinct witness keys");
        }
        for (name, key) in &self.authorities {
            if key.role() != Role::Authority {
                return Err("an authority's root key must be an authority key");
            }
            // A nested name (`court.beijing`) would make "belongs to" ambiguous.
            if crate::names::PartyId::new(name).is_err() || name.contains('.') {
                return Err(
                    "an authority's name must be one catalogue authority (a-z 0-9 _ -, no dot)",
                );
            }
        }
        Ok(())
    }

    /// Verifies a checkpoint: signed by the pinned log key and cosigned by
    /// [`TrustAnchors::witness_quorum`] distinct witness keys.
    pub fn verify_checkpoint<'c>(
        &self,
        checkpoint: &'c SignedCheckpoint,
    ) -> Result<&'c Checkpoint, CheckpointError> {
        checkpoint.verify_with_witnesses(&self.log, &self.witnesses, self.witness_quorum)
    }

    /// SHA3-256 fingerprint of the anchors, to compare out of band: over `"credence/v1/anchors\0"`,
    /// the log's verifier key, the service and key-authority keys, every witness verifier key
    /// (sorted) and the quorum.
    pub fn fingerprint(&self) -> Hash {
        let mut witnesses: Vec<String> = self.witnesses.iter().map(|w| w.to_vkey()).collect();
        witnesses.sort();
        witnesses.dedup();
        let mut w = Writer::new();
        w.fixed(b"credence/v1/anchors\0").str(&self.log.to_vkey());
        self.service.encode(&mut w);
        self.key_authority.encode(&mut w);
        w.count(witnesses.len());
        for v in &witnesses {
            w.str(v);
        }
        w.u64(self.witness_quorum as u64);
        // Anchors without authority roots keep the fingerprint they had before roots existed.
        if !self.authorities.is_empty() {
            w.str("authorities").count(self.authorities.len());
            for (name, key) in &self.authorities {
                w.str(name);
                key.encode(&mut w);
            }
        }
        Sha3_256::digest(w.as_slice()).into()
    }
}

/// A signed verdict with the proof that it is in the log.
#[derive(Clone, Debug)]
pub struct VerdictReceipt {
    /// The verdict.
    pub verdict: SignedVerdict,
    /// The log leaf that records it (a `Verdict` entry).
    pub leaf: LogLeaf,
    /// The leaf's index.
    pub leaf_index: u64,
    /// Inclusion of the leaf in the checkpoint's tree.
    pub inclusion: InclusionProof,
    /// A checkpoint signed by the log and cosigned by witnesses.
    pub checkpoint: SignedCheckpoint,
    /// Registrations (under `checkpoint`) of the holders whose commitments the evidence uses.
    pub keys: KeyEvidence,
}

impl VerdictReceipt {
    /// Verifies everything a bank needs, in one call, against the bank's own `question` and
    /// pinned `anchors`, and returns what the verdict says:
    ///
    /// 1. the checkpoint is signed by the pinned log key and cosigned by the anchors' quorum of
    ///    distinct witness keys;
    /// 2. the verdict answers `question` (subject, pinned policy, day);
    /// 3. the verdict is signed by the right party for its path, and its coverage and outcome
    ///    fit the pinned policy;
    /// 4. proven path: the proof verifies for the statement derived from `question` over the
    ///    evidence's commitments, whose holders' keys are the ones registered in the log under
    ///    the checkpoint; sealed path: the cited evaluation and decryption indices are cited;
    /// 5. the leaf is a `Verdict` entry for this verdict's hash and subject, included at
    ///    `leaf_index` in the checkpoint's tree.
    pub fn verify(
        &self,
        anchors: &TrustAnchors,
        question: &Question<'_>,
    ) -> Result<VerifiedVerdict, VerdictError> {
        let checkpoint = anchors.verify_checkpoint(&self.checkpoint)?;
        let keys = self.keys.holder_keys(checkpoint, anchors)?;
        let verified = self.verdict.verify(anchors, question, &keys)?;
        let v = &self.verdict.verdict;
        match &self.leaf.entry {
            LogEntry::Verdict {
                verdict_hash,
                subject,
                ..
            } if *verdict_hash == self.verdict.hash() && *subject == v.subject => {}
            _ => return Err(VerdictError::VerificationFailed),
        }
        if self.inclusion.leaf_index != self.leaf_index
            || self.inclusion.tree_size != checkpoint.size
        {
            return Err(VerdictError::VerificationFailed);
        }
        let leaf_hash = self.leaf.hash();
        self.inclusion
            .verify::<Sha3Log>(&leaf_hash, &checkpoint.root)?;
        Ok(verified)
    }

    /// [`VerdictReceipt::verify`], and the verdict was issued to `bank` (the `Verdict` leaf
    /// names it): a bank accepts only its own answers, so a receipt handed on — by another bank,
    /// or reassembled by the subject from what it may read — proves nothing to it.
    pub fn verify_issued_to(
        &self,
        anchors: &TrustAnchors,
        question: &Question<'_>,
        bank: &crate::names::PartyId,
    ) -> Result<VerifiedVerdict, VerdictError> {
        let verified = self.verify(anchors, question)?;
        match &self.leaf.entry {
            LogEntry::Verdict { bank: b, .. } if b == bank => Ok(verified),
            _ => Err(VerdictError::Mismatch(
                "the verdict was issued to another bank",
            )),
        }
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(2);
        w.bytes(&self.verdict.to_bytes());
        w.bytes(&self.leaf.to_bytes());
        w.u64(self.leaf_index);
        self.inclusion.encode(&mut w);
        w.str(&self.checkpoint.to_text());
        self.keys.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes [`VerdictReceipt::to_bytes`] (untrusted input).
    pub fn from_bytes(b: &[u8]) -> Result<Self, VerdictError> {
        if b.len() > MAX_RECEIPT_LEN {
            return Err(DecodeError::TooLong {
                field: "verdict receipt",
                len: b.len(),
                max: MAX_RECEIPT_LEN,
            }
            .into());
        }
        let mut r = Reader::new(b);
        let v = r.u8("receipt version")?;
        if v != 2 {
            return Err(DecodeError::UnknownTag {
                field: "receipt version",
                tag: v,
            }
            .into());
        }
        let verdict = SignedVerdict::from_bytes(r.bytes("verdict", MAX_RECEIPT_LEN)?)?;
        let leaf = LogLeaf::from_bytes(r.bytes("verdict leaf", crate::log::entry::MAX_LEAF_LEN)?)?;
        let leaf_index = r.u64("leaf index")?;
        let inclusion = InclusionProof::decode(&mut r)?;
        let text = r.str("checkpoint", crate::log::checkpoint::MAX_NOTE_LEN)?;
        let checkpoint = SignedCheckpoint::parse(text)?;
        let keys = KeyEvidence::decode(&mut r)?;
        r.finish()?;
        Ok(VerdictReceipt {
            verdict,
            leaf,
            leaf_index,
            inclusion,
            checkpoint,
            keys,
        })
    }
}
