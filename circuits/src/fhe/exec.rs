//! Running a [`Plan`] on ciphertexts: linear combinations of blocks (no bootstrap) and one
//! shortint lookup per plan node — nodes that share a bootstrap ([`super::plan::Node::shares`])
//! in one many-lookup bootstrap — level by level, the lookups of a level in parallel on the
//! caller's rayon pool.

use super::plan::{Lin, OutputKind, Plan, Source};
use super::EncryptedInputs;
use credence_protocols::log::entry::Outcome;
use rayon::prelude::*;
use std::sync::Arc;
use tfhe::integer::ciphertext::IntegerCiphertext;
use tfhe::prelude::*;
use tfhe::shortint::Ciphertext;
use tfhe::{ClientKey, FheUint8, ServerKey};

/// The shortint-level view of a server key, with the parameters checked against the plan
/// model (2-bit message, 2-bit carry, noise budget ≥ [`super::plan::NOISE_BUDGET`]).
#[derive(Clone)]
pub struct LookupKey {
    key: Arc<tfhe::shortint::ServerKey>,
}

/// The server key's parameters do not match the plan model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("server key parameters unsupported by the optimised lowering: {0}")]
pub struct UnsupportedKey(pub String);

impl LookupKey {
    /// Extracts the shortint key (one copy; keep the result for the engine's lifetime).
    pub fn new(server_key: &ServerKey) -> Result<Self, UnsupportedKey> {
        let (integer, ..) = server_key.clone().into_raw_parts();
        let key = integer.into_raw_parts();
        if key.message_modulus.0 != 4 || key.carry_modulus.0 != 4 {
            return Err(UnsupportedKey(format!(
                "message modulus {}, carry modulus {} (need 4 and 4)",
                key.message_modulus.0, key.carry_modulus.0
            )));
        }
        if key.max_noise_level.get() < super::plan::NOISE_BUDGET {
            return Err(UnsupportedKey(format!(
                "max noise level {} (need {})",
                key.max_noise_level.get(),
                super::plan::NOISE_BUDGET
            )));
        }
        Ok(LookupKey { key: Arc::new(key) })
    }
}

/// The encrypted output of a plan: the output blocks as an 8-bit integer.
pub struct PlanOutput {
    /// The value: 0/1 for eligibility, the grade index for grades.
    pub value: FheUint8,
    /// What it means.
    pub kind: OutputKind,
}

impl PlanOutput {
    /// Decrypts and checks the value is a valid outcome of its kind.
    pub fn decrypt(&self, key: &ClientKey) -> Option<Outcome> {
        let v: u8 = self.value.decrypt(key);
        match self.kind {
            OutputKind::Eligible if v <= 1 => Some(Outcome::Eligible(v == 1)),
            OutputKind::Eligible => None,
            OutputKind::Grade => Some(Outcome::Grade(v)),
        }
    }
}

/// A plan input the encrypted inputs lack, or one with too few blocks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("plan input `{0}` is missing or malformed")]
pub struct MissingInput(pub String);

fn linear(
    key: &tfhe::shortint::ServerKey,
    lin: &Lin,
    get: &dyn Fn(Source) -> Ciphertext,
) -> Ciphertext {
    let mut constant = lin.constant;
    let mut acc: Option<Ciphertext> = None;
    for (s, c) in &lin.terms {
        let ct = get(*s);
        let term = if *c > 0 {
            key.unchecked_scalar_mul(&ct, *c as u8)
        } else {
            // −c·v = c·(z − v) − c·z
            let (mut n, z) = key.unchecked_neg_with_correcting_term(&ct);
            key.unchecked_scalar_mul_assign(&mut n, (-c) as u8);
            constant -= (-c) * z as i64;
            n
        };
        acc = Some(match acc {
            None => term,
            Some(mut a) => {
                key.unchecked_add_assign(&mut a, &term);
                a
            }
        });
    }
    let mut acc = acc.unwrap_or_else(|| key.create_trivial(0));
    // Plaintexts live modulo 2·message·carry (padding bit included).
    let modulus = 2 * (key.message_modulus.0 * key.carry_modulus.0) as i64;
    key.unchecked_scalar_add_assign(&mut acc, constant.rem_euclid(modulus) as u8);
    acc
}

/// Evaluates `plan` on `inputs` (which must hold every plan input) with `key`.
pub fn evaluate_plan(
    plan: &Plan,
    inputs: &EncryptedInputs,
    key: &LookupKey,
) -> Result<PlanOutput, MissingInput> {
    let mut blocks: Vec<Vec<Option<Ciphertext>>> = Vec::with_capacity(plan.inputs.len());
    for i in &plan.inputs {
        let ct = inputs
            .values
            .get(i.attribute.as_str())
            .ok_or_else(|| MissingInput(i.attribute.as_str().to_string()))?;
        let (radix, ..) = ct.clone().into_raw_parts();
        let radix = radix.blocks().to_vec();
        if radix.len() < usize::from(i.digits) {
            return Err(MissingInput(i.attribute.as_str().to_string()));
        }
        blocks.push(radix.into_iter().map(Some).collect());
    }
    evaluate_plan_on_blocks(plan, &blocks, key)
}

