//! `credence party new`, `register`, `publish`.

use super::args::Result;
use crate::circuits::policy::BUILTIN_POLICIES;
use crate::party::keyfile::{parse_role, parse_subject, write_party, Party};
use crate::protocols::names::PartyId;
use crate::protocols::signing::{Role, SigningKey};
use std::path::Path;
use zeroize::Zeroizing;

/// `credence party new ROLE PARTY --out FILE [--subject KIND:ID]`.
pub fn party_new(role: &str, party: &str, out: &Path, subject: Option<&str>) -> Result<()> {
    let role = parse_role(role)?;
    PartyId::new(party)?;
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
    let (sealing, subject) = if role == Role::Subject {
        let s = subject.ok_or("a subject party needs --subject enterprise:USCC or person:ID")?;
        let mut ss = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, ss.as_mut());
        (Some(ss), Some(parse_subject(s)?))
    } else {
        (None, None)
    };
    write_party(
        out,
        party,
        role,
        &seed,
        sealing.as_deref(),
        subject.as_ref(),
    )?;
    let key = SigningKey::from_seed(role, &seed);
    println!(
        "{party} ({}) public key {}",
        role.as_str(),
        hex::encode(key.public().to_bytes())
    );
    Ok(())
}

/// `credence register --as OPERATOR FILE…`: registers the parties of the given files.
pub fn register(server: &str, operator: &Party, files: &[&Path]) -> Result<()> {
    let client = operator.client(server);
    for f in files {
        let p = Party::load(f)?;
        let subject = match (&p.subject, &p.sealing) {
            (Some(s), Some(k)) => Some((s.clone(), k.public())),
            _ => None,
        };
        let idx = client.register_party(
            &p.id,
            &p.key.public(),
            subject.as_ref().map(|(s, k)| (s, k)),
        )?;
        println!(
            "registered {} ({}) at log index {idx}",
            p.id,
            p.key.role().as_str()
        );
    }
    Ok(())
}

/// A shipped policy by name, or a policy file.
pub fn policy_text(which: &str) -> Result<String> {
    match BUILTIN_POLICIES.iter().find(|(n, _)| *n == which) {
        Some((_, t)) => Ok(t.to_string()),
        None => std::fs::read_to_string(which).map_err(|e| {
            format!("`{which}` is neither a shipped policy nor a readable file: {e}").into()
        }),
    }
}

/// `credence publish --as OPERATOR POLICY`.
pub fn publish(server: &str, operator: &Party, which: &str) -> Result<()> {
    let h = operator
        .client(server)
        .publish_policy(&policy_text(which)?)?;
    println!("published {which}: {}", hex::encode(h));
    Ok(())
}
