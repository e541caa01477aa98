//! Every parser of untrusted bytes or text, fed arbitrary input, returns (never panics), and
//! whatever it accepts re-encodes to the same bytes (canonical encodings) and can be used
//! downstream without panicking. Random bytes rarely reach deep code, so each parser is also
//! fed mutations (flips, truncations, splices) of a valid encoding.

use credence_protocols::commitment::{
    AttributeCommitment, AttributeContext, Opening, SignedAttributeCommitment,
    ATTRIBUTE_TRANSCRIPT_LABEL,
};
use credence_protocols::consent::{Consent, SignedConsent};
use credence_protocols::dispute::{SignedDispute, SignedPledge};
use credence_protocols::identifiers::{ResidentId, SubjectKind, Uscc};
use credence_protocols::keys::KeyEvidence;
use credence_protocols::log::checkpoint::{Checkpoint, NoteVerifier, SignedCheckpoint};
use credence_protocols::log::entry::{EvaluationPath, LogEntry, LogLeaf};
use credence_protocols::log::{ConsistencyProof, InclusionProof};
use credence_protocols::names::{AttributeId, PartyId};
use credence_protocols::package::{Claim, ProofPackage};
use credence_protocols::predicate::hazmat::statement_from_bytes;
use credence_protocols::predicate::{
    CommittedInput, Predicate, PredicateProof, Statement, StatementContext,
};
use credence_protocols::pseudonym::Pseudonym;
use credence_protocols::seal::SealedOpening;
use credence_protocols::sealed::SealedUpload;
use credence_protocols::sealed::{SealedSubmission, SignedSealedSubmission};
use credence_protocols::signing::{Role, SigningKey};
use credence_protocols::verdict::{Evidence, SignedVerdict, Verdict, VerdictReceipt};
use merlin::Transcript;
use proptest::prelude::*;
use rand::thread_rng;
use std::sync::OnceLock;

struct Samples {
    signed_commitment: Vec<u8>,
    statement: Statement,
    statement_bytes: Vec<u8>,
    proof: Vec<u8>,
    leaf: Vec<u8>,
    checkpoint: String,
    verdict: Vec<u8>,
    receipt: Vec<u8>,
    sealed: Vec<u8>,
    sealed_submission: Vec<u8>,
    consent: Vec<u8>,
    package: Vec<u8>,
    upload: Vec<u8>,
}

fn subject() -> Pseudonym {
    Pseudonym {
        kind: SubjectKind::Person,
        bytes: [3; 32],
    }
}

