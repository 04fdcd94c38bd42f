//! One copy job's work: the copy plan from the stored promotion, and the copy itself (for a
//! rollback only a tag write over content already in production: `retag`), retried with
//! backoff while it fails transiently (a registry outage, a timeout) until the
//! registries' `retry.max_elapsed_seconds` is used up. Failures are a typed `CopyError` that
//! says whether they are transient and, for a registry, which end (source or destination,
//! the registry error's `Role`: within one registry the host cannot tell them apart).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use portcullis_registry::{
    Activity, CopyOptions, CopyPlan, CopyReport, InPlace, PlannedCopy, RegistryClient, Role,
    copy_image_planned,
};
use portcullis_store::PromotionRecord;

use crate::services::attestation::{self, Attested, Staged};
use crate::services::trust::{IntegrityError, Release};

/// Why a copy job failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The stored promotion cannot be turned into a copy plan. Permanent.
    #[error("invalid_job: {0}")]
    InvalidJob(String),
    /// The job was claimed too often without an outcome (crashes, lost leases). Permanent.
    #[error("copy_interrupted: gave up after {0} interrupted copy attempts")]
    Interrupted(i32),
    /// A registry failed; `error.is_transient()` says whether another attempt may help, and
    /// `error.role()` at which end (source or destination) it failed.
    #[error("{code}{at}: {inner}", code = registry_code(.0), at = at_end(.0), inner = .0.inner())]
    Registry(portcullis_registry::Error),
    /// The job's decision statement does not hold (see `trust`). Permanent: nothing is
    /// copied.
    #[error("integrity_violation: {0}")]
    Integrity(#[source] IntegrityError),
    /// The promotion attestation could not be made (signing failed). Permanent.
    #[error("attestation_failed: {0}")]
    Attestation(String),
    /// The job ran past `copy.job_deadline_seconds`. Permanent for this job.
    #[error(
        "registry_timeout: the copy did not finish within copy.job_deadline_seconds ({seconds} s){}",
        last_failure(.last)
    )]
    Deadline {
        /// The deadline.
        seconds: u64,
        /// The last failure before it, if any.
        last: Option<String>,
    },
}

/// `; last failure: …` when there was one.
fn last_failure(last: &Option<String>) -> String {
    last.as_deref()
        .map(|l| format!("; last failure: {l}"))
        .unwrap_or_default()
}

/// ` at the source` / ` at the destination` when the failing end is known.
fn at_end(error: &portcullis_registry::Error) -> String {
    error
        .role()
        .map(|r| format!(" at the {r}"))
        .unwrap_or_default()
}

/// The stable code a registry failure is stored under.
fn registry_code(error: &portcullis_registry::Error) -> &'static str {
    match error.inner() {
        portcullis_registry::Error::Timeout { .. } => "registry_timeout",
        e if e.is_transient() => "registry_unavailable",
        _ => "copy_failed",
    }
}

impl CopyError {
    /// Whether a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Registry(error) => error.is_transient(),
            Self::InvalidJob(_)
            | Self::Interrupted(_)
            | Self::Integrity(_)
            | Self::Attestation(_)
            | Self::Deadline { .. } => false,
        }
    }

    /// The end of the copy that failed, for a registry failure that names it.
    pub fn role(&self) -> Option<Role> {
        match self {
            Self::Registry(error) => error.role(),
            _ => None,
        }
    }
}

/// The copy of `job`, with the tag and platform rules its decision statement signed (the
/// route's rules when the promotion was released).
pub fn plan(
    release: &Release,
    blob_concurrency: usize,
    job: &PromotionRecord,
) -> Result<CopyPlan, CopyError> {
    let options = CopyOptions {
        blob_concurrency,
        platforms: release.platforms.clone(),
        overwrite_tag: release.allow_tag_overwrite,
    };
    Ok(CopyPlan {
        source: job.source.with_digest(job.digest.clone()),
        dest_registry: job.destination.0.clone(),
        dest_repo: job.destination.1.clone(),
        dest_tag: job.tag.clone(),
        options,
    })
}

/// Copies `plan`, retrying transient failures with the backoff of the failing registry's
/// retry policy until its `max_elapsed` (counted from the job's start) would be passed.
/// Backoffs count as progress on `activity`; the latest failure is kept in `last` (for a
/// deadline's message). The first attempt starts from the plan read `ahead`, if there is
/// one (`read_ahead`, checked with `PlannedCopy::fresh_for`); a retry reads its plan anew.
pub async fn copy_with_retries(
    client: &RegistryClient,
    plan: &CopyPlan,
    ahead: Option<PlannedCopy>,
    progress: &(dyn Fn(&CopyReport) + Send + Sync),
    activity: &Activity,
    last: &Mutex<Option<String>>,
) -> Result<CopyReport, CopyError> {
    let client = client.with_activity(activity.clone());
    let ends = (&plan.source.registry, &plan.dest_registry);
    let ahead = Mutex::new(ahead);
    with_retries(&client, ends, activity, last, || {
        let planned = ahead.lock().unwrap_or_else(|p| p.into_inner()).take();
        copy_image_planned(&client, plan, planned, progress)
    })
    .await
}

/// A rollback's "copy": checks that the manifest and everything under it is still in the
/// destination and points the tag at it, retried like a copy. The report counts what was
/// checked: no blob and no manifest is uploaded, only the tag is written.
pub async fn retag_with_retries(
    client: &RegistryClient,
    job: &PromotionRecord,
    activity: &Activity,
    last: &Mutex<Option<String>>,
) -> Result<CopyReport, CopyError> {
    let tag = job.tag.as_ref().ok_or_else(|| {
        CopyError::InvalidJob(format!("rollback {} names no channel tag", job.id))
    })?;
    let client = client.with_activity(activity.clone());
    let (host, repo) = (&job.destination.0, &job.destination.1);
    let found = with_retries(&client, (host, host), activity, last, || {
        client.retag(host, repo, tag, &job.digest)
    })
    .await?;
    Ok(tag_only_report(&job.digest, &found))
}

