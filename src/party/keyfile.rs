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
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
    .ok_or_else(|| {
        format!("unknown role `{s}` (holder, bank, subject, witness, auditor, operator)").into()
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
