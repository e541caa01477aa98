//! Signed verdicts and verdict receipts: never panic when decoded.
#![no_main]
use credence_protocols::verdict::{SignedVerdict, VerdictReceipt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = SignedVerdict::from_bytes(data) {
        assert_eq!(v.to_bytes(), data);
        let _ = v.hash();
    }
    if let Ok(r) = VerdictReceipt::from_bytes(data) {
        let _ = r.to_bytes();
    }
});
