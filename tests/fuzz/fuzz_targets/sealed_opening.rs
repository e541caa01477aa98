//! Sealed openings, raw openings, sealed-path submissions, consent tokens, disputes and pledges:
//! never panic; accepted input re-encodes identically.
#![no_main]
use credence_protocols::commitment::Opening;
use credence_protocols::consent::SignedConsent;
use credence_protocols::dispute::{SignedDispute, SignedPledge};
use credence_protocols::seal::SealedOpening;
use credence_protocols::sealed::SignedSealedSubmission;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = SealedOpening::from_bytes(data) {
        assert_eq!(s.to_bytes(), data);
    }
    if let Ok(s) = SignedSealedSubmission::from_bytes(data) {
        assert_eq!(s.to_bytes(), data);
    }
    if let Ok(c) = SignedConsent::from_bytes(data) {
        assert_eq!(c.to_bytes(), data);
    }
    if let Ok(d) = SignedDispute::from_bytes(data) {
        assert_eq!(d.to_bytes(), data);
    }
    if let Ok(p) = SignedPledge::from_bytes(data) {
        assert_eq!(p.to_bytes(), data);
    }
    if let Ok(o) = Opening::from_bytes(data) {
        assert_eq!(&o.to_bytes()[..], data);
    }
});
