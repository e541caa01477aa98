//! Typed, versioned log entries. A leaf of the log is the canonical encoding of a
//! [`LogLeaf`]: format version, time, entry kind tag and the kind's fields.
//!
//! Entries carry pseudonyms, hashes, commitments and public keys — never raw attribute values
//! and never raw identifiers. The full field tables are in `protocols/log.md`.

use super::hash::Hash;
use crate::commitment::{decode_pseudonym, encode_pseudonym};
use crate::encoding::{Reader, Writer};
use crate::error::DecodeError;
use crate::names::{AttributeId, PartyId};
use crate::pseudonym::Pseudonym;
use crate::signing::PublicKey;

/// Leaf format version (3: entries about particular parties enter the tree as a hash of their
/// content, [`LogLeaf::leaf_data`]; queries carry the bank's signature over the question).
pub const LEAF_VERSION: u8 = 3;

/// Domain separator of a sealed entry's content hash ([`LogLeaf::leaf_data`]).
pub const CONTENT_DOMAIN: &[u8] = b"credence/v1/log-entry-content\0";

/// A fresh random salt for an entry whose other fields are low-entropy.
pub fn salt<R: rand_core::RngCore + rand_core::CryptoRng>(rng: &mut R) -> [u8; 16] {
    let mut s = [0u8; 16];
    rng.fill_bytes(&mut s);
    s
}
/// Largest leaf accepted by [`LogLeaf::from_bytes`].
pub const MAX_LEAF_LEN: usize = 64 * 1024;
/// Most hashes in one list field (e.g. evaluation inputs).
pub const MAX_HASH_LIST: usize = 1024;
/// Longest free-text field (purpose, policy id, reason).
pub const MAX_TEXT: usize = 256;

/// How an attribute value is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvaluationPath {
    /// Encrypted under the TFHE public key; evaluated homomorphically.
    Sealed,
    /// Pedersen-committed; proven in zero knowledge by the subject.
    Proven,
}

impl EvaluationPath {
    fn tag(self) -> u8 {
        match self {
            EvaluationPath::Sealed => 1,
            EvaluationPath::Proven => 2,
        }
    }
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("evaluation path")? {
            1 => Ok(EvaluationPath::Sealed),
            2 => Ok(EvaluationPath::Proven),
            tag => Err(DecodeError::UnknownTag {
                field: "evaluation path",
                tag,
            }),
        }
    }
    pub(crate) fn encode(self, w: &mut Writer) {
        w.u8(self.tag());
    }
}

/// The result a policy produced: a yes/no or a small grade (0 = A, 1 = B, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Eligible or not.
    Eligible(bool),
    /// A grade index.
    Grade(u8),
}

impl Outcome {
    pub(crate) fn encode(self, w: &mut Writer) {
        match self {
            Outcome::Eligible(b) => w.u8(1).u8(u8::from(b)),
            Outcome::Grade(g) => w.u8(2).u8(g),
        };
    }
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("outcome tag")? {
            1 => Ok(Outcome::Eligible(r.bool("outcome")?)),
            2 => Ok(Outcome::Grade(r.u8("grade")?)),
            tag => Err(DecodeError::UnknownTag {
                field: "outcome tag",
                tag,
            }),
        }
    }
}

/// How a holder answered a dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisputeOutcome {
    /// The record stands.
    Upheld,
    /// The record was corrected by the submission logged at this index.
    Corrected {
        /// Log index of the correcting submission.
        submission_index: u64,
    },
}

