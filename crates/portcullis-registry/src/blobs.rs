//! Blob operations of `RegistryClient`: existence checks, small verified reads, monolithic
//! uploads, and the streaming blob copy used by the copy engine (source GET body piped
//! into the destination PUT, hashed on the way through, never buffered whole).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use portcullis_core::{Digest, RegistryHost, RepoPath};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Body, StatusCode, Url};
use sha2::Digest as _;
use tokio::sync::Notify;

use crate::client::{Access, Failed, check_status, read_limited};
use crate::liveness::Activity;
use crate::manifest::Descriptor;
use crate::retry::retry_after;
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
    /// Mounted from the source repository on the same registry; nothing uploaded.
    Mounted,
}

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
        const OP: &str = "push blob";
        let digest = Digest::sha256_of(&bytes);
        if self.blob_exists(registry, repo, &digest).await? {
            return Ok(digest);
        }
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

    /// Copies one blob between repositories (possibly on different registries), streaming;
    /// within one registry it is mounted when the registry agrees.
    pub(crate) async fn copy_blob(
        &self,
        from: (&RegistryHost, &RepoPath),
        to: (&RegistryHost, &RepoPath),
        blob: &Descriptor,
    ) -> Result<BlobOutcome> {
        let (src_reg, src_repo) = from;
        let (dst_reg, dst_repo) = to;
        if self.blob_exists(dst_reg, dst_repo, &blob.digest).await? {
            return Ok(BlobOutcome::Skipped);
        }
        // Same registry: ask it to link the blob instead of moving the bytes through us.
        let session = if src_reg == dst_reg && src_repo != dst_repo {
            match self
                .mount_blob(dst_reg, dst_repo, src_repo, &blob.digest)
                .await?
            {
                MountAnswer::Mounted => return Ok(BlobOutcome::Mounted),
                MountAnswer::Declined(url) => Some(url),
            }
        } else {
            None
        };
        // The source body is consumed as it uploads, so a transient failure restarts the
        // whole transfer (source GET, new upload session, PUT), never resends half a body.
        let mut first_session = session.clone();
        let streamed = self
            .with_restarts(dst_reg, "copy blob", || {
                let session = first_session.take();
                self.stream_blob(from, to, blob, session)
            })
            .await;
        if let (Some(url), Err(_) | Ok(BlobOutcome::Foreign)) = (&session, &streamed) {
            self.abandon_upload(dst_reg, dst_repo, url).await;
        }
        streamed
    }

    /// Streams one blob from `from` into an upload at `to`: the given (declined-mount)
    /// session, or a new one.
    async fn stream_blob(
        &self,
        from: (&RegistryHost, &RepoPath),
        to: (&RegistryHost, &RepoPath),
        blob: &Descriptor,
        session: Option<Url>,
    ) -> std::result::Result<BlobOutcome, Failed> {
        const OP: &str = "copy blob";
        let (src_reg, src_repo) = from;
        let (dst_reg, dst_repo) = to;
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
            return Err(Error::NotFound { what }.into());
        }
        let resp = check_status(resp, src_reg.as_str(), OP).await?;
        if let Some(len) = resp.content_length().filter(|n| *n != blob.size) {
            let reason = format!(
                "blob {} is {len} bytes, descriptor says {}",
                blob.digest, blob.size
            );
            return Err(Error::protocol(src_reg.as_str(), reason).into());
        }
        let put_url = match session {
            Some(url) => url,
            None => self.start_upload(dst_reg, dst_repo, &blob.digest).await?,
        };
        let flags = Arc::new(SourceFlags::default());
        let body_sent = Arc::new(Notify::new());
        let body = Body::wrap_stream(watched(
            verified(resp.bytes_stream(), blob.digest.clone(), blob.size),
            flags.clone(),
            (body_sent.clone(), blob.size),
            self.activity().cloned(),
        ));
        let req = self
            .http_for_upload(&put_url)?
            .put(put_url.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, blob.size)
            .body(body);
        let sent = self
            .send_once(
                dst_reg,
                dst_repo,
                Access::Push,
                OP,
                &put_url,
                req,
                Some(&body_sent),
            )
            .await;
        if flags.bad_content.load(Ordering::Relaxed) {
            // Not transient: the source served other bytes than the descriptor names.
            let reason = format!("blob {} does not match its descriptor", blob.digest);
            return Err(Error::protocol(src_reg.as_str(), reason).into());
        }
        if flags.timed_out.load(Ordering::Relaxed) {
            // The source stalled mid-blob; the upload failed for that, not for the destination.
            return Err(Error::Timeout {
                registry: src_reg.as_str().to_owned(),
                operation: OP,
                waited_for: "response body",
            }
            .into());
        }
        let resp = sent?;
        let wait = retry_after(&resp);
        check_status(resp, dst_reg.as_str(), OP)
            .await
            .map_err(|error| Failed {
                error,
                retry_after: wait,
            })?;
        Ok(BlobOutcome::Copied(blob.size))
    }
}

/// Why a streamed source body failed, as seen from inside the upload.
#[derive(Debug, Default)]
struct SourceFlags {
    /// For its content (wrong digest or size): not worth another attempt.
    bad_content: AtomicBool,
    /// Because the source went quiet longer than its idle-read timeout.
    timed_out: AtomicBool,
}

/// Passes a source body `inner` through as an upload body: records each chunk as progress
/// on `activity`, notifies `sent` once all `size` bytes have gone out (an HTTP/1 client
/// stops polling a body of known length after its last byte, so its end is never seen),
/// and raises `flags` when it fails for its content rather than for a broken source
/// connection, or for a source that stalled.
fn watched(
    inner: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    flags: Arc<SourceFlags>,
    (sent, size): (Arc<Notify>, u64),
    activity: Option<Activity>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let at_end = sent.clone();
    let end = futures_util::stream::once(async move {
        at_end.notify_one();
        None::<std::io::Result<Bytes>>
    })
    .filter_map(|item| async move { item });
    let mut seen = 0u64;
    inner
        .inspect(move |item| match item {
            Ok(chunk) => {
                if let Some(a) = &activity {
                    a.touch();
                }
                seen += chunk.len() as u64;
                if seen >= size {
                    sent.notify_one();
                }
            }
            Err(e) => match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            {
                Some(source) if source.is_timeout() => {
                    flags.timed_out.store(true, Ordering::Relaxed);
                }
                Some(_) => {}
                None => flags.bad_content.store(true, Ordering::Relaxed),
            },
        })
        .chain(end)
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
