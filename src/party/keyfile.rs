//! Party files: JSON, written 0600, holding a party id, its role, its Ed25519 seed and, for a
//! subject, its X25519 sealing seed and the subject it speaks for. Every party's tools read
//! them; `credence serve` writes the operator's on first start.

use crate::fhe::keys::write_file;
use crate::party::client::Client;
use crate::protocols::identifiers::{SubjectId, SubjectKind};
use crate::protocols::names::PartyId;
use crate::protocols::seal::SealingSecretKey;
use crate::protocols::signing::{Role, SigningKey};
use crate::protocols::verdict::TrustAnchors;
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

/// Errors are messages for a person.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

/// A party's key file.
#[derive(Serialize, Deserialize)]
pub struct PartyFile {
    /// Party id.
    pub party: String,
    /// Role name (`holder`, `bank`, `subject`, …).
    pub role: String,
    /// Hex of the Ed25519 seed.
    pub seed: String,
    /// Subjects: hex of the X25519 sealing seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealing_seed: Option<String>,
    /// Subjects: `enterprise:USCC` or `person:ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// A loaded party.
pub struct Party {
    /// Its id.
    pub id: PartyId,
    /// Its signing key.
    pub key: SigningKey,
    /// Subjects: the sealing key.
    pub sealing: Option<SealingSecretKey>,
    /// Subjects: who it is.
    pub subject: Option<SubjectId>,
}

/// A role by name (`holder`, `bank`, `subject`, …).
pub fn parse_role(s: &str) -> Result<Role> {
    [
        Role::Holder,
        Role::Bank,
        Role::Subject,
        Role::Witness,
        Role::Operator,
        Role::KeyAuthority,
        Role::Log,
        Role::Auditor,
        Role::Authority,
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
    .ok_or_else(|| {
        format!("unknown role `{s}` (holder, bank, subject, witness, auditor, operator, authority)")
            .into()
    })
}

/// Parses `enterprise:USCC` or `person:ID`.
pub fn parse_subject(s: &str) -> Result<SubjectId> {
    let (kind, id) = s
        .split_once(':')
        .ok_or_else(|| format!("subject `{s}`: write enterprise:USCC or person:ID"))?;
    let kind = match kind {
        "enterprise" => SubjectKind::Enterprise,
        "person" => SubjectKind::Person,
        k => return Err(format!("subject kind `{k}`: enterprise or person").into()),
    };
    Ok(SubjectId::parse(kind, id)?)
}

fn seed_hex(s: &str, what: &str) -> Result<[u8; 32]> {
    crate::protocols::request::parse_hex(s)
        .ok_or_else(|| format!("{what}: expected 64 hex digits").into())
}

impl Party {
    /// Reads a party file.
    pub fn load(path: &Path) -> Result<Party> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read party file {}: {e}", path.display()))?,
        );
        let f: PartyFile = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a party file: {e}", path.display()))?;
        let role = parse_role(&f.role)?;
        let seed = Zeroizing::new(seed_hex(&f.seed, "seed")?);
        Ok(Party {
            id: PartyId::new(&f.party)?,
            key: SigningKey::from_seed(role, &seed),
            sealing: match &f.sealing_seed {
                Some(s) => Some(SealingSecretKey::from_bytes(seed_hex(s, "sealing_seed")?)),
                None => None,
            },
            subject: match &f.subject {
                Some(s) => Some(parse_subject(s)?),
                None => None,
            },
        })
    }

    /// A client for this party.
    pub fn client(&self, server: &str) -> Client {
        Client::new(server, self.id.clone(), self.key.clone())
    }

    /// A client for this party, signing for the service the pinned `anchors` name.
    pub fn client_for(&self, server: &str, anchors: &TrustAnchors) -> Client {
        Client::with_origin(server, &anchors.log.name, self.id.clone(), self.key.clone())
    }
}

/// Writes a new party file (refuses to overwrite).
pub fn write_party(
    path: &Path,
    party: &str,
    role: Role,
    seed: &[u8; 32],
    sealing_seed: Option<&[u8; 32]>,
    subject: Option<&SubjectId>,
) -> Result<()> {
    if path.exists() {
        return Err(format!("{} exists; refusing to overwrite a key", path.display()).into());
    }
    let f = PartyFile {
        party: party.to_string(),
        role: role.as_str().to_string(),
        seed: hex::encode(seed),
        sealing_seed: sealing_seed.map(hex::encode),
        subject: subject.map(|s| format!("{}:{}", s.kind().as_str(), s.as_str())),
    };
    let text = Zeroizing::new(serde_json::to_string_pretty(&f)?);
    write_file(path, text.as_bytes(), true)?;
    Ok(())
}

