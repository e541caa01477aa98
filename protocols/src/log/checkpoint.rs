//! Checkpoints in the C2SP formats: `tlog-checkpoint` bodies carried in `signed-note`s,
//! signed by the log (Ed25519, signature type `0x01`) and cosigned by witnesses
//! (`tlog-cosignature`, type `0x04`, with a timestamp).
//!
//! ```text
//! credence.example/beijing          <- origin
//! 1234                               <- tree size, decimal
//! 9Rk1…=                             <- root hash, base64
//!                                    <- blank line ends the note text
//! — credence.example/beijing AAAA…   <- key name, base64(key id || signature)
//! — witness.tianjin BBBB…            <- cosignature: base64(key id || time || signature)
//! ```
//!
//! Key IDs are `SHA-256(name || 0x0A || type || public key)[:4]` as the note format requires
//! (SHA-256 here is fixed by the interoperable format, not a Credence choice). Signatures from
//! unknown keys are ignored, as the format requires; verification needs the log's signature and,
//! where a policy asks for it, a quorum of witness cosignatures.

use super::hash::Hash;
use crate::error::CheckpointError;
use crate::signing::{PublicKey, Role, SigningKey};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Most signature lines accepted on one note.
pub const MAX_SIGNATURES: usize = 100;
/// Largest note accepted, in bytes.
pub const MAX_NOTE_LEN: usize = 64 * 1024;

/// Signature type byte of plain Ed25519 note signatures.
pub const SIG_TYPE_ED25519: u8 = 0x01;
/// Signature type byte of `cosignature/v1` witness signatures.
pub const SIG_TYPE_COSIGNATURE: u8 = 0x04;

/// A checkpoint body: the log's origin, size and root hash, plus optional extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's unique origin line, e.g. `credence.example/beijing`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// Root hash of the first `size` leaves.
    pub root: Hash,
    /// Extension lines (opaque, non-empty).
    pub extensions: Vec<String>,
}

fn valid_line(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_control())
}

impl Checkpoint {
    /// A checkpoint; fails if the origin or an extension is not a valid single line.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        if !valid_line(origin) {
            return Err(CheckpointError::Malformed(
                "origin must be one non-empty line",
            ));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// The note text (every line newline-terminated).
    pub fn body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint body (the note text).
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let lines = text.strip_suffix('\n').ok_or(CheckpointError::Malformed(
            "note text must end with a newline",
        ))?;
        let mut it = lines.split('\n');
        let origin = it
            .next()
            .filter(|l| valid_line(l))
            .ok_or(CheckpointError::Malformed("first line must be the origin"))?;
        let size = it.next().ok_or(CheckpointError::Malformed(
            "second line must be the tree size",
        ))?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(CheckpointError::Malformed(
                "tree size must be a decimal number without leading zeros",
            ));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| CheckpointError::Malformed("tree size does not fit in 64 bits"))?;
        let root = it.next().ok_or(CheckpointError::Malformed(
            "third line must be the root hash",
        ))?;
        let root = B64
            .decode(root)
            .ok()
            .and_then(|r| <Hash>::try_from(r.as_slice()).ok())
            .ok_or(CheckpointError::Malformed(
                "root hash must be 32 bytes in standard base64",
            ))?;
        let mut extensions = Vec::new();
        for e in it {
            if !valid_line(e) {
                return Err(CheckpointError::Malformed(
                    "extension lines must be non-empty",
                ));
            }
            extensions.push(e.to_string());
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }
}

/// A public key as a note verifier: a name, a signature type and the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    /// The key name (no spaces, no `+`).
    pub name: String,
    /// [`SIG_TYPE_ED25519`] for a log, [`SIG_TYPE_COSIGNATURE`] for a witness.
    pub sig_type: u8,
    /// The key (role `Log` or `Witness`).
    pub key: PublicKey,
}

fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

