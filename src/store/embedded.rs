//! The embedded default [`Store`]: one redb file (copy-on-write B-trees, ACID, crash-safe).
//! Every batch is one write transaction committed with immediate durability (fsync), so a
//! `commit` that returned survives a crash; one that did not left nothing behind.

use super::{Batch, Entry, Op, Store, StoreError, Table};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::Path;

fn def(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A store in one file.
pub struct EmbeddedStore {
    db: Database,
}

impl EmbeddedStore {
    /// Opens (or creates) the store at `path` and makes sure every table exists.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(backend)?;
        let tx = db.begin_write().map_err(backend)?;
        for t in Table::ALL {
            tx.open_table(def(t)).map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(EmbeddedStore { db })
    }
}

impl Store for EmbeddedStore {
    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        super::check_sizes(batch)?;
        let tx = self.db.begin_write().map_err(backend)?;
        let result = (|| {
            for op in &batch.ops {
                match op {
                    Op::Put { table, key, value } => {
                        let mut t = tx.open_table(def(*table)).map_err(backend)?;
                        t.insert(key.as_slice(), value.as_slice())
                            .map_err(backend)?;
                    }
                    Op::Insert { table, key, value } => {
                        let mut t = tx.open_table(def(*table)).map_err(backend)?;
                        if t.get(key.as_slice()).map_err(backend)?.is_some() {
                            return Err(StoreError::Exists {
                                table: *table,
                                key: hex::encode(key),
                            });
                        }
                        t.insert(key.as_slice(), value.as_slice())
                            .map_err(backend)?;
                    }
                    Op::Delete { table, key } => {
                        let mut t = tx.open_table(def(*table)).map_err(backend)?;
                        t.remove(key.as_slice()).map_err(backend)?;
                    }
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => tx.commit().map_err(backend),
            Err(e) => {
                tx.abort().map_err(backend)?;
                Err(e)
            }
        }
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(def(table)).map_err(backend)?;
        Ok(t.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    fn scan(
        &self,
        table: Table,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(def(table)).map_err(backend)?;
        let range = match to {
            Some(to) if to <= from => return Ok(Vec::new()),
            Some(to) => t.range(from..to).map_err(backend)?,
            None => t.range(from..).map_err(backend)?,
        };
        let mut out = Vec::new();
        for entry in range.take(limit) {
            let (k, v) = entry.map_err(backend)?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn count(&self, table: Table) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(def(table)).map_err(backend)?;
        t.len().map_err(backend)
    }
}
