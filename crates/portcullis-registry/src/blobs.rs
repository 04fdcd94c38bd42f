//! Blob operations of `RegistryClient`: existence checks, small verified reads, monolithic
//! uploads, upload sessions and cross-repository mounts. The streaming blob copy used by
//! the copy engine is in `copy`, the body it streams in `stream`.

mod copy;
mod stream;

pub(crate) use copy::BlobOutcome;

use bytes::Bytes;
use portcullis_core::{Digest, RegistryHost, RepoPath};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{StatusCode, Url};

use crate::client::{Access, Failed};
use crate::response::{check_status, read_limited};
use crate::retry::retry_after;
use crate::{Error, RegistryClient, Result};

/// The answer to a cross-repository mount request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountAnswer {
    /// 201: the blob is now in the destination repository.
    Mounted,
    /// 202: the registry declined and opened an ordinary upload session at this URL.
    Declined(Url),
}

/// Resolves an upload `Location` (absolute or relative) against the request URL and adds
/// `digest=<d>`, keeping any query the registry put there (session state).
pub(crate) fn upload_url(
    base: &Url,
    location: &str,
    digest: &Digest,
) -> std::result::Result<Url, String> {
    let mut url = base
        .join(location)
        .map_err(|e| format!("bad upload Location: {e}"))?;
    url.query_pairs_mut().append_pair("digest", digest.as_str());
    Ok(url)
}

/// Interprets a mount response: 201 is mounted; 202 is a declined mount whose `Location`
/// is an upload session (returned with `digest=` added, ready for the PUT).
pub(crate) fn mount_answer(
    status: StatusCode,
    base: &Url,
    location: Option<&str>,
    digest: &Digest,
) -> std::result::Result<MountAnswer, String> {
    match status {
        StatusCode::CREATED => Ok(MountAnswer::Mounted),
        StatusCode::ACCEPTED => {
            let location = location.ok_or("declined mount without an upload Location")?;
            upload_url(base, location, digest).map(MountAnswer::Declined)
        }
        other => Err(format!("unexpected {other} to a blob mount")),
    }
}

fn blob_path(repo: &RepoPath, digest: &Digest) -> String {
    format!("{}/blobs/{digest}", repo.as_str())
}

impl RegistryClient {
    /// Whether the blob exists in the repository.
    pub async fn blob_exists(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        digest: &Digest,
    ) -> Result<bool> {
        const OP: &str = "check blob";
        let url = self.url(registry, &blob_path(repo, digest))?;
        let resp = self
            .send(registry, repo, Access::Pull, OP, |http| {
                http.head(url.clone())
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        check_status(resp, registry.as_str(), OP)
            .await
            .map(|_| true)
    }

    /// Reads a small blob (a config, a signature payload) whole, refusing more than `max_len`
    /// bytes and verifying the digest. A missing blob is `NotFound`.
    pub async fn get_blob_bytes(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        digest: &Digest,
        max_len: u64,
    ) -> Result<Vec<u8>> {
        const OP: &str = "get blob";
        let url = self.url(registry, &blob_path(repo, digest))?;
        let resp = self
            .send(registry, repo, Access::Pull, OP, |http| {
                http.get(url.clone())
            })
            .await?;
        let what = || format!("blob {digest} in {}/{}", registry.as_str(), repo.as_str());
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound { what: what() });
        }
        let resp = check_status(resp, registry.as_str(), OP).await?;
        let bytes = read_limited(resp, max_len, registry.as_str(), what).await?;
        if !digest.matches(&bytes) {
            return Err(Error::DigestMismatch {
                expected: digest.clone(),
                actual: Digest::sha256_of(&bytes),
            });
        }
        Ok(bytes)
    }

    /// Uploads `bytes` as one blob (skipped when already present); returns its sha256 digest.
    pub async fn push_blob_bytes(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        bytes: Vec<u8>,
    ) -> Result<Digest> {
        let digest = Digest::sha256_of(&bytes);
        if self.blob_exists(registry, repo, &digest).await? {
            return Ok(digest);
        }
        self.upload_blob_bytes(registry, repo, digest, bytes).await
    }

    /// Uploads `bytes` without asking first whether the repository has them: for content
    /// the caller has just made (a signature, a timestamped document), where the `HEAD` of
    /// `push_blob_bytes` would only ever miss. A registry that has the blob accepts it again.
    pub async fn push_new_blob_bytes(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        bytes: Vec<u8>,
    ) -> Result<Digest> {
        let digest = Digest::sha256_of(&bytes);
        self.upload_blob_bytes(registry, repo, digest, bytes).await
    }