/// A holder certificate as a file (`credence authority certify` writes it, `credence register
/// --certificate` sends it): the authority root's signature over `holder-certificate/v1`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateFile {
    /// Always `holder-certificate/v1`.
    pub kind: String,
    /// The certifying authority (`court`).
    pub authority: String,
    /// The certified holder (`court.beijing-high`).
    pub holder: String,
    /// Hex of the holder's public key.
    pub key: String,
    /// Hex of the root's signature.
    pub signature: String,
}

/// A loaded holder certificate.
pub struct Certificate {
    /// What is certified.
    pub statement: crate::protocols::keys::HolderCertificate,
    /// The root's signature over it.
    pub signature: crate::protocols::signing::Signature,
}

impl Certificate {
    /// Signs a certificate of `holder`'s `key` with the authority root `root` (whose party id is
    /// the authority's name); refuses a holder outside the authority or a key of another role.
    pub fn issue(
        root: &Party,
        holder: &PartyId,
        key: crate::protocols::signing::PublicKey,
    ) -> Result<Certificate> {
        if root.key.role() != Role::Authority {
            return Err(format!(
                "{} is a {} key, not an authority root (credence party new authority NAME)",
                root.id,
                root.key.role().as_str()
            )
            .into());
        }
        let authority = root.id.as_str().to_string();
        if authority.contains('.') {
            return Err(format!("authority root `{authority}`: a root is named by its authority alone (court, tax, …)").into());
        }
        if !holder.belongs_to(&authority) {
            return Err(
                format!("`{holder}` does not belong to the `{authority}` authority").into(),
            );
        }
        if key.role() != Role::Holder {
            return Err("the certified key must be a holder's".into());
        }
        let statement = crate::protocols::keys::HolderCertificate {
            authority,
            holder: holder.clone(),
            key,
        };
        let signature = root.key.sign(&statement);
        Ok(Certificate {
            statement,
            signature,
        })
    }

    /// Writes it as a certificate file (refuses to overwrite).
    pub fn write(&self, path: &Path) -> Result<()> {
        if path.exists() {
            return Err(format!("{} exists; refusing to overwrite", path.display()).into());
        }
        let f = CertificateFile {
            kind: <crate::protocols::keys::HolderCertificate as crate::protocols::signing::Signable>::KIND.to_string(),
            authority: self.statement.authority.clone(),
            holder: self.statement.holder.to_string(),
            key: hex::encode(self.statement.key.to_bytes()),
            signature: hex::encode(self.signature.0),
        };
        write_file(path, serde_json::to_string_pretty(&f)?.as_bytes(), false)?;
        Ok(())
    }

    /// Reads a certificate file (its signature is checked by whoever pins the root).
    pub fn load(path: &Path) -> Result<Certificate> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read certificate {}: {e}", path.display()))?;
        let bad = |m: &str| -> Error { format!("{}: {m}", path.display()).into() };
        let f: CertificateFile = serde_json::from_str(&text)
            .map_err(|e| bad(&format!("not a holder certificate: {e}")))?;
        if f.kind != <crate::protocols::keys::HolderCertificate as crate::protocols::signing::Signable>::KIND {
            return Err(bad("kind: expected holder-certificate/v1"));
        }
        let key = crate::protocols::request::parse_hex(&f.key)
            .ok_or_else(|| bad("key: expected 64 hex digits"))?;
        let key = crate::protocols::signing::PublicKey::from_bytes(Role::Holder, &key)
            .map_err(|_| bad("key: not a valid Ed25519 public key"))?;
        let signature: [u8; 64] = hex::decode(&f.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("signature: expected 128 hex digits"))?;
        Ok(Certificate {
            statement: crate::protocols::keys::HolderCertificate {
                authority: f.authority,
                holder: PartyId::new(&f.holder).map_err(|e| bad(&format!("holder: {e}")))?,
                key,
            },
            signature: crate::protocols::signing::Signature(signature),
        })
    }
}
