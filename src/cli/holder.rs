//! `credence holder submit`: uploads from CSV or JSON, sealed or proven.

use super::args::Result;
use crate::circuits::catalog::Catalog;
use crate::fhe::keys::EncryptionMaterial;
use crate::party::holder::commit_attributes;
use crate::party::holder::encrypt_record;
use crate::party::keyfile::{parse_subject, Party};
use crate::protocols::identifiers::SubjectId;
use crate::protocols::names::AttributeId;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
/// One input row of `holder submit`.
struct Row {
    subject: String,
    attribute: String,
    value: u64,
}

fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json") {
        return serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: expected [{{subject, attribute, value}}]: {e}",
                path.display()
            )
            .into()
        });
    }
    // CSV: subject,attribute,value (subject as enterprise:USCC or person:ID); `#` comments and
    // a header line starting with `subject` are skipped.
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("subject,") {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let [subject, attribute, value] = f[..] else {
            return Err(format!(
                "{}:{}: expected subject,attribute,value",
                path.display(),
                n + 1
            )
            .into());
        };
        let value = value.parse().map_err(|_| {
            format!(
                "{}:{}: value `{value}` is not a number",
                path.display(),
                n + 1
            )
        })?;
        rows.push(Row {
            subject: subject.into(),
            attribute: attribute.into(),
            value,
        });
    }
    Ok(rows)
}

fn fresh_submission_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
        .saturating_mul(1000)
}

/// `credence holder submit --as HOLDER --path sealed|proven --input FILE [--keys DIR]`: groups
/// the rows by subject and uploads one record (sealed) or one batch of commitments (proven)
/// per subject, with progress on stderr. Every row is checked against the catalogue before
/// anything is sent.
pub fn holder_submit(
    server: &str,
    holder: &Party,
    path: &str,
    input: &Path,
    keys: &Path,
) -> Result<()> {
    let catalog = Catalog::builtin();
    let mut by_subject: BTreeMap<String, (SubjectId, Vec<(AttributeId, u64)>)> = BTreeMap::new();
    for (n, row) in read_rows(input)?.into_iter().enumerate() {
        let at = |e: String| format!("row {}: {e}", n + 1);
        let id = parse_subject(&row.subject).map_err(|e| at(e.to_string()))?;
        let a = AttributeId::new(&row.attribute).map_err(|e| at(e.to_string()))?;
        let entry = catalog.get(a.as_str()).map_err(|e| at(e.to_string()))?;
        if !entry.owned_by(holder.id.as_str()) {
            return Err(at(format!("`{a}` belongs to the `{}` authority", entry.holder)).into());
        }
        entry
            .check_value(row.value)
            .map_err(|e| at(e.to_string()))?;
        let slot = by_subject
            .entry(format!("{}:{}", id.kind().as_str(), id.as_str()))
            .or_insert((id, Vec::new()));
        if slot.1.iter().any(|(x, _)| *x == a) {
            return Err(at(format!("`{a}` given twice for this subject")).into());
        }
        slot.1.push((a, row.value));
    }
    if by_subject.is_empty() {
        return Err(format!("{}: no rows", input.display()).into());
    }
    let client = holder.client(server);
    let public = if path == "sealed" {
        Some(EncryptionMaterial::load(keys).map_err(|e| {
            format!(
                "the service's public TFHE material is needed for sealed uploads ({}): {e}; \
                 fetch it with `credence keys fetch --out {}`",
                keys.display(),
                keys.display()
            )
        })?)
    } else if path == "proven" {
        None
    } else {
        return Err(format!("--path `{path}`: sealed or proven").into());
    };
    let total = by_subject.len();
    let progress = super::progress::Progress::new(total as u64, "upload");
    let mut id = fresh_submission_id();
    for (i, (label, (subject, values))) in by_subject.into_iter().enumerate() {
        let (pseudonym, sealing) = client.pseudonym(&subject)?;
        let indices = match &public {
            Some(public) => {
                let record = encrypt_record(
                    &catalog,
                    &public.public_key,
                    &public.crs,
                    &holder.id,
                    &holder.key,
                    pseudonym,
                    id,
                    &values,
                )?;
                id += 1;
                client.submit_sealed(&record)?
            }
            None => {
                let sealing = sealing.ok_or_else(|| {
                    format!("{label}: the subject is not registered, so there is no key to seal its openings to")
                })?;
                let items = commit_attributes(
                    &catalog,
                    &holder.id,
                    &holder.key,
                    pseudonym,
                    &sealing,
                    &values,
                    id,
                )?;
                id += values.len() as u64;
                client.submit_committed(&items)?
            }
        };
        progress.step(&format!(
            "[{}/{total}] {label}: {} value(s) {path}, log {:?}",
            i + 1,
            values.len(),
            indices
        ));
    }
    progress.finish();
    Ok(())
}
