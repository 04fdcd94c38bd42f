//! Kubernetes admission (`POST /v1/admission`): every container, init container and
//! ephemeral container of a workload must run an image pinned by digest, in a production
//! registry of this gate, whose digest this gate promoted there (its signed decision
//! statement verifies, `verdict`) and did not withdraw. Per namespace the mode is `enforce`
//! (refuse, with a reason per container), `warn` (allow, one AdmissionReview warning per
//! container) or `off` (allow, no work). Every answer is an AdmissionReview (`review`),
//! malformed requests included.

pub mod review;
pub mod verdict;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use portcullis_core::{Reference, RegistryHost, parse_docker_reference};
use portcullis_store::Store;
use serde_json::Value;

use crate::config::Route;
use crate::services::trust::GateKeys;
use review::Container;
pub use verdict::{Verdict, VerdictCache};

/// What admission does in a namespace (`admission.default_mode`, `admission.namespaces`).
pub use crate::config::AdmissionMode as Mode;

/// The admission settings and the verdict cache.
pub struct Admission {
    default_mode: Mode,
    namespaces: BTreeMap<String, Mode>,
    registries: BTreeSet<RegistryHost>,
    /// Verdicts by repository and digest.
    pub cache: VerdictCache,
}

impl Admission {
    /// Admission with these modes; production registries are the hosts routes promote to.
    pub fn new(
        default_mode: Mode,
        namespaces: BTreeMap<String, Mode>,
        routes: &[Route],
        cache: VerdictCache,
    ) -> Self {
        let registries = routes
            .iter()
            .filter_map(|r| r.to.split('/').next())
            .filter_map(|host| host.parse().ok())
            .collect();
        Self {
            default_mode,
            namespaces,
            registries,
            cache,
        }
    }

    /// The mode of `namespace`.
    pub fn mode(&self, namespace: Option<&str>) -> Mode {
        namespace
            .and_then(|n| self.namespaces.get(n))
            .copied()
            .unwrap_or(self.default_mode)
    }

    /// Forgets every cached verdict (a withdrawal in this process).
    pub fn invalidate(&self) {
        self.cache.invalidate();
    }

    /// Whether `host` is a registry some route promotes to.
    pub fn is_production(&self, host: &RegistryHost) -> bool {
        self.registries.contains(host)
    }
}

/// Answers an AdmissionReview body. Never fails: a bad review is answered with status 400,
/// an unreachable database with 503 (refused, or allowed with a warning in `warn` mode).
#[tracing::instrument(skip_all)]
pub async fn review(admission: &Admission, store: &Store, keys: &GateKeys, body: &[u8]) -> Value {
    let request = match review::parse(body) {
        Ok(r) => r,
        Err(bad) => {
            tracing::info!(admission.uid = %bad.uid, reason = %bad.message, "admission review refused as malformed");
            return review::response(&bad.uid, false, Some((400, bad.message)), &[]);
        }
    };
    let mode = admission.mode(request.namespace.as_deref());
    if mode == Mode::Off {
        return review::response(&request.uid, true, None, &[]);
    }
    let problems = match judge(admission, store, keys, &request.containers).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "admission: the database is unavailable");
            let message = "the gate could not check the images: its database is unavailable";
            return match mode {
                Mode::Warn => review::response(&request.uid, true, None, &[message.to_owned()]),
                _ => review::response(&request.uid, false, Some((503, message.into())), &[]),
            };
        }
    };
    if problems.is_empty() {
        tracing::debug!(admission.uid = %request.uid, admission.kind = %request.kind, "admission review allowed");
    } else {
        tracing::info!(
            admission.uid = %request.uid,
            admission.kind = %request.kind,
            admission.namespace = request.namespace.as_deref().unwrap_or_default(),
            admission.mode = ?mode,
            admission.refused = problems.len(),
            "admission review found images this gate did not promote"
        );
    }
    match (mode, problems.is_empty()) {
        (_, true) => review::response(&request.uid, true, None, &[]),
        (Mode::Warn, false) => review::response(&request.uid, true, None, &problems),
        _ => review::response(
            &request.uid,
            false,
            Some((403, format!("portcullis: {}", problems.join("; ")))),
            &[],
        ),
    }
}

/// One line per container whose image is refused.
async fn judge(
    admission: &Admission,
    store: &Store,
    keys: &GateKeys,
    containers: &[Container],
) -> Result<Vec<String>, portcullis_store::Error> {
    let mut seen: HashMap<&str, Option<String>> = HashMap::new();
    let mut problems = Vec::new();
    for c in containers {
        let reason = match seen.get(c.image.as_str()) {
            Some(r) => r.clone(),
            None => {
                let r = check_image(admission, store, keys, &c.image).await?;
                seen.insert(&c.image, r.clone());
                r
            }
        };
        if let Some(reason) = reason {
            problems.push(format!("{} {:?} ({}): {reason}", c.field, c.name, c.image));
        }
    }
    Ok(problems)
}

/// Why `image` may not run, or `None` when it may.
async fn check_image(
    admission: &Admission,
    store: &Store,
    keys: &GateKeys,
    image: &str,
) -> Result<Option<String>, portcullis_store::Error> {
    let r = match parse_docker_reference(image) {
        Ok(r) => r,
        Err(e) => return Ok(Some(format!("not a valid image reference: {e}"))),
    };
    let Reference::Digest(digest) = &r.reference else {
        return Ok(Some("not pinned by digest".into()));
    };
    if !admission.is_production(&r.registry) {
        return Ok(Some(format!(
            "registry {} is not a production registry of this gate",
            r.registry.as_str()
        )));
    }
    let repository = (r.registry.clone(), r.repository.clone());
    Ok(
        match admission
            .cache
            .check(store, keys, Some(&repository), digest)
            .await?
        {
            Verdict::Promoted(_) => None,
            Verdict::Refused(reason) => Some(reason),
        },
    )
}
