//! Log leaves and sealed leaves: never panic; accepted ones re-encode byte for byte, and a
//! leaf's sealed form hashes to the leaf's hash.
#![no_main]
use credence_protocols::log::entry::{LogLeaf, SealedLeaf};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(leaf) = LogLeaf::from_bytes(data) {
        assert_eq!(leaf.to_bytes(), data);
        if let Some(sealed) = leaf.sealed() {
            assert_eq!(sealed.hash(), leaf.hash());
            assert_eq!(SealedLeaf::from_bytes(&sealed.to_bytes()), Ok(sealed));
        }
    }
    if let Ok(sealed) = SealedLeaf::from_bytes(data) {
        assert_eq!(sealed.to_bytes(), data);
    }
});
