//! Identifier and name parsers on arbitrary text: never panic; accepted input is normalised and
//! re-parses to itself.
#![no_main]
use credence_protocols::identifiers::{ResidentId, Uscc};
use credence_protocols::names::{AttributeId, PartyId};
use credence_protocols::pseudonym::Pseudonym;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(u) = Uscc::parse(text) {
        assert_eq!(Uscc::parse(u.as_str()).unwrap(), u);
    }
    if let Ok(r) = ResidentId::parse(text) {
        assert_eq!(ResidentId::parse(r.as_str()).unwrap(), r);
    }
    if let Some(p) = Pseudonym::from_text(text) {
        assert_eq!(p.to_text(), text);
    }
    let _ = PartyId::new(text);
    let _ = AttributeId::new(text);
});