/// One typed log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogEntry {
    /// A party and its key were registered (holder, bank, witness, key authority, …).
    PartyRegistered {
        /// The party.
        party: PartyId,
        /// Its key (the role is part of the key).
        key: PublicKey,
    },
    /// A policy version was published.
    PolicyPublished {
        /// Policy name, e.g. `xinyidai`.
        policy: String,
        /// Policy version.
        version: u32,
        /// SHA3-256 of the policy's canonical form.
        policy_hash: Hash,
    },
    /// A holder submitted an attribute value (ciphertext or commitment).
    AttributeSubmitted {
        /// The holder.
        holder: PartyId,
        /// The catalogue attribute.
        attribute: AttributeId,
        /// The subject.
        subject: Pseudonym,
        /// The holder's submission id.
        submission: u64,
        /// Sealed or proven.
        path: EvaluationPath,
        /// SHA3-256 of the signed ciphertext list or signed commitment as stored.
        content_hash: Hash,
    },
    /// The root of the commitment directory at an epoch.
    DirectoryRoot {
        /// Epoch number.
        epoch: u64,
        /// Directory root hash.
        root: Hash,
    },
    /// A querier asked a question.
    Query {
        /// The querier.
        bank: PartyId,
        /// The subject.
        subject: Pseudonym,
        /// The policy asked about.
        policy_hash: Hash,
        /// The day asked about.
        as_of_day: u32,
        /// Declared purpose.
        purpose: String,
        /// Hash of the consent token, where one was needed.
        consent_hash: Option<Hash>,
        /// Random: parties shown only this entry's sealed leaf cannot confirm a guess of its
        /// fields (bank, subject, policy, day and purpose are low-entropy).
        salt: [u8; 16],
        /// The partner region (log origin) the bank asked this region to forward the question
        /// to; `None` for a question this region answers itself. Nothing is evaluated or
        /// decrypted here for a forwarded question.
        region: Option<String>,
        /// The bank's signature over exactly this question (`query-request/v1`, see
        /// [`crate::query::QueryRequest::of_entry`]). The service logs every question with
        /// one; the key authority decrypts nothing for a query without a valid one, and the
        /// audit reports it.
        request: Option<crate::query::RequestSignature>,
    },
    /// The compute engine evaluated a policy on ciphertexts.
    Evaluation {
        /// Log index of the query.
        query_index: u64,
        /// The policy evaluated.
        policy_hash: Hash,
        /// Hashes of the holder-signed input ciphertexts.
        input_hashes: Vec<Hash>,
        /// Hash of the output ciphertext.
        output_hash: Hash,
        /// Random: evaluation is deterministic (two banks asking the same question get the
        /// same inputs and output), so without it a bank could confirm that another asked
        /// what it asked by hashing its own evaluation under the other's sealed leaf.
        salt: [u8; 16],
    },
    /// The key authority decrypted the output of a logged evaluation.
    Decryption {
        /// Log index of the evaluation.
        evaluation_index: u64,
        /// Hash of the output ciphertext decrypted.
        output_hash: Hash,
        /// Random, for the same reason as an evaluation's.
        salt: [u8; 16],
    },
    /// A verdict was issued.
    Verdict {
        /// SHA3-256 of the signed verdict's canonical encoding.
        verdict_hash: Hash,
        /// The subject.
        subject: Pseudonym,
        /// The querier it was issued to.
        bank: PartyId,
    },
    /// A subject disputed a log entry.
    DisputeFiled {
        /// The subject.
        subject: Pseudonym,
        /// Log index of the disputed entry.
        disputed_index: u64,
        /// Hash of the subject's signed dispute statement.
        statement_hash: Hash,
        /// Last day for the holder's answer.
        answer_by_day: u32,
    },
    /// A holder answered a dispute.
    DisputeAnswered {
        /// Log index of the dispute.
        dispute_index: u64,
        /// The holder.
        holder: PartyId,
        /// The answer.
        outcome: DisputeOutcome,
        /// Random, for the same reason as a query's.
        salt: [u8; 16],
    },
    /// A holder repaired a record (信用修复): the listing ends on `repair_day`.
    Repair {
        /// The holder.
        holder: PartyId,
        /// The attribute repaired.
        attribute: AttributeId,
        /// The subject.
        subject: Pseudonym,
        /// Log index of the submission carrying the repaired value.
        submission_index: u64,
        /// The day the listing ends.
        repair_day: u32,
        /// Random, for the same reason as a query's.
        salt: [u8; 16],
    },
    /// A subject made a credit pledge (信用承诺) to a holder authority.
    PledgeMade {
        /// The subject.
        subject: Pseudonym,
        /// The authority the pledge is made to (it records breaches).
        holder: PartyId,
        /// SHA3-256 of the subject's signed `pledge/v1` statement.
        pledge_hash: Hash,
        /// Last day the pledge binds.
        until_day: u32,
    },
    /// The key authority refused to decrypt for a query (nothing was decrypted).
    DecryptionRefused {
        /// Log index the request named (a query, or whatever entry a dishonest service named).
        query_index: u64,
        /// Why (stable short code, e.g. `inputs`, `output-mismatch`, `day-window`).
        reason: String,
        /// Random, for the same reason as a query's.
        salt: [u8; 16],
    },
    /// The FHE engine configuration evaluations run with: what a replay must run to
    /// reproduce logged outputs byte for byte.
    EngineParameters {
        /// The tfhe version, e.g. `1.8.2`.
        tfhe: String,
        /// The parameter set and FFT plan.
        parameters: String,
        /// SHA3-256 digest of the key generator's replay self-test.
        selftest_digest: Hash,
    },
    /// A subject party was bound to its pseudonym with its signing and sealing keys (logged
    /// with the subject's `PartyRegistered` entry). The key authority and the audit accept a
    /// consent for a pseudonym only under the signing key bound to it here, and the subject
    /// checks its own binding from the log (`credence subject binding`).
    SubjectBound {
        /// The subject party.
        party: PartyId,
        /// The pseudonym it speaks for.
        subject: Pseudonym,
        /// Its signing key (role subject).
        key: PublicKey,
        /// Its sealing public key (X25519; holders seal commitment openings to it).
        sealing_key: [u8; 32],
        /// Random: a party shown only the leaf hash cannot confirm a guess of whom a
        /// pseudonym it looked up belongs to.
        salt: [u8; 16],
    },
    /// A holder or bank turned a subject identifier into its pseudonym (`POST
    /// /v1/holder/pseudonym`): logged once per party, subject and day, so that the subject and
    /// the auditors see who looked it up.
    PseudonymLookup {
        /// Who asked.
        party: PartyId,
        /// The pseudonym it learned.
        subject: Pseudonym,
        /// The day it asked.
        day: u32,
        /// Random, for the same reason as a query's.
        salt: [u8; 16],
    },
    /// An authority's root key certified a holder key (`holder-certificate/v1`): logged with
    /// the holder's `PartyRegistered` entry. Verifiers take holder keys only from these
    /// entries, checked under the roots their anchors pin.
    HolderCertified {
        /// The holder party.
        holder: PartyId,
        /// Its key (role holder).
        key: PublicKey,
        /// The certifying authority (`court`, …).
        authority: String,
        /// The root key's signature over the certificate.
        signature: crate::signing::Signature,
    },
    /// A party rotated its key.
    KeyRotation {
        /// The party.
        party: PartyId,
        /// The old key.
        old_key: PublicKey,
        /// The new key.
        new_key: PublicKey,
    },
}

