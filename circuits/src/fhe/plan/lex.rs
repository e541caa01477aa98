//! One encrypted input against a public threshold, `a ≥ T`, decided lexicographically — the
//! shape of every listing (`until > D`).
//!
//! The final lookup is a sign lookup over a sum in which each part of `a`, from the top,
//! dominates everything below it: `a ≥ T` exactly when the sum is ≥ 0. The sum collects, from
//! the lowest digit that matters (T's trailing zero digits never do) upwards:
//!
//! - a digit read *raw*, `c·(d − t)`: free, but only where what is below cannot outweigh it
//!   (below `t = 3` the lower part must be ≤ 0 when it holds, above `t = 0` ≥ −c when it
//!   fails);
//! - a *class* lookup on one digit, a packed pair `4·d′ + d`, or a run of digits that are all
//!   3 (or all 0) in T summed: below / equal / above T's digits there, as a block whose values
//!   are chosen to outweigh the lower part (`−(G + 1)`, `0`, `B` where the lower part spans
//!   `−B..=G`);
//! - a *compression* of the sum so far into a fresh block when it has used up the noise
//!   budget: a table lookup (−1 / 0) where it spans at most a block, or a sign lookup (−2 / 0)
//!   where it spans up to twice that.
//!
//! A small search over these choices (the state is the position, the lower part's span and
//! the noise used) finds the fewest lookups (cached per threshold: a plan's listings share
//! one); the builder then keeps this or the column path, whichever needs fewer. That choice is
//! made one comparison at a time, so a policy comparing one input twice is also compiled
//! without it and the cheaper plan kept ([`super::Plan::compile`]). On about one day in ten
//! this saves a lookup per listing where the column path chains carries digit by digit.

use super::{Builder, Lin, PlanError, Source, Val, BLOCK_SPACE, NOISE_BUDGET};
use std::collections::HashMap;

/// One choice, in order from the lowest digit that matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The next digit, read with this coefficient.
    Raw(i64),
    /// A class lookup on the next `len` digits.
    Class(usize),
    /// The sum so far, compressed by a table lookup into −1 / 0.
    Compress,
    /// The sum so far, compressed by a sign lookup into −2 / 0.
    CompressSign,
    /// The deciding lookup.
    Final,
}

/// The lower part: the sum so far spans `−b..=g`, is ≥ 0 exactly when the digits below
/// are ≥ T's, and has used `noise` units. `g < 0`: nothing below yet.
#[derive(Clone, Copy, Hash, PartialEq, Eq)]
struct State {
    k: usize,
    g: i64,
    b: i64,
    noise: u64,
}

const MAX_G: i64 = BLOCK_SPACE - 1;
const MAX_B: i64 = BLOCK_SPACE;

/// The digits a class lookup may take at `k`: one, a pair, or a run of 3s (or 0s) in T
/// that a lookup can sum.
fn segments(t: &[i64], k: usize) -> Vec<usize> {
    let mut out = vec![1];
    if k + 2 <= t.len() {
        out.push(2);
    }
    for len in 3..=NOISE_BUDGET as usize {
        let run = t.get(k..k + len);
        if run.is_some_and(|r| r.iter().all(|d| *d == 3) || r.iter().all(|d| *d == 0)) {
            out.push(len);
        }
    }
    out
}

/// The lower part after a raw digit `d` (T's digit `t`) read with coefficient `c` above
/// `(g, b)`, if what is below cannot outweigh it.
fn raw(g: i64, b: i64, t: i64, c: i64) -> Option<(i64, i64)> {
    if g < 0 {
        return Some((c * (3 - t), c * t));
    }
    let ok = match t {
        3 => g < c,
        0 => b <= c,
        _ => g < c && b <= c,
    };
    ok.then_some((c * (3 - t) + g, c * t + b))
}

/// A class lookup on a segment of T's digits `seg` above `(g, b)`: its value for below,
/// equal and above, and the new lower part.
fn class(g: i64, b: i64, seg: &[i64]) -> ([i64; 3], i64, i64) {
    let can_above = seg.iter().any(|d| *d < 3);
    let can_below = seg.iter().any(|d| *d > 0);
    if g < 0 {
        return ([-1, 0, 0], 0, i64::from(can_below));
    }
    let values = [-(g + 1), 0, b];
    let ng = g + if can_above { b } else { 0 };
    let nb = if can_below { b + g + 1 } else { b };
    (values, ng, nb)
}

struct Search<'t> {
    t: &'t [i64],
    memo: HashMap<State, Option<(usize, Step)>>,
}

