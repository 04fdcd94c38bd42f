//! How long to wait on a registry (`Timeouts`: for response headers, and between two reads
//! of a response), and `Activity`: the last moment a copy made progress, which the copy
//! worker reads to decide whether its job's lease may be renewed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Per-registry timeouts. A registry that accepts a connection and then says nothing fails
/// the request with `Error::Timeout` instead of holding it (and its caller) forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest wait from sending a request (its body included) to the response headers.
    pub response_header: Duration,
    /// Longest wait between two reads of a response (headers or body): a body that stalls
    /// mid-blob fails after this long without a byte.
    pub idle_read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            response_header: Duration::from_secs(30),
            idle_read: Duration::from_secs(30),
        }
    }
}

/// The last moment a copy made progress (a byte moved, a blob or manifest landed) or is
/// known to be waiting on purpose (a retry backoff). Cheap to clone; clones share the clock.
#[derive(Debug, Clone)]
pub struct Activity {
    started: Instant,
    /// Milliseconds after `started` of the latest progress (may lie in the future while a
    /// backoff is under way).
    last_ms: Arc<AtomicU64>,
    /// Blob bytes sent so far.
    streamed: Arc<AtomicU64>,
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Activity {
    /// A clock that saw progress now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
            streamed: Arc::new(AtomicU64::new(0)),
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }

    /// Records `bytes` of blob content sent on their way (a chunk of a streamed upload).
    pub fn streamed(&self, bytes: u64) {
        self.streamed.fetch_add(bytes, Ordering::Relaxed);
        self.touch();
    }

    /// Blob bytes sent so far, chunk by chunk (a retried upload counts again): progress
    /// that moves per byte, where `CopyReport` moves per finished blob.
    pub fn bytes_streamed(&self) -> u64 {
        self.streamed.load(Ordering::Relaxed)
    }

    /// Records progress now.
    pub fn touch(&self) {
        self.busy_until(Instant::now());
    }

    /// Records that the copy is waiting on purpose until `until` (a retry backoff): it
    /// counts as progress until then.
    pub fn busy_until(&self, until: Instant) {
        self.last_ms
            .fetch_max(self.millis(until), Ordering::Relaxed);
    }

    /// How long ago the last progress was (zero while a backoff is under way).
    pub fn idle_for(&self) -> Duration {
        let now = self.millis(Instant::now());
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backoff_counts_as_progress_until_it_ends() {
        let a = Activity::new();
        a.busy_until(Instant::now() + Duration::from_secs(3600));
        assert_eq!(a.idle_for(), Duration::ZERO);
        let clone = a.clone();
        clone.touch();
        assert_eq!(
            a.idle_for(),
            Duration::ZERO,
            "an earlier touch never rewinds"
        );
    }
}