/// The input blocks a plan reads: `(input, digit)` pairs, sorted. Only these need to be
/// decompressed or fetched.
pub fn blocks_read(plan: &Plan) -> Vec<(u16, u8)> {
    let mut out = std::collections::BTreeSet::new();
    for lin in plan.nodes.iter().map(|n| &n.input).chain(&plan.outputs) {
        for (s, _) in &lin.terms {
            if let Source::Digit { input, digit } = s {
                out.insert((*input, *digit));
            }
        }
    }
    out.into_iter().collect()
}

/// Evaluates `plan` on input blocks: `blocks[input][digit]`, which must be present for every
/// pair in [`blocks_read`].
pub fn evaluate_plan_on_blocks(
    plan: &Plan,
    blocks: &[Vec<Option<Ciphertext>>],
    key: &LookupKey,
) -> Result<PlanOutput, MissingInput> {
    let sk = &*key.key;
    for (input, digit) in blocks_read(plan) {
        let present = blocks
            .get(usize::from(input))
            .and_then(|b| b.get(usize::from(digit)))
            .is_some_and(Option::is_some);
        if !present {
            return Err(MissingInput(
                plan.inputs[usize::from(input)]
                    .attribute
                    .as_str()
                    .to_string(),
            ));
        }
    }
    let block = |input: u16, digit: u8| -> Ciphertext {
        blocks[usize::from(input)][usize::from(digit)]
            .clone()
            .expect("checked above")
    };
    let mut outs: Vec<Option<Ciphertext>> = vec![None; plan.nodes.len()];
    for level in plan.levels() {
        let computed: Vec<(usize, Ciphertext)> = level
            .par_iter()
            .filter(|&&n| plan.nodes[n].shares.is_none())
            .flat_map_iter(|&n| {
                let node = &plan.nodes[n];
                let get = |s: Source| match s {
                    Source::Digit { input, digit } => block(input, digit),
                    Source::Node(m) => outs[m as usize].clone().expect("earlier level"),
                };
                let x = linear(sk, &node.input, &get);
                let table = &node.table;
                if node.signed {
                    // The input's padding bit is its sign: a constant table v gives v from
                    // zero up and −v below (the negacyclic half); adding c gives c ± v.
                    let (below, from_zero) = (u64::from(table[0]), u64::from(table[1]));
                    let v = (from_zero - below) / 2;
                    let lut = sk.generate_lookup_table(|_| v);
                    let mut out = sk.apply_lookup_table(&x, &lut);
                    sk.unchecked_scalar_add_assign(&mut out, (below + v) as u8);
                    return vec![(n, out)];
                }
                let sharing: Vec<usize> = (n + 1..plan.nodes.len())
                    .filter(|m| plan.nodes[*m].shares == Some(n as u32))
                    .collect();
                if sharing.is_empty() {
                    let lut = sk.generate_lookup_table(|v| {
                        u64::from(table.get(v as usize).copied().unwrap_or(0))
                    });
                    return vec![(n, sk.apply_lookup_table(&x, &lut))];
                }
                // One bootstrap, several tables (the plan checked each is short enough).
                let members: Vec<usize> = std::iter::once(n).chain(sharing).collect();
                let functions: Vec<Box<dyn Fn(u64) -> u64 + '_>> = members
                    .iter()
                    .map(|m| {
                        let t = &plan.nodes[*m].table;
                        Box::new(move |v: u64| u64::from(t.get(v as usize).copied().unwrap_or(0)))
                            as Box<dyn Fn(u64) -> u64>
                    })
                    .collect();
                let refs: Vec<&dyn Fn(u64) -> u64> = functions.iter().map(|f| &**f).collect();
                let lut = sk.generate_many_lookup_table(&refs);
                members
                    .into_iter()
                    .zip(sk.apply_many_lookup_table(&x, &lut))
                    .collect()
            })
            .collect();
        for (n, ct) in computed {
            outs[n] = Some(ct);
        }
    }
    let get = |s: Source| match s {
        Source::Digit { input, digit } => block(input, digit),
        Source::Node(m) => outs[m as usize].clone().expect("evaluated"),
    };
    let mut result: Vec<Ciphertext> = plan
        .outputs
        .iter()
        .map(|o| match o.terms[..] {
            [] => sk.create_trivial(o.constant as u64),
            [(s, 1)] if o.constant == 0 => get(s),
            _ => linear(sk, o, &get),
        })
        .collect();
    while result.len() < 4 {
        result.push(sk.create_trivial(0));
    }
    result.truncate(4);
    // Give every output block the metadata of a clean block (degree 3, nominal noise), so the
    // output passes tfhe's conformance check as an ordinary `FheUint8`. Lookup outputs are
    // clean; trivial blocks hold public constants.
    for b in &mut result {
        b.degree = tfhe::shortint::ciphertext::Degree::new(sk.message_modulus.0 - 1);
        b.set_noise_level_to_nominal();
    }
    let radix = tfhe::integer::RadixCiphertext::from(result);
    Ok(PlanOutput {
        value: FheUint8::from_raw_parts(
            radix,
            tfhe::FheUint8Id,
            tfhe::Tag::default(),
            tfhe::ReRandomizationMetadata::default(),
        ),
        kind: plan.kind,
    })
}
