//! Manifest operations of `RegistryClient`: resolve a reference to a digest, fetch a manifest
//! as raw bytes (checked against its digest), and put raw bytes back under a tag or digest.

use portcullis_core::{Digest, ImageRef, Reference, RegistryHost, RepoPath};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use crate::client::Access;
use crate::manifest::{ACCEPT_MANIFESTS, MAX_MANIFEST_BYTES};
use crate::response::{check_status, read_limited};
use crate::{Error, RawManifest, RegistryClient, Result};

/// The header registries use to announce a manifest's digest.
pub(crate) const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// Parses an optional `Docker-Content-Digest` header.
pub(crate) fn announced_digest(
    resp: &reqwest::Response,
    registry: &RegistryHost,
) -> Result<Option<Digest>> {
    let Some(value) = resp.headers().get(DOCKER_CONTENT_DIGEST) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| Error::protocol(registry.as_str(), "non-ASCII Docker-Content-Digest"))?;
    let digest = text.trim().parse().map_err(|_| {
        Error::protocol(
            registry.as_str(),
            format!("malformed Docker-Content-Digest {text:?}"),
        )
    })?;
    Ok(Some(digest))
}

fn manifest_path(repo: &RepoPath, reference: &Reference) -> String {
    format!("{}/manifests/{reference}", repo.as_str())
}

impl RegistryClient {
    /// Resolves a tag to the digest it points at now; for a digest reference, checks that
    /// the manifest exists. A missing manifest is `NotFound`.
    pub async fn resolve(&self, image: &ImageRef) -> Result<Digest> {
        const OP: &str = "resolve manifest";
        let (registry, repo) = (&image.registry, &image.repository);
        let url = self.url(registry, &manifest_path(repo, &image.reference))?;
        let resp = self
            .send(registry, repo, Access::Pull, OP, |http| {
                http.head(url.clone()).header(ACCEPT, ACCEPT_MANIFESTS)
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound {
                what: format!("manifest {image}"),
            });
        }
        let resp = check_status(resp, registry.as_str(), OP).await?;
        let announced = announced_digest(&resp, registry)?;
        match (&image.reference, announced) {
            (Reference::Digest(d), Some(a)) if a.algorithm() == d.algorithm() && a != *d => {
                Err(Error::DigestMismatch {
                    expected: d.clone(),
                    actual: a,
                })
            }
            (Reference::Digest(d), _) => Ok(d.clone()),
            (Reference::Tag(_), Some(a)) => Ok(a),
            (Reference::Tag(_), None) => {
                let manifest = self.get_manifest(registry, repo, &image.reference).await?;
                manifest.map(|m| m.digest).ok_or_else(|| Error::NotFound {
                    what: format!("manifest {image}"),
                })
            }
        }
    }

    /// Confirms that `repo` holds the manifest `digest`: a HEAD whose announced digest must
    /// match, or — when the registry announces none (or another algorithm) — a GET whose bytes
    /// must hash to `digest`. Missing is `NotFound`, different content `DigestMismatch`.
    pub(crate) async fn confirm_manifest(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        digest: &Digest,
    ) -> Result<()> {
        const OP: &str = "confirm manifest";
        let reference = Reference::Digest(digest.clone());
        let url = self.url(registry, &manifest_path(repo, &reference))?;
        let not_found = || Error::NotFound {
            what: format!(
                "manifest {digest} in {}/{}",
                registry.as_str(),
                repo.as_str()
            ),
        };
        let resp = self
            .send(registry, repo, Access::Pull, OP, |http| {
                http.head(url.clone()).header(ACCEPT, ACCEPT_MANIFESTS)
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(not_found());
        }
        let resp = check_status(resp, registry.as_str(), OP).await?;
        match announced_digest(&resp, registry)? {
            Some(a) if a.algorithm() == digest.algorithm() => {
                if a == *digest {
                    Ok(())
                } else {
                    Err(Error::DigestMismatch {
                        expected: digest.clone(),
                        actual: a,
                    })
                }
            }
            // No usable announcement: fetch the bytes; `get_manifest` hashes them.
            _ => match self.get_manifest(registry, repo, &reference).await? {
                Some(_) => Ok(()),
                None => Err(not_found()),
            },
        }
    }

    /// Fetches a manifest as raw bytes; `None` when the registry answers 404.
    /// A digest reference is verified against the bytes; for a tag, an announced digest is.
    pub async fn get_manifest(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        reference: &Reference,
    ) -> Result<Option<RawManifest>> {
        const OP: &str = "get manifest";
        let url = self.url(registry, &manifest_path(repo, reference))?;
        let resp = self
            .send(registry, repo, Access::Pull, OP, |http| {
                http.get(url.clone()).header(ACCEPT, ACCEPT_MANIFESTS)
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check_status(resp, registry.as_str(), OP).await?;
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let announced = announced_digest(&resp, registry)?;
        let what = || {
            format!(
                "manifest {reference} in {}/{}",
                registry.as_str(),
                repo.as_str()
            )
        };
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES, registry.as_str(), what).await?;
        let expected = match reference {
            Reference::Digest(d) => Some(d.clone()),
            Reference::Tag(_) => announced,
        };
        let digest = match expected {
            Some(d) if d.matches(&bytes) => d,
            Some(d) => {
                return Err(Error::DigestMismatch {
                    expected: d,
                    actual: Digest::sha256_of(&bytes),
                });
            }
            None => Digest::sha256_of(&bytes),
        };
        RawManifest::from_fetched(content_type.as_deref(), bytes.into(), digest).map(Some)
    }

    /// Puts raw manifest bytes under `reference` with their media type; checks the digest
    /// the registry announces against `manifest.digest`.
    pub async fn put_manifest(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        reference: &Reference,
        manifest: &RawManifest,
    ) -> Result<Digest> {
        const OP: &str = "put manifest";
        if !manifest.digest.matches(&manifest.bytes) {
            let actual = Digest::sha256_of(&manifest.bytes);
            return Err(Error::DigestMismatch {
                expected: manifest.digest.clone(),
                actual,
            });
        }
        if let Reference::Digest(d) = reference
            && *d != manifest.digest
        {
            return Err(Error::DigestMismatch {
                expected: d.clone(),
                actual: manifest.digest.clone(),
            });
        }
        let url = self.url(registry, &manifest_path(repo, reference))?;
        let resp = self
            .send(registry, repo, Access::Push, OP, |http| {
                http.put(url.clone())
                    .header(CONTENT_TYPE, manifest.media_type.as_str())
                    .body(manifest.bytes.clone())
            })
            .await?;
        let resp = check_status(resp, registry.as_str(), OP).await?;
        match announced_digest(&resp, registry)? {
            Some(a) if a.algorithm() == manifest.digest.algorithm() && a != manifest.digest => {
                Err(Error::DigestMismatch {
                    expected: manifest.digest.clone(),
                    actual: a,
                })
            }
            _ => Ok(manifest.digest.clone()),
        }
    }
}
