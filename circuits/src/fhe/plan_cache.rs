//! Compiled plans kept for reuse. [`Plan::compile`] builds a policy's plan twice (wide and
//! narrow column groups) and keeps the cheaper, and a sealed query needs its plan in the
//! service (to evaluate, or to name the blocks it reads) and again in the key authority: the
//! same `(policy, day, present attributes)` compiled several times per query and again for
//! every query that day. The compiler is deterministic, so a plan compiled once is the plan.
//!
//! The key is everything the compiler reads: the policy's hash (its canonical text), the
//! catalogue entries it reads (`max` and `default` come from the catalogue, not the text), the
//! day, and which of the policy's attributes are present. Failed compilations are not kept.

use super::plan::{Plan, PlanError};
use crate::policy::Policy;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Plans kept by [`compile_cached`] (a plan is a few kilobytes).
pub const PLAN_CACHE_ENTRIES: usize = 256;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    policy_hash: [u8; 32],
    reads: Vec<(String, u64, u64)>,
    day: u32,
    present: Vec<String>,
}

/// A bounded map from compilation inputs to plans; the oldest entry goes first when full.
pub struct PlanCache {
    capacity: usize,
    entries: Mutex<(HashMap<Key, Plan>, VecDeque<Key>)>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Lookups a [`PlanCache`] answered from memory and by compiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanCacheStats {
    /// Answered from memory.
    pub hits: u64,
    /// Compiled.
    pub misses: u64,
    /// Plans held.
    pub entries: usize,
}

impl PlanCache {
    /// An empty cache holding at most `capacity` plans (at least one).
    pub fn new(capacity: usize) -> Self {
        PlanCache {
            capacity: capacity.max(1),
            entries: Mutex::new((HashMap::new(), VecDeque::new())),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// [`Plan::compile`], or the plan it gave before for the same inputs.
    pub fn compile(&self, policy: &Policy, day: u32, present: &[&str]) -> Result<Plan, PlanError> {
        let mut present: Vec<String> = policy
            .reads
            .iter()
            .map(|r| r.0.as_str())
            .filter(|a| present.contains(a))
            .map(str::to_string)
            .collect();
        present.sort();
        let key = Key {
            policy_hash: policy.hash(),
            reads: policy
                .reads
                .iter()
                .map(|r| (r.0.as_str().to_string(), r.2, r.3))
                .collect(),
            day,
            present,
        };
        if let Some(plan) = self.lock().0.get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(plan.clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        // Compiled outside the lock: two threads may compile the same plan once each.
        let names: Vec<&str> = key.present.iter().map(String::as_str).collect();
        let plan = Plan::compile(policy, day, &names)?;
        let mut guard = self.lock();
        let (map, order) = &mut *guard;
        if !map.contains_key(&key) {
            while map.len() >= self.capacity {
                match order.pop_front() {
                    Some(old) => {
                        map.remove(&old);
                    }
                    None => break,
                }
            }
            order.push_back(key.clone());
            map.insert(key, plan.clone());
        }
        Ok(plan)
    }

    /// Hits, misses and size so far.
    pub fn stats(&self) -> PlanCacheStats {
        PlanCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.lock().0.len(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<Key, Plan>, VecDeque<Key>)> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The process's plan cache ([`PLAN_CACHE_ENTRIES`] plans).
pub fn shared() -> &'static PlanCache {
    static CACHE: OnceLock<PlanCache> = OnceLock::new();
    CACHE.get_or_init(|| PlanCache::new(PLAN_CACHE_ENTRIES))
}

/// [`Plan::compile`] through the process's cache ([`shared`]).
pub fn compile_cached(policy: &Policy, day: u32, present: &[&str]) -> Result<Plan, PlanError> {
    shared().compile(policy, day, present)
}

#[cfg(test)]
mod tests {
    use super::PlanCache;
    use crate::fhe::plan::Plan;

    fn same(a: &Plan, b: &Plan) -> bool {
        a.canonical_bytes() == b.canonical_bytes()
    }

    #[test]
    fn a_cached_plan_is_the_compiled_plan_for_exactly_its_inputs() {
        let cache = PlanCache::new(2);
        let x = crate::policy::builtin("xinyidai").unwrap();
        let all: Vec<&str> = x.reads.iter().map(|r| r.0.as_str()).collect();
        let first = cache.compile(&x, 20_415, &all).unwrap();
        assert!(same(&first, &Plan::compile(&x, 20_415, &all).unwrap()));
        // The order of the present attributes, and attributes the policy does not read, do not
        // change the plan.
        let mut shuffled: Vec<&str> = all.iter().rev().copied().collect();
        shuffled.push("commit.breaches");
        let again = cache.compile(&x, 20_415, &shuffled).unwrap();
        assert!(same(&first, &again));
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.entries), (1, 1, 1));
        // Another day, or another set of present attributes, is another plan.
        let next_day = cache.compile(&x, 20_416, &all).unwrap();
        assert!(same(&next_day, &Plan::compile(&x, 20_416, &all).unwrap()));
        assert_eq!(next_day.day, 20_416);
        let fewer = cache.compile(&x, 20_415, &all[1..]).unwrap();
        assert!(same(&fewer, &Plan::compile(&x, 20_415, &all[1..]).unwrap()));
        assert!(!same(&fewer, &first));
        // Bounded: the oldest went.
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.entries), (1, 3, 2));
        let back = cache.compile(&x, 20_415, &all).unwrap();
        assert!(same(&back, &first));
        assert_eq!(cache.stats().misses, 4);
        // Same text, another catalogue bound: another key.
        let mut other = x.clone();
        let i = other
            .reads
            .iter()
            .position(|r| r.0.as_str() == "tax.credit_score")
            .unwrap();
        other.reads[i].2 = 50;
        let bounded = cache.compile(&other, 20_415, &all).unwrap();
        assert!(same(
            &bounded,
            &Plan::compile(&other, 20_415, &all).unwrap()
        ));
        assert!(!same(&bounded, &first));
    }
}
