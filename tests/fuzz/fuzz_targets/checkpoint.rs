//! Signed notes / checkpoints and verifier keys: never panic; accepted notes keep their body.
#![no_main]
use credence_protocols::log::checkpoint::{Checkpoint, NoteVerifier, SignedCheckpoint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(note) = SignedCheckpoint::parse(text) {
        assert!(text.starts_with(&note.checkpoint.body()));
        let reparsed = SignedCheckpoint::parse(&note.to_text()).unwrap();
        assert_eq!(reparsed.checkpoint, note.checkpoint);
    }
    if let Ok(c) = Checkpoint::parse_body(text) {
        assert_eq!(c.body(), text);
    }
    if let Ok(v) = NoteVerifier::from_vkey(text) {
        assert_eq!(NoteVerifier::from_vkey(&v.to_vkey()).unwrap(), v);
    }
});
