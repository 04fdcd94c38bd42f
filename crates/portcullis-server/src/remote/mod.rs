//! The command line as a client of a running gate, for CI jobs and people: `promote`,
//! `pending`, `show`, `approve`, `reject`, `audit`. The server is `PORTCULLIS_URL`, the
//! token `PORTCULLIS_TOKEN`; nothing here reads the configuration file or the database.
//!
//! Exit codes, every verb (the 0/1/2 convention of the other commands, extended):
//! 0 ok (promoted, or allowed on a dry run; a vote counted; a listing printed), 1 denied,
//! 2 usage, connection or API error, 3 rejected, 4 failed, 5 timed out waiting, 6 expired.
//! `show` answers with the code of the promotion's state; a promotion still on its way
//! (`pending_approval`, `promoting`) is 0 unless `promote --wait` runs out of time.

mod promote;
pub(crate) mod render;
mod verbs;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

pub use promote::{PromoteArgs, promote};
pub use verbs::{audit, pending, show, vote};

/// Longest wait for any answer that is not a long poll.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest evidence file read.
const MAX_EVIDENCE_BYTES: u64 = 64 * 1024 * 1024;

/// How a verb ended: the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Outcome {
    /// Done: promoted, allowed on a dry run, a vote counted, a listing printed.
    Ok = 0,
    /// The policy denied it.
    Denied = 1,
    /// Usage, connection or API error.
    Error = 2,
    /// An approver rejected it.
    Rejected = 3,
    /// The copy failed.
    Failed = 4,
    /// `--wait` ran out of time.
    TimedOut = 5,
    /// It expired waiting for approvals.
    Expired = 6,
}

impl Outcome {
    /// The code of a promotion's state (`None`: still on its way).
    pub fn of_state(state: &str) -> Option<Self> {
        match state {
            "promoted" => Some(Self::Ok),
            "denied" => Some(Self::Denied),
            "rejected" => Some(Self::Rejected),
            "failed" => Some(Self::Failed),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// Why a verb could not do its work (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The command line or the environment is wrong.
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached or did not answer in time.
    #[error("cannot reach {url}: {reason}")]
    Connection {
        /// The server.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server refused (a problem+json answer).
    #[error("{status}: {detail} ({code})")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The problem's machine code.
        code: String,
        /// The problem's detail.
        detail: String,
    },
}

/// A client of one gate.
#[derive(Debug, Clone)]
pub struct Api {
    base: reqwest::Url,
    token: String,
    http: reqwest::Client,
}

impl Api {
    /// From `PORTCULLIS_URL` and `PORTCULLIS_TOKEN`.
    pub fn from_env() -> Result<Self, RemoteError> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| RemoteError::Usage(format!("{name} is not set")))
        };
        Self::new(&var("PORTCULLIS_URL")?, var("PORTCULLIS_TOKEN")?)
    }

    /// A client of the gate at `url` with `token`.
    pub fn new(url: &str, token: String) -> Result<Self, RemoteError> {
        let base = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                RemoteError::Usage(format!("PORTCULLIS_URL {url:?} is not an http(s) URL"))
            })?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("portcullis-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RemoteError::Usage(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self { base, token, http })
    }

    /// Sends a request with an optional JSON body and answers the JSON of a 2xx; anything
    /// else is an error. `timeout` bounds the whole exchange.
    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, RemoteError> {
        let url = self
            .base
            .join(path_and_query)
            .map_err(|e| RemoteError::Usage(format!("bad request path {path_and_query:?}: {e}")))?;
        let connection = |reason: String| RemoteError::Connection {
            url: self.base.to_string(),
            reason,
        };
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&self.token)
            .timeout(timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| connection(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| connection(e.to_string()))?;
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(json);
        }
        let field = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_owned);
        Err(RemoteError::Api {
            status,
            code: field("code").unwrap_or_else(|| "unknown".into()),
            detail: field("detail").unwrap_or_else(|| String::from_utf8_lossy(&bytes).into()),
        })
    }

    async fn get(&self, path_and_query: &str) -> Result<Value, RemoteError> {
        self.send(Method::GET, path_and_query, None, REQUEST_TIMEOUT)
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, RemoteError> {
        self.send(Method::POST, path, Some(body), REQUEST_TIMEOUT)
            .await
    }
}

/// A path segment or query value from user input, percent-encoded (all but RFC 3986's
/// unreserved characters).
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_exit_codes() {
        assert_eq!(Outcome::of_state("promoted"), Some(Outcome::Ok));
        assert_eq!(Outcome::of_state("denied"), Some(Outcome::Denied));
        assert_eq!(Outcome::of_state("rejected"), Some(Outcome::Rejected));
        assert_eq!(Outcome::of_state("failed"), Some(Outcome::Failed));
        assert_eq!(Outcome::of_state("expired"), Some(Outcome::Expired));
        assert_eq!(Outcome::of_state("pending_approval"), None);
        assert_eq!(Outcome::of_state("promoting"), None);
        assert_eq!(Outcome::TimedOut as u8, 5);
    }

    #[test]
    fn urls_are_checked_and_segments_escaped() {
        assert!(Api::new("ftp://x", String::new()).is_err());
        assert!(Api::new("not a url", String::new()).is_err());
        assert!(Api::new("https://gate.example:8443", String::new()).is_ok());
        assert_eq!(segment("a/b?c d"), "a%2Fb%3Fc%20d");
        assert_eq!(segment("sha256:ab"), "sha256%3Aab");
    }
}
