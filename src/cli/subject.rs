//! The subject's commands: prove, consent, history.

use super::args::Result;
use super::bank::published_policy;
use crate::party::client::Client;
use crate::party::keyfile::Party;
use crate::party::subject::prove;
use crate::protocols::consent::{Consent, SignedConsent};
use crate::protocols::names::PartyId;
use crate::protocols::pseudonym::Pseudonym;
use std::path::Path;

fn my_pseudonym(client: &Client) -> Result<Pseudonym> {
    Ok(client.subject_pseudonym()?)
}

/// `credence subject prove --as SUBJECT --policy P --day D --out FILE`.
pub fn subject_prove(server: &str, me: &Party, policy: &str, day: u32, out: &Path) -> Result<()> {
    crate::protocols::question::check_day("--day", day)?;
    let client = me.client(server);
    let sealing = me
        .sealing
        .as_ref()
        .ok_or("this party file has no sealing key (not a subject)")?;
    let policy = published_policy(&client, policy)?;
    let pseudonym = my_pseudonym(&client)?;
    let records = client.subject_records()?;
    let package = prove(&policy, day, pseudonym, &records, sealing, &client)?;
    std::fs::write(out, hex::encode(package.to_bytes()))?;
    println!(
        "proved `{}` for day {day} over {} commitments ({} proof bytes, {} package bytes); package written to {}",
        policy.name,
        package.inputs.len(),
        package.proof.len(),
        package.to_bytes().len(),
        out.display()
    );
    Ok(())
}

/// `credence subject consent --as SUBJECT --bank B --policy P --purpose T --from D --until D --out FILE`.
#[allow(clippy::too_many_arguments)]
pub fn subject_consent(
    server: &str,
    me: &Party,
    bank: &str,
    policy: &str,
    purpose: &str,
    from: u32,
    until: u32,
    out: &Path,
) -> Result<()> {
    crate::protocols::question::check_day("--from", from)?;
    crate::protocols::question::check_day("--until", until)?;
    if until < from {
        return Err("--until is before --from".into());
    }
    crate::protocols::log::entry::check_text("purpose", purpose)?;
    let client = me.client(server);
    let policy = published_policy(&client, policy)?;
    let mut nonce = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let c = SignedConsent::sign(
        Consent {
            subject: my_pseudonym(&client)?,
            bank: PartyId::new(bank)?,
            policy_hash: policy.hash(),
            purpose: purpose.into(),
            from_day: from,
            until_day: until,
            nonce,
        },
        &me.key,
    );
    std::fs::write(out, hex::encode(c.to_bytes()))?;
    println!("consent for {bank} written to {}", out.display());
    Ok(())
}

/// `credence subject binding --as SUBJECT --anchors FILE`: my binding, checked from the log
/// ([`crate::party::subject::check_binding`] says what it cannot see).
pub fn subject_binding(server: &str, me: &Party, anchors: &Path) -> Result<()> {
    let anchors = super::bank::load_anchors(anchors)?;
    let sealing = me
        .sealing
        .as_ref()
        .ok_or("this party file has no sealing key (not a subject)")?
        .public();
    let b = crate::party::subject::check_binding(&me.client(server), &sealing, &anchors)?;
    println!(
        "{} is bound to pseudonym {} with my signing and sealing keys (log entry {}); no entry shown to me binds it, or me, otherwise (cosigned checkpoint of size {}, root rebuilt from the entries)",
        me.id,
        b.pseudonym.to_text(),
        b.index,
        b.size
    );
    Ok(())
}

/// `credence subject history --as SUBJECT`: every query and verdict about me, and who looked up my pseudonym.
pub fn subject_history(server: &str, me: &Party) -> Result<()> {
    let v = me.client(server).subject_queries()?;
    for e in v["events"].as_array().into_iter().flatten() {
        println!("{e}");
    }
    Ok(())
}

/// `credence subject records --as SUBJECT`: my records as the service holds them. Commitments
/// are opened here with my sealing key (the value is shown only on my machine); sealed records
/// show only their holder and attributes (their values are encrypted for the service's FHE
/// key, which no party holds).
pub fn subject_records(server: &str, me: &Party) -> Result<()> {
    let client = me.client(server);
    let sealing = me
        .sealing
        .as_ref()
        .ok_or("this party file has no sealing key (not a subject)")?;
    let v = client.get("/v1/subject/records")?;
    println!("pseudonym {}", v["pseudonym"].as_str().unwrap_or("?"));
    let records = client.subject_records()?;
    println!("proven path: {} commitment(s)", records.len());
    for (signed, sealed) in &records {
        let c = &signed.commitment;
        let value = match sealed.open(sealing, &c.context, &c.commitment) {
            Ok(o) => o.value().to_string(),
            Err(_) => "DOES NOT OPEN with my key (ask the holder)".into(),
        };
        println!(
            "  {:<34} = {value:<10} by {} (submission {})",
            c.context.attribute.as_str(),
            c.context.holder,
            c.context.submission
        );
    }
    let sealed = v["sealed"].as_array().cloned().unwrap_or_default();
    println!("sealed path: {} record(s)", sealed.len());
    for s in &sealed {
        let attrs: Vec<&str> = s["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str())
            .collect();
        println!(
            "  by {} (submission {}): {}",
            s["holder"].as_str().unwrap_or("?"),
            s["submission"],
            attrs.join(", ")
        );
    }
    for l in v["listings"].as_array().into_iter().flatten() {
        println!("listing notice: {l}");
    }
    Ok(())
}
