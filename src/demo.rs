//! The verifiable-core story, in process: holders commit, a subject proves, the service issues
//! a logged verdict, a partner region cosigns the checkpoint, a bank verifies the receipt and
//! an auditor replays the log.
//!
//! This is what `credence demo` runs until the HTTP service exists; every step uses only the
//! `credence-protocols` API that the service will use.

use credence_protocols::commitment::{
    AttributeCommitment, AttributeContext, Opening, SignedAttributeCommitment,
    ATTRIBUTE_TRANSCRIPT_LABEL,
};
use credence_protocols::identifiers::{SubjectId, Uscc};
use credence_protocols::log::checkpoint::{Checkpoint, NoteVerifier, SignedCheckpoint};
use credence_protocols::log::entry::{EvaluationPath, LogEntry, LogLeaf, Outcome};
use credence_protocols::log::tree::MemoryTree;
use credence_protocols::log::{LogHasher, Sha3Log};
use credence_protocols::names::{AttributeId, PartyId};
use credence_protocols::predicate::{
    CommittedInput, Predicate, PredicateProof, Statement, StatementContext,
};
use credence_protocols::pseudonym::{Pseudonym, PseudonymKey};
use credence_protocols::seal::{SealedOpening, SealingSecretKey};
use credence_protocols::signing::{Role, SigningKey};
use credence_protocols::transcript::labels;
use credence_protocols::verdict::{
    Evidence, Question, SignedVerdict, TrustAnchors, Verdict, VerdictReceipt,
};
use credence_protocols::ProofError;
use merlin::Transcript;
use rand::rngs::OsRng;
use sha3::{Digest, Sha3_256};
use std::fmt::Write as _;

/// The log origin the demo uses.
pub const ORIGIN: &str = "credence.example/beijing";
/// The partner region that witnesses the demo log.
pub const WITNESS: &str = "credence.example/tianjin";
/// The as-of day of the demo questions (days since 1970-01-01: 2025-11-23).
pub const DAY: u32 = 20415;
/// The score threshold of the demo policy.
pub const THRESHOLD: i64 = 600;

/// The demo policy text; its SHA3-256 is the policy hash verdicts carry. The policy language
/// itself arrives with the `circuits` crate; this is the 信易贷 rule written out.
pub const XINYIDAI_TEXT: &str = "xinyidai v1: not listed on day D in court.dishonest_debtor, \
market.abnormal_operation, court.serious_dishonesty; and 5*tax.credit_score + \
3*market.compliance_score + 2*court.performance_score >= 600";

/// A holder's attribute as the demo submits it.
struct Attr {
    holder: usize,
    id: &'static str,
    max: u64,
}

const ATTRS: [Attr; 6] = [
    Attr {
        holder: 0,
        id: "court.dishonest_debtor",
        max: 40_000,
    },
    Attr {
        holder: 2,
        id: "market.abnormal_operation",
        max: 40_000,
    },
    Attr {
        holder: 0,
        id: "court.serious_dishonesty",
        max: 40_000,
    },
    Attr {
        holder: 1,
        id: "tax.credit_score",
        max: 100,
    },
    Attr {
        holder: 2,
        id: "market.compliance_score",
        max: 100,
    },
    Attr {
        holder: 0,
        id: "court.performance_score",
        max: 100,
    },
];

/// `(name, USCC prefix, values in ATTRS order)`.
const ENTERPRISES: [(&str, &str, [u64; 6]); 4] = [
    (
        "Jingcheng Precision Machinery",
        "91110108MA01AB2C",
        [0, 0, 0, 90, 80, 70],
    ),
    (
        "Haidian Cloud Software",
        "91110108MA02CD4E",
        [20_700, 0, 0, 95, 90, 90],
    ),
    (
        "Chaoyang Logistics (repaired)",
        "91110105MA03EF6G",
        [DAY as u64, 0, 0, 85, 80, 75],
    ),
    ("Fengtai Trading", "91110106MA04GH8J", [0, 0, 0, 60, 50, 40]),
];

/// What the story produced, for the CLI to print and tests to check.
pub struct StoryReport {
    /// Human-readable narration.
    pub text: String,
    /// Per enterprise: name and the verified outcome (`None`: no proof exists).
    pub outcomes: Vec<(String, Option<bool>)>,
    /// Leaves in the log at the end.
    pub log_size: u64,
    /// Whether the auditor's replay succeeded.
    pub audit_ok: bool,
}

struct Log {
    tree: MemoryTree<Sha3Log>,
    leaves: Vec<Vec<u8>>,
    key: SigningKey,
    time: u64,
}

impl Log {
    fn append(&mut self, entry: LogEntry) -> u64 {
        self.time += 1;
        let leaf = LogLeaf {
            time: self.time,
            entry,
        }
        .to_bytes();
        self.leaves.push(leaf.clone());
        self.tree.append(&leaf)
    }
    fn checkpoint(&self) -> SignedCheckpoint {
        let cp = Checkpoint::new(ORIGIN, self.tree.size(), self.tree.root()).expect("origin");
        SignedCheckpoint::sign(cp, ORIGIN, &self.key).expect("log key")
    }
}

