//! The streaming blob copy used by the copy engine: the source GET body piped into the
//! destination PUT, hashed on the way through, never buffered whole; within one registry a
//! mount instead. Failures carry the end they happened at (`Role`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use portcullis_core::{RegistryHost, RepoPath};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Body, Response, StatusCode, Url};
use tokio::sync::Notify;

use super::stream::{SourceFlags, verified, watched};
use super::{MountAnswer, blob_path};
use crate::client::{Access, Failed};
use crate::manifest::Descriptor;
use crate::response::check_status;
use crate::retry::retry_after;
use crate::{Error, RegistryClient, Result, Role};

/// The operation name of every request of a blob copy.
const OP: &str = "copy blob";

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

impl RegistryClient {
    /// Copies one blob between repositories (possibly on different registries), streaming;
    /// within one registry it is mounted when the registry agrees. Failures name their end.
    pub(crate) async fn copy_blob(
        &self,
        from: (&RegistryHost, &RepoPath),
        to: (&RegistryHost, &RepoPath),
        blob: &Descriptor,
    ) -> Result<BlobOutcome> {
        let (src_reg, src_repo) = from;
        let (dst_reg, dst_repo) = to;
        let at_dst = Error::at_end(Role::Destination);
        if self
            .blob_exists(dst_reg, dst_repo, &blob.digest)
            .await
            .map_err(&at_dst)?
        {
            return Ok(BlobOutcome::Skipped);
        }
        // Same registry: ask it to link the blob instead of moving the bytes through us.
        let session = if src_reg == dst_reg && src_repo != dst_repo {
            match self
                .mount_blob(dst_reg, dst_repo, src_repo, &blob.digest)
                .await
                .map_err(&at_dst)?
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

    /// Opens the source body of `blob`; `None` for a foreign layer the source does not serve.
    async fn open_source(
        &self,
        (src_reg, src_repo): (&RegistryHost, &RepoPath),
        blob: &Descriptor,
    ) -> Result<Option<Response>> {
        let src_url = self.url(src_reg, &blob_path(src_repo, &blob.digest))?;
        let resp = self
            .send(src_reg, src_repo, Access::Pull, OP, |http| {
                http.get(src_url.clone())
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            if !blob.urls.is_empty() {
                return Ok(None);
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
        Ok(Some(resp))
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
        let (src_reg, _) = from;
        let (dst_reg, dst_repo) = to;
        let at_src = Error::at_end(Role::Source);
        let at_dst = Error::at_end(Role::Destination);
        let Some(resp) = self.open_source(from, blob).await.map_err(&at_src)? else {
            return Ok(BlobOutcome::Foreign);
        };
        let put_url = match session {
            Some(url) => url,
            None => self
                .start_upload(dst_reg, dst_repo, &blob.digest)
                .await
                .map_err(&at_dst)?,
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
            return Err(at_src(Error::protocol(src_reg.as_str(), reason)).into());
        }
        if flags.timed_out.load(Ordering::Relaxed) {
            // The source stalled mid-blob; the upload failed for that, not for the destination.
            return Err(at_src(Error::Timeout {
                registry: src_reg.as_str().to_owned(),
                operation: OP,
                waited_for: "response body",
            })
            .into());
        }
        let resp = sent.map_err(&at_dst)?;
        let wait = retry_after(&resp);
        check_status(resp, dst_reg.as_str(), OP)
            .await
            .map_err(|error| Failed {
                error: at_dst(error),
                retry_after: wait,
            })?;
        Ok(BlobOutcome::Copied(blob.size))
    }
}