/// One valid encoding of each type, built once.
fn samples() -> &'static Samples {
    static S: OnceLock<Samples> = OnceLock::new();
    S.get_or_init(|| {
        let mut rng = thread_rng();
        let holder = SigningKey::generate(Role::Holder, &mut rng);
        let log = SigningKey::generate(Role::Log, &mut rng);
        let o = Opening::random(12, &mut rng);
        let context = AttributeContext {
            holder: PartyId::new("court.beijing").unwrap(),
            attribute: AttributeId::new("court.dishonest_debtor").unwrap(),
            subject: subject(),
            submission: 9,
        };
        let c = AttributeCommitment::create(
            &mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL),
            context.clone(),
            &o,
            100,
            &mut rng,
        )
        .unwrap();
        let signed = SignedAttributeCommitment::sign(c, &holder);
        let statement = Statement {
            context: StatementContext {
                policy_hash: [1; 32],
                subject: subject(),
                as_of_day: 20,
            },
            inputs: vec![CommittedInput {
                commitment: o.commit(),
                max: 100,
            }],
            predicates: vec![
                Predicate::NotListedOn { input: 0, day: 20 },
                Predicate::WeightedSumAtLeast {
                    terms: vec![(0, 2)],
                    constant: -1,
                    threshold: 3,
                },
            ],
        };
        let proof = PredicateProof::prove(
            &mut Transcript::new(b"t"),
            &statement,
            std::slice::from_ref(&o),
            &mut rng,
        )
        .unwrap();
        let leaf = LogLeaf {
            time: 77,
            entry: LogEntry::AttributeSubmitted {
                holder: context.holder.clone(),
                attribute: context.attribute.clone(),
                subject: subject(),
                submission: 9,
                path: EvaluationPath::Proven,
                content_hash: [4; 32],
            },
        };
        let mut cp =
            SignedCheckpoint::sign(Checkpoint::new("o", 1, [2; 32]).unwrap(), "o", &log).unwrap();
        cp.cosign("w", &SigningKey::generate(Role::Witness, &mut rng), 5)
            .unwrap();
        let verdict = Verdict {
            policy_hash: [1; 32],
            subject: subject(),
            as_of_day: 20,
            outcome: credence_protocols::log::entry::Outcome::Eligible(true),
            coverage: vec![context.attribute.clone()],
            evidence: Evidence::Proof {
                proof: proof.to_bytes(),
                inputs: vec![signed.clone()],
            },
            log_indices: vec![0],
            issued_at: 1,
        }
        .sign(&log)
        .unwrap();
        let receipt = VerdictReceipt {
            verdict: verdict.clone(),
            leaf: leaf.clone(),
            leaf_index: 0,
            inclusion: InclusionProof {
                leaf_index: 0,
                tree_size: 1,
                path: vec![],
            },
            checkpoint: cp.clone(),
            keys: KeyEvidence {
                registrations: vec![credence_protocols::keys::Registration {
                    index: 0,
                    leaf: LogLeaf {
                        time: 1,
                        entry: LogEntry::PartyRegistered {
                            party: context.holder.clone(),
                            key: holder.public(),
                        },
                    },
                    inclusion: InclusionProof {
                        leaf_index: 0,
                        tree_size: 1,
                        path: vec![],
                    },
                }],
            },
        };
        let sealed = SealedOpening::seal(
            &credence_protocols::seal::SealingSecretKey::generate(&mut rng).public(),
            &context,
            &o.commit(),
            &o,
            &mut rng,
        );
        Samples {
            signed_commitment: signed.to_bytes(),
            statement_bytes: statement.to_bytes(),
            statement: statement.clone(),
            proof: proof.to_bytes(),
            leaf: leaf.to_bytes(),
            checkpoint: cp.to_text(),
            verdict: verdict.to_bytes(),
            receipt: receipt.to_bytes(),
            sealed: sealed.to_bytes(),
            consent: SignedConsent::sign(
                Consent {
                    subject: subject(),
                    bank: PartyId::new("bank.icbc").unwrap(),
                    policy_hash: [1; 32],
                    purpose: "loan".into(),
                    from_day: 10,
                    until_day: 40,
                    nonce: [6; 16],
                },
                &SigningKey::generate(Role::Subject, &mut rng),
            )
            .to_bytes(),
            package: ProofPackage {
                claim: Claim {
                    subject: subject(),
                    policy_hash: [1; 32],
                    as_of_day: 20,
                },
                proof: proof.to_bytes(),
                inputs: vec![signed.clone()],
                checkpoint: cp.clone(),
                keys: receipt.keys.clone(),
            }
            .to_bytes(),
            upload: {
                let list = b"not a real list, the codec frames it".to_vec();
                SealedUpload {
                    submission: SignedSealedSubmission::sign(
                        SealedSubmission {
                            holder: context.holder.clone(),
                            subject: subject(),
                            submission_id: 9,
                            attributes: vec![context.attribute.clone()],
                            list_hash: SealedSubmission::hash_list(&list),
                        },
                        &holder,
                    ),
                    list,
                }
                .to_bytes()
            },
            sealed_submission: SignedSealedSubmission::sign(
                SealedSubmission {
                    holder: context.holder.clone(),
                    subject: subject(),
                    submission_id: 9,
                    attributes: vec![context.attribute.clone()],
                    list_hash: [5; 32],
                },
                &holder,
            )
            .to_bytes(),
        }
    })
}

