//! The catalogue (公共信用信息目录): every attribute Credence accepts, with its owner, kind,
//! range, default, national category and disclosure class. Anything not in it is rejected.

use credence_protocols::names::AttributeId;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// The catalogue shipped with this version (`circuits/catalog.toml`).
pub const BUILTIN_CATALOG: &str = include_str!("../catalog.toml");

/// How an attribute's value is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// "Listed until day N" (0 = never listed); listed on day D iff `N > D`.
    Until,
    /// A bounded integer `0..=max`.
    Level,
    /// 0 or 1.
    Flag,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Until => "until",
            Kind::Level => "level",
            Kind::Flag => "flag",
        })
    }
}

/// Who may see an attribute's raw value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Disclosure {
    /// Public record.
    Public,
    /// Parties with a legal basis.
    Restricted,
    /// Regulators only (e.g. the key-attention list).
    Supervisory,
}

/// One catalogue entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute id.
    pub id: AttributeId,
    /// The owning holder authority (a party-id prefix such as `court`).
    pub holder: String,
    /// Kind.
    pub kind: Kind,
    /// Largest value.
    pub max: u64,
    /// Value assumed when nothing was submitted.
    pub default: u64,
    /// National catalogue category.
    pub category: String,
    /// Disclosure class.
    pub disclosure: Disclosure,
    /// Human name.
    pub name: String,
}

impl Attribute {
    /// Whether `party` (e.g. `court.beijing-high`) belongs to this attribute's holder authority.
    pub fn owned_by(&self, party: &str) -> bool {
        // One rule for everyone: the same check verifiers apply to holder signatures.
        credence_protocols::names::PartyId::new(party).is_ok_and(|p| p.belongs_to(&self.holder))
    }

    /// Checks a submitted value against the declared range.
    pub fn check_value(&self, value: u64) -> Result<(), CatalogError> {
        if value > self.max {
            return Err(CatalogError::OutOfRange {
                attribute: self.id.to_string(),
                value,
                max: self.max,
            });
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    version: u32,
    attribute: Vec<RawAttribute>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttribute {
    id: String,
    holder: String,
    kind: Kind,
    max: u64,
    default: u64,
    category: String,
    disclosure: Disclosure,
    name: String,
}

/// A catalogue problem, or a value the catalogue rejects.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The catalogue file does not parse.
    #[error("catalogue does not parse: {0}")]
    Syntax(String),
    /// An entry is inconsistent.
    #[error("catalogue entry `{attribute}`: {reason}")]
    Entry {
        /// The entry.
        attribute: String,
        /// What is wrong.
        reason: String,
    },
    /// An attribute not in the catalogue.
    #[error("unknown attribute `{0}`: not in the catalogue")]
    Unknown(String),
    /// A value above the attribute's maximum.
    #[error("value {value} of `{attribute}` is above its maximum {max}")]
    OutOfRange {
        /// The attribute.
        attribute: String,
        /// The value.
        value: u64,
        /// The maximum.
        max: u64,
    },
}

/// The catalogue.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// Catalogue version.
    pub version: u32,
    attributes: BTreeMap<String, Attribute>,
}

impl Catalog {
    /// The built-in catalogue.
    pub fn builtin() -> Catalog {
        Catalog::parse(BUILTIN_CATALOG).expect("the built-in catalogue is valid")
    }

    /// Parses and checks a catalogue file.
    pub fn parse(text: &str) -> Result<Catalog, CatalogError> {
        let raw: RawCatalog =
            toml::from_str(text).map_err(|e| CatalogError::Syntax(e.to_string()))?;
        let mut attributes = BTreeMap::new();
        for a in raw.attribute {
            let entry = |reason: &str| CatalogError::Entry {
                attribute: a.id.clone(),
                reason: reason.to_string(),
            };
            let id = AttributeId::new(&a.id).map_err(|e| entry(&e.to_string()))?;
            if a.holder.is_empty() || credence_protocols::names::PartyId::new(&a.holder).is_err() {
                return Err(entry("holder must be a party-id prefix such as `court`"));
            }
            match a.kind {
                Kind::Flag if a.max != 1 => return Err(entry("a flag has max = 1")),
                Kind::Until if a.max > u64::from(u32::MAX) => {
                    return Err(entry("an `until` day must fit in 32 bits"))
                }
                _ => {}
            }
            if a.max == 0 || a.max >= 1 << 40 {
                return Err(entry("max must be between 1 and 2^40 - 1"));
            }
            if a.default > a.max {
                return Err(entry("default is above max"));
            }
            let attr = Attribute {
                id,
                holder: a.holder,
                kind: a.kind,
                max: a.max,
                default: a.default,
                category: a.category,
                disclosure: a.disclosure,
                name: a.name,
            };
            if attributes.insert(a.id.clone(), attr).is_some() {
                return Err(entry("declared twice"));
            }
        }
        Ok(Catalog {
            version: raw.version,
            attributes,
        })
    }

    /// Looks an attribute up; unknown attributes are an error.
    pub fn get(&self, id: &str) -> Result<&Attribute, CatalogError> {
        self.attributes
            .get(id)
            .ok_or_else(|| CatalogError::Unknown(id.to_string()))
    }

    /// All attributes, by id.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.attributes.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_loads_and_rejects_unknowns() {
        let c = Catalog::builtin();
        let a = c.get("court.dishonest_debtor").unwrap();
        assert_eq!(a.kind, Kind::Until);
        assert!(a.owned_by("court.beijing-high"));
        assert!(!a.owned_by("courtyard.x"));
        assert!(matches!(
            c.get("court.nonexistent"),
            Err(CatalogError::Unknown(_))
        ));
        assert!(c.get("tax.credit_score").unwrap().check_value(101).is_err());
    }

    #[test]
    fn bad_catalogs_are_rejected() {
        let one = |body: &str| format!("version = 1\n[[attribute]]\n{body}");
        let ok = "id = \"a.b\"\nholder = \"a\"\nkind = \"level\"\nmax = 10\ndefault = 0\ncategory = \"x\"\ndisclosure = \"public\"\nname = \"n\"\n";
        Catalog::parse(&one(ok)).unwrap();
        for (bad, why) in [
            (ok.replace("default = 0", "default = 11"), "default"),
            (ok.replace("kind = \"level\"", "kind = \"flag\""), "flag"),
            (ok.replace("id = \"a.b\"", "id = \"A.B\""), "id"),
            (ok.replace("kind = \"level\"", "kind = \"levels\""), "kind"),
            (format!("{ok}extra = 1\n"), "unknown field"),
        ] {
            assert!(Catalog::parse(&one(&bad)).is_err(), "{why}");
        }
        let twice = format!("{}[[attribute]]\n{ok}", one(ok));
        assert!(Catalog::parse(&twice).is_err());
    }
}
