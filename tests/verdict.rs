//! The bank's one call: `VerdictReceipt::verify`, on both paths, and every way a receipt can be
//! wrong.

use credence_protocols::commitment::{
    AttributeCommitment, AttributeContext, Opening, SignedAttributeCommitment,
    ATTRIBUTE_TRANSCRIPT_LABEL,
};
use credence_protocols::identifiers::SubjectKind;
use credence_protocols::log::checkpoint::{Checkpoint, NoteVerifier, SignedCheckpoint};
use credence_protocols::log::entry::{LogEntry, LogLeaf, Outcome};
use credence_protocols::log::tree::MemoryTree;
use credence_protocols::log::Sha3Log;
use credence_protocols::names::{AttributeId, PartyId};
use credence_protocols::predicate::{
    CommittedInput, Predicate, PredicateProof, Statement, StatementContext,
};
use credence_protocols::pseudonym::Pseudonym;
use credence_protocols::signing::{Role, SigningKey};
use credence_protocols::transcript::labels;
use credence_protocols::verdict::{
    Evidence, Question, SignedVerdict, TrustAnchors, Verdict, VerdictReceipt,
};
use credence_protocols::{CheckpointError, VerdictError};
use merlin::Transcript;
use rand::thread_rng;

const ORIGIN: &str = "credence.example/beijing";
const DAY: u32 = 20415;

struct World {
    log_key: SigningKey,
    ka_key: SigningKey,
    witness: SigningKey,
    holder: SigningKey,
    anchors: TrustAnchors,
    tree: MemoryTree<Sha3Log>,
    subject: Pseudonym,
    policy: [u8; 32],
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
        holders: vec![(PartyId::new("court.beijing").unwrap(), holder.public())],
        witnesses: vec![NoteVerifier::witness("witness.tianjin", witness.public()).unwrap()],
        witness_quorum: 1,
    };
    let mut tree = MemoryTree::new();
    for i in 0..10u32 {
        tree.append(&i.to_be_bytes());
    }
    World {
        log_key,
        ka_key,
        witness,
        holder,
        anchors,
        tree,
        subject: Pseudonym {
            kind: SubjectKind::Enterprise,
            bytes: [5; 32],
        },
        policy: credence_circuits::policy_hash("test policy"),
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
            40_000,
            &mut rng,
        )
        .unwrap();
        (SignedAttributeCommitment::sign(c, holder_key), o)
    }

    fn proven_verdict(&self, signed: SignedAttributeCommitment, opening: Opening) -> Verdict {
        let statement = Statement {
            context: StatementContext {
                policy_hash: self.policy,
                subject: self.subject,
                as_of_day: DAY,
            },
            inputs: vec![CommittedInput {
                commitment: signed.commitment.commitment,
                max: signed.commitment.max,
            }],
            predicates: vec![Predicate::NotListedOn { input: 0, day: DAY }],
        };
        let proof = PredicateProof::prove(
            &mut Transcript::new(labels::APP_VERDICT),
            &statement,
            &[opening],
            &mut thread_rng(),
        )
        .unwrap();
        Verdict {
            policy_hash: self.policy,
            subject: self.subject,
            as_of_day: DAY,
            outcome: Outcome::Eligible(true),
            evidence: Evidence::Proof {
                statement,
                proof,
                inputs: vec![signed],
            },
            log_indices: vec![3],
            issued_at: 1_763_856_000,
        }
    }

    fn sealed_verdict(&self, outcome: Outcome) -> Verdict {
        Verdict {
            policy_hash: self.policy,
            subject: self.subject,
            as_of_day: DAY,
            outcome,
            evidence: Evidence::Decryption {
                evaluation_index: 7,
                decryption_index: 8,
                output_hash: [9; 32],
            },
            log_indices: vec![2, 5, 7, 8],
            issued_at: 1_763_856_000,
        }
    }

    /// Logs the verdict and builds its receipt against a fresh, cosigned checkpoint.
    fn receipt(&mut self, verdict: SignedVerdict) -> VerdictReceipt {
        let leaf = LogLeaf {
            time: 1_763_856_001,
            entry: LogEntry::Verdict {
                verdict_hash: verdict.hash(),
                subject: verdict.verdict.subject,
                bank: PartyId::new("bank.icbc").unwrap(),
            },
        };
        let leaf_index = self.tree.append(&leaf.to_bytes());
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
        }
    }

    fn question(&self) -> Question {
        Question {
            subject: self.subject,
            policy_hash: self.policy,
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
    assert_eq!(
        r.verify(&w.anchors, &w.question()).unwrap(),
        Outcome::Eligible(true)
    );
    let wire = r.to_bytes();
    let back = VerdictReceipt::from_bytes(&wire).unwrap();
    assert_eq!(
        back.verify(&w.anchors, &w.question()).unwrap(),
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
    for outcome in [
        Outcome::Eligible(false),
        Outcome::Eligible(true),
        Outcome::Grade(2),
    ] {
        let v = w.sealed_verdict(outcome).sign(&w.ka_key).unwrap();
        let r = w.receipt(v);
        assert_eq!(r.verify(&w.anchors, &w.question()).unwrap(), outcome);
    }
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
    let mut q = w.question();
    q.policy_hash[0] ^= 1;
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
    // Commitment by an unregistered holder.
    let stranger = SigningKey::generate(Role::Holder, &mut thread_rng());
    let (signed, o) = w.commitment(&stranger, "court.nowhere", w.subject, 0);
    let r = w.receipt(w.proven_verdict(signed, o).sign(&w.log_key).unwrap());
    assert!(r.verify(&w.anchors, &w.question()).is_err());
    // Registered holder name, but signed by another key.
    let (signed, o) = w.commitment(&stranger, "court.beijing", w.subject, 0);
    let r = w.receipt(w.proven_verdict(signed, o).sign(&w.log_key).unwrap());
    assert!(r.verify(&w.anchors, &w.question()).is_err());
    // A commitment about another subject.
    let other = Pseudonym {
        kind: SubjectKind::Enterprise,
        bytes: [6; 32],
    };
    let (signed, o) = w.commitment(&holder, "court.beijing", other, 0);
    let r = w.receipt(w.proven_verdict(signed, o).sign(&w.log_key).unwrap());
    assert!(r.verify(&w.anchors, &w.question()).is_err());
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
