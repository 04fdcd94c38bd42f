//! The serving policy bundle and its atomic reload. A reload loads and compiles the bundle
//! in the configured directory and runs its Rego unit tests; only a bundle that compiles and
//! passes every test replaces the serving one. Either way the outcome is audited; the new
//! bundle's files are stored with the audit event (`policy_bundles`, once per digest).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use portcullis_core::{AuditAction, Digest};
use portcullis_policy::PolicyBundle;
use portcullis_store::{NewAuditEvent, Store};
use serde::Serialize;
use serde_json::json;

/// What a successful reload did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reloaded {
    /// The digest that served before.
    pub previous_digest: Digest,
    /// The digest that serves now.
    pub policy_digest: Digest,
    /// Whether the content changed.
    pub changed: bool,
    /// How many of the bundle's Rego tests ran (all passed).
    pub tests_passed: usize,
    /// How many pending promotions were judged again under the new bundle (their votes
    /// voided); filled in by the caller of `reload`.
    pub rejudged: usize,
}

/// Why a reload was refused; the previous bundle keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The bundle does not load or compile.
    #[error("the bundle in {dir} does not load: {reason}")]
    Invalid {
        /// The bundle directory.
        dir: String,
        /// The loader's error.
        reason: String,
    },
    /// Some of the bundle's tests failed.
    #[error("{} of the bundle's tests failed: {}", failed.len(), failed.join("; "))]
    TestsFailed {
        /// `name (error)` of each failed test.
        failed: Vec<String>,
    },
    /// Recording the reload failed; the previous bundle keeps serving.
    #[error("recording the reload failed: {0}")]
    Store(#[from] portcullis_store::Error),
}

/// The serving bundle, swappable at run time.
pub struct PolicyHandle {
    current: RwLock<Arc<PolicyBundle>>,
    dir: PathBuf,
    /// Serialises reloads so two never interleave.
    reloading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for PolicyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyHandle")
            .field("dir", &self.dir)
            .field("digest", &self.current().digest())
            .finish_non_exhaustive()
    }
}

impl PolicyHandle {
    /// Serves `bundle`; reloads read its directory.
    pub fn new(bundle: PolicyBundle) -> Self {
        let dir = bundle.dir().to_owned();
        Self {
            current: RwLock::new(Arc::new(bundle)),
            dir,
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// The bundle serving now. Evaluations hold this `Arc`, so a reload never changes the
    /// policy under a running evaluation.
    pub fn current(&self) -> Arc<PolicyBundle> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The digest of the serving bundle.
    pub fn digest(&self) -> Digest {
        self.current().digest().clone()
    }

    /// Loads, compiles and tests the bundle directory and swaps it in if all is well.
    /// `actor` is recorded in the audit log (`sighup` or the admin's subject).
    pub async fn reload(&self, store: &Store, actor: &str) -> Result<Reloaded, ReloadError> {
        let _guard = self.reloading.lock().await;
        let previous = self.digest();
        let dir = self.dir.clone();
        let checked = tokio::task::spawn_blocking(move || check_bundle(dir))
            .await
            .unwrap_or_else(|e| {
                Err(ReloadError::Invalid {
                    dir: String::new(),
                    reason: format!("the reload task failed: {e}"),
                })
            });
        let (bundle, tests_passed) = match checked {
            Ok(ok) => ok,
            Err(e) => {
                tracing::error!(error = %e, policy.digest = %previous, "policy reload refused; the previous bundle keeps serving");
                record(
                    store,
                    actor,
                    AuditAction::PolicyReloadFailed,
                    json!({"policy_digest": previous, "reason": e.to_string()}),
                    None,
                )
                .await?;
                return Err(e);
            }
        };
        let digest = bundle.digest().clone();
        record(
            store,
            actor,
            AuditAction::PolicyReloaded,
            json!({"previous_digest": previous, "policy_digest": digest, "tests_passed": tests_passed}),
            Some(&bundle),
        )
        .await?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(bundle);
        tracing::info!(policy.previous = %previous, policy.digest = %digest, tests_passed, "policy reloaded");
        Ok(Reloaded {
            changed: previous != digest,
            previous_digest: previous,
            policy_digest: digest,
            tests_passed,
            rejudged: 0,
        })
    }
}

fn check_bundle(dir: PathBuf) -> Result<(PolicyBundle, usize), ReloadError> {
    let invalid = |e: portcullis_policy::Error| ReloadError::Invalid {
        dir: dir.display().to_string(),
        reason: e.to_string(),
    };
    let bundle = PolicyBundle::load(&dir).map_err(invalid)?;
    let outcomes = portcullis_policy::run_tests(&dir).map_err(invalid)?;
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| match &o.error {
            Some(e) => format!("{} ({e})", o.name),
            None => o.name.clone(),
        })
        .collect();
    if !failed.is_empty() {
        return Err(ReloadError::TestsFailed { failed });
    }
    Ok((bundle, outcomes.len()))
}

/// Audits a reload attempt; a bundle that will serve is stored in the same transaction
/// (once per digest), so every decision it makes can be replayed.
async fn record(
    store: &Store,
    actor: &str,
    action: AuditAction,
    details: serde_json::Value,
    serving: Option<&PolicyBundle>,
) -> Result<(), portcullis_store::Error> {
    let mut tx = store.begin().await?;
    if let Some(bundle) = serving {
        crate::services::decisions::store_bundle(&mut tx, bundle).await?;
    }
    store
        .append_audit(
            &mut tx,
            &NewAuditEvent {
                actor: actor.to_owned(),
                action,
                promotion_id: None,
                digest: None,
                details,
                request_id: crate::request_id::current(),
            },
        )
        .await?;
    portcullis_store::commit(tx).await
}