/// The copy report of a tag write over content found in place.
fn tag_only_report(digest: &portcullis_core::Digest, found: &InPlace) -> CopyReport {
    CopyReport {
        digest: digest.clone(),
        subset_digest: None,
        manifests_copied: 0,
        blobs_total: found.blobs,
        bytes_total: found.bytes,
        blobs_copied: 0,
        blobs_skipped: found.blobs,
        blobs_mounted: 0,
        bytes_copied: 0,
        signature_copied: false,
        attestation_copied: false,
        sbom_copied: false,
        referrers_copied: 0,
    }
}

/// Runs `op` until it succeeds, fails permanently, or the failing registry's retry window
/// (`ends`: source and destination host) would be passed.
async fn with_retries<T, F, Fut>(
    client: &RegistryClient,
    ends: (
        &portcullis_core::RegistryHost,
        &portcullis_core::RegistryHost,
    ),
    activity: &Activity,
    last: &Mutex<Option<String>>,
    mut op: F,
) -> Result<T, CopyError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = portcullis_registry::Result<T>>,
{
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let (error, policy) = match op().await {
            Ok(done) => return Ok(done),
            Err(e) => {
                let failing = match e.role() {
                    Some(Role::Source) => ends.0,
                    _ => ends.1,
                };
                (CopyError::Registry(e), client.retry_policy(failing))
            }
        };
        *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
        let delay = policy.delay(attempt, None);
        if !error.is_transient() || started.elapsed() + delay > policy.max_elapsed {
            return Err(error);
        }
        tracing::warn!(
            copy.attempt = attempt,
            retry.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %error,
            "copy failed transiently; retrying the job"
        );
        activity.busy_until(Instant::now() + delay);
        tokio::time::sleep(delay).await;
    }
}

/// Signs the promotion attestation of `production` and stages it in the destination
/// (`attestation::stage`: its blobs pushed, the subject's manifest read `from` the source
/// while the copy runs or the destination after it), retried like a copy.
pub async fn stage_attestation(
    state: &crate::state::AppState,
    job: &PromotionRecord,
    release: &Release,
    production: &portcullis_core::Digest,
    from: Role,
    activity: &Activity,
    last: &Mutex<Option<String>>,
) -> Result<Staged, CopyError> {
    let signed_at = chrono::Utc::now();
    let prepared = attestation::prepare(&state.keys, job, release, production, signed_at)
        .map_err(CopyError::Attestation)?;
    let client = state.registry.with_activity(activity.clone());
    let ends = (&job.source.registry, &job.destination.0);
    with_retries(&client, ends, activity, last, || {
        attestation::stage(&client, job, production, &prepared, signed_at, from)
    })
    .await
}

/// Writes the staged attestation's manifests in the destination, retried like a copy.
pub async fn attach_attestation(
    state: &crate::state::AppState,
    job: &PromotionRecord,
    staged: &Staged,
    activity: &Activity,
    last: &Mutex<Option<String>>,
) -> Result<Attested, CopyError> {
    let client = state.registry.with_activity(activity.clone());
    let host = &job.destination.0;
    with_retries(&client, (host, host), activity, last, || {
        attestation::attach(&client, job, staged)
    })
    .await
}

/// Runs `work` within `deadline`; past it, the job fails with `CopyError::Deadline`.
pub async fn within_deadline<T>(
    deadline: Duration,
    last: &Mutex<Option<String>>,
    work: impl Future<Output = Result<T, CopyError>>,
) -> Result<T, CopyError> {
    tokio::time::timeout(deadline, work)
        .await
        .unwrap_or_else(|_| {
            Err(CopyError::Deadline {
                seconds: deadline.as_secs(),
                last: last.lock().unwrap_or_else(|p| p.into_inner()).take(),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_past_its_deadline_fails_with_its_last_failure() {
        let last = Mutex::new(Some("registry_timeout at the destination: …".to_owned()));
        let hung = std::future::pending::<Result<CopyReport, CopyError>>();
        let err = within_deadline(Duration::from_millis(20), &last, hung)
            .await
            .unwrap_err();
        assert!(!err.is_transient());
        assert_eq!(
            err.to_string(),
            "registry_timeout: the copy did not finish within copy.job_deadline_seconds (0 s); \
             last failure: registry_timeout at the destination: …"
        );
    }

    #[test]
    fn registry_failures_name_their_end_and_code() {
        let timeout = |host: &str| portcullis_registry::Error::Timeout {
            registry: host.to_owned(),
            operation: "copy blob",
            waited_for: "response headers",
        };
        // One registry at both ends: the role, not the host, says which end failed.
        let dst = CopyError::Registry(timeout("127.0.0.1:2").at(Role::Destination));
        assert!(dst.is_transient());
        assert_eq!(dst.role(), Some(Role::Destination));
        assert_eq!(
            dst.to_string(),
            "registry_timeout at the destination: registry 127.0.0.1:2 did not answer copy blob in time (response headers timed out)"
        );
        let src = CopyError::Registry(timeout("127.0.0.1:2").at(Role::Source));
        assert_eq!(src.role(), Some(Role::Source));
        assert!(
            src.to_string()
                .starts_with("registry_timeout at the source: registry 127.0.0.1:2 ")
        );
        let bad = CopyError::Registry(portcullis_registry::Error::InvalidRequest("x".into()));
        assert!(!bad.is_transient());
        assert_eq!(bad.role(), None);
        assert_eq!(bad.to_string(), "copy_failed: invalid request: x");
    }
}
