//! The key authority's evaluations: the replay of a logged one, and evaluating once
//! ([`KeyAuthority::evaluate`]): with replay on every request, the key
//! authority's own evaluation is the one the service logs, and a decision whose logged
//! evaluation is exactly the one it kept decrypts without evaluating again.

use super::*;

impl KeyAuthority {
    /// Whether it evaluates queries itself ([`KeyAuthority::evaluate`]): when it replays every
    /// request. Where it replays a sample, the service evaluates and it checks a share.
    pub fn evaluates(&self) -> bool {
        self.evaluate_once && self.replay == ReplayPolicy::Always
    }

    /// Its engine's decompressed-block cache.
    pub fn block_cache_stats(&self) -> crate::fhe::engine::BlockCacheStats {
        self.engine.block_cache_stats()
    }

    /// Its own evaluations kept for the decisions to come (at most 1024, the oldest query
    /// first out).
    pub fn kept_evaluations(&self) -> usize {
        self.evaluated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Evaluations it has run (its own and replays): what evaluating once saves shows here.
    pub fn evaluations_run(&self) -> u64 {
        self.evaluations_run
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Evaluates the query logged at `query_index` for the service to log, so that the query
    /// is evaluated once: from the log, with the same checks as a decision (the query, its
    /// inputs — the latest logged sealed record per attribute before it — each verified), on
    /// its own engine. It keeps the output's hash; a decision whose logged evaluation is
    /// exactly this one (same query, policy, day, inputs and output bytes) decrypts without
    /// replaying, since replaying would give the same bytes. Decrypts nothing. A refusal is
    /// logged, as for a decision; where it only replays a sample it evaluates nothing
    /// ([`Refusal::NotEvaluating`], not logged).
    pub fn evaluate(&self, view: &dyn LogView, query_index: u64) -> Result<Evaluated, Refusal> {
        if !self.evaluates() {
            return Err(Refusal::NotEvaluating);
        }
        match self.evaluate_new(view, query_index) {
            Ok(v) => Ok(v),
            Err(r) => self.refused(view, query_index, r),
        }
    }

    fn evaluate_new(&self, view: &dyn LogView, q: u64) -> Result<Evaluated, Refusal> {
        let context = self.query_context(view, q)?;
        let Checked {
            subject,
            policy_hash,
            as_of_day,
            policy,
            ..
        } = context.checked;
        let inputs = context.expected;
        let logged = Logged {
            leaves: &context.input_entries,
            query: context.input_entries.len() as u64,
        };
        let (output, stored) = self.replay(
            view,
            &logged,
            &context.holder_keys,
            &policy,
            &subject,
            as_of_day,
            &inputs,
        )?;
        // A query already decided is never decided again (its verdict is kept): its
        // evaluation would only wait for eviction.
        let decided = self
            .store
            .get(Table::Meta, &decided_key(q))
            .map_err(|e| Refusal::Internal(e.to_string()))?
            .is_some();
        if !decided {
            let mut kept = self.evaluated.lock().unwrap_or_else(|e| e.into_inner());
            while kept.len() >= KEPT_EVALUATIONS {
                kept.pop_first();
            }
            kept.insert(
                q,
                KeptEvaluation {
                    policy_hash,
                    day: as_of_day,
                    input_hashes: inputs.clone(),
                    output_hash: sha3(&output),
                    coverage: Engine::coverage(&policy, &stored),
                },
            );
        }
        Ok(Evaluated {
            output,
            input_hashes: inputs,
        })
    }

    /// The coverage of its own evaluation of query `q`, taken (a query is decided once), if
    /// that evaluation is exactly the one logged: same policy, day, inputs and output.
    pub(super) fn kept_evaluation(
        &self,
        q: u64,
        policy_hash: &Hash,
        day: u32,
        input_hashes: &[Hash],
        output_hash: &Hash,
    ) -> Option<Vec<crate::protocols::names::AttributeId>> {
        let kept = self
            .evaluated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&q)?;
        (kept.policy_hash == *policy_hash
            && kept.day == day
            && kept.input_hashes == input_hashes
            && bool::from(kept.output_hash.ct_eq(output_hash)))
        .then_some(kept.coverage)
    }

    /// Re-derives the evaluation output from the holders' uploads (fetched by their logged
    /// hashes, each checked against its holder's logged key); returns it with the records.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn replay(
        &self,
        view: &dyn LogView,
        logged: &Logged<'_>,
        holder_keys: &BTreeMap<PartyId, PublicKey>,
        policy: &Policy,
        subject: &Pseudonym,
        day: u32,
        inputs: &[Hash],
    ) -> Result<(Vec<u8>, Vec<StoredRecord>), Refusal> {
        let mut stored: Vec<StoredRecord> = Vec::new();
        for h in inputs {
            stored.push(self.verified(view, logged, holder_keys, subject, h)?);
        }
        let evaluation = self
            .engine
            .evaluate(policy, day, &stored)
            .map_err(|e| Refusal::Internal(e.to_string()))?;
        self.evaluations_run
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let expected = match policy.output {
            Output::Eligible(_) => OutputKind::Eligible,
            Output::Grade { .. } => OutputKind::Grade,
        };
        if evaluation.plan.kind != expected {
            return Err(Refusal::Internal("plan kind".into()));
        }
        Ok((evaluation.output, stored))
    }

