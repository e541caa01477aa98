//! Lowering a policy to the predicate conjunction that `credence-protocols` proves.
//!
//! A policy lowers when its output is `eligible` and, after expanding rules and pushing
//! negations inward, it is a conjunction of literals the proof system has:
//!
//! | literal | predicate |
//! |---|---|
//! | `not_listed(a)` | `a ≤ D` ([`credence_protocols::predicate::Predicate::NotListedOn`]) |
//! | `listed(a)` | `a ≥ D + 1` |
//! | `flag(a)` / `not(flag(a))` | `a ≥ 1` / `a ≤ 0` |
//! | `sum >= T`, `sum > T` | `Σ wᵢaᵢ + c ≥ T` (or `≥ T + 1`) |
//! | `sum <= T`, `sum < T` | `Σ −wᵢaᵢ − c ≥ −T` (or `≥ −T + 1`) |
//! | `sum == T` | both of the above |
//!
//! Everything else — `any(…)` of two or more, `sum != T`, a grade output — is a disjunction or
//! not a yes/no question, and is reported as [`NotExpressible`]: such policies are answered on
//! the sealed path.

use crate::policy::{BoolExpr, Cmp, Output, Policy};
use credence_protocols::names::AttributeId;
use credence_protocols::question::{ProofTemplate, TemplateInput, TemplatePredicate};

/// The policy cannot be proven as a conjunction of range predicates.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("policy `{policy}` is not expressible as a proof: {reason}")]
pub struct NotExpressible {
    /// The policy.
    pub policy: String,
    /// Why.
    pub reason: String,
}

struct Lowering<'p> {
    policy: &'p Policy,
    inputs: Vec<TemplateInput>,
    predicates: Vec<TemplatePredicate>,
}

impl Lowering<'_> {
    fn fail<T>(&self, reason: impl Into<String>) -> Result<T, NotExpressible> {
        Err(NotExpressible {
            policy: self.policy.name.clone(),
            reason: reason.into(),
        })
    }

    fn input(&mut self, a: &AttributeId) -> u32 {
        if let Some(i) = self.inputs.iter().position(|x| &x.attribute == a) {
            return i as u32;
        }
        let at = self
            .policy
            .reads
            .iter()
            .position(|r| &r.0 == a)
            .expect("policies read only declared attributes");
        self.inputs.push(TemplateInput {
            attribute: a.clone(),
            authority: self.policy.owners[at].clone(),
            max: self.policy.reads[at].2,
        });
        (self.inputs.len() - 1) as u32
    }

    /// Lowers `e` (negated if `neg`) into conjunctive predicates.
    fn lower(&mut self, e: &BoolExpr, neg: bool) -> Result<(), NotExpressible> {
        match (e, neg) {
            (BoolExpr::All(v), false) | (BoolExpr::Any(v), true) => {
                v.iter().try_for_each(|x| self.lower(x, neg))
            }
            (BoolExpr::Any(v), false) | (BoolExpr::All(v), true) => {
                if v.len() == 1 {
                    self.lower(&v[0], neg)
                } else {
                    self.fail("it needs an OR across records (`any(…)`, or a negated `all(…)`), which a conjunction of range proofs cannot show")
                }
            }
            (BoolExpr::Not(x), _) => self.lower(x, !neg),
            (BoolExpr::Rule(r), _) => {
                let e = self.policy.rule(r).expect("checked by the parser");
                self.lower(e, neg)
            }
            (BoolExpr::NotListed(a), false) | (BoolExpr::Listed(a), true) => {
                let i = self.input(a);
                self.predicates.push(TemplatePredicate::NotListed(i));
                Ok(())
            }
            (BoolExpr::Listed(a), false) | (BoolExpr::NotListed(a), true) => {
                let i = self.input(a);
                self.predicates.push(TemplatePredicate::Listed(i));
                Ok(())
            }
            (BoolExpr::Flag(a), _) => {
                let i = self.input(a);
                self.predicates.push(if neg {
                    TemplatePredicate::AtMost(i, 0)
                } else {
                    TemplatePredicate::AtLeast(i, 1)
                });
                Ok(())
            }
            (BoolExpr::Compare(s, op, t), _) => {
                let op = if neg { negate(*op) } else { *op };
                let lf = self.policy.linear_form(s);
                if lf.terms.is_empty() {
                    return self
                        .fail("a comparison of constants is not a predicate about the subject");
                }
                let terms: Vec<(u32, i64)> =
                    lf.terms.iter().map(|(a, w)| (self.input(a), *w)).collect();
                let ge = |terms: Vec<(u32, i64)>, c: i64, t: i64| match (terms.as_slice(), c) {
                    ([(i, 1)], 0) if t >= 0 => TemplatePredicate::AtLeast(*i, t as u64),
                    _ => TemplatePredicate::Sum {
                        terms,
                        constant: c,
                        threshold: t,
                    },
                };
                let le = |terms: &[(u32, i64)], c: i64, t: i64| match (terms, c) {
                    ([(i, 1)], 0) if t >= 0 => TemplatePredicate::AtMost(*i, t as u64),
                    _ => TemplatePredicate::Sum {
                        terms: terms.iter().map(|(i, w)| (*i, -w)).collect(),
                        constant: -c,
                        threshold: -t,
                    },
                };
                let c = lf.constant;
                match op {
                    Cmp::Ge => self.predicates.push(ge(terms, c, *t)),
                    Cmp::Gt => self.predicates.push(ge(terms, c, t + 1)),
                    Cmp::Le => self.predicates.push(le(&terms, c, *t)),
                    Cmp::Lt => self.predicates.push(le(&terms, c, t - 1)),
                    Cmp::Eq => {
                        self.predicates.push(ge(terms.clone(), c, *t));
                        self.predicates.push(le(&terms, c, *t));
                    }
                    Cmp::Ne => return self.fail("`!=` is an OR of `<` and `>`"),
                }
                Ok(())
            }
        }
    }
}

fn negate(op: Cmp) -> Cmp {
    match op {
        Cmp::Ge => Cmp::Lt,
        Cmp::Lt => Cmp::Ge,
        Cmp::Le => Cmp::Gt,
        Cmp::Gt => Cmp::Le,
        Cmp::Eq => Cmp::Ne,
        Cmp::Ne => Cmp::Eq,
    }
}

/// Lowers `policy` to the statement template its proof uses, or says why it cannot be
/// proven. The template pins, per input, the attribute, its owning authority and its catalogue
/// range, as the policy's canonical form does.
pub fn lower_to_proof(policy: &Policy) -> Result<ProofTemplate, NotExpressible> {
    let mut l = Lowering {
        policy,
        inputs: Vec::new(),
        predicates: Vec::new(),
    };
    match &policy.output {
        Output::Eligible(e) => l.lower(e, false)?,
        Output::Grade { .. } => {
            return l.fail("its output is a grade, not a yes/no question (ask for one band with a policy of its own)")
        }
    }
    // A required attribute the predicates do not read still needs a record: the subject shows
    // its commitment, constrained to its catalogue range (`≥ 0` always holds).
    for r in &policy.required {
        if !l.inputs.iter().any(|i| &i.attribute == r) {
            let i = l.input(r);
            l.predicates.push(TemplatePredicate::AtLeast(i, 0));
        }
    }
    if l.predicates.len() > credence_protocols::commitment::MAX_AGGREGATION {
        return l.fail("it has more than 64 predicates");
    }
    let Lowering {
        inputs, predicates, ..
    } = l;
    ProofTemplate::new(policy.hash(), inputs, predicates).map_err(|e| NotExpressible {
        policy: policy.name.clone(),
        reason: e.to_string(),
    })
}