impl LogEntry {
    /// The kind tag (stable; listed in `protocols/log.md`).
    pub fn tag(&self) -> u8 {
        match self {
            LogEntry::PartyRegistered { .. } => 1,
            LogEntry::PolicyPublished { .. } => 2,
            LogEntry::AttributeSubmitted { .. } => 3,
            LogEntry::DirectoryRoot { .. } => 4,
            LogEntry::Query { .. } => 5,
            LogEntry::Evaluation { .. } => 6,
            LogEntry::Decryption { .. } => 7,
            LogEntry::Verdict { .. } => 8,
            LogEntry::DisputeFiled { .. } => 9,
            LogEntry::DisputeAnswered { .. } => 10,
            LogEntry::Repair { .. } => 11,
            LogEntry::KeyRotation { .. } => 12,
            LogEntry::PledgeMade { .. } => 13,
            LogEntry::DecryptionRefused { .. } => 14,
            LogEntry::EngineParameters { .. } => 15,
            LogEntry::SubjectBound { .. } => 16,
            LogEntry::PseudonymLookup { .. } => 17,
            LogEntry::HolderCertified { .. } => 18,
        }
    }

    fn encode(&self, w: &mut Writer) {
        w.u8(self.tag());
        match self {
            LogEntry::PartyRegistered { party, key } => {
                party.encode(w);
                key.encode(w);
            }
            LogEntry::PolicyPublished {
                policy,
                version,
                policy_hash,
            } => {
                w.str(policy).u32(*version).fixed(policy_hash);
            }
            LogEntry::AttributeSubmitted {
                holder,
                attribute,
                subject,
                submission,
                path,
                content_hash,
            } => {
                holder.encode(w);
                attribute.encode(w);
                encode_pseudonym(subject, w);
                w.u64(*submission);
                path.encode(w);
                w.fixed(content_hash);
            }
            LogEntry::DirectoryRoot { epoch, root } => {
                w.u64(*epoch).fixed(root);
            }
            LogEntry::Query {
                bank,
                subject,
                policy_hash,
                as_of_day,
                purpose,
                consent_hash,
                salt,
                region,
                request,
            } => {
                bank.encode(w);
                encode_pseudonym(subject, w);
                w.fixed(policy_hash).u32(*as_of_day).str(purpose);
                match consent_hash {
                    None => w.u8(0),
                    Some(h) => w.u8(1).fixed(h),
                };
                w.fixed(salt);
                match region {
                    None => w.u8(0),
                    Some(r) => w.u8(1).str(r),
                };
                match request {
                    None => w.u8(0),
                    Some(r) => {
                        w.u8(1);
                        r.encode(w);
                        w
                    }
                };
            }
            LogEntry::Evaluation {
                query_index,
                policy_hash,
                input_hashes,
                output_hash,
                salt,
            } => {
                w.u64(*query_index)
                    .fixed(policy_hash)
                    .count(input_hashes.len());
                for h in input_hashes {
                    w.fixed(h);
                }
                w.fixed(output_hash).fixed(salt);
            }
            LogEntry::Decryption {
                evaluation_index,
                output_hash,
                salt,
            } => {
                w.u64(*evaluation_index).fixed(output_hash).fixed(salt);
            }
            LogEntry::Verdict {
                verdict_hash,
                subject,
                bank,
            } => {
                w.fixed(verdict_hash);
                encode_pseudonym(subject, w);
                bank.encode(w);
            }
            LogEntry::DisputeFiled {
                subject,
                disputed_index,
                statement_hash,
                answer_by_day,
            } => {
                encode_pseudonym(subject, w);
                w.u64(*disputed_index)
                    .fixed(statement_hash)
                    .u32(*answer_by_day);
            }
            LogEntry::DisputeAnswered {
                dispute_index,
                holder,
                outcome,
                salt,
            } => {
                w.u64(*dispute_index);
                holder.encode(w);
                match outcome {
                    DisputeOutcome::Upheld => w.u8(1),
                    DisputeOutcome::Corrected { submission_index } => {
                        w.u8(2).u64(*submission_index)
                    }
                };
                w.fixed(salt);
            }
            LogEntry::Repair {
                holder,
                attribute,
                subject,
                submission_index,
                repair_day,
                salt,
            } => {
                holder.encode(w);
                attribute.encode(w);
                encode_pseudonym(subject, w);
                w.u64(*submission_index).u32(*repair_day).fixed(salt);
            }
            LogEntry::KeyRotation {
                party,
                old_key,
                new_key,
            } => {
                party.encode(w);
                old_key.encode(w);
                new_key.encode(w);
            }
            LogEntry::PledgeMade {
                subject,
                holder,
                pledge_hash,
                until_day,
            } => {
                encode_pseudonym(subject, w);
                holder.encode(w);
                w.fixed(pledge_hash).u32(*until_day);
            }
            LogEntry::DecryptionRefused {
                query_index,
                reason,
                salt,
            } => {
                w.u64(*query_index).str(reason).fixed(salt);
            }
            LogEntry::EngineParameters {
                tfhe,
                parameters,
                selftest_digest,
            } => {
                w.str(tfhe).str(parameters).fixed(selftest_digest);
            }
            LogEntry::SubjectBound {
                party,
                subject,
                key,
                sealing_key,
                salt,
            } => {
                party.encode(w);
                encode_pseudonym(subject, w);
                key.encode(w);
                w.fixed(sealing_key).fixed(salt);
            }
            LogEntry::PseudonymLookup {
                party,
                subject,
                day,
                salt,
            } => {
                party.encode(w);
                encode_pseudonym(subject, w);
                w.u32(*day).fixed(salt);
            }
            LogEntry::HolderCertified {
                holder,
                key,
                authority,
                signature,
            } => {
                holder.encode(w);
                key.encode(w);
                w.str(authority);
                signature.encode(w);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = r.u8("entry kind")?;
        Ok(match tag {
            1 => LogEntry::PartyRegistered {
                party: PartyId::decode(r)?,
                key: PublicKey::decode(r, "party key")?,
            },
            2 => LogEntry::PolicyPublished {
                policy: text(r, "policy name")?,
                version: r.u32("policy version")?,
                policy_hash: r.array("policy hash")?,
            },
            3 => LogEntry::AttributeSubmitted {
                holder: PartyId::decode(r)?,
                attribute: AttributeId::decode(r)?,
                subject: decode_pseudonym(r)?,
                submission: r.u64("submission")?,
                path: EvaluationPath::decode(r)?,
                content_hash: r.array("content hash")?,
            },
            4 => LogEntry::DirectoryRoot {
                epoch: r.u64("epoch")?,
                root: r.array("directory root")?,
            },
            5 => LogEntry::Query {
                bank: PartyId::decode(r)?,
                subject: decode_pseudonym(r)?,
                policy_hash: r.array("policy hash")?,
                as_of_day: r.u32("as-of day")?,
                purpose: text(r, "purpose")?,
                consent_hash: match r.u8("consent presence")? {
                    0 => None,
                    1 => Some(r.array("consent hash")?),
                    tag => {
                        return Err(DecodeError::UnknownTag {
                            field: "consent presence",
                            tag,
                        })
                    }
                },
                salt: r.array("query salt")?,
                region: match r.u8("region presence")? {
                    0 => None,
                    1 => Some(text(r, "region")?),
                    tag => {
                        return Err(DecodeError::UnknownTag {
                            field: "region presence",
                            tag,
                        })
                    }
                },
                request: match r.u8("request presence")? {
                    0 => None,
                    1 => Some(crate::query::RequestSignature::decode(r)?),
                    tag => {
                        return Err(DecodeError::UnknownTag {
                            field: "request presence",
                            tag,
                        })
                    }
                },
            },
            6 => {
                let query_index = r.u64("query index")?;
                let policy_hash = r.array("policy hash")?;
                let n = r.count("input hashes", MAX_HASH_LIST)?;
                let mut input_hashes = Vec::with_capacity(n);
                for _ in 0..n {
                    input_hashes.push(r.array("input hash")?);
                }
                LogEntry::Evaluation {
                    query_index,
                    policy_hash,
                    input_hashes,
                    output_hash: r.array("output hash")?,
                    salt: r.array("evaluation salt")?,
                }
            }
            7 => LogEntry::Decryption {
                evaluation_index: r.u64("evaluation index")?,
                output_hash: r.array("output hash")?,
                salt: r.array("decryption salt")?,
            },
            8 => LogEntry::Verdict {
                verdict_hash: r.array("verdict hash")?,
                subject: decode_pseudonym(r)?,
                bank: PartyId::decode(r)?,
            },
            9 => LogEntry::DisputeFiled {
                subject: decode_pseudonym(r)?,
                disputed_index: r.u64("disputed index")?,
                statement_hash: r.array("statement hash")?,
                answer_by_day: r.u32("answer-by day")?,
            },
            10 => LogEntry::DisputeAnswered {
                dispute_index: r.u64("dispute index")?,
                holder: PartyId::decode(r)?,
                outcome: match r.u8("dispute outcome")? {
                    1 => DisputeOutcome::Upheld,
                    2 => DisputeOutcome::Corrected {
                        submission_index: r.u64("correcting submission index")?,
                    },
                    tag => {
                        return Err(DecodeError::UnknownTag {
                            field: "dispute outcome",
                            tag,
                        })
                    }
                },
                salt: r.array("answer salt")?,
            },
            11 => LogEntry::Repair {
                holder: PartyId::decode(r)?,
                attribute: AttributeId::decode(r)?,
                subject: decode_pseudonym(r)?,
                submission_index: r.u64("submission index")?,
                repair_day: r.u32("repair day")?,
                salt: r.array("repair salt")?,
            },
            12 => LogEntry::KeyRotation {
                party: PartyId::decode(r)?,
                old_key: PublicKey::decode(r, "old key")?,
                new_key: PublicKey::decode(r, "new key")?,
            },
            13 => LogEntry::PledgeMade {
                subject: decode_pseudonym(r)?,
                holder: PartyId::decode(r)?,
                pledge_hash: r.array("pledge hash")?,
                until_day: r.u32("pledge until day")?,
            },
            14 => LogEntry::DecryptionRefused {
                query_index: r.u64("refused query index")?,
                reason: text(r, "refusal reason")?,
                salt: r.array("refusal salt")?,
            },
            15 => LogEntry::EngineParameters {
                tfhe: text(r, "tfhe version")?,
                parameters: text(r, "engine parameters")?,
                selftest_digest: r.array("self-test digest")?,
            },
            16 => {
                let party = PartyId::decode(r)?;
                let subject = decode_pseudonym(r)?;
                let key = PublicKey::decode(r, "subject key")?;
                if key.role() != crate::signing::Role::Subject {
                    return Err(DecodeError::Invalid {
                        field: "subject key",
                        reason: "a subject binding's key must have the subject role",
                    });
                }
                LogEntry::SubjectBound {
                    party,
                    subject,
                    key,
                    sealing_key: r.array("sealing key")?,
                    salt: r.array("binding salt")?,
                }
            }
            17 => LogEntry::PseudonymLookup {
                party: PartyId::decode(r)?,
                subject: decode_pseudonym(r)?,
                day: r.u32("lookup day")?,
                salt: r.array("lookup salt")?,
            },
            18 => {
                let holder = PartyId::decode(r)?;
                let key = PublicKey::decode(r, "holder key")?;
                if key.role() != crate::signing::Role::Holder {
                    return Err(DecodeError::Invalid {
                        field: "holder key",
                        reason: "a certified key must have the holder role",
                    });
                }
                LogEntry::HolderCertified {
                    holder,
                    key,
                    authority: text(r, "certifying authority")?,
                    signature: crate::signing::Signature::decode(r, "certificate signature")?,
                }
            }
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "entry kind",
                    tag,
                })
            }
        })
    }
}