/// The state after `step` from `s`, if the step is allowed there (the final lookup has none).
fn after(t: &[i64], s: State, step: Step) -> Option<State> {
    let next = match step {
        Step::Final => return None,
        Step::Raw(c) => {
            let (g, b) = raw(s.g, s.b, *t.get(s.k)?, c)?;
            State {
                k: s.k + 1,
                g,
                b,
                noise: s.noise + c as u64,
            }
        }
        Step::Class(len) => {
            let (values, g, b) = class(s.g, s.b, t.get(s.k..s.k + len)?);
            let spread = values.iter().max().unwrap_or(&0) - values.iter().min().unwrap_or(&0);
            if spread >= BLOCK_SPACE {
                return None;
            }
            State {
                k: s.k + len,
                g,
                b,
                noise: s.noise + 1,
            }
        }
        Step::Compress if s.g < 0 || s.noise <= 1 || s.g + s.b >= BLOCK_SPACE => return None,
        Step::CompressSign if s.g < 0 || s.noise <= 1 => return None,
        Step::Compress => State {
            g: 0,
            b: 1,
            noise: 1,
            ..s
        },
        Step::CompressSign => State {
            g: 0,
            b: 2,
            noise: 1,
            ..s
        },
    };
    (next.g <= MAX_G && next.b <= MAX_B && next.noise <= NOISE_BUDGET).then_some(next)
}

impl Search<'_> {
    /// Fewest lookups from `s` to the decision, and the first step.
    fn go(&mut self, s: State) -> Option<(usize, Step)> {
        if let Some(r) = self.memo.get(&s) {
            return *r;
        }
        let t = self.t;
        let mut choices = Vec::new();
        if s.k == t.len() {
            if s.g >= 0 {
                choices.push(Step::Final);
            }
        } else {
            choices.extend((1..=(NOISE_BUDGET - s.noise) as i64).map(Step::Raw));
            choices.extend(segments(t, s.k).into_iter().map(Step::Class));
        }
        choices.extend([Step::Compress, Step::CompressSign]);
        let mut best: Option<(usize, Step)> = None;
        for step in choices {
            let cost = match (step, after(t, s, step)) {
                (Step::Final, _) => Some(1),
                (_, None) => None,
                (Step::Raw(_), Some(n)) => self.go(n).map(|(c, _)| c),
                (_, Some(n)) => self.go(n).map(|(c, _)| c + 1),
            };
            if let Some(c) = cost {
                if best.is_none_or(|(b, _)| c < b) {
                    best = Some((c, step));
                }
            }
        }
        self.memo.insert(s, best);
        best
    }
}

/// The steps deciding `a ≥ T` for T's base-4 digits `t` (least significant first, `t` not
/// all zero), fewest lookups first.
fn steps(t: &[i64]) -> Option<Vec<Step>> {
    let z = t.iter().position(|d| *d != 0)?;
    let mut search = Search {
        t,
        memo: HashMap::new(),
    };
    let mut s = State {
        k: z,
        g: -1,
        b: 0,
        noise: 0,
    };
    let mut out = Vec::new();
    loop {
        let (_, step) = search.go(s)?;
        out.push(step);
        match after(t, s, step) {
            Some(next) => s = next,
            None => return Some(out),
        }
    }
}

