//! Lowering a policy to the predicate conjunction that `credence-protocols` proves.
//!
//! A policy lowers when its output is `eligible` and, after expanding rules and pushing
//! negations inward, it is a conjunction of literals the proof system has:
//!
//! | literal | predicate |
//! |---|---|
//! | `not_listed(a)` | `a ≤ D` ([`Predicate::NotListedOn`]) |
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
use credence_protocols::predicate::{CommittedInput, Predicate, Statement, StatementContext};
use credence_protocols::pseudonym::Pseudonym;
use curve25519_dalek::ristretto::CompressedRistretto;

/// The policy cannot be proven as a conjunction of range predicates.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("policy `{policy}` is not expressible as a proof: {reason}")]
pub struct NotExpressible {
    /// The policy.
    pub policy: String,
    /// Why.
    pub reason: String,
}

/// One predicate of a plan; `D` is filled in per question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanPredicate {
    /// `input ≤ D`.
    NotListed(u32),
    /// `input ≥ D + 1`.
    Listed(u32),
    /// `input ≥ t`.
    AtLeast(u32, u64),
    /// `input ≤ t`.
    AtMost(u32, u64),
    /// `Σ w·input + constant ≥ threshold`.
    Sum {
        /// `(input, weight)`.
        terms: Vec<(u32, i64)>,
        /// Constant.
        constant: i64,
        /// Threshold.
        threshold: i64,
    },
}

/// A policy lowered to proof form: which attributes the subject must commit to, in order, and
/// the predicates over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofPlan {
    /// The policy hash.
    pub policy_hash: [u8; 32],
    /// Inputs: attribute and its catalogue maximum.
    pub inputs: Vec<(AttributeId, u64)>,
    /// Predicates.
    pub predicates: Vec<PlanPredicate>,
}

impl ProofPlan {
    /// The statement for a question about `subject` on `day`, over `commitments` to the plan's
    /// inputs in order. Banks compare this with the statement a verdict carries, which binds
    /// the proof to the published policy.
    pub fn statement(
        &self,
        subject: Pseudonym,
        day: u32,
        commitments: &[CompressedRistretto],
    ) -> Result<Statement, &'static str> {
        if commitments.len() != self.inputs.len() {
            return Err("one commitment is needed per plan input");
        }
        let predicates = self
            .predicates
            .iter()
            .map(|p| match p {
                PlanPredicate::NotListed(i) => Predicate::NotListedOn { input: *i, day },
                PlanPredicate::Listed(i) => Predicate::AtLeast {
                    input: *i,
                    threshold: u64::from(day) + 1,
                },
                PlanPredicate::AtLeast(i, t) => Predicate::AtLeast {
                    input: *i,
                    threshold: *t,
                },
                PlanPredicate::AtMost(i, t) => Predicate::AtMost {
                    input: *i,
                    threshold: *t,
                },
                PlanPredicate::Sum {
                    terms,
                    constant,
                    threshold,
                } => Predicate::WeightedSumAtLeast {
                    terms: terms.clone(),
                    constant: *constant,
                    threshold: *threshold,
                },
            })
            .collect();
        Ok(Statement {
            context: StatementContext {
                policy_hash: self.policy_hash,
                subject,
                as_of_day: day,
            },
            inputs: commitments
                .iter()
                .zip(&self.inputs)
                .map(|(c, (_, max))| CommittedInput {
                    commitment: *c,
                    max: *max,
                })
                .collect(),
            predicates,
        })
    }
}

impl ProofPlan {
    /// Whether `statement` is this plan's statement for its own subject and day: same policy
    /// hash, the plan's inputs (by certified maximum) and exactly the plan's predicates. This
    /// is the check that binds a proven-path verdict to the published policy.
    pub fn matches(&self, statement: &Statement) -> bool {
        let commitments: Vec<CompressedRistretto> =
            statement.inputs.iter().map(|i| i.commitment).collect();
        match self.statement(
            statement.context.subject,
            statement.context.as_of_day,
            &commitments,
        ) {
            Ok(expected) => expected == *statement,
            Err(_) => false,
        }
    }
}

