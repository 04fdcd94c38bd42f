//! Transient-failure policy of the client: which failures are worth another attempt (429,
//! 502, 503, 504, connection failures and timeouts), how long to wait before it
//! (exponential backoff with jitter, or the registry's `Retry-After`, capped), and when to
//! give up (attempt count or total time). Pure decisions; `client` does the sending.

use std::time::{Duration, SystemTime};

use reqwest::Response;
use reqwest::header::RETRY_AFTER;

use portcullis_core::RegistryHost;

use crate::{Error, Result};

/// The longest `Retry-After` we honour; a registry asking for more gets this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How often and how patiently to retry transient failures of one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 disables retries.
    pub max_attempts: u32,
    /// The wait before the second attempt; doubled for every further one.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts (before jitter; `Retry-After` is capped at
    /// `MAX_RETRY_AFTER` instead).
    pub max_backoff: Duration,
    /// No further attempt starts after this much time since the first one.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based): the registry's
    /// `Retry-After` when it sent one (capped at `MAX_RETRY_AFTER`), else exponential
    /// backoff with "equal jitter" (half fixed, half random) so clients spread out.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(MAX_RETRY_AFTER);
        }
        let exp = attempt.saturating_sub(1).min(30);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        let half = base / 2;
        half + half.mul_f64(jitter_fraction())
    }
}

/// A number in `[0, 1)`, random enough to de-synchronise clients (not for cryptography).
fn jitter_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether a status is worth another attempt.
pub(crate) fn is_transient_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Whether a transport failure is worth another attempt: the connection could not be made,
/// broke, or timed out. Builder and decoding errors are not.
pub(crate) fn is_transient_transport(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()
}

/// Whether an error from one attempt is worth another: a transient status the attempt
/// turned into an error (the token endpoint, an upload PUT), or a transient transport error.
pub(crate) fn is_transient_error(e: &Error) -> bool {
    match e {
        Error::Http { status, .. } => is_transient_status(*status),
        Error::Transport { source, .. } => is_transient_transport(source),
        Error::At { error, .. } => is_transient_error(error),
        _ => false,
    }
}

/// The `Retry-After` of a 429 or 503 response, as a wait from now.
pub(crate) fn retry_after(resp: &Response) -> Option<Duration> {
    let status = resp.status().as_u16();
    if status != 429 && status != 503 {
        return None;
    }
    let value = resp.headers().get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// Parses `Retry-After` (delta-seconds or an HTTP-date) into a wait from `now`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The error of a transient failure that outlasted `attempts` attempts.
pub(crate) fn exhausted(e: Error, attempts: u32) -> Error {
    match e {
        Error::Http {
            status,
            operation,
            registry,
            ..
        } => Error::RetriesExhausted {
            registry,
            operation,
            status,
            attempts,
        },
        Error::Transport {
            registry,
            operation,
            source,
        } => Error::TransportExhausted {
            registry,
            operation,
            attempts,
            source,
        },
        Error::At { role, error } => exhausted(*error, attempts).at(role),
        other => other,
    }
}

/// One line per retry; names the status or error (never a URL or credential).
pub(crate) fn log_retry(
    registry: &RegistryHost,
    operation: &'static str,
    attempt: u32,
    delay: Duration,
    outcome: &Result<Response>,
) {
    let failure = match outcome {
        Ok(resp) => resp.status().as_u16().to_string(),
        Err(e) => e.to_string(),
    };
    tracing::warn!(
        registry = registry.as_str(),
        registry.operation = operation,
        retry.attempt = attempt,
        retry.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        retry.failure = %failure,
        "transient registry failure; retrying"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_delta_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn retry_after_is_honoured_but_capped() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(p.delay(3, Some(Duration::from_secs(3600))), MAX_RETRY_AFTER);
    }

    #[test]
    fn backoff_grows_exponentially_within_jitter_and_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(1),
            max_elapsed: Duration::from_secs(60),
        };
        for (attempt, full) in [(1, 200), (2, 400), (3, 800), (4, 1000), (9, 1000)] {
            let d = p.delay(attempt, None);
            let full = Duration::from_millis(full);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert!(p.delay(u32::MAX, None) <= Duration::from_secs(1));
    }

    #[test]
    fn only_throttling_and_gateway_statuses_are_transient() {
        for s in [429, 502, 503, 504] {
            assert!(is_transient_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 500, 501] {
            assert!(!is_transient_status(s), "{s}");
        }
    }
}
