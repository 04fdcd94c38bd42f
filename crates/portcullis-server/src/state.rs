//! `AppState`: what every handler and the copy worker share.

use std::sync::Arc;

use portcullis_registry::RegistryClient;
use portcullis_store::Store;
use tokio::sync::{Notify, Semaphore};

use crate::config::Route;
use crate::services::evidence::EvidenceCollector;
use crate::services::policy::PolicyHandle;

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The serving policy bundle, reloadable.
    pub policy: Arc<PolicyHandle>,
    /// Bounds concurrent policy evaluations on the blocking pool.
    pub eval_permits: Arc<Semaphore>,
    /// Registry access for resolving and copying.
    pub registry: RegistryClient,
    /// Signature and attestation verification, cached.
    pub evidence: Arc<EvidenceCollector>,
    /// Configured routes.
    pub routes: Arc<Vec<Route>>,
    /// Blobs in flight at once per copy.
    pub copy_blob_concurrency: usize,
    /// Wakes the copy worker when a promotion becomes `promoting`.
    pub copy_wakeup: Arc<Notify>,
    /// Copy jobs one replica runs at once.
    pub copy_max_concurrent_jobs: usize,
    /// Longest a copy job may take, its retries included.
    pub copy_job_deadline: std::time::Duration,
}
