//! The bank's one call: `VerdictReceipt::verify`, on both paths, against the bank's own
//! question (subject, pinned policy, day) and pinned anchors — and every way a receipt can be
//! wrong.

use credence_circuits::catalog::Catalog;
use credence_circuits::policy::Policy;
use credence_protocols::commitment::{
    AttributeCommitment, AttributeContext, Opening, SignedAttributeCommitment,
    ATTRIBUTE_TRANSCRIPT_LABEL,
};
use credence_protocols::identifiers::SubjectKind;
use credence_protocols::keys::{KeyEvidence, Registration};
use credence_protocols::log::checkpoint::{Checkpoint, NoteVerifier, SignedCheckpoint};
use credence_protocols::log::entry::{LogEntry, LogLeaf, Outcome};
use credence_protocols::log::tree::MemoryTree;
use credence_protocols::log::Sha3Log;
use credence_protocols::names::{AttributeId, PartyId};
use credence_protocols::predicate::PredicateProof;
use credence_protocols::pseudonym::Pseudonym;
use credence_protocols::question::{PinnedPolicy, Question};
use credence_protocols::signing::{Role, SigningKey};
use credence_protocols::transcript::labels;
use credence_protocols::verdict::{Evidence, SignedVerdict, TrustAnchors, Verdict, VerdictReceipt};
use credence_protocols::{CheckpointError, VerdictError};
use merlin::Transcript;
use rand::thread_rng;

const ORIGIN: &str = "credence.example/beijing";
const DAY: u32 = 20415;
const POLICY: &str =
    "policy not_a_debtor version 1\neligible = not_listed(court.dishonest_debtor)\n";

struct World {
    log_key: SigningKey,
    ka_key: SigningKey,
    witness: SigningKey,
    holder: SigningKey,
    anchors: TrustAnchors,
    tree: MemoryTree<Sha3Log>,
    registration: LogLeaf,
    subject: Pseudonym,
    policy: PinnedPolicy,
}

fn world() -> World {
    let mut rng = thread_rng();
    let log_key = SigningKey::generate(Role::Log, &mut rng);
    let ka_key = SigningKey::generate(Role::KeyAuthority, &mut rng);
    let witness = SigningKey::generate(Role::Witness, &mut rng);
    let holder = SigningKey::generate(Role::Holder, &mut rng);
    let anchors = TrustAnchors {
        log: NoteVerifier::log(ORIGIN, log_key.public()).unwrap(),
        service: log_key.public(),
        key_authority: ka_key.public(),
        witnesses: vec![NoteVerifier::witness("witness.tianjin", witness.public()).unwrap()],
        witness_quorum: 1,
        authorities: Default::default(),
    };
    // Entry 0 registers the court's holder key: banks learn it from the log.
    let registration = LogLeaf {
        time: 1,
        entry: LogEntry::PartyRegistered {
            party: PartyId::new("court.beijing").unwrap(),
            key: holder.public(),
        },
    };
    let mut tree = MemoryTree::new();
    tree.append(&registration.to_bytes());
    for i in 1..10u32 {
        tree.append(&i.to_be_bytes());
    }
    World {
        log_key,
        ka_key,
        witness,
        holder,
        anchors,
        tree,
        registration,
        subject: Pseudonym {
            kind: SubjectKind::Enterprise,
            bytes: [5; 32],
        },
        policy: Policy::parse(POLICY, &Catalog::builtin()).unwrap().pin(),
    }
}

