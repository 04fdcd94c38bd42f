//! `AppState`: what every handler and the copy worker share.

use std::sync::Arc;

use portcullis_evidence::SignatureVerifier;
use portcullis_policy::PolicyBundle;
use portcullis_registry::RegistryClient;
use portcullis_store::Store;
use tokio::sync::{Notify, Semaphore};

use crate::config::Route;

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The loaded policy bundle.
    pub policy: Arc<PolicyBundle>,
    /// Bounds concurrent policy evaluations on the blocking pool.
    pub eval_permits: Arc<Semaphore>,
    /// Registry access for resolving and copying.
    pub registry: RegistryClient,
    /// Cosign verification against the trusted keys.
    pub verifier: Arc<SignatureVerifier>,
    /// Configured routes.
    pub routes: Arc<Vec<Route>>,
    /// Wakes the copy worker when a promotion becomes `promoting`.
    pub copy_wakeup: Arc<Notify>,
}
