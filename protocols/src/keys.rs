//! Holder keys learned from the log.
//!
//! A verifier pins only the log's key, the key authority's key and the witnesses (its
//! [`crate::verdict::TrustAnchors`]). The keys of holders — which come and go — are learned
//! from the log: each holder's `PartyRegistered` entry, shown with an inclusion proof under a
//! checkpoint the verifier's anchors accept. [`KeyEvidence`] carries those entries; receipts
//! and proof packages include the ones their commitments need, so a bank checks holder
//! signatures without asking anyone for keys.

use crate::encoding::{Reader, Writer};
use crate::error::{DecodeError, VerdictError};
use crate::log::checkpoint::Checkpoint;
use crate::log::entry::{LogEntry, LogLeaf, MAX_LEAF_LEN};
use crate::log::hash::Sha3Log;
use crate::log::proof::InclusionProof;
use crate::names::PartyId;
use crate::question::HolderKeys;
use crate::signing::{PublicKey, Role, Signable, Signature};

/// Most registrations one piece of key evidence carries.
pub const MAX_REGISTRATIONS: usize = 256;

/// One `PartyRegistered` leaf with its index and an inclusion proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Index of the leaf.
    pub index: u64,
    /// The leaf (a `PartyRegistered` entry).
    pub leaf: LogLeaf,
    /// Inclusion of the leaf in the tree of the checkpoint the evidence is checked against.
    pub inclusion: InclusionProof,
}

/// Registrations of the holders a receipt or package relies on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyEvidence {
    /// The registrations, one per holder.
    pub registrations: Vec<Registration>,
}

impl KeyEvidence {
    /// The holder keys this evidence proves are in the log whose (already verified)
    /// `checkpoint` is given, every entry included at its index in the checkpoint's tree.
    /// Where `anchors` pin authority roots, every entry must be a `HolderCertified` leaf whose
    /// certificate verifies under the pinned root of its authority; anchors that pin no root
    /// (deployments from before roots) take holders' `PartyRegistered` leaves. Fails on the
    /// first entry that does not hold.
    pub fn holder_keys(
        &self,
        checkpoint: &Checkpoint,
        anchors: &crate::verdict::TrustAnchors,
    ) -> Result<HolderKeys, VerdictError> {
        let mut keys = HolderKeys::new();
        let certified = !anchors.authorities.is_empty();
        for r in &self.registrations {
            let (party, key) = match (&r.leaf.entry, HolderCertificate::of(&r.leaf.entry)) {
                (_, Some((c, signature))) if certified => {
                    c.verify(&signature, anchors)?;
                    (c.holder, c.key)
                }
                (LogEntry::PartyRegistered { party, key }, _) if !certified => {
                    (party.clone(), *key)
                }
                _ if certified => {
                    return Err(VerdictError::Mismatch(
                        "key evidence holds an entry that is not a holder certificate, and the anchors pin authority roots",
                    ))
                }
                _ => {
                    return Err(VerdictError::Mismatch(
                        "key evidence holds an entry that is not a registration",
                    ))
                }
            };
            if key.role() != Role::Holder {
                return Err(VerdictError::Mismatch(
                    "key evidence registers a key that is not a holder's",
                ));
            }
            if r.inclusion.leaf_index != r.index || r.inclusion.tree_size != checkpoint.size {
                return Err(VerdictError::VerificationFailed);
            }
            let leaf_hash = r.leaf.hash();
            r.inclusion
                .verify::<Sha3Log>(&leaf_hash, &checkpoint.root)?;
            if keys.insert(party, key).is_some_and(|k| k != key) {
                return Err(VerdictError::Mismatch(
                    "key evidence registers one holder with two keys",
                ));
            }
        }
        Ok(keys)
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes [`KeyEvidence::to_bytes`] (untrusted input).
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let k = Self::decode(&mut r)?;
        r.finish()?;
        Ok(k)
    }

    /// Canonical encoding.
    pub fn encode(&self, w: &mut Writer) {
        w.count(self.registrations.len());
        for r in &self.registrations {
            w.u64(r.index);
            w.bytes(&r.leaf.to_bytes());
            r.inclusion.encode(w);
        }
    }

