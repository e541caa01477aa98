//! The service's side of an in-process key authority: what it reads of the service (its log
//! and the objects the log names by hash). The key authority trusts none of it: it verifies the
//! checkpoint against its own anchors, the entries against the root, and every object against
//! the logged hash.

use crate::key_authority::LogView;
use crate::protocols::log::checkpoint::SignedCheckpoint;
use crate::protocols::log::entry::{LogEntry, LogLeaf};
use crate::protocols::log::hash::Hash;
use crate::server::records::{content_hash_key, decode_sealed};
use crate::server::state::ServiceState;
use crate::store::{Batch, Table};

/// The service as the key authority sees it, at a checkpoint cosigned for this request.
pub(crate) struct ServiceLogView<'a> {
    pub(crate) state: &'a ServiceState,
    pub(crate) checkpoint: SignedCheckpoint,
}

impl LogView for ServiceLogView<'_> {
    fn checkpoint(&self) -> Result<SignedCheckpoint, String> {
        Ok(self.checkpoint.clone())
    }

    fn entries(&self, from: u64, to: u64) -> Result<Vec<(u64, LogLeaf)>, String> {
        self.state
            .log
            .entries(from, to, 1000)
            .map_err(|e| e.to_string())
    }

    fn upload(&self, hash: &Hash) -> Result<Vec<u8>, String> {
        let store = &self.state.store;
        let key = store
            .get(Table::Meta, &content_hash_key(hash))
            .map_err(|e| e.to_string())?
            .ok_or("no such upload")?;
        let v = store
            .get(Table::Submissions, &key)
            .map_err(|e| e.to_string())?
            .ok_or("dangling upload index")?;
        let (record, _, _) = decode_sealed(&v).ok_or("not a sealed upload")?;
        Ok(record.to_bytes())
    }

    fn consent(&self, hash: &Hash) -> Result<Vec<u8>, String> {
        self.state
            .store
            .get(Table::Consents, hash)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "no such consent".into())
    }

    fn policy_text(&self, hash: &Hash) -> Result<String, String> {
        self.state
            .published_policies()
            .map_err(|e| e.message)?
            .into_iter()
            .find(|p| p.hash() == *hash)
            .map(|p| p.canonical().to_string())
            .ok_or_else(|| "no such policy".into())
    }

    fn record_refusal(&self, query_index: u64, reason: &str) -> Result<u64, String> {
        self.state
            .append(
                &[LogEntry::DecryptionRefused {
                    query_index,
                    reason: reason.to_string(),
                    salt: crate::protocols::log::entry::salt(&mut rand::rngs::OsRng),
                }],
                Batch::new(),
            )
            .map(|i| i[0])
            .map_err(|e| e.message)
    }
}