/// The rule every free-text field of a log entry (a query's purpose, a policy's name) obeys:
/// at most [`MAX_TEXT`] bytes of UTF-8 without control characters. The decoder applies it,
/// and so does every append ([`LogLeaf::to_checked_bytes`]): nothing the log accepts can make
/// an entry unreadable. The API checks it first, to answer with the field's name.
pub fn check_text(field: &'static str, s: &str) -> Result<(), DecodeError> {
    if s.len() > MAX_TEXT {
        return Err(DecodeError::TooLong {
            field,
            len: s.len(),
            max: MAX_TEXT,
        });
    }
    if s.chars().any(char::is_control) {
        return Err(DecodeError::Invalid {
            field,
            reason: "control characters (tab, newline, …) are not allowed",
        });
    }
    Ok(())
}

fn text(r: &mut Reader<'_>, field: &'static str) -> Result<String, DecodeError> {
    let s = r.str(field, MAX_TEXT)?;
    check_text(field, s)?;
    Ok(s.to_string())
}

impl LogEntry {
    /// Checks every rule the decoder enforces that the type does not: text fields
    /// ([`check_text`]) and list lengths ([`MAX_HASH_LIST`]).
    pub fn validate(&self) -> Result<(), DecodeError> {
        match self {
            LogEntry::PolicyPublished { policy, .. } => check_text("policy name", policy),
            LogEntry::Query {
                purpose, region, ..
            } => check_text("purpose", purpose).and(
                region
                    .as_deref()
                    .map_or(Ok(()), |r| check_text("region", r)),
            ),
            LogEntry::DecryptionRefused { reason, .. } => check_text("refusal reason", reason),
            LogEntry::HolderCertified { authority, .. } => {
                check_text("certifying authority", authority)
            }
            LogEntry::EngineParameters {
                tfhe, parameters, ..
            } => check_text("tfhe version", tfhe).and(check_text("engine parameters", parameters)),
            LogEntry::Evaluation { input_hashes, .. } if input_hashes.len() > MAX_HASH_LIST => {
                Err(DecodeError::TooLong {
                    field: "input hashes",
                    len: input_hashes.len(),
                    max: MAX_HASH_LIST,
                })
            }
            _ => Ok(()),
        }
    }
}