    /// Decodes [`KeyEvidence::encode`] (untrusted input).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.count("registrations", MAX_REGISTRATIONS)?;
        let mut registrations = Vec::with_capacity(n);
        for _ in 0..n {
            let index = r.u64("registration index")?;
            let leaf = LogLeaf::from_bytes(r.bytes("registration leaf", MAX_LEAF_LEN)?)?;
            let inclusion = InclusionProof::decode(r)?;
            registrations.push(Registration {
                index,
                leaf,
                inclusion,
            });
        }
        Ok(KeyEvidence { registrations })
    }
}

/// An authority's certificate of one of its holder keys (`holder-certificate/v1`), signed by
/// the authority's root key pinned in the verifier's anchors. A verifier accepts a holder's
/// commitment or record only under a key some pinned root certified for that holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HolderCertificate {
    /// The authority (a catalogue authority name such as `court`).
    pub authority: String,
    /// The holder party, which must belong to the authority (`court.beijing-high`).
    pub holder: PartyId,
    /// The holder's key (role holder).
    pub key: PublicKey,
}

impl Signable for HolderCertificate {
    const KIND: &'static str = "holder-certificate/v1";
    fn encode_body(&self, w: &mut Writer) {
        w.str(&self.authority);
        self.holder.encode(w);
        self.key.encode(w);
    }
}

impl HolderCertificate {
    /// The certificate a `HolderCertified` entry carries, with its signature (none for any
    /// other entry).
    pub fn of(entry: &LogEntry) -> Option<(HolderCertificate, Signature)> {
        match entry {
            LogEntry::HolderCertified {
                holder,
                key,
                authority,
                signature,
            } => Some((
                HolderCertificate {
                    authority: authority.clone(),
                    holder: holder.clone(),
                    key: *key,
                },
                *signature,
            )),
            _ => None,
        }
    }

    /// Checks `signature` over this certificate under the root key `anchors` pin for its
    /// authority: the root must be pinned, the holder must belong to the authority and the
    /// key must be a holder's.
    pub fn verify(
        &self,
        signature: &Signature,
        anchors: &crate::verdict::TrustAnchors,
    ) -> Result<(), VerdictError> {
        let root = anchors
            .authorities
            .get(&self.authority)
            .ok_or(VerdictError::Mismatch(
                "the holder's authority has no root key in the anchors",
            ))?;
        if !self.holder.belongs_to(&self.authority) {
            return Err(VerdictError::Mismatch(
                "the certified holder does not belong to the certifying authority",
            ));
        }
        if self.key.role() != Role::Holder {
            return Err(VerdictError::Mismatch(
                "the certified key is not a holder's",
            ));
        }
        root.verify(Role::Authority, self, signature)
            .map_err(|_| VerdictError::VerificationFailed)
    }
}

/// The holder keys a log's leaves give a verifier pinning `anchors`: where they pin authority
/// roots, the first valid `HolderCertified` certificate per holder (entries that do not verify
/// are skipped, and the audit reports them); where they pin none, the first `PartyRegistered`
/// holder key per party. A later certificate or registration for another key is ignored (a
/// `KeyRotation` entry carries no signature of the old key, so it replaces nothing).
pub fn logged_holder_keys(
    leaves: &[Option<LogLeaf>],
    anchors: &crate::verdict::TrustAnchors,
) -> HolderKeys {
    let mut keys = HolderKeys::new();
    for l in leaves.iter().flatten() {
        let (party, key) = if anchors.authorities.is_empty() {
            match &l.entry {
                LogEntry::PartyRegistered { party, key } if key.role() == Role::Holder => {
                    (party.clone(), *key)
                }
                _ => continue,
            }
        } else {
            match HolderCertificate::of(&l.entry) {
                Some((c, sig)) if c.verify(&sig, anchors).is_ok() => (c.holder, c.key),
                _ => continue,
            }
        };
        keys.entry(party).or_insert(key);
    }
    keys
}

