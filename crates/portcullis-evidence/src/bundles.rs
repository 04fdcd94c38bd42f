//! Finding the Sigstore bundles attached to a digest as OCI 1.1 referrers (the referrers API,
//! or its `sha256-<hex>` tag-schema fallback), as cosign v3 and GitHub's attest actions write
//! them: a manifest whose `artifactType` is a bundle media type, `subject` the digest, and one
//! layer holding the bundle JSON. Registry failures fail closed (the outer error); a bad
//! referrer or bundle is a rejected item with its reason.

use portcullis_core::{Digest, ImageRef, Reference};
use portcullis_registry::{ManifestContents, RegistryClient};
use serde::Deserialize;

use crate::keyless::bundle::{BUNDLE_MEDIA_TYPES, Bundle, MAX_BUNDLE_BYTES};

/// One bundle found: where, and its parsed form or why it could not be read.
pub(crate) struct FoundBundle {
    pub(crate) location: String,
    pub(crate) parsed: Result<Bundle, String>,
}

#[derive(Deserialize)]
struct Subject {
    subject: Option<SubjectDescriptor>,
}

#[derive(Deserialize)]
struct SubjectDescriptor {
    digest: String,
}

fn is_bundle_type(media_type: &str) -> bool {
    BUNDLE_MEDIA_TYPES.contains(&media_type)
        || media_type == "application/vnd.dev.sigstore.bundle+json;version=0.3"
}

/// The bundles referring to `digest`. More than `max_referrers` referrers is refused before
/// any is fetched.
pub(crate) async fn find(
    registry: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    max_referrers: usize,
) -> Result<Vec<FoundBundle>, String> {
    let (host, repo) = (&image.registry, &image.repository);
    let referrers = registry
        .referrers(host, repo, digest, None)
        .await
        .map_err(|e| format!("listing referrers of {digest}: {e}"))?;
    let referrers: Vec<_> = referrers
        .into_iter()
        .filter(|r| r.artifact_type.as_deref().is_some_and(is_bundle_type))
        .collect();
    if referrers.len() > max_referrers {
        return Err(format!(
            "{digest} has {} Sigstore bundle referrers, more than limits.max_referrers = {max_referrers}; none were read",
            referrers.len()
        ));
    }
    let mut found = Vec::new();
    for referrer in referrers {
        let location = format!("referrer {}", referrer.digest);
        let manifest = registry
            .get_manifest(host, repo, &Reference::Digest(referrer.digest.clone()))
            .await
            .map_err(|e| format!("fetching {location}: {e}"))?;
        let Some(manifest) = manifest else {
            found.push(FoundBundle {
                location,
                parsed: Err("referrer manifest does not exist".into()),
            });
            continue;
        };
        let subject = serde_json::from_slice::<Subject>(&manifest.bytes)
            .ok()
            .and_then(|s| s.subject)
            .map(|s| s.digest);
        if subject.as_deref() != Some(digest.as_str()) {
            let named = subject.unwrap_or_else(|| "nothing".into());
            found.push(FoundBundle {
                location,
                parsed: Err(format!("referrer subject is {named}, not {digest}")),
            });
            continue;
        }
        let layers = match manifest.contents().map_err(|e| e.to_string())? {
            ManifestContents::Image { layers, .. } => layers,
            ManifestContents::Index { .. } => {
                found.push(FoundBundle {
                    location,
                    parsed: Err("a bundle referrer that is an index".into()),
                });
                continue;
            }
        };
        let Some(layer) = layers.into_iter().find(|l| is_bundle_type(&l.media_type)) else {
            found.push(FoundBundle {
                location,
                parsed: Err("the referrer has no bundle layer".into()),
            });
            continue;
        };
        let location = format!("{location} ({})", layer.media_type);
        if layer.size > MAX_BUNDLE_BYTES {
            found.push(FoundBundle {
                location,
                parsed: Err(format!(
                    "bundle is {} bytes, more than {MAX_BUNDLE_BYTES}",
                    layer.size
                )),
            });
            continue;
        }
        use portcullis_registry::Error as E;
        let parsed = match registry
            .get_blob_bytes(host, repo, &layer.digest, MAX_BUNDLE_BYTES)
            .await
        {
            Ok(bytes) => Bundle::parse(&bytes),
            Err(e @ (E::NotFound { .. } | E::TooLarge { .. } | E::DigestMismatch { .. })) => {
                Err(format!("bundle blob {}: {e}", layer.digest))
            }
            Err(e) => return Err(format!("fetching bundle {}: {e}", layer.digest)),
        };
        found.push(FoundBundle { location, parsed });
    }
    Ok(found)
}