impl NoteVerifier {
    /// The log's verifier: signature type Ed25519, conventionally named by the origin.
    pub fn log(name: &str, key: PublicKey) -> Result<Self, CheckpointError> {
        Self::new(name, SIG_TYPE_ED25519, key, Role::Log)
    }
    /// A witness's verifier: signature type `cosignature/v1`.
    pub fn witness(name: &str, key: PublicKey) -> Result<Self, CheckpointError> {
        Self::new(name, SIG_TYPE_COSIGNATURE, key, Role::Witness)
    }
    fn new(name: &str, sig_type: u8, key: PublicKey, role: Role) -> Result<Self, CheckpointError> {
        if !valid_key_name(name) {
            return Err(CheckpointError::Malformed(
                "key name must be non-empty, without spaces or '+'",
            ));
        }
        if key.role() != role {
            return Err(CheckpointError::Malformed(
                "key has the wrong role for this verifier",
            ));
        }
        Ok(NoteVerifier {
            name: name.to_string(),
            sig_type,
            key,
        })
    }
    /// `SHA-256(name || 0x0A || type || key)[:4]`.
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, self.sig_type, &self.key.to_bytes())
    }
    /// The verifier key string `name+hexid+base64(type||key)`, as other tools print it.
    pub fn to_vkey(&self) -> String {
        let mut k = vec![self.sig_type];
        k.extend_from_slice(&self.key.to_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            crate::pseudonym::hex_lower(&self.key_id()),
            B64.encode(k)
        )
    }
    /// Parses [`NoteVerifier::to_vkey`]; the role follows from the signature type.
    pub fn from_vkey(s: &str) -> Result<Self, CheckpointError> {
        let bad = CheckpointError::Malformed("verifier key must be name+hexid+base64(type||key)");
        // The name and hex id contain no '+'; the base64 key may.
        let mut parts = s.splitn(3, '+');
        let (name, id, key) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(i), Some(k)) => (n, i, k),
            _ => return Err(bad),
        };
        let raw = B64.decode(key).map_err(|_| bad.clone())?;
        if raw.len() != 33 {
            return Err(bad);
        }
        let key_bytes: [u8; 32] = raw[1..].try_into().expect("length checked");
        let role = match raw[0] {
            SIG_TYPE_ED25519 => Role::Log,
            SIG_TYPE_COSIGNATURE => Role::Witness,
            _ => return Err(CheckpointError::Malformed("unknown signature type")),
        };
        let key = PublicKey::from_bytes(role, &key_bytes)
            .map_err(|_| CheckpointError::Malformed("invalid public key"))?;
        let v = Self::new(name, raw[0], key, role)?;
        if crate::pseudonym::hex_lower(&v.key_id()) != id {
            return Err(CheckpointError::Malformed("key id does not match the key"));
        }
        Ok(v)
    }
}