/// A log leaf: an entry and the time the log appended it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLeaf {
    /// Seconds since the Unix epoch, as the log saw it.
    pub time: u64,
    /// The entry.
    pub entry: LogEntry,
}

/// Whether entries of kind `tag` concern particular parties and so enter the tree **sealed**:
/// as a hash of their content ([`LogLeaf::leaf_data`]). Registrations, certificates, policies,
/// directory roots, key rotations and engine parameters are public and enter in clear.
pub fn is_sealed_kind(tag: u8) -> bool {
    !matches!(tag, 1 | 2 | 4 | 12 | 15 | 18)
}

impl LogEntry {
    /// Whether this entry enters the tree sealed ([`is_sealed_kind`]).
    pub fn is_sealed(&self) -> bool {
        is_sealed_kind(self.tag())
    }

    /// The kind's name as the audit and the spec print it.
    pub fn kind_name(tag: u8) -> &'static str {
        match tag {
            1 => "party registered",
            2 => "policy published",
            3 => "attribute submitted",
            4 => "directory root",
            5 => "query",
            6 => "evaluation",
            7 => "decryption",
            8 => "verdict",
            9 => "dispute filed",
            10 => "dispute answered",
            11 => "repair",
            12 => "key rotation",
            13 => "pledge made",
            14 => "decryption refused",
            15 => "engine parameters",
            16 => "subject bound",
            17 => "pseudonym lookup",
            18 => "holder certified",
            _ => "unknown",
        }
    }
}