impl World {
    fn commitment(
        &self,
        holder_key: &SigningKey,
        holder: &str,
        subject: Pseudonym,
        value: u64,
    ) -> (SignedAttributeCommitment, Opening) {
        let mut rng = thread_rng();
        let o = Opening::random(value, &mut rng);
        let c = AttributeCommitment::create(
            &mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL),
            AttributeContext {
                holder: PartyId::new(holder).unwrap(),
                attribute: AttributeId::new("court.dishonest_debtor").unwrap(),
                subject,
                submission: 1,
            },
            &o,
            65_535,
            &mut rng,
        )
        .unwrap();
        (SignedAttributeCommitment::sign(c, holder_key), o)
    }

    /// A proven verdict whose proof is made for the statement the policy gives this subject and
    /// day over `signed`.
    fn proven_verdict(&self, signed: SignedAttributeCommitment, opening: Opening) -> Verdict {
        let statement = self
            .policy
            .proof()
            .unwrap()
            .statement_over(self.subject, DAY, &[signed.commitment.commitment])
            .unwrap();
        let proof = PredicateProof::prove(
            &mut Transcript::new(labels::APP_VERDICT),
            &statement,
            &[opening],
            &mut thread_rng(),
        )
        .unwrap();
        Verdict {
            policy_hash: self.policy.hash(),
            subject: self.subject,
            as_of_day: DAY,
            outcome: Outcome::Eligible(true),
            coverage: vec![AttributeId::new("court.dishonest_debtor").unwrap()],
            evidence: Evidence::Proof {
                proof: proof.to_bytes(),
                inputs: vec![signed],
            },
            log_indices: vec![3],
            issued_at: 1_763_856_000,
        }
    }

    fn sealed_verdict(&self, outcome: Outcome) -> Verdict {
        Verdict {
            policy_hash: self.policy.hash(),
            subject: self.subject,
            as_of_day: DAY,
            outcome,
            coverage: vec![],
            evidence: Evidence::Decryption {
                query_index: 5,
                evaluation_index: 7,
                input_hashes: vec![[3; 32]],
                output_hash: [9; 32],
                checkpoint_size: 8,
                checkpoint_root: [4; 32],
            },
            log_indices: vec![2, 5, 7, 8],
            issued_at: 1_763_856_000,
        }
    }

    /// Logs the verdict and builds its receipt against a fresh, cosigned checkpoint, with the
    /// court's registration as key evidence.
    fn receipt(&mut self, verdict: SignedVerdict) -> VerdictReceipt {
        let leaf = LogLeaf {
            time: 1_763_856_001,
            entry: LogEntry::Verdict {
                verdict_hash: verdict.hash(),
                subject: verdict.verdict.subject,
                bank: PartyId::new("bank.icbc").unwrap(),
            },
        };
        let leaf_index = self.tree.append(&leaf.leaf_data());
        self.tree.append(b"a later entry");
        let size = self.tree.size();
        let mut checkpoint = SignedCheckpoint::sign(
            Checkpoint::new(ORIGIN, size, self.tree.root()).unwrap(),
            ORIGIN,
            &self.log_key,
        )
        .unwrap();
        checkpoint
            .cosign("witness.tianjin", &self.witness, 1_763_856_002)
            .unwrap();
        VerdictReceipt {
            verdict,
            leaf,
            leaf_index,
            inclusion: self.tree.inclusion_proof(leaf_index, size).unwrap(),
            checkpoint,
            keys: KeyEvidence {
                registrations: vec![Registration {
                    index: 0,
                    leaf: self.registration.clone(),
                    inclusion: self.tree.inclusion_proof(0, size).unwrap(),
                }],
            },
        }
    }

    fn question(&self) -> Question<'_> {
        Question {
            subject: self.subject,
            policy: &self.policy,
            as_of_day: DAY,
        }
    }
}

#[test]
fn proven_path_receipt_verifies_and_survives_the_wire() {
    let mut w = world();
    let (signed, o) = w.commitment(&w.holder.clone(), "court.beijing", w.subject, DAY as u64);
    let v = w.proven_verdict(signed, o).sign(&w.log_key).unwrap();
    let r = w.receipt(v);
    let verified = r.verify(&w.anchors, &w.question()).unwrap();
    assert_eq!(verified.outcome, Outcome::Eligible(true));
    assert_eq!(verified.coverage.len(), 1);
    let wire = r.to_bytes();
    let back = VerdictReceipt::from_bytes(&wire).unwrap();
    assert_eq!(
        back.verify(&w.anchors, &w.question()).unwrap().outcome,
        Outcome::Eligible(true)
    );

    // Flip bytes across the whole receipt: each must fail to parse or to verify.
    let step = (wire.len() / 400).max(1);
    for i in (0..wire.len()).step_by(step) {
        let mut m = wire.clone();
        m[i] ^= 0x04;
        if let Ok(x) = VerdictReceipt::from_bytes(&m) {
            assert!(
                x.verify(&w.anchors, &w.question()).is_err(),
                "byte {i} flipped still verifies"
            );
        }
    }
}

