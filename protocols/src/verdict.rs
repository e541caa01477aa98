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
use crate::error::{DecodeError, VerdictError};
use crate::log::checkpoint::{NoteVerifier, SignedCheckpoint};
use crate::log::entry::{EvaluationPath, LogEntry, LogLeaf, Outcome};
use crate::log::hash::{Hash, LogHasher, Sha3Log};
use crate::log::proof::InclusionProof;
use crate::names::PartyId;
use crate::predicate::{PredicateProof, Statement};
use crate::pseudonym::Pseudonym;
use crate::signing::{PublicKey, Role, Signable, Signature, SigningKey};
use crate::transcript::labels;
use merlin::Transcript;
use sha3::{Digest, Sha3_256};

/// Verdict format version.
pub const VERDICT_VERSION: u8 = 1;
/// Most log indices a verdict may cite.
pub const MAX_LOG_INDICES: usize = 1024;
/// Largest encoded verdict receipt accepted.
pub const MAX_RECEIPT_LEN: usize = 1 << 20;

/// The evidence behind a verdict.
// Verdicts are handled one at a time, never stored in bulk in memory: boxing the proof would
// only add an allocation and API noise.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Evidence {
    /// Proven path: a predicate proof over holder-signed commitments.
    Proof {
        /// The statement proven; its context must match the verdict.
        statement: Statement,
        /// The aggregated proof.
        proof: PredicateProof,
        /// One holder-signed commitment per statement input, in the same order.
        inputs: Vec<SignedAttributeCommitment>,
    },
    /// Sealed path: the key authority attests it decrypted the output of a logged evaluation.
    Decryption {
        /// Log index of the evaluation entry.
        evaluation_index: u64,
        /// Log index of the decryption entry.
        decryption_index: u64,
        /// Hash of the output ciphertext that was decrypted.
        output_hash: Hash,
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
            Evidence::Proof {
                statement,
                proof,
                inputs,
            } => {
                w.u8(1);
                statement.encode(w);
                w.bytes(&proof.to_bytes());
                w.count(inputs.len());
                for i in inputs {
                    i.encode(w);
                }
            }
            Evidence::Decryption {
                evaluation_index,
                decryption_index,
                output_hash,
            } => {
                w.u8(2)
                    .u64(*evaluation_index)
                    .u64(*decryption_index)
                    .fixed(output_hash);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("evidence tag")? {
            1 => {
                let statement = Statement::decode(r)?;
                let proof_bytes = r.bytes("evidence proof", 64 * 1024)?;
                let proof =
                    PredicateProof::from_bytes(proof_bytes, &statement).map_err(|e| match e {
                        crate::error::ProofError::Malformed(d) => d,
                        _ => DecodeError::Invalid {
                            field: "evidence statement",
                            reason: "statement is not well-formed",
                        },
                    })?;
                let n = r.count("evidence inputs", crate::predicate::MAX_INPUTS)?;
                let mut inputs = Vec::with_capacity(n);
                for _ in 0..n {
                    inputs.push(SignedAttributeCommitment::decode(r)?);
                }
                Ok(Evidence::Proof {
                    statement,
                    proof,
                    inputs,
                })
            }
            2 => Ok(Evidence::Decryption {
                evaluation_index: r.u64("evaluation index")?,
                decryption_index: r.u64("decryption index")?,
                output_hash: r.array("output hash")?,
            }),
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

    /// Checks the signature and the evidence (steps 3 and 4 of [`VerdictReceipt::verify`]):
    /// the right signer for the path; on the proven path every input is a registered holder's
    /// signed, range-certified commitment about the subject and the proof verifies; on the
    /// sealed path the evaluation and decryption are cited. Returns the outcome. Says nothing
    /// about the log: that is the receipt's job.
    pub fn verify(&self, anchors: &TrustAnchors) -> Result<Outcome, VerdictError> {
        let v = &self.verdict;
        let signer = match v.path() {
            EvaluationPath::Proven => &anchors.service,
            EvaluationPath::Sealed => &anchors.key_authority,
        };
        signer.verify(v.signer_role(), v, &self.signature)?;
        match &v.evidence {
            Evidence::Proof {
                statement,
                proof,
                inputs,
            } => {
                if v.outcome != Outcome::Eligible(true) {
                    return Err(VerdictError::VerificationFailed);
                }
                let ctx = &statement.context;
                if ctx.subject != v.subject
                    || ctx.policy_hash != v.policy_hash
                    || ctx.as_of_day != v.as_of_day
                    || inputs.len() != statement.inputs.len()
                {
                    return Err(VerdictError::VerificationFailed);
                }
                for (signed, input) in inputs.iter().zip(&statement.inputs) {
                    let c = &signed.commitment;
                    if c.commitment != input.commitment
                        || c.max != input.max
                        || c.context.subject != v.subject
                    {
                        return Err(VerdictError::VerificationFailed);
                    }
                    let key = anchors
                        .holders
                        .iter()
                        .find(|(id, _)| *id == c.context.holder)
                        .map(|(_, k)| k)
                        .ok_or(VerdictError::VerificationFailed)?;
                    signed.verify(key)?;
                }
                proof.verify(&mut Transcript::new(labels::APP_VERDICT), statement)?;
            }
            Evidence::Decryption {
                evaluation_index,
                decryption_index,
                ..
            } => {
                if !v.log_indices.contains(evaluation_index)
                    || !v.log_indices.contains(decryption_index)
                {
                    return Err(VerdictError::VerificationFailed);
                }
            }
        }
        Ok(v.outcome)
    }
}

/// Everything a verifier trusts: keys and the witness policy.
#[derive(Clone, Debug)]
pub struct TrustAnchors {
    /// The log's checkpoint verifier (its name is the log origin).
    pub log: NoteVerifier,
    /// The service key that signs proven-path verdicts (role `Log`).
    pub service: PublicKey,
    /// The key authority's key (role `KeyAuthority`).
    pub key_authority: PublicKey,
    /// Registered holders and their keys.
    pub holders: Vec<(PartyId, PublicKey)>,
    /// Witnesses whose cosignatures count.
    pub witnesses: Vec<NoteVerifier>,
    /// How many witness cosignatures a checkpoint needs.
    pub witness_quorum: usize,
}

/// The question the verifier asked; the verdict must answer exactly this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// The subject asked about.
    pub subject: Pseudonym,
    /// The policy asked about.
    pub policy_hash: Hash,
    /// The day asked about.
    pub as_of_day: u32,
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
    /// A signed (and possibly cosigned) checkpoint.
    pub checkpoint: SignedCheckpoint,
}

impl VerdictReceipt {
    /// Verifies everything a bank needs, in one call, and returns the outcome:
    ///
    /// 1. the checkpoint is signed by the log and cosigned by a quorum of witnesses;
    /// 2. the verdict answers `question` (subject, policy hash, day);
    /// 3. the verdict is signed by the right party for its path;
    /// 4. proven path: every input is a registered holder's signed, range-certified commitment
    ///    about this subject, and the predicate proof verifies (only "eligible" is provable);
    ///    sealed path: the cited evaluation and decryption indices are cited in `log_indices`;
    /// 5. the leaf is a `Verdict` entry for this verdict's hash and subject, and is included at
    ///    `leaf_index` in the checkpoint's tree.
    pub fn verify(
        &self,
        anchors: &TrustAnchors,
        question: &Question,
    ) -> Result<Outcome, VerdictError> {
        let checkpoint = self.checkpoint.verify_with_witnesses(
            &anchors.log,
            &anchors.witnesses,
            anchors.witness_quorum,
        )?;
        let v = &self.verdict.verdict;
        if v.subject != question.subject {
            return Err(VerdictError::Mismatch("verdict is about another subject"));
        }
        if v.policy_hash != question.policy_hash {
            return Err(VerdictError::Mismatch("verdict is for another policy"));
        }
        if v.as_of_day != question.as_of_day {
            return Err(VerdictError::Mismatch("verdict is for another day"));
        }
        self.verdict.verify(anchors)?;
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
        let leaf_hash = Sha3Log::hash_leaf(&self.leaf.to_bytes());
        self.inclusion
            .verify::<Sha3Log>(&leaf_hash, &checkpoint.root)?;
        Ok(v.outcome)
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(1);
        w.bytes(&self.verdict.to_bytes());
        w.bytes(&self.leaf.to_bytes());
        w.u64(self.leaf_index);
        self.inclusion.encode(&mut w);
        w.str(&self.checkpoint.to_text());
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
        if v != 1 {
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
        r.finish()?;
        let checkpoint = SignedCheckpoint::parse(text)?;
        Ok(VerdictReceipt {
            verdict,
            leaf,
            leaf_index,
            inclusion,
            checkpoint,
        })
    }
}
