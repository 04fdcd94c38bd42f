//! Blob operations of `RegistryClient`: existence checks, small verified reads, monolithic
//! uploads, and the streaming blob copy used by the copy engine (source GET body piped
//! into the destination PUT, hashed on the way through, never buffered whole).

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use portcullis_core::{Digest, RegistryHost, RepoPath};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Body, StatusCode, Url};
use sha2::Digest as _;

use crate::client::{Access, check_status, read_limited};
use crate::manifest::Descriptor;
use crate::{Error, RegistryClient, Result};

/// What happened to one blob during a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlobOutcome {
    /// Uploaded; carries the byte count.
    Copied(u64),
    /// Already present at the destination.
    Skipped,
    /// A foreign layer the source does not serve.
    Foreign,
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
        const OP: &str = "push blob";
        let digest = Digest::sha256_of(&bytes);
        if self.blob_exists(registry, repo, &digest).await? {
            return Ok(digest);
        }
        let url = self.start_upload(registry, repo, &digest).await?;
        let len = bytes.len();
        let req = self
            .http()
            .put(url.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, len)
            .body(bytes);
        let resp = self
            .send_once(registry, repo, Access::Push, OP, &url, req)
            .await?;
        check_status(resp, registry.as_str(), OP).await?;
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

    /// Copies one blob between repositories (possibly on different registries), streaming.
    pub(crate) async fn copy_blob(
        &self,
        from: (&RegistryHost, &RepoPath),
        to: (&RegistryHost, &RepoPath),
        blob: &Descriptor,
    ) -> Result<BlobOutcome> {
        const OP: &str = "copy blob";
        let (src_reg, src_repo) = from;
        let (dst_reg, dst_repo) = to;
        if self.blob_exists(dst_reg, dst_repo, &blob.digest).await? {
            return Ok(BlobOutcome::Skipped);
        }
        let src_url = self.url(src_reg, &blob_path(src_repo, &blob.digest))?;
        let resp = self
            .send(src_reg, src_repo, Access::Pull, OP, |http| {
                http.get(src_url.clone())
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            if !blob.urls.is_empty() {
                return Ok(BlobOutcome::Foreign);
            }
            let what = format!(
                "blob {} in {}/{}",
                blob.digest,
                src_reg.as_str(),
                src_repo.as_str()
            );
            return Err(Error::NotFound { what });
        }
        let resp = check_status(resp, src_reg.as_str(), OP).await?;
        if let Some(len) = resp.content_length().filter(|n| *n != blob.size) {
            let reason = format!(
                "blob {} is {len} bytes, descriptor says {}",
                blob.digest, blob.size
            );
            return Err(Error::protocol(src_reg.as_str(), reason));
        }
        let put_url = self.start_upload(dst_reg, dst_repo, &blob.digest).await?;
        let body = Body::wrap_stream(verified(
            resp.bytes_stream(),
            blob.digest.clone(),
            blob.size,
        ));
        let req = self
            .http()
            .put(put_url.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, blob.size)
            .body(body);
        let resp = self
            .send_once(dst_reg, dst_repo, Access::Push, OP, &put_url, req)
            .await?;
        check_status(resp, dst_reg.as_str(), OP).await?;
        Ok(BlobOutcome::Copied(blob.size))
    }
}

/// Passes `inner` through while hashing it; fails the stream (and so the upload) when the
/// content is longer than `size` or does not hash to `expected` (sha256 only; registries
/// verify other algorithms themselves).
fn verified(
    inner: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    expected: Digest,
    size: u64,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    struct State<S> {
        inner: std::pin::Pin<Box<S>>,
        hasher: Option<sha2::Sha256>,
        seen: u64,
        expected: Digest,
        size: u64,
    }
    let state = State {
        inner: Box::pin(inner),
        hasher: Some(sha2::Sha256::new()),
        seen: 0,
        expected,
        size,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        let hasher = st.hasher.as_mut()?;
        match st.inner.next().await {
            Some(Ok(chunk)) => {
                hasher.update(&chunk);
                st.seen += chunk.len() as u64;
                if st.seen > st.size {
                    st.hasher = None;
                    return Some((
                        Err(std::io::Error::other("blob longer than its descriptor")),
                        st,
                    ));
                }
                Some((Ok(chunk), st))
            }
            Some(Err(e)) => {
                st.hasher = None;
                Some((Err(std::io::Error::other(e.without_url())), st))
            }
            None => {
                let hex = hex::encode(st.hasher.take()?.finalize());
                if st.expected.algorithm() == "sha256" && hex != st.expected.hex() {
                    return Some((
                        Err(std::io::Error::other(
                            "blob content does not match its digest",
                        )),
                        st,
                    ));
                }
                None
            }
        }
    })
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

    #[tokio::test]
    async fn verified_stream_passes_good_content_and_fails_bad() {
        let chunks = || {
            futures_util::stream::iter(vec![
                Ok(Bytes::from_static(b"hel")),
                Ok(Bytes::from_static(b"lo")),
            ])
        };
        let good: Vec<_> = verified(chunks(), Digest::sha256_of(b"hello"), 5)
            .collect()
            .await;
        assert!(good.iter().all(|r| r.is_ok()));
        assert_eq!(good.len(), 2);
        let bad: Vec<_> = verified(chunks(), Digest::sha256_of(b"HELLO"), 5)
            .collect()
            .await;
        assert!(bad.last().is_some_and(|r| r.is_err()));
        let long: Vec<_> = verified(chunks(), Digest::sha256_of(b"hello"), 4)
            .collect()
            .await;
        assert!(long.last().is_some_and(|r| r.is_err()));
    }
}