    /// `POST` an upload session, `PUT` the bytes to it (a monolithic upload; the registries
    /// this gate meets do not take a single-`POST` upload).
    async fn upload_blob_bytes(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        digest: Digest,
        bytes: Vec<u8>,
    ) -> Result<Digest> {
        const OP: &str = "push blob";
        let bytes = Bytes::from(bytes);
        // A failed PUT may leave its session unusable: a retry starts a new upload.
        self.with_restarts(registry, OP, || async {
            let url = self.start_upload(registry, repo, &digest).await?;
            let req = self
                .http_for(registry, &url)?
                .put(url.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, bytes.len())
                .body(bytes.clone());
            let resp = self
                .send_once(registry, repo, Access::Push, OP, &url, req, None)
                .await?;
            let wait = retry_after(&resp);
            check_status(resp, registry.as_str(), OP)
                .await
                .map_err(|error| Failed {
                    error,
                    retry_after: wait,
                })?;
            Ok(())
        })
        .await?;
        Ok(digest)
    }

    /// `POST /v2/<repo>/blobs/uploads/`; returns the URL to PUT the content to.
    async fn start_upload(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        digest: &Digest,
    ) -> Result<Url> {
        const OP: &str = "start blob upload";
        let url = self.url(registry, &format!("{}/blobs/uploads/", repo.as_str()))?;
        let resp = self
            .send(registry, repo, Access::Push, OP, |http| {
                http.post(url.clone()).header(CONTENT_LENGTH, 0)
            })
            .await?;
        let resp = check_status(resp, registry.as_str(), OP).await?;
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::protocol(registry.as_str(), "upload started without a Location")
            })?;
        upload_url(&url, location, digest).map_err(|e| Error::protocol(registry.as_str(), e))
    }

    /// `POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<from>`: 201 means mounted, 202
    /// an upload session (carrying `digest=` already) to use instead.
    pub(crate) async fn mount_blob(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        from: &RepoPath,
        digest: &Digest,
    ) -> Result<MountAnswer> {
        const OP: &str = "mount blob";
        let mut url = self.url(registry, &format!("{}/blobs/uploads/", repo.as_str()))?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from.as_str());
        let resp = self
            .send(registry, repo, Access::Push, OP, |http| {
                http.post(url.clone()).header(CONTENT_LENGTH, 0)
            })
            .await?;
        let resp = check_status(resp, registry.as_str(), OP).await?;
        let location = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok());
        mount_answer(resp.status(), &url, location, digest)
            .map_err(|e| Error::protocol(registry.as_str(), e))
    }

    /// Best-effort `DELETE` of an upload session we will not finish; failures are only
    /// logged (the registry expires abandoned sessions anyway).
    async fn abandon_upload(&self, registry: &RegistryHost, repo: &RepoPath, url: &Url) {
        const OP: &str = "abandon blob upload";
        let Ok(http) = self.http_for(registry, url) else {
            return;
        };
        let req = http.delete(url.clone());
        let outcome = match self
            .send_once(registry, repo, Access::Push, OP, url, req, None)
            .await
        {
            Ok(resp) => check_status(resp, registry.as_str(), OP).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            tracing::debug!(registry = registry.as_str(), error = %e, "upload session left to expire");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn joins_relative_and_absolute_locations_keeping_their_query() {
        let base = url("http://127.0.0.1:5555/v2/team/app/blobs/uploads/");
        let d = Digest::sha256_of(b"x");
        let rel = upload_url(&base, "/v2/team/app/blobs/uploads/abc?_state=s%2Bt", &d);
        assert_eq!(
            rel.map(String::from),
            Ok(format!(
                "http://127.0.0.1:5555/v2/team/app/blobs/uploads/abc?_state=s%2Bt&digest=sha256%3A{}",
                d.hex()
            ))
        );
        let abs = upload_url(&base, "https://other.example/upload/xyz", &d);
        assert_eq!(
            abs.map(String::from),
            Ok(format!(
                "https://other.example/upload/xyz?digest=sha256%3A{}",
                d.hex()
            ))
        );
    }

    #[test]
    fn mount_answer_reads_201_as_mounted_and_202_as_a_reusable_session() {
        let base = url("http://127.0.0.1:5555/v2/prod/app/blobs/uploads/?mount=x&from=team%2Fapp");
        let d = Digest::sha256_of(b"x");
        assert_eq!(
            mount_answer(StatusCode::CREATED, &base, None, &d),
            Ok(MountAnswer::Mounted)
        );
        let declined = mount_answer(
            StatusCode::ACCEPTED,
            &base,
            Some("/v2/prod/app/blobs/uploads/u1?_state=s"),
            &d,
        );
        assert_eq!(
            declined,
            Ok(MountAnswer::Declined(url(&format!(
                "http://127.0.0.1:5555/v2/prod/app/blobs/uploads/u1?_state=s&digest=sha256%3A{}",
                d.hex()
            ))))
        );
        assert!(mount_answer(StatusCode::ACCEPTED, &base, None, &d).is_err());
        assert!(mount_answer(StatusCode::OK, &base, None, &d).is_err());
    }
}
