//! `credence audit`.

use super::args::Result;
use super::bank::load_anchors;
use crate::fhe::engine::Engine;
use crate::fhe::keys::PublicMaterial;
use crate::party::auditor::{audit, AuditOptions};
use crate::party::keyfile::Party;
use crate::protocols::log::checkpoint::SignedCheckpoint;
use std::path::Path;

/// `credence audit --as PARTY --anchors FILE [--state FILE] [--replay N --keys DIR]`.
pub fn run_audit(
    server: &str,
    who: &Party,
    anchors: &Path,
    state: Option<&Path>,
    replay: usize,
    keys: Option<&Path>,
    spike_per_day: u64,
) -> Result<bool> {
    let anchors = load_anchors(anchors)?;
    let client = who.client_for(server, &anchors);
    let previous = match state {
        Some(p) if p.exists() => Some(SignedCheckpoint::parse(&std::fs::read_to_string(p)?)?),
        _ => None,
    };
    let engine = match keys {
        Some(k) if replay > 0 => Some(Engine::new(PublicMaterial::load(k)?, 0)?),
        _ => None,
    };
    let report = audit(
        &client,
        &anchors,
        &AuditOptions {
            previous,
            replay,
            engine: engine.as_ref(),
            today: (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                / 86_400) as u32,
            spike_per_day,
        },
    )?;
    print!("{}", report.render());
    if let (Some(p), Some(cp), true) = (state, &report.checkpoint, report.ok()) {
        std::fs::write(p, cp.to_text())?;
    }
    Ok(report.ok())
}