#[test]
fn sealed_path_receipt_needs_the_key_authority() {
    let mut w = world();
    for outcome in [Outcome::Eligible(false), Outcome::Eligible(true)] {
        let v = w.sealed_verdict(outcome).sign(&w.ka_key).unwrap();
        let r = w.receipt(v);
        assert_eq!(
            r.verify(&w.anchors, &w.question()).unwrap().outcome,
            outcome
        );
    }
    // A grade is not an outcome this (yes/no) policy can produce.
    let v = w.sealed_verdict(Outcome::Grade(2)).sign(&w.ka_key).unwrap();
    let r = w.receipt(v);
    assert!(matches!(
        r.verify(&w.anchors, &w.question()),
        Err(VerdictError::Mismatch(_))
    ));
    // The service may not sign a sealed-path verdict.
    assert!(w
        .sealed_verdict(Outcome::Eligible(true))
        .sign(&w.log_key)
        .is_err());
    // A key-authority key that is not the anchored one.
    let rogue = SigningKey::generate(Role::KeyAuthority, &mut thread_rng());
    let v = w
        .sealed_verdict(Outcome::Eligible(true))
        .sign(&rogue)
        .unwrap();
    let r = w.receipt(v);
    assert_eq!(
        r.verify(&w.anchors, &w.question()).unwrap_err(),
        VerdictError::VerificationFailed
    );
    // Evidence citing indices the verdict does not list.
    let mut v = w.sealed_verdict(Outcome::Eligible(true));
    v.log_indices = vec![2, 5];
    let r = w.receipt(v.sign(&w.ka_key).unwrap());
    assert!(r.verify(&w.anchors, &w.question()).is_err());
    // Coverage naming an attribute the policy does not read.
    let mut v = w.sealed_verdict(Outcome::Eligible(false));
    v.coverage = vec![AttributeId::new("tax.credit_score").unwrap()];
    let r = w.receipt(v.sign(&w.ka_key).unwrap());
    assert!(matches!(
        r.verify(&w.anchors, &w.question()),
        Err(VerdictError::Mismatch(_))
    ));
}

#[test]
fn an_eligible_verdict_needs_the_required_records() {
    let mut w = world();
    w.policy = Policy::parse(
        "policy needs_tax version 1\nrequire tax.credit_score\neligible = tax.credit_score >= 50\n",
        &Catalog::builtin(),
    )
    .unwrap()
    .pin();
    // The key authority signs "eligible" with no tax record: the bank refuses it.
    let v = w
        .sealed_verdict(Outcome::Eligible(true))
        .sign(&w.ka_key)
        .unwrap();
    let r = w.receipt(v);
    assert!(matches!(
        r.verify(&w.anchors, &w.question()),
        Err(VerdictError::Mismatch(_))
    ));
    // With the record it passes; a "no" without it passes too (and says why).
    let mut v = w.sealed_verdict(Outcome::Eligible(true));
    v.coverage = vec![AttributeId::new("tax.credit_score").unwrap()];
    let r = w.receipt(v.sign(&w.ka_key).unwrap());
    r.verify(&w.anchors, &w.question()).unwrap();
    let v = w
        .sealed_verdict(Outcome::Eligible(false))
        .sign(&w.ka_key)
        .unwrap();
    let r = w.receipt(v);
    assert!(r
        .verify(&w.anchors, &w.question())
        .unwrap()
        .coverage
        .is_empty());
}