/// Feeds `bytes` to every binary parser; accepted input must re-encode identically and be
/// usable downstream.
fn parse_all(bytes: &[u8]) {
    let s = samples();
    if let Ok(x) = SignedAttributeCommitment::from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
        let _ = x.commitment.verify_standalone();
    }
    if let Ok(x) = statement_from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
        let _ = x.bits();
        let _ = PredicateProof::from_bytes(&s.proof, &x)
            .map(|p| p.verify(&mut Transcript::new(b"t"), &x));
    }
    if let Ok(p) = PredicateProof::from_bytes(bytes, &s.statement) {
        assert_eq!(p.to_bytes(), bytes);
        let _ = p.verify(&mut Transcript::new(b"t"), &s.statement);
    }
    if let Ok(x) = LogLeaf::from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
    }
    if let Ok(x) = InclusionProof::from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
        let _ = x.verify::<credence_protocols::log::Sha3Log>(&[0; 32], &[0; 32]);
    }
    if let Ok(x) = ConsistencyProof::from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
        let _ = x.verify::<credence_protocols::log::Sha3Log>(&[0; 32], &[0; 32]);
    }
    if let Ok(x) = SignedVerdict::from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
    }
    if let Ok(x) = VerdictReceipt::from_bytes(bytes) {
        let _ = x.to_bytes();
    }
    if let Ok(x) = SealedOpening::from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
    }
    if let Ok(x) = SignedSealedSubmission::from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
        let _ = x.submission.proof_metadata();
    }
    if let Ok(x) = SignedConsent::from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
        let _ = x.consent.covers(&x.consent.bank, &[1; 32], "loan", 20);
    }
    if let Ok(x) = SignedDispute::from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
    }
    if let Ok(x) = SignedPledge::from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
    }
    if let Ok(x) = ProofPackage::from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
        let _ = PredicateProof::from_bytes(&x.proof, &s.statement);
    }
    if let Ok(x) = KeyEvidence::from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
    }
    if let Ok(x) = SealedUpload::from_bytes(bytes) {
        assert_eq!(x.to_bytes(), bytes);
    }
    let _ = Opening::from_bytes(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        parse_text(text);
    }
}

fn parse_text(text: &str) {
    if let Ok(x) = SignedCheckpoint::parse(text) {
        // The body re-renders exactly; signature lines may not (base64 padding variants are
        // rejected by the strict decoder, so they do too).
        assert!(text.starts_with(&x.checkpoint.body()));
        let _ = x.to_text();
    }
    let _ = Checkpoint::parse_body(text);
    let _ = NoteVerifier::from_vkey(text);
    let _ = Uscc::parse(text);
    let _ = ResidentId::parse(text);
    let _ = Pseudonym::from_text(text);
    let _ = PartyId::new(text);
    let _ = AttributeId::new(text);
    if let Ok(p) = credence_circuits::policy::Policy::parse(text, catalog()) {
        // Accepted policies round-trip through their canonical form and lower without panic.
        let again = credence_circuits::policy::Policy::parse(p.canonical(), catalog()).unwrap();
        assert_eq!(again.hash(), p.hash());
        let _ = credence_circuits::proof::lower_to_proof(&p);
        let _ = p.pin();
    }
}

fn catalog() -> &'static credence_circuits::catalog::Catalog {
    static C: OnceLock<credence_circuits::catalog::Catalog> = OnceLock::new();
    C.get_or_init(credence_circuits::catalog::Catalog::builtin)
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Remove(usize),
    Splice(usize, Vec<u8>),
}

fn mutate(base: &[u8], m: &Mutation) -> Vec<u8> {
    let mut b = base.to_vec();
    let at = |i: usize| if b.is_empty() { 0 } else { i % (b.len() + 1) };
    match m {
        Mutation::Flip(i, x) => {
            if !b.is_empty() {
                let i = i % b.len();
                b[i] ^= x | 1;
            }
        }
        Mutation::Truncate(i) => {
            let i = at(*i);
            b.truncate(i);
        }
        Mutation::Insert(i, x) => {
            let i = at(*i);
            b.insert(i, *x);
        }
        Mutation::Remove(i) => {
            if !b.is_empty() {
                let i = i % b.len();
                b.remove(i);
            }
        }
        Mutation::Splice(i, bytes) => {
            let i = at(*i);
            b.splice(i..i, bytes.iter().copied());
        }
    }
    b
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Flip(i, x)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Insert(i, x)),
        any::<usize>().prop_map(Mutation::Remove),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Mutation::Splice(i, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        parse_all(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        parse_text(&text);
    }

    #[test]
    fn mutated_encodings_never_panic(which in 0usize..14, m in mutation()) {
        let s = samples();
        let base: &[u8] = match which {
            0 => &s.signed_commitment,
            1 => &s.statement_bytes,
            2 => &s.proof,
            3 => &s.leaf,
            4 => s.checkpoint.as_bytes(),
            5 => &s.verdict,
            6 => &s.receipt,
            7 => &s.sealed,
            8 => &s.sealed_submission,
            9 => &s.consent,
            10 => &s.package,
            11 => &s.upload,
            12 => credence_circuits::policy::BUILTIN_POLICIES[0].1.as_bytes(),
            _ => &s.statement_bytes[..s.statement_bytes.len() / 2],
        };
        parse_all(&mutate(base, &m));
    }
}

