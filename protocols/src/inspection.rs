//! The "double random" inspection draw (双随机、一公开) for graded supervision: which subjects of
//! each grade are inspected, drawn with grade-specific ratios from a seed that is a **logged
//! checkpoint** — so anyone holding the checkpoint and the graded population recomputes the same
//! draw, and nobody can steer it without rewriting a signed, witnessed log.
//!
//! Each subject of grade `g` gets the score
//! `SHA3-256("credence/v1/inspection-draw\0" ‖ origin ‖ u64(size) ‖ root ‖ u8(g) ‖ pseudonym)`;
//! per grade, the `⌈n · ratio‰ / 1000⌉` lowest scores are drawn. The population order does not
//! matter. Which checkpoint seeds a draw must be fixed before it exists (for example "the first
//! checkpoint at or after size N", announced in advance), or the service could pick among
//! checkpoints.

use crate::commitment::subject_bytes;
use crate::encoding::Writer;
use crate::log::checkpoint::Checkpoint;
use crate::pseudonym::Pseudonym;
use sha3::{Digest, Sha3_256};
use std::collections::BTreeMap;

/// Domain separator of draw scores.
pub const INSPECTION_DOMAIN: &[u8] = b"credence/v1/inspection-draw\0";

/// The score of `subject` (of `grade`) in the draw seeded by `seed`.
pub fn score(seed: &Checkpoint, grade: u8, subject: &Pseudonym) -> [u8; 32] {
    let mut w = Writer::new();
    w.fixed(INSPECTION_DOMAIN)
        .str(&seed.origin)
        .u64(seed.size)
        .fixed(&seed.root)
        .u8(grade)
        .fixed(&subject_bytes(subject));
    Sha3_256::digest(w.as_slice()).into()
}

/// Draws, per grade, `⌈n · ratio / 1000⌉` of the `n` subjects of that grade (`ratios`: grade →
/// per-mille, at most 1000; grades without a ratio are not drawn). Returns the drawn subjects
/// by grade, each list in score order.
pub fn draw(
    seed: &Checkpoint,
    population: &[(Pseudonym, u8)],
    ratios: &BTreeMap<u8, u32>,
) -> BTreeMap<u8, Vec<Pseudonym>> {
    let mut by_grade: BTreeMap<u8, Vec<([u8; 32], Pseudonym)>> = BTreeMap::new();
    for (p, g) in population {
        if ratios.contains_key(g) {
            by_grade
                .entry(*g)
                .or_default()
                .push((score(seed, *g, p), *p));
        }
    }
    by_grade
        .into_iter()
        .map(|(g, mut v)| {
            v.sort();
            v.dedup();
            let ratio = u64::from(ratios[&g].min(1000));
            let take = (v.len() as u64 * ratio).div_ceil(1000) as usize;
            (g, v.into_iter().take(take).map(|(_, p)| p).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifiers::SubjectKind;

    fn pop(n: usize) -> Vec<(Pseudonym, u8)> {
        (0..n)
            .map(|i| {
                let mut b = [0u8; 32];
                b[..8].copy_from_slice(&(i as u64).to_be_bytes());
                (
                    Pseudonym {
                        kind: SubjectKind::Enterprise,
                        bytes: b,
                    },
                    (i % 4) as u8,
                )
            })
            .collect()
    }

    #[test]
    fn draws_are_recomputable_proportional_and_seeded() {
        let cp = Checkpoint::new("credence.example/beijing", 1000, [7; 32]).unwrap();
        let population = pop(4000);
        // A: 1%, B: 3%, C: 10%, D: 100% (grades 0..3).
        let ratios = BTreeMap::from([(0, 10), (1, 30), (2, 100), (3, 1000)]);
        let d = draw(&cp, &population, &ratios);
        assert_eq!(d[&0].len(), 10);
        assert_eq!(d[&1].len(), 30);
        assert_eq!(d[&2].len(), 100);
        assert_eq!(d[&3].len(), 1000);
        // Anyone recomputes it, whatever order the population comes in.
        let mut shuffled = population.clone();
        shuffled.reverse();
        assert_eq!(draw(&cp, &shuffled, &ratios), d);
        // Another checkpoint gives another draw.
        let other = Checkpoint::new("credence.example/beijing", 1001, [8; 32]).unwrap();
        assert_ne!(draw(&other, &population, &ratios)[&0], d[&0]);
        // Drawn subjects have the grade they were drawn for; no ratio, no draw; rounding up.
        assert!(d[&0].iter().all(|p| population.contains(&(*p, 0))));
        assert!(!draw(&cp, &population, &BTreeMap::from([(0, 10)])).contains_key(&1));
        assert_eq!(draw(&cp, &pop(3), &BTreeMap::from([(0, 1)]))[&0].len(), 1);
    }
}