    /// What deciding or evaluating query `q` reads of the log, taken while following it (the
    /// follower's lock is released before any FHE work): the checkpoint, the checked query, the
    /// inputs the key authority selects itself (the latest logged sealed record per attribute
    /// before the query), the holder keys the log certifies, the log's entries about those
    /// inputs, and the evaluations of `q` logged after it.
    pub(super) fn query_context(
        &self,
        view: &dyn LogView,
        q: u64,
    ) -> Result<QueryContext, Refusal> {
        let mut follower = self.follower.lock().unwrap_or_else(|e| e.into_inner());
        let cp = self.follow(view, &mut follower)?;
        let leaves = covered(&follower, cp.size);
        let checked = self.check_query(view, leaves, q)?;
        let expected =
            crate::party::replay::expected_inputs(leaves, &checked.subject, &checked.policy, q);
        let evaluations = leaves
            .iter()
            .enumerate()
            .skip(q as usize + 1)
            .filter_map(|(i, l)| match l.as_ref().map(|l| &l.entry) {
                Some(LogEntry::Evaluation {
                    query_index,
                    policy_hash,
                    input_hashes,
                    output_hash,
                    ..
                }) if *query_index == q && *policy_hash == checked.policy_hash => {
                    Some((i as u64, input_hashes.clone(), *output_hash))
                }
                _ => None,
            })
            .collect();
        Ok(QueryContext {
            holder_keys: crate::protocols::keys::logged_holder_keys(leaves, &self.anchors),
            input_entries: input_entries(leaves, q, &expected),
            cp,
            checked,
            expected,
            evaluations,
        })
    }

    /// The attributes of the logged inputs (fetched and checked against the log), for a
    /// decision that decrypts without evaluating.
    pub(super) fn input_attributes(
        &self,
        view: &dyn LogView,
        logged: &Logged<'_>,
        inputs: &[Hash],
    ) -> Result<Vec<StoredRecord>, Refusal> {
        inputs
            .iter()
            .map(|h| {
                Ok(StoredRecord {
                    attributes: self
                        .fetch(view, logged, h)?
                        .submission
                        .submission
                        .attributes,
                    bytes: Vec::new(),
                })
            })
            .collect()
    }
}

/// What [`KeyAuthority::query_context`] read of the log for one query.
pub(super) struct QueryContext {
    pub(super) cp: crate::protocols::log::checkpoint::Checkpoint,
    pub(super) checked: Checked,
    /// The inputs the key authority selects itself.
    pub(super) expected: Vec<Hash>,
    pub(super) holder_keys: BTreeMap<PartyId, PublicKey>,
    /// The log's entries about the expected inputs.
    pub(super) input_entries: Vec<Option<LogLeaf>>,
    /// `(index, input hashes, output hash)` of each evaluation of the query logged after it.
    pub(super) evaluations: Vec<(u64, Vec<Hash>, Hash)>,
}