/// Reads what every leaf starts with — the format version (only [`LEAF_VERSION`]) and the time.
fn read_header(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    let v = r.u8("leaf version")?;
    if v != LEAF_VERSION {
        return Err(DecodeError::UnknownTag {
            field: "leaf version",
            tag: v,
        });
    }
    r.u64("leaf time")
}

/// A sealed leaf as a party it does not concern sees it: when the log appended it, its kind, and
/// the hash of its content — exactly the leaf data hashed into the tree, so anyone recomputes
/// roots and checks inclusion and consistency without learning the bank, subject, purpose or
/// outcome. Those it concerns are shown the [`LogLeaf`] itself and recompute this from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealedLeaf {
    /// Seconds since the Unix epoch, as the log saw it.
    pub time: u64,
    /// The entry kind tag (always a sealed kind).
    pub kind: u8,
    /// `SHA3-256(CONTENT_DOMAIN ‖ u8(kind) ‖ fields)`.
    pub content_hash: Hash,
}

impl SealedLeaf {
    /// The leaf data hashed into the tree.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(LEAF_VERSION)
            .u64(self.time)
            .u8(self.kind)
            .fixed(&self.content_hash);
        w.into_bytes()
    }

    /// Decodes [`SealedLeaf::to_bytes`] (untrusted input); refuses a public kind (those are
    /// never sealed).
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let time = read_header(&mut r)?;
        let kind = r.u8("entry kind")?;
        if !is_sealed_kind(kind) || LogEntry::kind_name(kind) == "unknown" {
            return Err(DecodeError::UnknownTag {
                field: "sealed entry kind",
                tag: kind,
            });
        }
        let content_hash = r.array("content hash")?;
        r.finish()?;
        Ok(SealedLeaf {
            time,
            kind,
            content_hash,
        })
    }

    /// The RFC 9162 leaf hash.
    pub fn hash(&self) -> Hash {
        use super::hash::{LogHasher, Sha3Log};
        Sha3Log::hash_leaf(&self.to_bytes())
    }
}

