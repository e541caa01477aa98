//! An in-memory [`Store`] (tests, and the reference the conformance suite is written against).
//! Not durable: everything is lost when it is dropped.

use super::{Batch, Entry, Op, Store, StoreError, Table};
use std::collections::BTreeMap;
use std::sync::RwLock;

type Tables = BTreeMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>;

/// In-memory tables behind one lock.
#[derive(Default)]
pub struct MemoryStore {
    tables: RwLock<Tables>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Backend("lock poisoned".into())
}

impl Store for MemoryStore {
    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut tables = self.tables.write().map_err(poisoned)?;
        // Apply to a copy of the touched tables; swap in only if every op succeeds.
        let mut staged: Tables = BTreeMap::new();
        for op in &batch.ops {
            let table = match op {
                Op::Put { table, .. } | Op::Insert { table, .. } | Op::Delete { table, .. } => {
                    *table
                }
            };
            let t = staged
                .entry(table)
                .or_insert_with(|| tables.get(&table).cloned().unwrap_or_default());
            match op {
                Op::Put { key, value, .. } => {
                    t.insert(key.clone(), value.clone());
                }
                Op::Insert { key, value, .. } => {
                    if t.contains_key(key) {
                        return Err(StoreError::Exists {
                            table,
                            key: hex::encode(key),
                        });
                    }
                    t.insert(key.clone(), value.clone());
                }
                Op::Delete { key, .. } => {
                    t.remove(key);
                }
            }
        }
        tables.extend(staged);
        Ok(())
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tables = self.tables.read().map_err(poisoned)?;
        Ok(tables.get(&table).and_then(|t| t.get(key)).cloned())
    }

    fn scan(
        &self,
        table: Table,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let tables = self.tables.read().map_err(poisoned)?;
        let Some(t) = tables.get(&table) else {
            return Ok(Vec::new());
        };
        Ok(t.range(from.to_vec()..)
            .take_while(|(k, _)| to.is_none_or(|to| k.as_slice() < to))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn count(&self, table: Table) -> Result<u64, StoreError> {
        let tables = self.tables.read().map_err(poisoned)?;
        Ok(tables.get(&table).map_or(0, |t| t.len() as u64))
    }
}
