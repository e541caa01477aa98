//! Holder-signed attribute commitments: never panic; accepted input re-encodes identically and
//! its range certificate can be checked without panicking.
#![no_main]
use credence_protocols::commitment::SignedAttributeCommitment;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = SignedAttributeCommitment::from_bytes(data) {
        assert_eq!(c.to_bytes(), data);
        let _ = c.commitment.verify_standalone();
    }
});