impl Builder<'_> {
    /// `[input ≥ theta]` for one encrypted input, decided lexicographically (see the module
    /// comment) as a lazy 0/1 value. `None` when `theta` is outside the input's digits.
    pub(super) fn lexicographic(
        &mut self,
        input: u16,
        theta: i128,
    ) -> Result<Option<Val>, PlanError> {
        let n = usize::from(self.inputs[usize::from(input)].digits);
        if theta <= 0 || theta >= 1i128 << (2 * n) {
            return Ok(None);
        }
        let t: Vec<i64> = (0..n).map(|k| ((theta >> (2 * k)) & 3) as i64).collect();
        // The search depends on T's digits only: a plan's listings (and its four variants)
        // share one.
        thread_local! {
            static FOUND: std::cell::RefCell<HashMap<Vec<i64>, Option<Vec<Step>>>> =
                std::cell::RefCell::new(HashMap::new());
        }
        let found = FOUND.with(|f| {
            let mut f = f.borrow_mut();
            if f.len() > 256 {
                f.clear();
            }
            f.entry(t.clone()).or_insert_with(|| steps(&t)).clone()
        });
        let Some(steps) = found else {
            return Ok(None);
        };
        let digit = |k: usize, c: i64| Lin {
            terms: vec![(
                Source::Digit {
                    input,
                    digit: k as u8,
                },
                c,
            )],
            constant: 0,
        };
        let mut k = t.iter().position(|d| *d != 0).expect("theta > 0");
        let (mut g, mut b) = (-1i64, 0i64);
        let mut sum = Lin::default();
        for step in steps {
            match step {
                Step::Raw(c) => {
                    sum = sum.add(&digit(k, c));
                    sum.constant -= c * t[k];
                    (g, b) = raw(g, b, t[k], c).expect("searched");
                    k += 1;
                }
                Step::Class(len) => {
                    let seg = &t[k..k + len];
                    let (values, ng, nb) = class(g, b, seg);
                    // One digit or a packed pair: its value; a run of 3s or 0s: its sum.
                    let (lin, target) = if len <= 2 {
                        (0..len).fold((Lin::default(), 0), |(l, v), i| {
                            (l.add(&digit(k + i, 1 << (2 * i))), v + (seg[i] << (2 * i)))
                        })
                    } else {
                        (0..len).fold((Lin::default(), 0), |(l, v), i| {
                            (l.add(&digit(k + i, 1)), v + seg[i])
                        })
                    };
                    let off = -values.iter().min().copied().unwrap_or(0);
                    let v = self.val(lin, |x| {
                        off + values[match x.cmp(&target) {
                            std::cmp::Ordering::Less => 0,
                            std::cmp::Ordering::Equal => 1,
                            std::cmp::Ordering::Greater => 2,
                        }]
                    });
                    sum = match v.constant() {
                        Some(c) => sum.add(&Lin::constant(c - off)),
                        None => {
                            let s = self.node(&v)?;
                            sum.add(&Lin {
                                terms: vec![(s, 1)],
                                constant: -off,
                            })
                        }
                    };
                    (g, b) = (ng, nb);
                    k += len;
                }
                Step::Compress => {
                    let v = self.val(sum.clone(), |x| i64::from(x >= 0));
                    sum = match v.constant() {
                        Some(c) => Lin::constant(c - 1),
                        None => Lin {
                            terms: vec![(self.node(&v)?, 1)],
                            constant: -1,
                        },
                    };
                    (g, b) = (0, 1);
                }
                Step::CompressSign => {
                    sum = Lin {
                        terms: vec![(self.sign_node(sum)?, 1)],
                        constant: -2,
                    };
                    (g, b) = (0, 2);
                }
                Step::Final => {
                    // A sum that fits a block stays lazy (it may fuse where it is used).
                    if self.fits(&sum) {
                        return Ok(Some(self.val(sum, |x| i64::from(x >= 0))));
                    }
                    let s = self.sign_node(sum)?;
                    return Ok(Some(self.val(Lin::source(s), |x| i64::from(x > 0))));
                }
            }
        }
        Err(self.error("internal: a lexicographic plan without its deciding lookup"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Plan;
    use super::*;

    fn digits(theta: u32) -> Vec<i64> {
        (0..8).map(|k| i64::from((theta >> (2 * k)) & 3)).collect()
    }

    fn lookups(theta: u32) -> usize {
        steps(&digits(theta))
            .unwrap()
            .iter()
            .filter(|s| !matches!(s, Step::Raw(_)))
            .count()
    }

    #[test]
    fn the_search_finds_the_known_plans() {
        // Day + 1 = 20416 (digits 1 0 3 3 3 0 0 0): the top pair's class, then one sign
        // lookup over it and the run of 3s read raw.
        assert_eq!(lookups(20_416), 2);
        assert_eq!(
            steps(&digits(20_416)).unwrap(),
            [
                Step::Raw(1),
                Step::Raw(1),
                Step::Raw(1),
                Step::Class(2),
                Step::Final
            ]
        );
        // Over the thresholds of three years around today: never more than 5 lookups, and 5
        // on at most 126 of the 1100 (the column path alone needs 5 or more on 491).
        let counts: Vec<usize> = (20_001..21_101).map(lookups).collect();
        assert!(counts.iter().all(|c| *c <= 5), "{counts:?}");
        assert!(counts.iter().filter(|c| **c == 5).count() <= 126);
    }

    /// Every value of a 16-bit listing against thresholds where the lexicographic plan is
    /// the one compiled: the plan's simulation (every range and noise bound checked) agrees
    /// with `until ≥ day + 1`.
    #[test]
    fn listings_decide_every_value() {
        let catalog = crate::catalog::Catalog::builtin();
        let text = "policy t version 1\neligible = listed(court.dishonest_debtor)\n";
        let p = crate::policy::Policy::parse(text, &catalog).unwrap();
        let all: Vec<&str> = p.reads.iter().map(|r| r.0.as_str()).collect();
        let mut cheaper = 0;
        let mut days: Vec<u32> = (0u32..65_535).step_by(4_099).collect();
        for day in 20_000..21_100 {
            let plan = Plan::compile(&p, day, &all).unwrap();
            let columns = Plan::compile_by_columns(&p, day, &all).unwrap();
            assert!(
                plan.cost().bootstraps <= columns.cost().bootstraps,
                "day {day}"
            );
            if plan.cost().bootstraps < columns.cost().bootstraps {
                cheaper += 1;
                if cheaper % 5 == 1 {
                    days.push(day);
                }
            }
        }
        for day in days {
            let plan = Plan::compile(&p, day, &all).unwrap();
            for v in 0..=65_535u64 {
                assert_eq!(
                    plan.simulate(&[v]),
                    credence_protocols::log::entry::Outcome::Eligible(v > u64::from(day)),
                    "day {day} until {v}"
                );
            }
        }
        assert!(cheaper >= 10, "{cheaper}");
    }

    /// `[attribute ≥ theta]` compiled by the lexicographic path alone, whatever the column
    /// path would cost.
    pub(super) fn forced(p: &crate::policy::Policy, attribute: &str, theta: i128) -> Option<Plan> {
        let r = p.reads.iter().find(|r| r.0.as_str() == attribute).unwrap();
        let mut b = Builder {
            policy: p,
            day: 0,
            inputs: vec![super::super::PlanInput {
                attribute: r.0.clone(),
                max: r.2,
                digits: super::super::digits_of(r.2),
            }],
            nodes: Vec::new(),
            node_bounds: Vec::new(),
            node_values: Vec::new(),
            narrow: false,
            ripple: false,
            lexicographic: true,
            lex_seen: Vec::new(),
            lex_repeated: false,
        };
        let v = b.lexicographic(0, theta).unwrap()?;
        let out = match v.constant() {
            Some(c) => Lin::constant(c),
            None => Lin::source(b.materialise(&v).unwrap()),
        };
        Some(Plan {
            policy: p.name.clone(),
            policy_hash: p.hash(),
            day: 0,
            inputs: b.inputs,
            nodes: b.nodes.into_iter().map(|n| (*n).clone()).collect(),
            outputs: vec![out],
            kind: super::super::OutputKind::Eligible,
        })
    }

    /// The lexicographic path alone, on every threshold of a score (top digit bounded: at
    /// most 100) and on a spread of listing thresholds, against every value.
    #[test]
    fn the_lexicographic_path_alone_decides_every_value() {
        let catalog = crate::catalog::Catalog::builtin();
        for (attribute, thresholds) in [
            ("tax.credit_score", (1..=100).collect::<Vec<i128>>()),
            (
                "court.dishonest_debtor",
                (1..65_536)
                    .step_by(997)
                    .chain([20_416, 20_795, 4_096, 65_535])
                    .collect(),
            ),
        ] {
            let atom = if attribute.starts_with("court.") {
                format!("listed({attribute})")
            } else {
                format!("{attribute} >= 1")
            };
            let text = format!("policy t version 1\neligible = {atom}\n");
            let p = crate::policy::Policy::parse(&text, &catalog).unwrap();
            let max = catalog.get(attribute).unwrap().max;
            for theta in thresholds {
                let plan = forced(&p, attribute, theta).expect("within the input's digits");
                let lookups = steps(
                    &(0..plan.inputs[0].digits)
                        .map(|k| ((theta >> (2 * k)) & 3) as i64)
                        .collect::<Vec<_>>(),
                )
                .unwrap()
                .iter()
                .filter(|s| !matches!(s, Step::Raw(_)))
                .count();
                // Plus one where a sign lookup's 0 / 2 becomes the output's 0 / 1.
                assert!(
                    plan.cost().bootstraps <= lookups + 1,
                    "{attribute} ≥ {theta}"
                );
                for v in (0..=max).step_by(if max > 1000 { 7 } else { 1 }) {
                    assert_eq!(
                        plan.simulate(&[v]),
                        credence_protocols::log::entry::Outcome::Eligible(i128::from(v) >= theta),
                        "{attribute} ≥ {theta} at {v}"
                    );
                }
            }
        }
    }

    /// Inputs whose top digit is bounded (a score of at most 100: digits 1 2 1 0): every
    /// threshold and every value, for each comparison that reads one input at weight 1.
    #[test]
    fn bounded_inputs_decide_every_value() {
        let catalog = crate::catalog::Catalog::builtin();
        for attribute in [
            "tax.credit_score",
            "commit.breaches",
            "social.arrears_months",
        ] {
            let max = catalog.get(attribute).unwrap().max;
            for t in 0..=max + 1 {
                for op in [">=", "<", ">"] {
                    let text = format!("policy t version 1\neligible = {attribute} {op} {t}\n");
                    let p = crate::policy::Policy::parse(&text, &catalog).unwrap();
                    let plan = Plan::compile(&p, 20_415, &[attribute]).unwrap();
                    for v in 0..=max {
                        let inputs = crate::eval::Inputs::new(&catalog, [(attribute, v)]).unwrap();
                        assert_eq!(
                            plan.simulate(&[v]),
                            crate::eval::evaluate(&p, &inputs, 20_415),
                            "{text} at {v}"
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod review;
