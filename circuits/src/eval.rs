//! The plaintext reference evaluator: the oracle every other lowering (FHE, proofs) is tested
//! against. It reads the policy exactly as written, with no optimisation.

use crate::catalog::{Catalog, CatalogError};
use crate::policy::{BoolExpr, Output, Policy};
use credence_protocols::log::entry::Outcome;
use std::collections::BTreeMap;

/// A subject's attribute values, checked against the catalogue. Attributes not given take the
/// catalogue default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    values: BTreeMap<String, u64>,
}

impl Inputs {
    /// Builds inputs; unknown attributes and values above their maximum are rejected.
    pub fn new<'a>(
        catalog: &Catalog,
        values: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> Result<Self, CatalogError> {
        let mut out = BTreeMap::new();
        for (id, v) in values {
            catalog.get(id)?.check_value(v)?;
            out.insert(id.to_string(), v);
        }
        Ok(Inputs { values: out })
    }

    /// The value of `id`, if one was given.
    pub fn get(&self, id: &str) -> Option<u64> {
        self.values.get(id).copied()
    }
}

/// Evaluates `policy` for a subject with `inputs` on day `day`. An eligibility policy answers
/// "not eligible" when a required attribute has no value in `inputs`.
pub fn evaluate(policy: &Policy, inputs: &Inputs, day: u32) -> Outcome {
    let value = |id: &str| -> i128 {
        let v = inputs.get(id).unwrap_or_else(|| {
            policy
                .reads
                .iter()
                .find(|(a, ..)| a.as_str() == id)
                .map(|r| r.3)
                .expect("a policy reads only attributes it declares")
        });
        i128::from(v)
    };
    let sum = |s: &crate::policy::Sum| -> i128 {
        let lf = policy.linear_form(s);
        i128::from(lf.constant)
            + lf.terms
                .iter()
                .map(|(a, w)| i128::from(*w) * value(a.as_str()))
                .sum::<i128>()
    };
    fn holds(
        p: &Policy,
        e: &BoolExpr,
        day: u32,
        value: &dyn Fn(&str) -> i128,
        sum: &dyn Fn(&crate::policy::Sum) -> i128,
    ) -> bool {
        match e {
            BoolExpr::All(v) => v.iter().all(|x| holds(p, x, day, value, sum)),
            BoolExpr::Any(v) => v.iter().any(|x| holds(p, x, day, value, sum)),
            BoolExpr::Not(x) => !holds(p, x, day, value, sum),
            BoolExpr::Listed(a) => value(a.as_str()) > i128::from(day),
            BoolExpr::NotListed(a) => value(a.as_str()) <= i128::from(day),
            BoolExpr::Flag(a) => value(a.as_str()) == 1,
            BoolExpr::Compare(s, op, t) => op.holds(sum(s), i128::from(*t)),
            BoolExpr::Rule(r) => holds(p, p.rule(r).expect("checked"), day, value, sum),
        }
    }
    match &policy.output {
        Output::Eligible(e) => {
            let present: Vec<&str> = inputs.values.keys().map(String::as_str).collect();
            Outcome::Eligible(
                policy.requirements_met(&present) && holds(policy, e, day, &value, &sum),
            )
        }
        Output::Grade { score, bands, .. } => {
            let s = sum(score);
            let g = bands
                .iter()
                .position(|(_, t)| s >= i128::from(*t))
                .unwrap_or(bands.len());
            Outcome::Grade(g as u8)
        }
    }
}
