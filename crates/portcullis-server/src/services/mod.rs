//! Services: the promotion workflow. Handlers call services; services call the store,
//! the registry client, the verifier and the policy, and own transaction boundaries.

pub mod approvals;
pub mod checkpoints;
pub mod copier;
pub mod documents;
pub mod evidence;
pub mod policy;
pub mod promotions;
pub mod refusals;
pub mod trust;
pub mod work;