#[test]
fn samples_parse() {
    let s = samples();
    SignedAttributeCommitment::from_bytes(&s.signed_commitment).unwrap();
    statement_from_bytes(&s.statement_bytes).unwrap();
    PredicateProof::from_bytes(&s.proof, &s.statement).unwrap();
    LogLeaf::from_bytes(&s.leaf).unwrap();
    SignedCheckpoint::parse(&s.checkpoint).unwrap();
    SignedVerdict::from_bytes(&s.verdict).unwrap();
    VerdictReceipt::from_bytes(&s.receipt).unwrap();
    SealedOpening::from_bytes(&s.sealed).unwrap();
    SignedSealedSubmission::from_bytes(&s.sealed_submission).unwrap();
    SignedConsent::from_bytes(&s.consent).unwrap();
    ProofPackage::from_bytes(&s.package).unwrap();
    SealedUpload::from_bytes(&s.upload).unwrap();
}

/// Writes valid encodings as fuzz seeds when `CREDENCE_WRITE_FUZZ_SEEDS` is set (see
/// `tests/fuzz/README.md`); otherwise does nothing.
#[test]
fn write_fuzz_seeds() {
    if std::env::var_os("CREDENCE_WRITE_FUZZ_SEEDS").is_none() {
        return;
    }
    let s = samples();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds");
    let mut statement_proof = (s.statement_bytes.len() as u16).to_be_bytes().to_vec();
    statement_proof.extend_from_slice(&s.statement_bytes);
    statement_proof.extend_from_slice(&s.proof);
    let mut seeds: Vec<(&str, Vec<u8>)> = vec![
        ("identifiers", b"914403001922038216".to_vec()),
        ("identifiers", b"11010519491231002X".to_vec()),
        ("checkpoint", s.checkpoint.as_bytes().to_vec()),
        ("log_leaf", s.leaf.clone()),
        (
            "log_proofs",
            InclusionProof {
                leaf_index: 2,
                tree_size: 5,
                path: vec![[1; 32]; 3],
            }
            .to_bytes(),
        ),
        ("signed_commitment", s.signed_commitment.clone()),
        ("statement_proof", statement_proof),
        ("verdict", s.verdict.clone()),
        ("verdict", s.receipt.clone()),
        ("sealed_opening", s.sealed.clone()),
        ("sealed_opening", s.sealed_submission.clone()),
        ("sealed_opening", s.consent.clone()),
        ("package", s.package.clone()),
        ("package", s.receipt.clone()),
        ("sealed_upload", s.upload.clone()),
    ];
    // A query with the bank's signed request, and its sealed leaf (what others are shown).
    let bank = SigningKey::generate(Role::Bank, &mut rand::thread_rng());
    let request = credence_protocols::query::QueryRequest::new(
        "credence.test/seeds",
        &PartyId::new("bank.icbc").unwrap(),
        subject(),
        [1; 32],
        20_415,
        "loan application 2026-118",
        Some([2; 32]),
        None,
        &mut rand::thread_rng(),
    );
    let query = LogLeaf {
        time: 1_764_000_000,
        entry: LogEntry::Query {
            bank: request.bank.clone(),
            subject: request.subject,
            policy_hash: request.policy_hash,
            as_of_day: request.as_of_day,
            purpose: request.purpose.clone(),
            consent_hash: request.consent_hash,
            salt: [5; 16],
            region: None,
            request: Some(request.sign(&bank)),
        },
    };
    seeds.push(("log_leaf", query.to_bytes()));
    seeds.push(("log_leaf", query.sealed().unwrap().to_bytes()));
    for (_, text) in credence_circuits::policy::BUILTIN_POLICIES {
        seeds.push(("policy", text.as_bytes().to_vec()));
    }
    for (i, (target, bytes)) in seeds.iter().enumerate() {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("seed-{i}")), bytes).unwrap();
    }
}
