//! What holders, subjects, banks and auditors run on their own machines. Nothing here imports
//! the server: these parties reach the service only over its HTTP API ([`client`]).

pub mod auditor;
pub mod client;
pub mod holder;
pub mod http;
pub mod keyfile;
pub mod replay;
pub mod subject;

/// Why a holder or subject step failed.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// Catalogue: unknown attribute, not this holder's, value out of range.
    #[error("{0}")]
    Catalog(String),
    /// The policy has no proof lowering.
    #[error("{0}")]
    NotProvable(String),
    /// The subject has no current commitment to an attribute the policy reads.
    #[error("no commitment to `{0}` for this subject: its holder has not submitted one on the proven path")]
    Missing(String),
    /// A sealed opening did not open (not sealed to this subject's key, or tampered).
    #[error("the opening of `{0}` does not open with this subject's sealing key")]
    Opening(String),
    /// The subject's values do not satisfy the policy: no proof exists.
    #[error("the policy is not satisfied (its predicate {0} fails), so there is nothing to prove; only the sealed path answers \"no\"")]
    Unsatisfied(usize),
    /// Any other proof failure.
    #[error("proof failed: {0}")]
    Proof(String),
    /// The service could not provide the holders' registrations.
    #[error("cannot fetch the holders' registrations from the log: {0}")]
    Service(String),
}
