//! The authority root keys a service pins: `[authorities] court = "<64 hex digits>"` in the
//! configuration or `serve --authority court=HEX`, remembered in `DIR/authorities.json` once
//! given (like the key authority's address), so that `serve init` and every later `serve` pin
//! the same roots. Each root certifies its authority's holder keys (`holder-certificate/v1`);
//! where roots are pinned, only certified holders are registered, submit records or vouch for
//! attributes, and verifiers accept holder keys only from certificates in the log.

use crate::circuits::catalog::Catalog;
use crate::fhe::keys::write_file;
use crate::protocols::keys::HolderCertificate;
use crate::protocols::names::PartyId;
use crate::protocols::signing::{PublicKey, Role};
use crate::server::error::{ApiError, ApiResult};
use crate::server::records::certificate_key;
use crate::store::Table;
use std::collections::BTreeMap;
use std::path::Path;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Parses `NAME=HEX` (the `--authority` flag).
pub fn parse_flag(s: &str) -> Result<(String, String), Error> {
    let (name, key) = s
        .split_once('=')
        .ok_or_else(|| format!("--authority {s:?}: write NAME=<64 hex digits of its root key>"))?;
    Ok((name.to_string(), key.to_string()))
}

/// Checks configured roots: each name an authority of the catalogue, each key 64 hex digits
/// of a valid Ed25519 key.
pub fn parse(
    configured: &BTreeMap<String, String>,
    catalog: &Catalog,
) -> Result<BTreeMap<String, PublicKey>, Error> {
    let known: std::collections::BTreeSet<&str> =
        catalog.attributes().map(|a| a.holder.as_str()).collect();
    let mut roots = BTreeMap::new();
    for (name, hex_key) in configured {
        if !known.contains(name.as_str()) {
            return Err(format!(
                "authority root `{name}`: not an authority of the catalogue ({})",
                known.iter().copied().collect::<Vec<_>>().join(", ")
            )
            .into());
        }
        let bytes: [u8; 32] = crate::protocols::request::parse_hex(hex_key)
            .ok_or_else(|| format!("authority root `{name}`: expected 64 hex digits"))?;
        let key = PublicKey::from_bytes(Role::Authority, &bytes)
            .map_err(|_| format!("authority root `{name}`: not a valid Ed25519 public key"))?;
        roots.insert(name.clone(), key);
    }
    Ok(roots)
}

/// The roots this service pins: the remembered ones with the configured ones added (a
/// configured root replaces the remembered root of the same authority), written back to
/// `DIR/authorities.json` when that changes. A root is never dropped by leaving it out: edit
/// the file to remove one (every verifier must re-pin the anchors either way).
pub fn remembered(
    dir: &Path,
    configured: &BTreeMap<String, String>,
    catalog: &Catalog,
) -> Result<BTreeMap<String, PublicKey>, Error> {
    let file = dir.join("authorities.json");
    let remembered: Option<BTreeMap<String, String>> = match std::fs::read(&file) {
        Ok(b) => Some(serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", file.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", file.display()).into()),
    };
    parse(configured, catalog)?;
    let mut merged = remembered.clone().unwrap_or_default();
    merged.extend(configured.iter().map(|(n, k)| (n.clone(), k.clone())));
    let roots = parse(&merged, catalog)?;
    if !configured.is_empty() && remembered.as_ref() != Some(&merged) {
        write_file(
            &file,
            serde_json::to_string_pretty(&merged)?.as_bytes(),
            false,
        )?;
    }
    Ok(roots)
}

impl crate::server::state::ServiceState {
    /// `party`'s key if it is a holder this service accepts: registered with role holder and,
    /// where authority roots are pinned, with a logged certificate that verifies under the
    /// roots pinned *now* (the rule verifiers apply: a certificate of a root since replaced
    /// no longer counts, and the holder is certified anew).
    pub(crate) fn certified_holder(&self, party: &PartyId) -> ApiResult<Option<PublicKey>> {
        let Some(k) = self.auth.key_of(party).map_err(ApiError::internal)? else {
            return Ok(None);
        };
        if k.role() != Role::Holder {
            return Ok(None);
        }
        if self.authorities.is_empty() {
            return Ok(Some(k));
        }
        let Some(v) = self
            .store
            .get(Table::Meta, &certificate_key(party))
            .map_err(ApiError::internal)?
        else {
            return Ok(None);
        };
        let index = u64::from_be_bytes(
            v.as_slice()
                .try_into()
                .map_err(|_| ApiError::internal("corrupt certificate index"))?,
        );
        let leaf = self
            .log
            .entries(index, index + 1, 1)
            .map_err(ApiError::internal)?
            .pop()
            .map(|(_, l)| l);
        let Some((c, signature)) = leaf.and_then(|l| HolderCertificate::of(&l.entry)) else {
            return Err(ApiError::internal(
                "the certificate index names no certificate",
            ));
        };
        let anchors = self.trust_anchors().map_err(ApiError::internal)?;
        let valid = c.holder == *party && c.key == k && c.verify(&signature, &anchors).is_ok();
        Ok(valid.then_some(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_checked_and_remembered() {
        let dir = std::env::temp_dir().join(format!("credence-roots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let catalog = Catalog::builtin();
        let key = crate::protocols::signing::SigningKey::from_seed(Role::Authority, &[7; 32]);
        let hex_key = hex::encode(key.public().to_bytes());
        let one = BTreeMap::from([("court".to_string(), hex_key.clone())]);
        for (bad, why) in [
            (
                BTreeMap::from([("bank".to_string(), hex_key.clone())]),
                "not an authority",
            ),
            (
                BTreeMap::from([("court".to_string(), "ab".to_string())]),
                "64 hex",
            ),
        ] {
            let e = remembered(dir.as_path(), &bad, &catalog)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{e}");
            assert!(!dir.as_path().join("authorities.json").exists());
        }
        assert!(remembered(dir.as_path(), &BTreeMap::new(), &catalog)
            .unwrap()
            .is_empty());
        let r = remembered(dir.as_path(), &one, &catalog).unwrap();
        assert_eq!(r["court"], key.public());
        // Given once, remembered after.
        let again = remembered(dir.as_path(), &BTreeMap::new(), &catalog).unwrap();
        assert!(again == r);
        // Another authority's root is added; the court's stays.
        let tax = crate::protocols::signing::SigningKey::from_seed(Role::Authority, &[8; 32]);
        let more = BTreeMap::from([("tax".to_string(), hex::encode(tax.public().to_bytes()))]);
        let both = remembered(dir.as_path(), &more, &catalog).unwrap();
        assert!(both.len() == 2 && both["court"] == key.public());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(parse_flag("court").is_err());
        assert_eq!(
            parse_flag("court=ab").unwrap(),
            ("court".into(), "ab".into())
        );
    }
}
