//! The sealed-upload codec (`POST /v1/holder/sealed`, binary body): never panics; an accepted
//! upload re-encodes identically and its list hashes to what the submission signs. (The list
//! itself is parsed by tfhe's conformance-checked, size-limited deserialization at ingest.)
#![no_main]
use credence_protocols::sealed::{SealedSubmission, SealedUpload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(u) = SealedUpload::from_bytes(data) {
        assert_eq!(u.to_bytes(), data);
        assert_eq!(
            SealedSubmission::hash_list(&u.list),
            u.submission.submission.list_hash
        );
        let _ = u.submission.submission.proof_metadata();
    }
});
