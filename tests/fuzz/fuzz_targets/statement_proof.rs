//! Predicate statements and proofs: never panic when decoded or verified. The input is
//! `u16 statement length ‖ statement ‖ proof`. (No wire format carries a statement; the
//! encoding is decoded here through `hazmat` to fuzz the proof decoder and verifier.)
#![no_main]
use credence_protocols::predicate::hazmat::statement_from_bytes;
use credence_protocols::predicate::PredicateProof;
use libfuzzer_sys::fuzz_target;
use merlin::Transcript;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let n = u16::from_be_bytes([data[0], data[1]]) as usize;
    let rest = &data[2..];
    let (s, p) = rest.split_at(n.min(rest.len()));
    if let Ok(statement) = statement_from_bytes(s) {
        assert_eq!(statement.to_bytes(), s);
        let _ = statement.bits();
        if let Ok(proof) = PredicateProof::from_bytes(p, &statement) {
            assert_eq!(proof.to_bytes(), p);
            let _ = proof.verify(&mut Transcript::new(b"fuzz"), &statement);
        }
    }
});