fn key_id(name: &str, sig_type: u8, key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', sig_type]);
    h.update(key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signer's key name.
    pub name: String,
    /// The signer's key ID.
    pub key_id: [u8; 4],
    /// The bytes after the key ID: a 64-byte signature, or for cosignatures an 8-byte
    /// timestamp followed by the signature.
    pub payload: Vec<u8>,
}

/// A checkpoint with its signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

fn cosigned_message(body: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{body}").into_bytes()
}

impl SignedCheckpoint {
    /// Signs `checkpoint` with the log key (role `Log`) under key name `name`.
    pub fn sign(
        checkpoint: Checkpoint,
        name: &str,
        log_key: &SigningKey,
    ) -> Result<Self, CheckpointError> {
        let v = NoteVerifier::log(name, log_key.public())?;
        let sig = log_key.sign_note_bytes(checkpoint.body().as_bytes());
        Ok(SignedCheckpoint {
            checkpoint,
            signatures: vec![NoteSignature {
                name: v.name.clone(),
                key_id: v.key_id(),
                payload: sig.to_vec(),
            }],
        })
    }

    /// Adds a witness cosignature at `timestamp` (seconds since the Unix epoch). The witness
    /// is responsible for having checked consistency with what it saw before.
    pub fn cosign(
        &mut self,
        name: &str,
        witness_key: &SigningKey,
        timestamp: u64,
    ) -> Result<(), CheckpointError> {
        let v = NoteVerifier::witness(name, witness_key.public())?;
        let sig =
            witness_key.sign_note_bytes(&cosigned_message(&self.checkpoint.body(), timestamp));
        let mut payload = timestamp.to_be_bytes().to_vec();
        payload.extend_from_slice(&sig);
        self.signatures.push(NoteSignature {
            name: v.name.clone(),
            key_id: v.key_id(),
            payload,
        });
        Ok(())
    }

    /// The full signed note text.
    pub fn to_text(&self) -> String {
        let mut s = self.checkpoint.body();
        s.push('\n');
        for sig in &self.signatures {
            let mut raw = sig.key_id.to_vec();
            raw.extend_from_slice(&sig.payload);
            s.push_str(&format!("\u{2014} {} {}\n", sig.name, B64.encode(raw)));
        }
        s
    }

    /// Parses a signed note (untrusted input). Does not verify signatures.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        if text.len() > MAX_NOTE_LEN {
            return Err(CheckpointError::Malformed("note is larger than 64 KiB"));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(CheckpointError::Malformed(
                "note contains control characters other than newline",
            ));
        }
        let split = text.rfind("\n\n").ok_or(CheckpointError::Malformed(
            "note has no blank line before its signatures",
        ))?;
        let (body, sigs) = (&text[..split + 1], &text[split + 2..]);
        let checkpoint = Checkpoint::parse_body(body)?;
        let sigs = sigs.strip_suffix('\n').ok_or(CheckpointError::Malformed(
            "signature block must end with a newline",
        ))?;
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(CheckpointError::Malformed("more than 100 signatures"));
            }
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or(CheckpointError::Malformed(
                    "signature line must start with an em dash and a space",
                ))?;
            let (name, b64) = rest.split_once(' ').ok_or(CheckpointError::Malformed(
                "signature line must be '— name signature'",
            ))?;
            if !valid_key_name(name) {
                return Err(CheckpointError::Malformed(
                    "invalid key name in signature line",
                ));
            }
            let raw = B64
                .decode(b64)
                .map_err(|_| CheckpointError::Malformed("signature is not standard base64"))?;
            if raw.len() < 5 {
                return Err(CheckpointError::Malformed("signature too short"));
            }
            signatures.push(NoteSignature {
                name: name.to_string(),
                key_id: raw[..4].try_into().expect("length checked"),
                payload: raw[4..].to_vec(),
            });
        }
        if signatures.is_empty() {
            return Err(CheckpointError::Malformed("note has no signatures"));
        }
        Ok(SignedCheckpoint {
            checkpoint,
            signatures,
        })
    }

    fn verifies(&self, v: &NoteVerifier, body: &str) -> Option<u64> {
        let id = v.key_id();
        self.signatures
            .iter()
            .filter(|s| s.name == v.name && s.key_id == id)
            .find_map(|s| match v.sig_type {
                SIG_TYPE_ED25519 => {
                    let sig: [u8; 64] = s.payload.as_slice().try_into().ok()?;
                    v.key.verify_note_bytes(body.as_bytes(), &sig).then_some(0)
                }
                SIG_TYPE_COSIGNATURE => {
                    if s.payload.len() != 72 {
                        return None;
                    }
                    let ts = u64::from_be_bytes(s.payload[..8].try_into().ok()?);
                    let sig: [u8; 64] = s.payload[8..].try_into().ok()?;
                    v.key
                        .verify_note_bytes(&cosigned_message(body, ts), &sig)
                        .then_some(ts)
                }
                _ => None,
            })
    }

    /// Verifies the log's signature; returns the checkpoint.
    pub fn verify(&self, log: &NoteVerifier) -> Result<&Checkpoint, CheckpointError> {
        self.verify_with_witnesses(log, &[], 0)
    }

    /// Verifies the log's signature and at least `quorum` cosignatures from distinct
    /// `witnesses`; returns the checkpoint.
    pub fn verify_with_witnesses(
        &self,
        log: &NoteVerifier,
        witnesses: &[NoteVerifier],
        quorum: usize,
    ) -> Result<&Checkpoint, CheckpointError> {
        if log.sig_type != SIG_TYPE_ED25519 {
            return Err(CheckpointError::BadLogSignature);
        }
        let body = self.checkpoint.body();
        if self.checkpoint.origin != log.name || self.verifies(log, &body).is_none() {
            return Err(CheckpointError::BadLogSignature);
        }
        // The quorum counts distinct witness *keys*: one key listed under two names, or two
        // cosignature lines by one key, is one witness.
        let mut seen: Vec<[u8; 32]> = Vec::new();
        for w in witnesses {
            let key = w.key.to_bytes();
            if w.sig_type == SIG_TYPE_COSIGNATURE
                && !seen.contains(&key)
                && self.verifies(w, &body).is_some()
            {
                seen.push(key);
            }
        }
        if seen.len() < quorum {
            return Err(CheckpointError::NotEnoughCosignatures {
                found: seen.len(),
                required: quorum,
            });
        }
        Ok(&self.checkpoint)
    }

    /// The timestamp of `witness`'s valid cosignature, if there is one.
    pub fn cosignature_time(&self, witness: &NoteVerifier) -> Option<u64> {
        if witness.sig_type != SIG_TYPE_COSIGNATURE {
            return None;
        }
        self.verifies(witness, &self.checkpoint.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_cosign_parse_verify() {
        let mut rng = rand::thread_rng();
        let log = SigningKey::generate(Role::Log, &mut rng);
        let wit = SigningKey::generate(Role::Witness, &mut rng);
        let origin = "credence.example/beijing";
        let cp = Checkpoint::new(origin, 42, [7; 32]).unwrap();
        let mut s = SignedCheckpoint::sign(cp, origin, &log).unwrap();
        s.cosign("witness.tianjin", &wit, 1_700_000_000).unwrap();
        let text = s.to_text();
        assert!(text.starts_with("credence.example/beijing\n42\n"));
        let parsed = SignedCheckpoint::parse(&text).unwrap();
        assert_eq!(parsed, s);
        let lv = NoteVerifier::log(origin, log.public()).unwrap();
        let wv = NoteVerifier::witness("witness.tianjin", wit.public()).unwrap();
        parsed
            .verify_with_witnesses(&lv, std::slice::from_ref(&wv), 1)
            .unwrap();
        assert_eq!(parsed.cosignature_time(&wv), Some(1_700_000_000));
        assert_eq!(NoteVerifier::from_vkey(&lv.to_vkey()).unwrap(), lv);
        assert_eq!(NoteVerifier::from_vkey(&wv.to_vkey()).unwrap(), wv);

        // Changing the size, the root or the timestamp breaks it.
        let tampered = text.replacen("\n42\n", "\n43\n", 1);
        let t = SignedCheckpoint::parse(&tampered).unwrap();
        assert_eq!(t.verify(&lv), Err(CheckpointError::BadLogSignature));
        let other_wit = SigningKey::generate(Role::Witness, &mut rng);
        let ov = NoteVerifier::witness("witness.tianjin", other_wit.public()).unwrap();
        assert!(matches!(
            parsed.verify_with_witnesses(&lv, &[ov], 1),
            Err(CheckpointError::NotEnoughCosignatures {
                found: 0,
                required: 1
            })
        ));
        // The same witness counted twice is still one, and so is one key under two names.
        assert!(parsed
            .verify_with_witnesses(&lv, &[wv.clone(), wv.clone()], 2)
            .is_err());
        let mut twice = parsed.clone();
        twice
            .cosign("witness.tianjin-2", &wit, 1_700_000_001)
            .unwrap();
        let alias = NoteVerifier::witness("witness.tianjin-2", wit.public()).unwrap();
        twice
            .verify_with_witnesses(&lv, &[wv.clone(), alias.clone()], 1)
            .unwrap();
        assert!(matches!(
            twice.verify_with_witnesses(&lv, &[wv, alias], 2),
            Err(CheckpointError::NotEnoughCosignatures {
                found: 1,
                required: 2
            })
        ));
    }

    #[test]
    fn malformed_notes_are_rejected() {
        for bad in [
            "",
            "origin\n1\n",
            "origin\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— k AAAAAAA=\n",
            "origin\n1\nnot-base64\n\n— k AAAAAAA=\n",
            "origin\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n- k AAAAAAA=\n",
            "origin\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— k AAAAAAA=",
            "origin\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",
            "orig\tin\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— k AAAAAAA=\n",
        ] {
            assert!(SignedCheckpoint::parse(bad).is_err(), "{bad:?}");
        }
    }
}
