//! Validated names: party identifiers and catalogue attribute identifiers.

use crate::encoding::{Reader, Writer};
use crate::error::DecodeError;
use std::fmt;

fn valid_name(s: &str, extra: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(&c))
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $extra:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name(String);

        impl $name {
            /// Validates the name.
            pub fn new(s: &str) -> Result<Self, DecodeError> {
                if !valid_name(s, $extra) {
                    return Err(DecodeError::Invalid { field: $field, reason: $rule });
                }
                Ok($name(s.to_string()))
            }
            /// The name text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// Canonical encoding: a length-prefixed string.
            pub fn encode(&self, w: &mut Writer) {
                w.str(&self.0);
            }
            /// Decodes [`Self::encode`].
            pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let s = r.str($field, 64)?;
                $name::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = DecodeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::new(s)
            }
        }
    };
}

name_type!(
    /// A party's stable identifier (`court.beijing-high`, `bank.icbc-bj`): 1–64 characters of
    /// `a-z 0-9 . - _`, starting with a letter.
    PartyId,
    "party id",
    b".-_",
    "must be 1-64 characters of a-z 0-9 . - _ starting with a letter"
);

impl PartyId {
    /// Whether this party belongs to `authority` (a party-id prefix such as `court`): it is
    /// `court` itself or `court.` followed by anything (`court.beijing-high`), never merely a
    /// name that starts with the same letters (`courtyard`). The catalogue names each
    /// attribute's authority this way; verifiers apply the same rule to holder signatures.
    pub fn belongs_to(&self, authority: &str) -> bool {
        self.0 == authority
            || self
                .0
                .strip_prefix(authority)
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

name_type!(
    /// A catalogue attribute identifier (`court.dishonest_debtor`): 1–64 characters of
    /// `a-z 0-9 . _`, starting with a letter.
    AttributeId,
    "attribute id",
    b"._",
    "must be 1-64 characters of a-z 0-9 . _ starting with a letter"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        PartyId::new("court.beijing-high").unwrap();
        AttributeId::new("court.dishonest_debtor").unwrap();
        for bad in ["", "Court", "1court", "court beijing", &"a".repeat(65)] {
            assert!(PartyId::new(bad).is_err(), "{bad}");
            assert!(AttributeId::new(bad).is_err(), "{bad}");
        }
        assert!(AttributeId::new("court.dishonest-debtor").is_err());
        let p = PartyId::new("court.beijing-high").unwrap();
        assert!(p.belongs_to("court"));
        assert!(!p.belongs_to("cour"));
        assert!(PartyId::new("court").unwrap().belongs_to("court"));
        assert!(!PartyId::new("courtyard").unwrap().belongs_to("court"));
    }
}
