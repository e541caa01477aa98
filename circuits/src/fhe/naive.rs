//! The naive lowering (see the parent module).

use crate::policy::{BoolExpr, Cmp, Output, Policy, Sum};
use std::collections::BTreeMap;
use tfhe::prelude::*;
use tfhe::{ClientKey, FheBool, FheUint16, FheUint32, FheUint8};

/// Sums are computed with an offset that keeps them non-negative, in at most 32 bits; this is
/// the largest span `max − min` a sum may have.
const MAX_SPAN: i128 = 1 << 31;

/// A policy's encrypted inputs, by catalogue attribute id.
#[derive(Default)]
pub struct EncryptedInputs {
    pub(crate) values: BTreeMap<String, FheUint16>,
}

impl EncryptedInputs {
    /// No inputs yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// The ciphertext of `attribute`, if present.
    pub fn get(&self, attribute: &str) -> Option<&FheUint16> {
        self.values.get(attribute)
    }
    /// Sets the ciphertext of `attribute`.
    pub fn insert(&mut self, attribute: &str, value: FheUint16) {
        self.values.insert(attribute.to_string(), value);
    }
    /// Encrypts plaintext inputs (tests and holders' tooling). Attributes the policy reads but
    /// `values` lacks are left out: they take their public default at evaluation.
    pub fn encrypt(policy: &Policy, values: &crate::eval::Inputs, key: &ClientKey) -> Self {
        let mut out = Self::new();
        for (id, ..) in &policy.reads {
            if let Some(v) = values.get(id.as_str()) {
                let v = u16::try_from(v).expect("catalogue values fit in 16 bits");
                out.insert(id.as_str(), FheUint16::encrypt(v, key));
            }
        }
        out
    }
}

/// The encrypted result of a policy.
pub enum FheOutcome {
    /// Eligible or not.
    Eligible(FheBool),
    /// The grade index (0 = the first band).
    Grade(FheUint8),
}

impl FheOutcome {
    /// Decrypts (for tests and for the key authority, which decrypts only logged outputs).
    pub fn decrypt(&self, key: &ClientKey) -> credence_protocols::log::entry::Outcome {
        use credence_protocols::log::entry::Outcome;
        match self {
            FheOutcome::Eligible(b) => Outcome::Eligible(b.decrypt(key)),
            FheOutcome::Grade(g) => Outcome::Grade(g.decrypt(key)),
        }
    }
}

/// A policy cannot be lowered to FHE (a sum too wide for the 32-bit naive representation).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("policy `{policy}` cannot be evaluated under FHE: {reason}")]
pub struct FheLoweringError {
    /// The policy.
    pub policy: String,
    /// Why.
    pub reason: String,
}

struct Naive<'a> {
    policy: &'a Policy,
    inputs: &'a EncryptedInputs,
    day: u32,
}

