//! Proof packages, verdict receipts and key evidence (what banks receive): never panic when
//! decoded or verified against a verifier's own question and anchors. (Their checkpoints are
//! signed notes, whose signature lines may be re-rendered, so only key evidence must
//! re-encode byte for byte.)
#![no_main]
use credence_circuits::catalog::Catalog;
use credence_circuits::policy::Policy;
use credence_protocols::identifiers::SubjectKind;
use credence_protocols::keys::KeyEvidence;
use credence_protocols::log::checkpoint::NoteVerifier;
use credence_protocols::package::ProofPackage;
use credence_protocols::pseudonym::Pseudonym;
use credence_protocols::question::{PinnedPolicy, Question};
use credence_protocols::signing::{Role, SigningKey};
use credence_protocols::verdict::{TrustAnchors, VerdictReceipt};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn fixed() -> &'static (TrustAnchors, PinnedPolicy) {
    static F: OnceLock<(TrustAnchors, PinnedPolicy)> = OnceLock::new();
    F.get_or_init(|| {
        let log = SigningKey::from_seed(Role::Log, &[1; 32]).public();
        let anchors = TrustAnchors {
            log: NoteVerifier::log("credence.fuzz/log", log).unwrap(),
            service: log,
            key_authority: SigningKey::from_seed(Role::KeyAuthority, &[2; 32]).public(),
            witnesses: vec![],
            witness_quorum: 0,
            authorities: Default::default(),
        };
        let policy = Policy::parse(
            credence_circuits::policy::BUILTIN_POLICIES[1].1,
            &Catalog::builtin(),
        )
        .unwrap()
        .pin();
        (anchors, policy)
    })
}

fuzz_target!(|data: &[u8]| {
    let (anchors, policy) = fixed();
    let question = Question {
        subject: Pseudonym {
            kind: SubjectKind::Enterprise,
            bytes: [3; 32],
        },
        policy,
        as_of_day: 20_415,
    };
    if let Ok(p) = ProofPackage::from_bytes(data) {
        let _ = ProofPackage::from_bytes(&p.to_bytes()).expect("re-encodes to a package");
        let _ = p.verify(anchors, &question);
    }
    if let Ok(r) = VerdictReceipt::from_bytes(data) {
        let _ = VerdictReceipt::from_bytes(&r.to_bytes()).expect("re-encodes to a receipt");
        let _ = r.verify(anchors, &question);
    }
    if let Ok(k) = KeyEvidence::from_bytes(data) {
        assert_eq!(k.to_bytes(), data);
    }
});