impl ProofPlan {
    /// [`ProofPlan::matches`], and each holder-signed input commits to the attribute the plan
    /// names for that position and is signed by a holder of the authority that owns that
    /// attribute in `catalog` (a tax bureau cannot vouch for a court list). What a bank runs
    /// on a proven-path verdict's evidence after `VerdictReceipt::verify`.
    pub fn matches_evidence(
        &self,
        statement: &Statement,
        inputs: &[credence_protocols::commitment::SignedAttributeCommitment],
        catalog: &crate::catalog::Catalog,
    ) -> bool {
        self.matches(statement)
            && inputs.len() == self.inputs.len()
            && inputs.iter().zip(&self.inputs).all(|(s, (a, _))| {
                let ctx = &s.commitment.context;
                ctx.attribute == *a
                    && catalog
                        .get(a.as_str())
                        .is_ok_and(|entry| entry.owned_by(ctx.holder.as_str()))
            })
    }
}

struct Lowering<'p> {
    policy: &'p Policy,
    plan: ProofPlan,
}

impl Lowering<'_> {
    fn fail<T>(&self, reason: impl Into<String>) -> Result<T, NotExpressible> {
        Err(NotExpressible {
            policy: self.policy.name.clone(),
            reason: reason.into(),
        })
    }

    fn input(&mut self, a: &AttributeId) -> u32 {
        if let Some(i) = self.plan.inputs.iter().position(|(x, _)| x == a) {
            return i as u32;
        }
        let max = self
            .policy
            .reads
            .iter()
            .find(|r| &r.0 == a)
            .map(|r| r.2)
            .expect("policies read only declared attributes");
        self.plan.inputs.push((a.clone(), max));
        (self.plan.inputs.len() - 1) as u32
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
                self.plan.predicates.push(PlanPredicate::NotListed(i));
                Ok(())
            }
            (BoolExpr::Listed(a), false) | (BoolExpr::NotListed(a), true) => {
                let i = self.input(a);
                self.plan.predicates.push(PlanPredicate::Listed(i));
                Ok(())
            }
            (BoolExpr::Flag(a), _) => {
                let i = self.input(a);
                self.plan.predicates.push(if neg {
                    PlanPredicate::AtMost(i, 0)
                } else {
                    PlanPredicate::AtLeast(i, 1)
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
                    ([(i, 1)], 0) if t >= 0 => PlanPredicate::AtLeast(*i, t as u64),
                    _ => PlanPredicate::Sum {
                        terms,
                        constant: c,
                        threshold: t,
                    },
                };
                let le = |terms: &[(u32, i64)], c: i64, t: i64| match (terms, c) {
                    ([(i, 1)], 0) if t >= 0 => PlanPredicate::AtMost(*i, t as u64),
                    _ => PlanPredicate::Sum {
                        terms: terms.iter().map(|(i, w)| (*i, -w)).collect(),
                        constant: -c,
                        threshold: -t,
                    },
                };
                let c = lf.constant;
                match op {
                    Cmp::Ge => self.plan.predicates.push(ge(terms, c, *t)),
                    Cmp::Gt => self.plan.predicates.push(ge(terms, c, t + 1)),
                    Cmp::Le => self.plan.predicates.push(le(&terms, c, *t)),
                    Cmp::Lt => self.plan.predicates.push(le(&terms, c, t - 1)),
                    Cmp::Eq => {
                        self.plan.predicates.push(ge(terms.clone(), c, *t));
                        self.plan.predicates.push(le(&terms, c, *t));
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

/// Lowers `policy` to a proof plan, or says why it cannot be proven.
pub fn lower_to_proof(policy: &Policy) -> Result<ProofPlan, NotExpressible> {
    let mut l = Lowering {
        policy,
        plan: ProofPlan {
            policy_hash: policy.hash(),
            inputs: Vec::new(),
            predicates: Vec::new(),
        },
    };
    match &policy.output {
        Output::Eligible(e) => l.lower(e, false)?,
        Output::Grade { .. } => {
            return l.fail("its output is a grade, not a yes/no question (ask for one band with a policy of its own)")
        }
    }
    if l.plan.predicates.len() > credence_protocols::commitment::MAX_AGGREGATION {
        return l.fail("it has more than 64 predicates");
    }
    Ok(l.plan)
}