impl Naive<'_> {
    fn input(&self, id: &str) -> FheUint16 {
        match self.inputs.values.get(id) {
            Some(c) => c.clone(),
            None => {
                let default = self
                    .policy
                    .reads
                    .iter()
                    .find(|r| r.0.as_str() == id)
                    .map(|r| r.3)
                    .expect("policies read only declared attributes");
                FheUint16::encrypt_trivial(default as u16)
            }
        }
    }

    /// `(Σ w·a + c + offset)`, with the offset that keeps it non-negative, in 16 bits where
    /// the sum's span allows (as the naive baseline does: FheUint16 everywhere) and 32 bits
    /// otherwise.
    fn sum(&self, s: &Sum) -> Result<(Wide, i128), FheLoweringError> {
        let lf = self.policy.linear_form(s);
        let (mut lo, mut hi) = (i128::from(lf.constant), i128::from(lf.constant));
        for (a, w) in &lf.terms {
            let max = self
                .policy
                .reads
                .iter()
                .find(|r| &r.0 == a)
                .expect("read")
                .2;
            let e = i128::from(*w) * i128::from(max);
            if e > 0 {
                hi += e
            } else {
                lo += e
            }
        }
        if hi - lo >= MAX_SPAN || lf.terms.iter().any(|(_, w)| w.unsigned_abs() >= 1 << 31) {
            return Err(FheLoweringError {
                policy: self.policy.name.clone(),
                reason: "a weighted sum spans more than 2^31".into(),
            });
        }
        let offset = -lo.min(0);
        let start = i128::from(lf.constant) + offset;
        macro_rules! accumulate {
            ($ty:ty, $clear:ty, $variant:ident, $widen:expr) => {{
                let mut acc = <$ty>::encrypt_trivial(start as $clear);
                for (a, w) in &lf.terms {
                    let x: $ty = $widen(self.input(a.as_str()));
                    let term = &x * (w.unsigned_abs() as $clear);
                    if *w > 0 {
                        acc += &term;
                    } else {
                        acc -= &term;
                    }
                }
                Wide::$variant(acc)
            }};
        }
        let fits16 = hi + offset <= i128::from(u16::MAX)
            && lf
                .terms
                .iter()
                .all(|(_, w)| w.unsigned_abs() <= u64::from(u16::MAX));
        let acc = if fits16 {
            accumulate!(FheUint16, u16, U16, |x: FheUint16| x)
        } else {
            accumulate!(FheUint32, u32, U32, FheUint32::cast_from)
        };
        Ok((acc, offset))
    }

    fn boolean(&self, e: &BoolExpr) -> Result<FheBool, FheLoweringError> {
        let d = u16::try_from(self.day).unwrap_or(u16::MAX);
        Ok(match e {
            BoolExpr::All(v) => {
                let mut acc = self.boolean(&v[0])?;
                for x in &v[1..] {
                    acc &= &self.boolean(x)?;
                }
                acc
            }
            BoolExpr::Any(v) => {
                let mut acc = self.boolean(&v[0])?;
                for x in &v[1..] {
                    acc |= &self.boolean(x)?;
                }
                acc
            }
            BoolExpr::Not(x) => !self.boolean(x)?,
            // Past day 65535 no 16-bit `until` is in force.
            BoolExpr::Listed(_) if self.day > u32::from(u16::MAX) => {
                FheBool::encrypt_trivial(false)
            }
            BoolExpr::NotListed(_) if self.day > u32::from(u16::MAX) => {
                FheBool::encrypt_trivial(true)
            }
            BoolExpr::Listed(a) => self.input(a.as_str()).gt(d),
            BoolExpr::NotListed(a) => self.input(a.as_str()).le(d),
            BoolExpr::Flag(a) => self.input(a.as_str()).eq(1u16),
            BoolExpr::Compare(s, op, t) => {
                let (acc, offset) = self.sum(s)?;
                compare(&acc, *op, i128::from(*t) + offset)
            }
            BoolExpr::Rule(r) => self.boolean(self.policy.rule(r).expect("checked"))?,
        })
    }
}

/// A sum held in 16 or 32 bits.
enum Wide {
    U16(FheUint16),
    U32(FheUint32),
}

/// `acc <op> rhs` for a non-negative `acc` and any `rhs`.
fn compare(acc: &Wide, op: Cmp, rhs: i128) -> FheBool {
    let top = match acc {
        Wide::U16(_) => i128::from(u16::MAX),
        Wide::U32(_) => i128::from(u32::MAX),
    };
    if rhs < 0 || rhs > top {
        // acc is in [0, top]: the answer does not depend on it.
        let acc_greater = rhs < 0;
        let v = match op {
            Cmp::Ge | Cmp::Gt | Cmp::Ne => acc_greater,
            Cmp::Le | Cmp::Lt => !acc_greater,
            Cmp::Eq => false,
        };
        return FheBool::encrypt_trivial(v);
    }
    macro_rules! cmp {
        ($acc:expr, $r:expr) => {
            match op {
                Cmp::Ge => $acc.ge($r),
                Cmp::Le => $acc.le($r),
                Cmp::Gt => $acc.gt($r),
                Cmp::Lt => $acc.lt($r),
                Cmp::Eq => $acc.eq($r),
                Cmp::Ne => $acc.ne($r),
            }
        };
    }
    match acc {
        Wide::U16(a) => cmp!(a, rhs as u16),
        Wide::U32(a) => cmp!(a, rhs as u32),
    }
}

/// The naive lowering: evaluates `policy` on `inputs` for day `day`, straight on the
/// high-level API.
pub fn evaluate_naive(
    policy: &Policy,
    inputs: &EncryptedInputs,
    day: u32,
) -> Result<FheOutcome, FheLoweringError> {
    let n = Naive {
        policy,
        inputs,
        day,
    };
    Ok(match &policy.output {
        Output::Eligible(_)
            if !policy.requirements_met(&inputs.values.keys().collect::<Vec<_>>()) =>
        {
            // A required record is missing: "not eligible", whatever the rest says.
            FheOutcome::Eligible(FheBool::encrypt_trivial(false))
        }
        Output::Eligible(e) => FheOutcome::Eligible(n.boolean(e)?),
        Output::Grade { score, bands, .. } => {
            // Thresholds decrease, so the grade index is the number of bands not reached.
            let (acc, offset) = n.sum(score)?;
            let mut grade = FheUint8::encrypt_trivial(0u8);
            for (_, t) in bands {
                let missed = compare(&acc, Cmp::Lt, i128::from(*t) + offset);
                grade += FheUint8::cast_from(missed);
            }
            FheOutcome::Grade(grade)
        }
    })
}
