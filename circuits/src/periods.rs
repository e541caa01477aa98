//! Listing periods: the data table of disclosure regimes (`circuits/regimes.toml`) and what a
//! holder derives from it when it lists a subject — the `until` day its submission carries and
//! the earliest day the subject may apply for repair.
//!
//! Days are counted from 1970-01-01, as everywhere in Credence.

use crate::catalog::{Catalog, Kind};
use serde::Deserialize;

/// The shipped regimes table.
pub const BUILTIN_REGIMES: &str = include_str!("../regimes.toml");

/// One severity class of a regime.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Class {
    /// Its name (`minor`, `general`, `serious`, …).
    pub name: String,
    /// Earliest repair: this many days after the decision.
    pub min_days: u32,
    /// The full disclosure period.
    pub max_days: u32,
    /// The extension a decision may add, `[lo, hi]` days.
    #[serde(default)]
    pub extension_days: Option<[u32; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegime {
    id: String,
    name: String,
    effective_from: String,
    lists: Vec<String>,
    class: Vec<Class>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegimes {
    regime: Vec<RawRegime>,
}

/// A regime: which lists it governs from which day, with which classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regime {
    /// Its id.
    pub id: String,
    /// The rules it implements.
    pub name: String,
    /// First day it applies to decisions.
    pub effective_from: u32,
    /// Catalogue attributes it governs.
    pub lists: Vec<String>,
    /// Its severity classes.
    pub classes: Vec<Class>,
}

/// What a listing decision gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The regime applied.
    pub regime: String,
    /// The class applied.
    pub class: String,
    /// The decision day.
    pub decided: u32,
    /// The value the holder submits: listed while `until > D`.
    pub until: u32,
    /// The first day the subject may apply for repair.
    pub earliest_repair: u32,
}

