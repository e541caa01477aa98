//! The verifiable-core story, in process: holders commit, a subject proves the published
//! 信易贷 policy, the service issues a logged verdict, a partner region cosigns the checkpoint,
//! a bank verifies the receipt and an auditor replays the log.
//!
//! This is what `credence demo` runs until the HTTP service exists; every step uses the
//! `credence-protocols` and `credence-circuits` APIs the service will use.

use credence_circuits::catalog::Catalog;
use credence_circuits::eval::{evaluate, Inputs};
use credence_circuits::proof::lower_to_proof;
use credence_protocols::commitment::{
    AttributeCommitment, AttributeContext, Opening, SignedAttributeCommitment,
    ATTRIBUTE_TRANSCRIPT_LABEL,
};
use credence_protocols::identifiers::{SubjectId, Uscc};
use credence_protocols::log::checkpoint::{Checkpoint, NoteVerifier, SignedCheckpoint};
use credence_protocols::log::entry::{EvaluationPath, LogEntry, LogLeaf, Outcome};
use credence_protocols::log::tree::MemoryTree;
use credence_protocols::log::{LogHasher, Sha3Log};
use credence_protocols::names::PartyId;
use credence_protocols::predicate::PredicateProof;
use credence_protocols::pseudonym::PseudonymKey;
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
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The log origin the demo uses.
pub const ORIGIN: &str = "credence.example/beijing";
/// The partner region that witnesses the demo log.
pub const WITNESS: &str = "credence.example/tianjin";
/// The as-of day of the demo questions (days since 1970-01-01: 2025-11-23).
pub const DAY: u32 = 20415;
/// The policy the demo asks about (shipped in `circuits/policies/`).
pub const POLICY: &str = "xinyidai";

/// A demo enterprise: name, USCC prefix (check characters are computed), and the attribute
/// values that differ from the catalogue defaults.
type Enterprise = (&'static str, &'static str, &'static [(&'static str, u64)]);