#[test]
fn wrong_question_is_a_mismatch() {
    let mut w = world();
    let (signed, o) = w.commitment(&w.holder.clone(), "court.beijing", w.subject, 0);
    let r = w.receipt(w.proven_verdict(signed, o).sign(&w.log_key).unwrap());
    let mut q = w.question();
    q.as_of_day += 1;
    assert!(matches!(
        r.verify(&w.anchors, &q),
        Err(VerdictError::Mismatch(_))
    ));
    let other = Policy::parse(
        "policy not_a_debtor version 2\neligible = not_listed(court.dishonest_debtor)\n",
        &Catalog::builtin(),
    )
    .unwrap()
    .pin();
    let q = Question {
        policy: &other,
        ..w.question()
    };
    assert!(matches!(
        r.verify(&w.anchors, &q),
        Err(VerdictError::Mismatch(_))
    ));
    let mut q = w.question();
    q.subject.bytes[0] ^= 1;
    assert!(matches!(
        r.verify(&w.anchors, &q),
        Err(VerdictError::Mismatch(_))
    ));
}

#[test]
fn checkpoint_problems_are_rejected() {
    let mut w = world();
    let (signed, o) = w.commitment(&w.holder.clone(), "court.beijing", w.subject, 0);
    let r = w.receipt(w.proven_verdict(signed, o).sign(&w.log_key).unwrap());

    // No witness cosignature while the anchors require one.
    let mut x = r.clone();
    x.checkpoint.signatures.truncate(1);
    assert!(matches!(
        x.verify(&w.anchors, &w.question()),
        Err(VerdictError::Checkpoint(
            CheckpointError::NotEnoughCosignatures { .. }
        ))
    ));
    // The same witness key listed twice under two names does not make a quorum of two.
    let mut anchors = w.anchors.clone();
    anchors
        .witnesses
        .push(NoteVerifier::witness("witness.tianjin-alias", w.witness.public()).unwrap());
    anchors.witness_quorum = 2;
    let mut x = r.clone();
    x.checkpoint
        .cosign("witness.tianjin-alias", &w.witness, 1_763_856_003)
        .unwrap();
    assert!(anchors.check().is_err());
    assert!(matches!(
        x.verify(&anchors, &w.question()),
        Err(VerdictError::Checkpoint(
            CheckpointError::NotEnoughCosignatures {
                found: 1,
                required: 2
            }
        ))
    ));
    // Signed by another log key.
    let mut x = r.clone();
    let rogue = SigningKey::generate(Role::Log, &mut thread_rng());
    x.checkpoint = SignedCheckpoint::sign(x.checkpoint.checkpoint.clone(), ORIGIN, &rogue).unwrap();
    assert!(matches!(
        x.verify(&w.anchors, &w.question()),
        Err(VerdictError::Checkpoint(CheckpointError::BadLogSignature))
    ));
    // Inclusion proof for another tree size than the checkpoint's (even a valid one).
    let mut x = r.clone();
    x.inclusion = w
        .tree
        .inclusion_proof(x.leaf_index, x.leaf_index + 1)
        .unwrap();
    assert!(x.verify(&w.anchors, &w.question()).is_err());
    // Another leaf index.
    let mut x = r.clone();
    x.leaf_index -= 1;
    x.inclusion.leaf_index -= 1;
    assert!(x.verify(&w.anchors, &w.question()).is_err());
    // A leaf that records another verdict.
    let mut x = r.clone();
    if let LogEntry::Verdict { verdict_hash, .. } = &mut x.leaf.entry {
        verdict_hash[0] ^= 1;
    }
    assert!(x.verify(&w.anchors, &w.question()).is_err());
}