impl LogLeaf {
    /// The full leaf: format version, time, kind tag and the kind's fields. This is what the
    /// log stores and shows to the parties an entry concerns; what is hashed into the tree is
    /// [`LogLeaf::leaf_data`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(LEAF_VERSION).u64(self.time);
        self.entry.encode(&mut w);
        w.into_bytes()
    }

    /// The sealed form of an entry about particular parties ([`is_sealed_kind`]); `None` for a
    /// public entry.
    pub fn sealed(&self) -> Option<SealedLeaf> {
        if !self.entry.is_sealed() {
            return None;
        }
        let mut w = Writer::new();
        self.entry.encode(&mut w);
        use sha3::Digest;
        let mut h = sha3::Sha3_256::new();
        h.update(CONTENT_DOMAIN);
        h.update(w.as_slice());
        Some(SealedLeaf {
            time: self.time,
            kind: self.entry.tag(),
            content_hash: h.finalize().into(),
        })
    }

    /// The leaf data hashed into the tree (RFC 9162 `d`): the full leaf for a public entry,
    /// the [`SealedLeaf`] for an entry about particular parties.
    pub fn leaf_data(&self) -> Vec<u8> {
        match self.sealed() {
            Some(s) => s.to_bytes(),
            None => self.to_bytes(),
        }
    }

    /// The RFC 9162 leaf hash, `HASH(0x00 ‖ leaf_data)`.
    pub fn hash(&self) -> Hash {
        use super::hash::{LogHasher, Sha3Log};
        Sha3Log::hash_leaf(&self.leaf_data())
    }

    /// The leaf data, only if it decodes back to this leaf under the decoder's rules (what the
    /// log appends: an entry that a reader would refuse is never written).
    pub fn to_checked_bytes(&self) -> Result<Vec<u8>, DecodeError> {
        self.entry.validate()?;
        let bytes = self.to_bytes();
        match LogLeaf::from_bytes(&bytes) {
            Ok(back) if back == *self => Ok(bytes),
            Ok(_) => Err(DecodeError::Invalid {
                field: "log leaf",
                reason: "does not decode to the same entry",
            }),
            Err(e) => Err(e),
        }
    }

    /// Decodes a leaf (untrusted input).
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() > MAX_LEAF_LEN {
            return Err(DecodeError::TooLong {
                field: "log leaf",
                len: b.len(),
                max: MAX_LEAF_LEN,
            });
        }
        let mut r = Reader::new(b);
        let time = read_header(&mut r)?;
        let entry = LogEntry::decode(&mut r)?;
        r.finish()?;
        Ok(LogLeaf { time, entry })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifiers::SubjectKind;

    fn pseudonym() -> Pseudonym {
        Pseudonym {
            kind: SubjectKind::Enterprise,
            bytes: [4; 32],
        }
    }

    fn query(purpose: &str, salt: [u8; 16]) -> LogLeaf {
        LogLeaf {
            time: 1_764_000_000,
            entry: LogEntry::Query {
                bank: PartyId::new("bank.icbc").unwrap(),
                subject: pseudonym(),
                policy_hash: [1; 32],
                as_of_day: 20_415,
                purpose: purpose.into(),
                consent_hash: None,
                salt,
                region: None,
                request: None,
            },
        }
    }

    #[test]
    fn entries_about_parties_enter_the_tree_sealed_and_public_ones_in_clear() {
        let q = query("loan application 2026-118", [9; 16]);
        let sealed = q.sealed().expect("a query is sealed");
        let data = q.leaf_data();
        assert_eq!(data, sealed.to_bytes());
        assert_eq!(data.len(), 1 + 8 + 1 + 32);
        assert_eq!(
            (data[0], sealed.kind, sealed.time),
            (LEAF_VERSION, 5, q.time)
        );
        // Nothing of the content is in the leaf data: not the bank, the purpose or the subject.
        for needle in [&b"bank.icbc"[..], b"loan application", &[4u8; 32][..]] {
            assert!(!data.windows(needle.len()).any(|w| w == needle));
        }
        assert_eq!(q.hash(), sealed.hash());
        assert_eq!(SealedLeaf::from_bytes(&data), Ok(sealed));
        // The content hash changes with any field, the salt included.
        assert_ne!(query("loan application 2026-119", [9; 16]).hash(), q.hash());
        assert_ne!(query("loan application 2026-118", [8; 16]).hash(), q.hash());
        // The full leaf still round-trips.
        assert_eq!(LogLeaf::from_bytes(&q.to_bytes()), Ok(q.clone()));

        // Public kinds: the leaf data is the full leaf.
        let public = LogLeaf {
            time: 5,
            entry: LogEntry::PolicyPublished {
                policy: "xinyidai".into(),
                version: 1,
                policy_hash: [2; 32],
            },
        };
        assert_eq!(public.sealed(), None);
        assert_eq!(public.leaf_data(), public.to_bytes());
        // Exactly these kinds are public.
        let public_tags: Vec<u8> = (1..=18).filter(|t| !is_sealed_kind(*t)).collect();
        assert_eq!(public_tags, vec![1, 2, 4, 12, 15, 18]);

        // A sealed leaf of a public kind, an unknown kind, another version, or with trailing
        // bytes is refused.
        let mut bad = data.clone();
        bad[9] = 2;
        assert!(SealedLeaf::from_bytes(&bad).is_err());
        bad[9] = 77;
        assert!(SealedLeaf::from_bytes(&bad).is_err());
        let mut bad = data.clone();
        bad[0] = 2;
        assert!(SealedLeaf::from_bytes(&bad).is_err());
        let mut bad = data.clone();
        bad.push(0);
        assert!(SealedLeaf::from_bytes(&bad).is_err());
        assert!(SealedLeaf::from_bytes(&data[..20]).is_err());
    }
}
