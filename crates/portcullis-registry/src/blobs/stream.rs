//! The body of a streamed blob copy: the source response passed through to the upload,
//! hashed and size-checked on the way, recording progress and why it failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use portcullis_core::Digest;
use sha2::Digest as _;
use tokio::sync::Notify;

use crate::liveness::Activity;

/// Why a streamed source body failed, as seen from inside the upload.
#[derive(Debug, Default)]
pub(super) struct SourceFlags {
    /// For its content (wrong digest or size): not worth another attempt.
    pub(super) bad_content: AtomicBool,
    /// Because the source went quiet longer than its idle-read timeout.
    pub(super) timed_out: AtomicBool,
}

/// Passes a source body `inner` through as an upload body: records each chunk as progress
/// on `activity`, notifies `sent` once all `size` bytes have gone out (an HTTP/1 client
/// stops polling a body of known length after its last byte, so its end is never seen),
/// and raises `flags` when it fails for its content rather than for a broken source
/// connection, or for a source that stalled.
pub(super) fn watched(
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
                    a.streamed(chunk.len() as u64);
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
pub(super) fn verified(
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

    #[tokio::test]
    async fn progress_moves_with_every_chunk_not_only_per_blob() {
        let activity = Activity::new();
        let chunks = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"hel")),
            Ok(Bytes::from_static(b"lo")),
        ]);
        let sent = (Arc::new(Notify::new()), 5);
        let mut body = Box::pin(watched(
            chunks,
            Arc::default(),
            sent,
            Some(activity.clone()),
        ));
        assert_eq!(activity.bytes_streamed(), 0);
        let _first = body.next().await;
        assert_eq!(
            activity.bytes_streamed(),
            3,
            "the first chunk counts at once"
        );
        let _second = body.next().await;
        assert_eq!(activity.bytes_streamed(), 5);
    }
}