const ENTERPRISES: [Enterprise; 4] = [
    (
        "Jingcheng Precision Machinery",
        "91110108MA01AB2C",
        &[
            ("tax.credit_score", 90),
            ("market.compliance_score", 80),
            ("court.performance_score", 85),
            ("social.insurance_score", 90),
            ("utility.payment_score", 95),
            ("assoc.industry_score", 80),
        ],
    ),
    (
        "Haidian Cloud Software",
        "91110108MA02CD4E",
        &[
            ("court.dishonest_debtor", DAY as u64 + 285),
            ("tax.credit_score", 95),
        ],
    ),
    (
        "Chaoyang Logistics (listing repaired today)",
        "91110105MA03EF6G",
        &[
            ("market.abnormal_operation", DAY as u64),
            ("tax.credit_score", 70),
            ("market.compliance_score", 70),
            ("court.performance_score", 70),
            ("social.insurance_score", 70),
            ("utility.payment_score", 70),
            ("assoc.industry_score", 70),
        ],
    ),
    (
        "Fengtai Trading",
        "91110106MA04GH8J",
        &[
            ("tax.credit_score", 50),
            ("market.compliance_score", 50),
            ("court.performance_score", 50),
            ("social.insurance_score", 50),
        ],
    ),
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
    let catalog = Catalog::builtin();
    let policy = credence_circuits::policy::builtin(POLICY).ok_or("policy not shipped")?;
    let plan = lower_to_proof(&policy)?;
    let policy_hash = policy.hash();
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
    writeln!(
        out,
        "policy `{}` v{} (hash {}…): {} committed inputs, {} predicates in one proof",
        policy.name,
        policy.version,
        &hex::encode(policy_hash)[..16],
        plan.inputs.len(),
        plan.predicates.len()
    )?;
    log.append(LogEntry::PolicyPublished {
        policy: policy.name.clone(),
        version: policy.version,
        policy_hash,
    });

    // One holder per authority the policy reads from (court, tax, market, …), registered.
    let mut holders: BTreeMap<String, (PartyId, SigningKey)> = BTreeMap::new();
    for (attribute, _) in &plan.inputs {
        let authority = catalog.get(attribute.as_str())?.holder.clone();
        if let std::collections::btree_map::Entry::Vacant(slot) = holders.entry(authority) {
            let id = PartyId::new(&format!("{}.beijing", slot.key()))?;
            let key = SigningKey::generate(Role::Holder, &mut rng);
            log.append(LogEntry::PartyRegistered {
                party: id.clone(),
                key: key.public(),
            });
            slot.insert((id, key));
        }
    }
    let bank = PartyId::new("bank.icbc-beijing")?;
    let names: Vec<&str> = holders.values().map(|(id, _)| id.as_str()).collect();
    writeln!(
        out,
        "registered {} holders: {}",
        names.len(),
        names.join(", ")
    )?;

    let anchors = TrustAnchors {
        log: NoteVerifier::log(ORIGIN, log.key.public())?,
        service: log.key.public(),
        key_authority: SigningKey::generate(Role::KeyAuthority, &mut rng).public(),
        holders: holders
            .values()
            .map(|(id, k)| (id.clone(), k.public()))
            .collect(),
        witnesses: vec![NoteVerifier::witness(WITNESS, witness_key.public())?],
        witness_quorum: 1,
    };

    let mut outcomes = Vec::new();
    let mut submission = 0u64;
    for (name, prefix, overrides) in ENTERPRISES {
        let uscc = Uscc::with_check_chars(prefix)?;
        let subject = pseudonyms.pseudonym(&SubjectId::Enterprise(uscc.clone()));
        let subject_box = SealingSecretKey::generate(&mut rng);
        writeln!(
            out,
            "\n-- {name} ({}, pseudonym {}…)",
            uscc.as_str(),
            &subject.to_text()[..23]
        )?;
        let inputs = Inputs::new(&catalog, overrides.iter().copied())?;

        // Each holder commits to its attributes, signs, logs, and seals the opening to the subject.
        let mut signed = Vec::new();
        let mut sealed = Vec::new();
        let mut indices = Vec::new();
        for (attribute, max) in &plan.inputs {
            submission += 1;
            let entry = catalog.get(attribute.as_str())?;
            let (holder_id, holder_key) = &holders[&entry.holder];
            let value = inputs.get(attribute.as_str()).unwrap_or(entry.default);
            let context = AttributeContext {
                holder: holder_id.clone(),
                attribute: attribute.clone(),
                subject,
                submission,
            };
            let opening = Opening::random(value, &mut rng);
            let c = AttributeCommitment::create(
                &mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL),
                context.clone(),
                &opening,
                *max,
                &mut rng,
            )?;
            let s = SignedAttributeCommitment::sign(c, holder_key);
            indices.push(log.append(LogEntry::AttributeSubmitted {
                holder: holder_id.clone(),
                attribute: attribute.clone(),
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

        // The subject opens its sealed openings and proves the policy's lowering.
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
        let commitments: Vec<_> = signed.iter().map(|s| s.commitment.commitment).collect();
        let statement = plan.statement(subject, DAY, &commitments)?;
        let oracle = evaluate(&policy, &inputs, DAY);
        let proof = match PredicateProof::prove(
            &mut Transcript::new(labels::APP_VERDICT),
            &statement,
            &openings,
            &mut rng,
        ) {
            Ok(p) => p,
            Err(ProofError::Unsatisfied { index }) => {
                writeln!(
                    out,
                    "   the subject cannot prove eligibility (predicate {index} of the policy fails; \
                     plaintext oracle: {oracle:?}); no proven-path verdict exists — a \"no\" is \
                     answered on the sealed path"
                )?;
                outcomes.push((name.to_string(), None));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        writeln!(
            out,
            "   subject proved {} predicates in one aggregated proof ({} bytes; plaintext oracle: {oracle:?})",
            statement.predicates.len(),
            proof.size()
        )?;

        // The service checks the proof, issues, signs and logs the verdict.
        proof.verify(&mut Transcript::new(labels::APP_VERDICT), &statement)?;
        indices.push(log.append(LogEntry::Query {
            bank: bank.clone(),
            subject,
            policy_hash,
            as_of_day: DAY,
            purpose: "loan application".into(),
            consent_hash: None,
        }));
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
        let leaf_index = log.append(LogEntry::Verdict {
            verdict_hash: verdict.hash(),
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

        // The bank verifies with the protocols crate, and checks the statement is the
        // published policy's lowering.
        let received = VerdictReceipt::from_bytes(&wire)?;
        let outcome = received.verify(
            &anchors,
            &Question {
                subject,
                policy_hash,
                as_of_day: DAY,
            },
        )?;
        let Evidence::Proof {
            statement, inputs, ..
        } = &received.verdict.verdict.evidence
        else {
            return Err("proven-path verdict without a proof".into());
        };
        if !plan.matches_evidence(statement, inputs, &catalog) {
            return Err("the proof is not for the published policy".into());
        }
        writeln!(
            out,
            "   bank verified the verdict receipt ({} bytes): {:?}, logged at index {leaf_index}, \
             checkpoint size {} cosigned by {WITNESS}; statement matches the published policy",
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