/// A regimes table or a listing request is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// The listing would end after the last day a record can represent (or the decision day
    /// already is after it).
    #[error("a decision on day {decided} gives a listing past day {max}, the last day a record can represent")]
    TooLate {
        /// The decision day.
        decided: u32,
        /// The last representable day.
        max: u32,
    },
    /// The table does not parse or is inconsistent.
    #[error("regimes table: {0}")]
    Table(String),
    /// No regime governs this list on the decision day.
    #[error("no regime governs `{attribute}` for a decision on day {day}")]
    NoRegime {
        /// The list.
        attribute: String,
        /// The decision day.
        day: u32,
    },
    /// The class is not one of the regime's.
    #[error("`{class}` is not a class of regime `{regime}` (classes: {known})")]
    UnknownClass {
        /// Asked for.
        class: String,
        /// The regime.
        regime: String,
        /// Its classes.
        known: String,
    },
    /// The extension is outside what the class allows.
    #[error("an extension of {days} days is not allowed for class `{class}` ({allowed})")]
    Extension {
        /// Asked for.
        days: u32,
        /// The class.
        class: String,
        /// What it allows.
        allowed: String,
    },
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD` (1970 or later) to a day number.
pub fn parse_date(s: &str) -> Option<u32> {
    let mut it = s.splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    let days_in = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let max = days_in[(m - 1) as usize] + u32::from(m == 2 && leap);
    if d > max || s.len() != 10 {
        return None;
    }
    u32::try_from(days_from_civil(y, m, d)).ok()
}

/// The regimes table.
#[derive(Clone, Debug)]
pub struct Regimes {
    regimes: Vec<Regime>,
}

impl Regimes {
    /// The shipped table, checked against the built-in catalogue.
    pub fn builtin() -> Regimes {
        Regimes::parse(BUILTIN_REGIMES, &Catalog::builtin()).expect("the shipped regimes are valid")
    }

    /// Parses and checks a table: every list is a catalogue `until` attribute, every class has
    /// `min ≤ max` and a sane extension, dates are real.
    pub fn parse(text: &str, catalog: &Catalog) -> Result<Regimes, PeriodError> {
        let raw: RawRegimes =
            toml::from_str(text).map_err(|e| PeriodError::Table(e.to_string()))?;
        let mut regimes = Vec::new();
        for r in raw.regime {
            let bad = |m: String| PeriodError::Table(format!("regime `{}`: {m}", r.id));
            let effective_from = parse_date(&r.effective_from)
                .ok_or_else(|| bad(format!("`{}` is not a YYYY-MM-DD date", r.effective_from)))?;
            for l in &r.lists {
                let a = catalog.get(l).map_err(|e| bad(e.to_string()))?;
                if a.kind != Kind::Until {
                    return Err(bad(format!("`{l}` is not a list (kind until)")));
                }
            }
            if r.class.is_empty() {
                return Err(bad("no classes".into()));
            }
            for c in &r.class {
                if c.min_days > c.max_days {
                    return Err(bad(format!("class `{}`: min_days > max_days", c.name)));
                }
                if let Some([lo, hi]) = c.extension_days {
                    if lo > hi {
                        return Err(bad(format!("class `{}`: extension lo > hi", c.name)));
                    }
                }
            }
            regimes.push(Regime {
                id: r.id,
                name: r.name,
                effective_from,
                lists: r.lists,
                classes: r.class,
            });
        }
        Ok(Regimes { regimes })
    }

    /// All regimes.
    pub fn all(&self) -> &[Regime] {
        &self.regimes
    }

    /// The regime governing `attribute` for a decision on `day`: the latest in force.
    pub fn regime_for(&self, attribute: &str, day: u32) -> Result<&Regime, PeriodError> {
        self.regimes
            .iter()
            .filter(|r| r.effective_from <= day && r.lists.iter().any(|l| l == attribute))
            .max_by_key(|r| r.effective_from)
            .ok_or(PeriodError::NoRegime {
                attribute: attribute.to_string(),
                day,
            })
    }

    /// A listing of `attribute` in `class`, decided on `decided`, with `extension_days` (0 for
    /// none): the `until` to submit and the earliest repair day.
    pub fn listing(
        &self,
        attribute: &str,
        class: &str,
        decided: u32,
        extension_days: u32,
    ) -> Result<Listing, PeriodError> {
        let regime = self.regime_for(attribute, decided)?;
        let c = regime
            .classes
            .iter()
            .find(|c| c.name == class)
            .ok_or_else(|| PeriodError::UnknownClass {
                class: class.to_string(),
                regime: regime.id.clone(),
                known: regime
                    .classes
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if extension_days > 0 {
            match c.extension_days {
                Some([lo, hi]) if (lo..=hi).contains(&extension_days) => {}
                allowed => {
                    return Err(PeriodError::Extension {
                        days: extension_days,
                        class: c.name.clone(),
                        allowed: match allowed {
                            Some([lo, hi]) => format!("{lo} to {hi} days"),
                            None => "no extension".into(),
                        },
                    })
                }
            }
        }
        let max = credence_protocols::question::MAX_DAY;
        let too_late = PeriodError::TooLate { decided, max };
        let until = decided
            .checked_add(c.max_days)
            .and_then(|u| u.checked_add(extension_days))
            .filter(|u| *u <= max)
            .ok_or(too_late.clone())?;
        let earliest_repair = decided.checked_add(c.min_days).ok_or(too_late)?;
        Ok(Listing {
            regime: regime.id.clone(),
            class: c.name.clone(),
            decided,
            until,
            earliest_repair,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2025-11-23"), Some(20415));
        assert_eq!(parse_date("2026-11-23"), Some(20780));
        assert_eq!(parse_date("2024-02-29"), Some(19782));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2023-13-01"), None);
        assert_eq!(parse_date("1969-12-31"), None);
        assert_eq!(parse_date("2023-5-1"), None);
    }

    #[test]
    fn shipped_periods() {
        let r = Regimes::builtin();
        let d = parse_date("2025-11-23").unwrap();
        let l = r
            .listing("credit.serious_dishonesty", "serious", d, 0)
            .unwrap();
        assert_eq!((l.until, l.earliest_repair), (d + 1095, d + 365));
        let l = r
            .listing("market.abnormal_operation", "general", d, 0)
            .unwrap();
        assert_eq!((l.until, l.earliest_repair), (d + 365, d + 90));
        let l = r
            .listing("market.abnormal_operation", "minor", d, 0)
            .unwrap();
        assert_eq!((l.until, l.earliest_repair), (d + 90, d));
        let l = r
            .listing("court.dishonest_debtor", "standard", d, 0)
            .unwrap();
        assert_eq!(l.until, d + 730);
        let l = r
            .listing("court.dishonest_debtor", "standard", d, 400)
            .unwrap();
        assert_eq!(l.until, d + 1130);
        assert!(matches!(
            r.listing("court.dishonest_debtor", "standard", d, 100),
            Err(PeriodError::Extension { .. })
        ));
        assert!(matches!(
            r.listing("market.abnormal_operation", "serious", d, 365),
            Err(PeriodError::Extension { .. })
        ));
        assert!(matches!(
            r.listing("market.abnormal_operation", "grave", d, 0),
            Err(PeriodError::UnknownClass { .. })
        ));
        // Before the regime took effect there is none; scores are not lists.
        assert!(matches!(
            r.listing(
                "market.abnormal_operation",
                "minor",
                parse_date("2023-04-30").unwrap(),
                0
            ),
            Err(PeriodError::NoRegime { .. })
        ));
        assert!(r.regime_for("tax.credit_score", d).is_err());
    }

    #[test]
    fn bad_tables_are_refused() {
        let c = Catalog::builtin();
        let t = |s: &str| Regimes::parse(s, &c).unwrap_err().to_string();
        let base = "[[regime]]\nid = \"x\"\nname = \"n\"\neffective_from = \"2020-01-01\"\n";
        assert!(t(&format!("{base}lists = [\"tax.credit_score\"]\nclass = [{{ name = \"a\", min_days = 0, max_days = 1 }}]")).contains("not a list"));
        assert!(t(&format!("{base}lists = [\"court.dishonest_debtor\"]\nclass = [{{ name = \"a\", min_days = 5, max_days = 1 }}]")).contains("min_days > max_days"));
        assert!(t(&format!(
            "{base}lists = [\"no.such\"]\nclass = [{{ name = \"a\", min_days = 0, max_days = 1 }}]"
        ))
        .contains("no.such"));
        assert!(t("[[regime]]\nid = \"x\"\nname = \"n\"\neffective_from = \"2020-02-30\"\nlists = []\nclass = []").contains("date"));
    }
}
