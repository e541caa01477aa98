//! `credence party new`, `register`, `publish`.

use super::args::Result;
use crate::circuits::policy::BUILTIN_POLICIES;
use crate::party::keyfile::{parse_role, parse_subject, write_party, Certificate, Party};
use crate::protocols::names::PartyId;
use crate::protocols::signing::{Role, SigningKey};
use std::path::Path;
use zeroize::Zeroizing;

/// `credence party new ROLE PARTY --out FILE [--subject KIND:ID]`.
pub fn party_new(role: &str, party: &str, out: &Path, subject: Option<&str>) -> Result<()> {
    let role = parse_role(role)?;
    PartyId::new(party)?;
    if role == Role::Authority && party.contains('.') {
        return Err(format!(
            "an authority root is named by its authority alone (court, tax, …), not `{party}`"
        )
        .into());
    }
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

/// `credence register --as OPERATOR FILE… [--certificate CERT]…`: registers the parties of the
/// given files, each holder with its certificate where one is given, and logs the certificates
/// of holders registered before.
pub fn register(server: &str, operator: &Party, files: &[&Path], certs: &[&Path]) -> Result<()> {
    if files.is_empty() && certs.is_empty() {
        return Err("give party files to register, or --certificate files to log".into());
    }
    let client = operator.client(server);
    // Everything is read and matched before anything is sent.
    let parties = files
        .iter()
        .map(|f| Party::load(f))
        .collect::<Result<Vec<_>>>()?;
    let mut certificates = Vec::new();
    for c in certs {
        let cert = Certificate::load(c)?;
        if certificates
            .iter()
            .any(|(_, x): &(&Path, Certificate)| x.statement.holder == cert.statement.holder)
        {
            return Err(format!("two certificates for `{}`", cert.statement.holder).into());
        }
        if let Some(p) = parties.iter().find(|p| p.id == cert.statement.holder) {
            if p.key.public() != cert.statement.key {
                return Err(
                    format!("{} certifies another key than {}'s", c.display(), p.id).into(),
                );
            }
        }
        certificates.push((*c, cert));
    }
    for p in &parties {
        if p.key.role() == Role::Authority {
            return Err(format!(
                "{} is an authority root: roots are pinned (serve --authority), never registered",
                p.id
            )
            .into());
        }
    }
    for p in &parties {
        let subject = match (&p.subject, &p.sealing) {
            (Some(s), Some(k)) => Some((s.clone(), k.public())),
            _ => None,
        };
        let idx = match certificates
            .iter()
            .find(|(_, c)| c.statement.holder == p.id)
        {
            Some((_, c)) => client.register_holder(
                &p.id,
                &p.key.public(),
                &c.statement.authority,
                &c.signature,
            )?,
            None => client.register_party(
                &p.id,
                &p.key.public(),
                subject.as_ref().map(|(s, k)| (s, k)),
            )?,
        };
        println!(
            "registered {} ({}) at log index {idx}",
            p.id,
            p.key.role().as_str()
        );
    }
    for (_, c) in &certificates {
        if parties.iter().any(|p| p.id == c.statement.holder) {
            continue;
        }
        let idx =
            client.certify_holder(&c.statement.holder, &c.statement.authority, &c.signature)?;
        println!(
            "certified {} ({}) at log index {idx}",
            c.statement.holder, c.statement.authority
        );
    }
    Ok(())
}

/// `credence authority certify --as ROOT (--holder-file FILE | --holder ID --key HEX) --out
/// CERT`.
pub fn certify(
    root: &Party,
    holder_file: Option<&Path>,
    holder: Option<(&str, &str)>,
    out: &Path,
) -> Result<()> {
    let (id, key) = match (holder_file, holder) {
        (Some(f), _) => {
            let p = Party::load(f)?;
            (p.id.clone(), p.key.public())
        }
        (None, Some((id, key))) => {
            let bytes =
                crate::protocols::request::parse_hex(key).ok_or("--key: expected 64 hex digits")?;
            (
                PartyId::new(id)?,
                crate::protocols::signing::PublicKey::from_bytes(Role::Holder, &bytes)
                    .map_err(|_| "--key: not a valid Ed25519 public key")?,
            )
        }
        (None, None) => return Err("give --holder-file FILE, or --holder ID --key HEX".into()),
    };
    let cert = Certificate::issue(root, &id, key)?;
    cert.write(out)?;
    println!(
        "{} certified {id} (holder key {}) → {}",
        cert.statement.authority,
        hex::encode(key.to_bytes()),
        out.display()
    );
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