/// Runs the whole story and narrates it.
pub fn run() -> Result<StoryReport, Box<dyn std::error::Error>> {
    let mut rng = OsRng;
    let mut out = String::new();
    let policy_hash = credence_circuits::policy_hash(XINYIDAI_TEXT);
    let pseudonyms = PseudonymKey::generate(&mut rng);
    let mut log = Log {
        tree: MemoryTree::new(),
        leaves: Vec::new(),
        key: SigningKey::generate(Role::Log, &mut rng),
        time: 1_763_856_000,
    };
    let witness_key = SigningKey::generate(Role::Witness, &mut rng);

    writeln!(
        out,
        "== Credence verifiable core: 信易贷 on the proven path =="
    )?;
    writeln!(out, "policy hash {}", hex::encode(policy_hash))?;
    log.append(LogEntry::PolicyPublished {
        policy: "xinyidai".into(),
        version: 1,
        policy_hash,
    });

    // Holders register.
    let holder_names = ["court.beijing-high", "tax.beijing", "market.beijing"];
    let mut holders = Vec::new();
    for name in holder_names {
        let key = SigningKey::generate(Role::Holder, &mut rng);
        let id = PartyId::new(name)?;
        log.append(LogEntry::PartyRegistered {
            party: id.clone(),
            key: key.public(),
        });
        holders.push((id, key));
    }
    let bank = PartyId::new("bank.icbc-beijing")?;
    writeln!(out, "registered holders: {}", holder_names.join(", "))?;

    let anchors = TrustAnchors {
        log: NoteVerifier::log(ORIGIN, log.key.public())?,
        service: log.key.public(),
        key_authority: SigningKey::generate(Role::KeyAuthority, &mut rng).public(),
        holders: holders
            .iter()
            .map(|(id, k)| (id.clone(), k.public()))
            .collect(),
        witnesses: vec![NoteVerifier::witness(WITNESS, witness_key.public())?],
        witness_quorum: 1,
    };

    let mut outcomes = Vec::new();
    let mut submission = 0u64;
    for (name, prefix, values) in ENTERPRISES {
        let uscc = Uscc::with_check_chars(prefix)?;
        let subject = pseudonyms.pseudonym(&SubjectId::Enterprise(uscc.clone()));
        let subject_box = SealingSecretKey::generate(&mut rng);
        writeln!(
            out,
            "\n-- {name} ({}, pseudonym {}…)",
            uscc.as_str(),
            &subject.to_text()[..23]
        )?;

        // Holders commit, sign, log, and seal each opening to the subject.
        let mut signed = Vec::new();
        let mut sealed = Vec::new();
        let mut indices = Vec::new();
        for (attr, &value) in ATTRS.iter().zip(values.iter()) {
            submission += 1;
            let (holder_id, holder_key) = &holders[attr.holder];
            let context = AttributeContext {
                holder: holder_id.clone(),
                attribute: AttributeId::new(attr.id)?,
                subject,
                submission,
            };
            let opening = Opening::random(value, &mut rng);
            let c = AttributeCommitment::create(
                &mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL),
                context.clone(),
                &opening,
                attr.max,
                &mut rng,
            )?;
            let s = SignedAttributeCommitment::sign(c, holder_key);
            indices.push(log.append(LogEntry::AttributeSubmitted {
                holder: holder_id.clone(),
                attribute: context.attribute.clone(),
                subject,
                submission,
                path: EvaluationPath::Proven,
                content_hash: Sha3_256::digest(s.to_bytes()).into(),
            }));
            sealed.push(SealedOpening::seal(
                &subject_box.public(),
                &context,
                &s.commitment.commitment,
                &opening,
                &mut rng,
            ));
            signed.push(s);
        }
        writeln!(
            out,
            "   {} holder-signed commitments logged; openings sealed to the subject",
            signed.len()
        )?;

        // The subject opens its sealed openings and proves the policy.
        let openings = signed
            .iter()
            .zip(&sealed)
            .map(|(s, b)| {
                b.open(
                    &subject_box,
                    &s.commitment.context,
                    &s.commitment.commitment,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let statement = xinyidai_statement(policy_hash, subject, &signed);
        let proof = match PredicateProof::prove(
            &mut Transcript::new(labels::APP_VERDICT),
            &statement,
            &openings,
            &mut rng,
        ) {
            Ok(p) => p,
            Err(ProofError::Unsatisfied { index }) => {
                let why = match index {
                    0..=2 => format!("listed in {} on day {DAY}", ATTRS[index].id),
                    _ => format!("weighted score below {THRESHOLD}"),
                };
                writeln!(
                    out,
                    "   the subject cannot prove eligibility ({why}); no proven-path verdict exists \
                     (a \"no\" is answered on the sealed path)"
                )?;
                outcomes.push((name.to_string(), None));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        writeln!(
            out,
            "   subject proved {} predicates in one aggregated proof ({} bytes)",
            statement.predicates.len(),
            proof.size()
        )?;

        // The service checks the proof, issues, signs and logs the verdict.
        proof.verify(&mut Transcript::new(labels::APP_VERDICT), &statement)?;
        let query_index = log.append(LogEntry::Query {
            bank: bank.clone(),
            subject,
            policy_hash,
            as_of_day: DAY,
            purpose: "loan application".into(),
            consent_hash: None,
        });
        indices.push(query_index);
        let verdict: SignedVerdict = Verdict {
            policy_hash,
            subject,
            as_of_day: DAY,
            outcome: Outcome::Eligible(true),
            evidence: Evidence::Proof {
                statement,
                proof,
                inputs: signed,
            },
            log_indices: indices,
            issued_at: log.time,
        }
        .sign(&log.key)?;
        let verdict_hash = verdict.hash();
        let leaf_index = log.append(LogEntry::Verdict {
            verdict_hash,
            subject,
            bank: bank.clone(),
        });

        // Checkpoint, cosigned by the partner region.
        let mut checkpoint = log.checkpoint();
        checkpoint.cosign(WITNESS, &witness_key, log.time)?;
        let receipt = VerdictReceipt {
            verdict,
            leaf: LogLeaf::from_bytes(&log.leaves[leaf_index as usize])?,
            leaf_index,
            inclusion: log.tree.inclusion_proof(leaf_index, log.tree.size())?,
            checkpoint,
        };
        let wire = receipt.to_bytes();

        // The bank verifies with the protocols crate alone.
        let received = VerdictReceipt::from_bytes(&wire)?;
        let outcome = received.verify(
            &anchors,
            &Question {
                subject,
                policy_hash,
                as_of_day: DAY,
            },
        )?;
        writeln!(
            out,
            "   bank verified the verdict receipt ({} bytes): {:?}, logged at index {leaf_index}, checkpoint size {} cosigned by {WITNESS}",
            wire.len(),
            outcome,
            received.checkpoint.checkpoint.size
        )?;
        outcomes.push((name.to_string(), Some(outcome == Outcome::Eligible(true))));
    }

    // The auditor replays the log.
    let audit_ok = audit(&log, &anchors, &mut out)?;
    Ok(StoryReport {
        text: out,
        outcomes,
        log_size: log.tree.size(),
        audit_ok,
    })
}

fn xinyidai_statement(
    policy_hash: [u8; 32],
    subject: Pseudonym,
    signed: &[SignedAttributeCommitment],
) -> Statement {
    Statement {
        context: StatementContext {
            policy_hash,
            subject,
            as_of_day: DAY,
        },
        inputs: signed
            .iter()
            .map(|s| CommittedInput {
                commitment: s.commitment.commitment,
                max: s.commitment.max,
            })
            .collect(),
        predicates: vec![
            Predicate::NotListedOn { input: 0, day: DAY },
            Predicate::NotListedOn { input: 1, day: DAY },
            Predicate::NotListedOn { input: 2, day: DAY },
            Predicate::WeightedSumAtLeast {
                terms: vec![(3, 5), (4, 3), (5, 2)],
                constant: 0,
                threshold: THRESHOLD,
            },
        ],
    }
}

/// The auditor: parse every leaf, recompute the tree, check a consistency proof between an
/// early and the final checkpoint, and count entries by kind.
fn audit(
    log: &Log,
    anchors: &TrustAnchors,
    out: &mut String,
) -> Result<bool, Box<dyn std::error::Error>> {
    writeln!(out, "\n-- auditor")?;
    let mut replay = MemoryTree::<Sha3Log>::new();
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for leaf in &log.leaves {
        let parsed = LogLeaf::from_bytes(leaf)?;
        let kind = match parsed.entry {
            LogEntry::PolicyPublished { .. } => "policy published",
            LogEntry::PartyRegistered { .. } => "party registered",
            LogEntry::AttributeSubmitted { .. } => "attribute submitted",
            LogEntry::Query { .. } => "query",
            LogEntry::Verdict { .. } => "verdict",
            _ => "other",
        };
        *kinds.entry(kind).or_default() += 1;
        replay.append(leaf);
    }
    let final_cp = log.checkpoint();
    let cp = final_cp.verify(&anchors.log)?;
    let root_ok = replay.root() == cp.root;
    let early = 4.min(log.tree.size());
    let proof = log.tree.consistency_proof(early, cp.size)?;
    let consistent = proof
        .verify::<Sha3Log>(&log.tree.root_at(early)?, &cp.root)
        .is_ok();
    for (k, n) in &kinds {
        writeln!(out, "   {n:>3} × {k}")?;
    }
    writeln!(
        out,
        "   replayed {} leaves: root matches checkpoint: {root_ok}; consistent with size {early}: {consistent}",
        log.leaves.len()
    )?;
    writeln!(
        out,
        "   empty-tree root (SHA3-256) {}",
        hex::encode(Sha3Log::empty_root())
    )?;
    Ok(root_ok && consistent)
}
