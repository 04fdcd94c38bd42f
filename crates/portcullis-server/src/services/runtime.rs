//! What runs where (`POST /v1/runtime/reports`) and what runs that this gate did not
//! promote (`GET /v1/runtime/drift`). A report names a cluster, namespace and workload
//! (Kubernetes names) and the images it runs (digest-pinned references or bare digests); it
//! replaces that workload's earlier report. The drift report judges each image as admission
//! does (`admission::verdict`, cached): never promoted to its repository, withdrawn, or its
//! statement does not verify. A bare digest counts as promoted if it was promoted anywhere.

use chrono::Utc;
use portcullis_core::{Digest, Reference, parse_docker_reference};
use portcullis_store::{ReportedImage, RuntimeReport, Store};
use serde::{Deserialize, Serialize};

use crate::services::admission::{Admission, Verdict};
use crate::services::trust::GateKeys;

/// Most images one report may name.
pub const MAX_IMAGES: usize = 500;
/// Longest cluster, namespace or workload name.
pub const MAX_NAME: usize = 253;

/// Why a report or drift query was refused.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A field is invalid; `code` names which.
    #[error("{detail}")]
    Invalid {
        /// `invalid_body` or `invalid_query`.
        code: &'static str,
        /// What is wrong, naming the field.
        detail: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] portcullis_store::Error),
}

impl RuntimeError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } => code,
            Self::Store(e) => crate::services::store_code(e),
        }
    }

    fn body(detail: String) -> Self {
        Self::Invalid {
            code: "invalid_body",
            detail,
        }
    }
}

/// `POST /v1/runtime/reports`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// The cluster's name.
    pub cluster: String,
    /// The namespace.
    pub namespace: String,
    /// The workload.
    pub workload: String,
    /// What it runs.
    pub images: Vec<String>,
}

/// A Kubernetes name: DNS-1123 subdomain (lower-case alphanumerics, `-` and `.`, starting and
/// ending alphanumeric), at most 253 characters.
fn check_name(field: &str, value: &str) -> Result<(), RuntimeError> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_NAME
        && bytes.iter().all(|&b| alnum(b) || b == b'-' || b == b'.')
        && bytes.first().is_some_and(|&b| alnum(b))
        && bytes.last().is_some_and(|&b| alnum(b));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::body(format!(
            "{field} must be a Kubernetes name (lower-case alphanumerics, '-' and '.', at most {MAX_NAME} characters)"
        )))
    }
}

/// The digest an image names: a bare digest, or a reference pinned by digest.
fn image_digest(i: usize, image: &str) -> Result<Digest, RuntimeError> {
    if let Ok(digest) = image.parse::<Digest>() {
        return Ok(digest);
    }
    match parse_docker_reference(image) {
        Ok(r) => match r.reference {
            Reference::Digest(d) => Ok(d),
            Reference::Tag(_) => Err(RuntimeError::body(format!(
                "images[{i}]: {image:?} is not pinned by digest"
            ))),
        },
        Err(e) => Err(RuntimeError::body(format!("images[{i}]: {e}"))),
    }
}

/// Records what a workload runs, replacing its earlier report.
#[tracing::instrument(skip_all, fields(runtime.cluster = %req.cluster, runtime.namespace = %req.namespace))]
pub async fn report(
    store: &Store,
    reported_by: &str,
    req: ReportRequest,
) -> Result<usize, RuntimeError> {
    check_name("cluster", &req.cluster)?;
    check_name("namespace", &req.namespace)?;
    check_name("workload", &req.workload)?;
    if req.images.len() > MAX_IMAGES {
        return Err(RuntimeError::body(format!(
            "images: at most {MAX_IMAGES} per report"
        )));
    }
    let images = req
        .images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            Ok(ReportedImage {
                digest: image_digest(i, image)?,
                image: image.clone(),
            })
        })
        .collect::<Result<Vec<_>, RuntimeError>>()?;
    let n = images.len();
    store
        .replace_runtime_report(&RuntimeReport {
            cluster: req.cluster,
            namespace: req.namespace,
            workload: req.workload,
            images,
            reported_at: Utc::now(),
            reported_by: reported_by.to_owned(),
        })
        .await?;
    Ok(n)
}

/// A workload running something the gate did not promote.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DriftItem {
    /// The cluster.
    pub cluster: String,
    /// The namespace.
    pub namespace: String,
    /// The workload.
    pub workload: String,
    /// When it was reported.
    pub reported_at: chrono::DateTime<Utc>,
    /// Each image that drifted, with why.
    pub images: Vec<DriftImage>,
}

/// One drifted image.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DriftImage {
    /// As reported.
    pub image: String,
    /// Its digest.
    pub digest: String,
    /// Why it is not a promoted image.
    pub reason: String,
}

/// A page of the drift report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DriftPage {
    /// Drifted workloads among those looked at.
    pub drift: Vec<DriftItem>,
    /// The workloads looked at.
    pub scanned: usize,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
}

/// Drifted workloads among up to `limit` reported ones after `after`
/// (`cluster/namespace/workload`).
#[tracing::instrument(skip_all)]
pub async fn drift(
    admission: &Admission,
    store: &Store,
    keys: &GateKeys,
    after: Option<&str>,
    limit: i64,
) -> Result<DriftPage, RuntimeError> {
    let after = after
        .map(|a| {
            let mut parts = a.splitn(3, '/').map(str::to_owned);
            match (parts.next(), parts.next(), parts.next()) {
                (Some(c), Some(n), Some(w)) => Ok((c, n, w)),
                _ => Err(RuntimeError::Invalid {
                    code: "invalid_query",
                    detail: "after must be cluster/namespace/workload".into(),
                }),
            }
        })
        .transpose()?;
    let page = store.runtime_reports(after.as_ref(), limit).await?;
    let scanned = page.len();
    let next = (scanned as i64 == limit)
        .then(|| page.last())
        .flatten()
        .map(|r| format!("{}/{}/{}", r.cluster, r.namespace, r.workload));
    let mut drift = Vec::new();
    for report in page {
        let mut images = Vec::new();
        for i in &report.images {
            if let Some(reason) = image_reason(admission, store, keys, i).await? {
                images.push(DriftImage {
                    image: i.image.clone(),
                    digest: i.digest.to_string(),
                    reason,
                });
            }
        }
        if !images.is_empty() {
            drift.push(DriftItem {
                cluster: report.cluster,
                namespace: report.namespace,
                workload: report.workload,
                reported_at: report.reported_at,
                images,
            });
        }
    }
    Ok(DriftPage {
        drift,
        scanned,
        next,
    })
}

/// Why a reported image is drift, or `None` when the gate promoted it.
async fn image_reason(
    admission: &Admission,
    store: &Store,
    keys: &GateKeys,
    i: &ReportedImage,
) -> Result<Option<String>, portcullis_store::Error> {
    let repository = if i.image.parse::<Digest>().is_ok() {
        None
    } else {
        match parse_docker_reference(&i.image) {
            Ok(r) if admission.is_production(&r.registry) => Some((r.registry, r.repository)),
            Ok(r) => {
                return Ok(Some(format!(
                    "registry {} is not a production registry of this gate",
                    r.registry.as_str()
                )));
            }
            Err(e) => return Ok(Some(format!("not a valid image reference: {e}"))),
        }
    };
    Ok(
        match admission
            .cache
            .check(store, keys, repository.as_ref(), &i.digest)
            .await?
        {
            Verdict::Promoted(_) => None,
            Verdict::Refused(reason) => Some(reason),
        },
    )
}