#[test]
fn evidence_problems_are_rejected() {
    let mut w = world();
    let holder = w.holder.clone();
    // Commitment by a holder the log never registered.
    let stranger = SigningKey::generate(Role::Holder, &mut thread_rng());
    let (signed, o) = w.commitment(&stranger, "court.nowhere", w.subject, 0);
    let r = w.receipt(w.proven_verdict(signed, o).sign(&w.log_key).unwrap());
    assert!(r.verify(&w.anchors, &w.question()).is_err());
    // Registered holder name, but signed by another key.
    let (signed, o) = w.commitment(&stranger, "court.beijing", w.subject, 0);
    let r = w.receipt(w.proven_verdict(signed, o).sign(&w.log_key).unwrap());
    assert!(r.verify(&w.anchors, &w.question()).is_err());
    // Key evidence that is not in the log under the checkpoint (a forged registration).
    let (signed, o) = w.commitment(&stranger, "court.beijing", w.subject, 0);
    let mut r = w.receipt(w.proven_verdict(signed, o).sign(&w.log_key).unwrap());
    r.keys.registrations[0].leaf.entry = LogEntry::PartyRegistered {
        party: PartyId::new("court.beijing").unwrap(),
        key: stranger.public(),
    };
    assert!(r.verify(&w.anchors, &w.question()).is_err());
    // A commitment about another subject.
    let other = Pseudonym {
        kind: SubjectKind::Enterprise,
        bytes: [6; 32],
    };
    let (signed, o) = w.commitment(&holder, "court.beijing", other, 0);
    let r = w.receipt(w.proven_verdict(signed, o).sign(&w.log_key).unwrap());
    assert!(r.verify(&w.anchors, &w.question()).is_err());
    // A commitment by a holder of another authority (a tax bureau vouching for a court list).
    let (signed, o) = w.commitment(&holder, "tax.beijing", w.subject, 0);
    let r = w.receipt(w.proven_verdict(signed, o).sign(&w.log_key).unwrap());
    assert!(matches!(
        r.verify(&w.anchors, &w.question()),
        Err(VerdictError::Mismatch(_))
    ));
    // A proven-path "no" is never acceptable (a proof can only show eligibility).
    let (signed, o) = w.commitment(&holder, "court.beijing", w.subject, 0);
    let mut v = w.proven_verdict(signed, o);
    v.outcome = Outcome::Eligible(false);
    let r = w.receipt(v.sign(&w.log_key).unwrap());
    assert!(r.verify(&w.anchors, &w.question()).is_err());
    // Verdict signature by the key authority on the proven path is refused at signing.
    let (signed, o) = w.commitment(&holder, "court.beijing", w.subject, 0);
    assert!(w.proven_verdict(signed, o).sign(&w.ka_key).is_err());
}

/// The statement comes from the bank's question, never from the evidence: a proof of a weaker
/// statement (here: for a later day, when the listing has lapsed) under the right policy hash
/// does not verify for the day the bank asked about.
#[test]
fn a_proof_for_another_statement_does_not_verify() {
    let mut w = world();
    // Listed until DAY + 10: not provable for DAY, provable for DAY + 10.
    let (signed, o) = w.commitment(
        &w.holder.clone(),
        "court.beijing",
        w.subject,
        DAY as u64 + 10,
    );
    let later = w
        .policy
        .proof()
        .unwrap()
        .statement_over(w.subject, DAY + 10, &[signed.commitment.commitment])
        .unwrap();
    let proof = PredicateProof::prove(
        &mut Transcript::new(labels::APP_VERDICT),
        &later,
        &[o],
        &mut thread_rng(),
    )
    .unwrap();
    let mut v = w.sealed_verdict(Outcome::Eligible(true));
    v.coverage = vec![AttributeId::new("court.dishonest_debtor").unwrap()];
    v.evidence = Evidence::Proof {
        proof: proof.to_bytes(),
        inputs: vec![signed],
    };
    v.log_indices = vec![3];
    let r = w.receipt(v.sign(&w.log_key).unwrap());
    assert_eq!(
        r.verify(&w.anchors, &w.question()).unwrap_err(),
        VerdictError::VerificationFailed
    );
}
