//! Log leaves: never panic; accepted leaves re-encode byte for byte.
#![no_main]
use credence_protocols::log::entry::LogLeaf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(leaf) = LogLeaf::from_bytes(data) {
        assert_eq!(leaf.to_bytes(), data);
    }
});
