//! Inclusion and consistency proofs: never panic when decoded or verified.
#![no_main]
use credence_protocols::log::{ConsistencyProof, InclusionProof, Sha3Log};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = InclusionProof::from_bytes(data) {
        assert_eq!(p.to_bytes(), data);
        let _ = p.verify::<Sha3Log>(&[1; 32], &[2; 32]);
    }
    if let Ok(p) = ConsistencyProof::from_bytes(data) {
        assert_eq!(p.to_bytes(), data);
        let _ = p.verify::<Sha3Log>(&[1; 32], &[2; 32]);
    }
});