/// The key the log first registers for `party` with `role` (`PartyRegistered`), if any. A later
/// registration of the same party with another key is ignored, and so is a `KeyRotation`
/// (it carries no signature of the old key): what the party signed under its first key is
/// what counts. The rule for bank keys (signed questions) and, where no roots are pinned,
/// holder keys.
pub fn first_registered_key(
    leaves: &[Option<LogLeaf>],
    party: &crate::names::PartyId,
    role: Role,
) -> Option<PublicKey> {
    leaves.iter().flatten().find_map(|l| match &l.entry {
        LogEntry::PartyRegistered { party: p, key } if p == party && key.role() == role => {
            Some(*key)
        }
        _ => None,
    })
}

/// What an audit reports of the log's `HolderCertified` entries under the roots `anchors` pin:
/// each certificate that does not verify (an operator vouching for a holder no authority
/// certified, or a root since replaced), and each holder with valid certificates for two keys
/// (verifiers count the first; a receipt could carry the other).
pub fn certificate_problems(
    leaves: &[Option<LogLeaf>],
    anchors: &crate::verdict::TrustAnchors,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut first: HolderKeys = HolderKeys::new();
    for (i, l) in leaves.iter().enumerate() {
        let Some((c, signature)) = l.as_ref().and_then(|l| HolderCertificate::of(&l.entry)) else {
            continue;
        };
        let (holder, key, authority) = (&c.holder, &c.key, &c.authority);
        match c.verify(&signature, anchors) {
            Err(e) => problems.push(format!(
                "log index {i}: the certificate of holder {holder} under `{authority}` does not verify under the pinned roots: {e}"
            )),
            Ok(()) => match first.get(holder) {
                Some(k) if k != key => problems.push(format!(
                    "log index {i}: holder {holder} has valid certificates for two keys"
                )),
                Some(_) => {}
                None => {
                    first.insert(holder.clone(), *key);
                }
            },
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::checkpoint::NoteVerifier;
    use crate::signing::SigningKey;
    use crate::verdict::TrustAnchors;

    fn anchors(roots: &[(&str, &SigningKey)]) -> TrustAnchors {
        let mut rng = rand::thread_rng();
        let log = SigningKey::generate(Role::Log, &mut rng);
        TrustAnchors {
            log: NoteVerifier::log("credence.test/certs", log.public()).unwrap(),
            service: log.public(),
            key_authority: SigningKey::generate(Role::KeyAuthority, &mut rng).public(),
            witnesses: vec![],
            witness_quorum: 0,
            authorities: roots
                .iter()
                .map(|(n, k)| (n.to_string(), k.public()))
                .collect(),
        }
    }

    fn certified(root: &SigningKey, authority: &str, holder: &str, key: &PublicKey) -> LogLeaf {
        let c = HolderCertificate {
            authority: authority.into(),
            holder: PartyId::new(holder).unwrap(),
            key: *key,
        };
        LogLeaf {
            time: 1,
            entry: LogEntry::HolderCertified {
                holder: c.holder.clone(),
                key: *key,
                authority: authority.into(),
                signature: root.sign(&c),
            },
        }
    }

    #[test]
    fn only_a_pinned_root_certifies_its_own_holders() {
        let mut rng = rand::thread_rng();
        let court = SigningKey::generate(Role::Authority, &mut rng);
        let tax = SigningKey::generate(Role::Authority, &mut rng);
        let operator = SigningKey::generate(Role::Authority, &mut rng);
        let a = anchors(&[("court", &court), ("tax", &tax)]);
        a.check().unwrap();
        let h = SigningKey::generate(Role::Holder, &mut rng).public();
        let leaves: Vec<Option<LogLeaf>> = vec![
            // Honest.
            Some(certified(&court, "court", "court.beijing", &h)),
            // The tax root vouching for a court holder.
            Some(certified(&tax, "court", "court.fake-1", &h)),
            Some(certified(&tax, "tax", "court.fake-2", &h)),
            // A root the anchors do not pin (the operator's own).
            Some(certified(&operator, "court", "court.fake-3", &h)),
            Some(certified(&operator, "customs", "customs.x", &h)),
        ];
        let keys = logged_holder_keys(&leaves, &a);
        assert_eq!(keys.len(), 1, "{keys:?}");
        // The audit names the four that do not verify; a second valid certificate for another
        // key of the same holder is named too (verifiers keep the first).
        assert_eq!(certificate_problems(&leaves, &a).len(), 4);
        let other = SigningKey::generate(Role::Holder, &mut rng).public();
        let mut two = leaves.clone();
        two.push(Some(certified(&court, "court", "court.beijing", &other)));
        two.push(Some(certified(&court, "court", "court.beijing", &h)));
        let problems = certificate_problems(&two, &a);
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[4].contains("two keys"), "{problems:?}");
        assert_eq!(
            logged_holder_keys(&two, &a)[&PartyId::new("court.beijing").unwrap()],
            h
        );
        assert_eq!(keys[&PartyId::new("court.beijing").unwrap()], h);
        // Every leaf round-trips through the decoder; a non-holder key is refused there.
        for l in leaves.iter().flatten() {
            assert_eq!(LogLeaf::from_bytes(&l.to_bytes()).unwrap(), *l);
        }
        let bank = SigningKey::generate(Role::Bank, &mut rng).public();
        assert!(certified(&court, "court", "court.bank", &bank)
            .to_checked_bytes()
            .is_err());
    }

    #[test]
    fn roots_change_the_fingerprint_only_when_pinned() {
        let mut rng = rand::thread_rng();
        let court = SigningKey::generate(Role::Authority, &mut rng);
        let mut a = anchors(&[]);
        let before = a.fingerprint();
        a.authorities.insert("court".into(), court.public());
        assert_ne!(a.fingerprint(), before);
        a.check().unwrap();
        a.authorities.insert("court.sub".into(), court.public());
        assert!(a.check().is_err(), "a nested authority name");
        a.authorities.remove("court.sub");
        a.authorities.insert(
            "tax".into(),
            SigningKey::generate(Role::Holder, &mut rng).public(),
        );
        assert!(a.check().is_err(), "a root that is not an authority key");
    }

    /// Key evidence under anchors that pin roots takes only certified holder keys; under
    /// anchors that pin none, registrations as before.
    #[test]
    fn key_evidence_takes_certificates_where_roots_are_pinned() {
        use crate::log::tree::MemoryTree;
        let mut rng = rand::thread_rng();
        let court = SigningKey::generate(Role::Authority, &mut rng);
        let h = SigningKey::generate(Role::Holder, &mut rng).public();
        let leaves = [
            LogLeaf {
                time: 1,
                entry: LogEntry::PartyRegistered {
                    party: PartyId::new("court.beijing").unwrap(),
                    key: h,
                },
            },
            certified(&court, "court", "court.beijing", &h),
        ];
        let mut tree = MemoryTree::<Sha3Log>::new();
        for l in &leaves {
            tree.append(&l.to_bytes());
        }
        let cp = Checkpoint::new("credence.test/certs", tree.size(), tree.root()).unwrap();
        let evidence = |i: u64| KeyEvidence {
            registrations: vec![Registration {
                index: i,
                leaf: leaves[i as usize].clone(),
                inclusion: tree.inclusion_proof(i, tree.size()).unwrap(),
            }],
        };
        let pinned = anchors(&[("court", &court)]);
        let unpinned = anchors(&[]);
        let court_beijing = PartyId::new("court.beijing").unwrap();
        assert_eq!(
            evidence(1).holder_keys(&cp, &pinned).unwrap()[&court_beijing],
            h
        );
        assert!(
            evidence(0).holder_keys(&cp, &pinned).is_err(),
            "an uncertified registration"
        );
        assert_eq!(
            evidence(0).holder_keys(&cp, &unpinned).unwrap()[&court_beijing],
            h
        );
        assert!(evidence(1).holder_keys(&cp, &unpinned).is_err());
        // Another root pinned for the court: the certificate does not verify.
        let other = SigningKey::generate(Role::Authority, &mut rng);
        assert!(evidence(1)
            .holder_keys(&cp, &anchors(&[("court", &other)]))
            .is_err());
    }
}
