//! `AppState`: what every handler and the copy worker share, and the `Gate` in it: the
//! decision path (evidence collection, the serving policy and the bounds on both) that the
//! evaluation service takes on its own.

use std::sync::Arc;

use portcullis_evidence::{EvidenceCollector, Limits};
use portcullis_registry::RegistryClient;
use portcullis_store::Store;
use tokio::sync::{Notify, Semaphore};

use crate::auth_failures::AuthFailures;
use crate::config::Route;
use crate::services::checkpoints::{Integrity, Schedule};
use crate::services::input_cache::InputCache;
use crate::services::policy::PolicyHandle;
use crate::services::trust::GateKeys;

/// The decision path: what evaluating a promotion request needs. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    /// Signature and attestation verification, cached.
    pub collector: Arc<EvidenceCollector>,
    /// The serving policy bundle, reloadable.
    pub policy: Arc<PolicyHandle>,
    /// Bounds concurrent CPU-bound evidence work (parsing, VEX matching, policy
    /// evaluation) on the blocking pool.
    pub eval_permits: Arc<Semaphore>,
    /// How much evidence one request may bring.
    pub limits: Limits,
    /// Each CI-supplied document's part of the policy input, by the document's hash.
    pub input_cache: Arc<InputCache>,
    /// The keyless trust and the settings it was loaded from, for reloads.
    pub keyless: Option<Arc<KeylessReload>>,
}

/// What a reload (SIGHUP) needs to re-read the keyless trust material.
#[derive(Debug)]
pub struct KeylessReload {
    /// The trust the verifiers use.
    pub handle: portcullis_evidence::KeylessHandle,
    /// Where it was loaded from.
    pub config: portcullis_evidence::KeylessConfig,
}

impl Gate {
    /// Re-reads the keyless trust material (`trust.keyless`); on success the verifiers use it
    /// at once and nothing verified under the old trust is served from the cache again. On
    /// failure the old trust keeps serving.
    pub fn reload_keyless(&self) -> Result<(), portcullis_evidence::Error> {
        let Some(reload) = &self.keyless else {
            return Ok(());
        };
        let trust = portcullis_evidence::KeylessTrust::load(&reload.config)?;
        let files: Vec<u8> = [
            &reload.config.trusted_root,
            &reload.config.trust_root,
            &reload.config.rekor_public_key,
            &reload.config.ctlog_public_key,
        ]
        .into_iter()
        .flatten()
        .filter_map(|p| std::fs::read(p).ok())
        .flatten()
        .collect();
        reload.handle.replace(trust);
        let base = self.collector.trust_fingerprint();
        let base = base.split(':').next().unwrap_or_default();
        self.collector.retrust(format!(
            "{base}:{}",
            portcullis_core::Digest::sha256_of(&files).hex()
        ));
        Ok(())
    }
}

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The decision path: evidence collection, policy, permits and limits.
    pub gate: Gate,
    /// Registry access for resolving and copying.
    pub registry: RegistryClient,
    /// Configured routes.
    pub routes: Arc<Vec<Route>>,
    /// Blobs in flight at once per copy.
    pub copy_blob_concurrency: usize,
    /// Wakes the copy worker when a promotion becomes `promoting`.
    pub copy_wakeup: Arc<Notify>,
    /// Copy jobs handed from the vote that releases them to this process's worker.
    pub copy_handoff: Arc<crate::services::copier::Handoff>,
    /// Copy plans read while the approval releasing them is recorded (`copier::read_ahead`).
    pub read_ahead: Arc<crate::services::copier::ReadAhead>,
    /// The gate's own keys: signed records, keyed token hashes.
    pub keys: Arc<GateKeys>,
    /// Set when the audit log failed a check: promotions stop.
    pub integrity: Arc<Integrity>,
    /// Where and how often audit checkpoints are witnessed.
    pub checkpoints: Schedule,
    /// Refused requests: counts, samples and the per-client rate limit.
    pub auth_failures: Arc<AuthFailures>,
    /// Copy jobs one replica runs at once.
    pub copy_max_concurrent_jobs: usize,
    /// Longest a copy job may take, its retries included.
    pub copy_job_deadline: std::time::Duration,
    /// Whether a finished copy attaches the promotion attestation (`copy.attest`).
    pub copy_attest: bool,
    /// Prometheus metrics of this process.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `metrics:` settings (whether `/metrics` is served, and to whom).
    pub metrics_settings: crate::config::MetricsSettings,
    /// Webhook subscribers and the delivery rules.
    pub webhooks: Arc<crate::services::webhooks::Webhooks>,
    /// Trusted OIDC issuers for JWT bearer tokens.
    pub oidc: Arc<crate::oidc::Oidc>,
    /// Whether holders of the admin role are refused as approvers.
    pub bar_admin_approvals: bool,
    /// The longest life of a token minted through the API.
    pub token_max_ttl: std::time::Duration,
    /// How long a promotion may stay pending; `None` never expires.
    pub pending_expiry: Option<std::time::Duration>,
    /// Recent destination tag look-ups, which dry runs may use (`tag_probe`).
    pub tag_probes: Arc<crate::services::promotions::tag_probe::TagProbes>,
    /// Promotion state changes heard from Postgres, for waiting `GET`s (`services::watch`).
    pub state_watch: Arc<crate::services::watch::StateWatch>,
    /// The longest `wait_seconds` a `GET` may ask for: under the request deadline.
    pub max_wait: std::time::Duration,
    /// The newest audit checkpoint this replica verified (`services::audit_verify`).
    pub audit_anchor: Arc<crate::services::audit_verify::Anchor>,
    /// The furthest a waiver's expiry may lie from its creation, in days.
    pub waiver_max_days: u32,
    /// Admission modes, production registries and the verdict cache.
    pub admission: Arc<crate::services::admission::Admission>,
    /// Longest a policy simulation may run (`simulation.timeout_ms`).
    pub simulation_timeout: std::time::Duration,
    /// The approver web page's settings and OIDC client (`ui:`).
    pub ui: Arc<crate::ui::UiConfig>,
}
