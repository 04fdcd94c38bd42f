//! Webhook subscribers (`webhooks: [{name, url, secret_file, events, format}]`) and how deliveries
//! are retried (`webhook_delivery`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// `metrics: {enabled, public}`: `GET /metrics` for Prometheus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Serve `GET /metrics` (default true).
    pub enabled: bool,
    /// Serve it without a token (default false: an auditor or admin token, which a
    /// Prometheus scrape config passes as `authorization: {credentials_file: …}`).
    pub public: bool,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            public: false,
        }
    }
}

/// Every event type a subscriber may ask for (CloudEvents type `dev.portcullis.<event>`).
pub const WEBHOOK_EVENTS: &[&str] = &[
    "requested",
    "pending_approval",
    "approved",
    "rejected",
    "denied",
    "expired",
    "promoted",
    "failed",
    "break_glass",
    "integrity_violation",
];

/// One subscriber.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Its name: `[a-z0-9-]`, 1–64, unique; delivery rows and logs name it.
    pub name: String,
    /// Where events are POSTed (http or https).
    pub url: String,
    /// A file holding the Standard Webhooks secret, `whsec_<base64>` (24–64 bytes).
    pub secret_file: PathBuf,
    /// The event types it is sent (see [`WEBHOOK_EVENTS`]); `["*"]` is all of them.
    pub events: Vec<String>,
    /// The body it is sent (default `cloudevents`).
    #[serde(default)]
    pub format: WebhookFormat,
}

/// What a subscriber is sent. Both are signed the same way (the Standard Webhooks headers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// A CloudEvents 1.0 JSON event (`application/cloudevents+json`).
    #[default]
    CloudEvents,
    /// A Slack incoming-webhook message (`{text, blocks}`), for Slack and the chat tools
    /// that take its format.
    Slack,
}

impl WebhookSettings {
    /// The event types, `*` expanded.
    pub fn event_types(&self) -> Vec<String> {
        if self.events.iter().any(|e| e == "*") {
            WEBHOOK_EVENTS.iter().map(|e| (*e).to_owned()).collect()
        } else {
            self.events.clone()
        }
    }
}

/// `webhook_delivery: {timeout_seconds, max_attempts, backoff_base_ms, backoff_max_seconds,
/// retention_days}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookDelivery {
    /// Longest one attempt may take (connect, send, answer).
    pub timeout_seconds: u64,
    /// Attempts before a delivery is `dead`.
    pub max_attempts: u32,
    /// The first retry's wait; it doubles each attempt.
    pub backoff_base_ms: u64,
    /// The longest wait between two attempts.
    pub backoff_max_seconds: u64,
    /// Finished deliveries and their events are deleted after this many days.
    pub retention_days: u32,
}

impl Default for WebhookDelivery {
    fn default() -> Self {
        Self {
            timeout_seconds: 10,
            max_attempts: 12,
            backoff_base_ms: 5_000,
            backoff_max_seconds: 3_600,
            retention_days: 7,
        }
    }
}

/// Resolves relative secret files against `base`.
pub(super) fn resolve(hooks: &mut [WebhookSettings], base: &Path) {
    for h in hooks {
        if h.secret_file.is_relative() {
            h.secret_file = base.join(&h.secret_file);
        }
    }
}

/// Names unique and well formed, URLs http(s), event types known, bounds in range.
pub(super) fn validate(
    hooks: &[WebhookSettings],
    delivery: &WebhookDelivery,
) -> Result<(), ConfigError> {
    let bad = |m: String| Err(ConfigError::Invalid(m));
    let mut names = std::collections::BTreeSet::new();
    for h in hooks {
        let ok = !h.name.is_empty()
            && h.name.len() <= 64
            && h.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return bad(format!(
                "webhooks: name {:?} must be 1-64 of [a-z0-9-]",
                h.name
            ));
        }
        if !names.insert(h.name.as_str()) {
            return bad(format!("webhooks: the name {:?} is used twice", h.name));
        }
        let url_ok = reqwest::Url::parse(&h.url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !url_ok {
            return bad(format!(
                "webhooks.{}: url {:?} is not an http(s) URL",
                h.name, h.url
            ));
        }
        if h.events.is_empty() {
            return bad(format!("webhooks.{}: events is empty", h.name));
        }
        if let Some(e) = h
            .events
            .iter()
            .find(|e| *e != "*" && !WEBHOOK_EVENTS.contains(&e.as_str()))
        {
            return bad(format!(
                "webhooks.{}: unknown event {e:?} (known: {})",
                h.name,
                WEBHOOK_EVENTS.join(", ")
            ));
        }
    }
    if delivery.timeout_seconds == 0 || delivery.timeout_seconds > 60 {
        return bad("webhook_delivery.timeout_seconds must be 1 to 60".into());
    }
    if delivery.max_attempts == 0 || delivery.max_attempts > 50 {
        return bad("webhook_delivery.max_attempts must be 1 to 50".into());
    }
    if delivery.backoff_max_seconds == 0 || delivery.retention_days == 0 {
        return bad(
            "webhook_delivery.backoff_max_seconds and retention_days must be at least 1".into(),
        );
    }
    Ok(())
}

/// Reads a Standard Webhooks secret: `whsec_` then base64 of 24 to 64 bytes.
pub fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let b64 = text
        .trim()
        .strip_prefix("whsec_")
        .ok_or_else(|| format!("{}: a webhook secret is whsec_<base64>", path.display()))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("{}: the secret is not base64: {e}", path.display()))?;
    if !(24..=64).contains(&bytes.len()) {
        return Err(format!(
            "{}: the secret is {} bytes; use 24 to 64",
            path.display(),
            bytes.len()
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(name: &str, url: &str, events: &[&str]) -> WebhookSettings {
        WebhookSettings {
            name: name.into(),
            url: url.into(),
            secret_file: PathBuf::from("s"),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            format: WebhookFormat::CloudEvents,
        }
    }

    #[test]
    fn subscribers_are_checked() {
        let d = WebhookDelivery::default();
        assert!(validate(&[hook("ci", "https://x.example/h", &["promoted"])], &d).is_ok());
        for (bad, why) in [
            (vec![hook("CI", "https://x/h", &["promoted"])], "name"),
            (vec![hook("a", "ftp://x/h", &["promoted"])], "http(s) URL"),
            (
                vec![hook("a", "https://x/h", &["deployed"])],
                "unknown event",
            ),
            (vec![hook("a", "https://x/h", &[])], "events is empty"),
            (
                vec![
                    hook("a", "https://x/h", &["*"]),
                    hook("a", "https://y/h", &["*"]),
                ],
                "used twice",
            ),
        ] {
            let e = validate(&bad, &d)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(why), "{why}: {e}");
        }
        assert_eq!(
            hook("a", "https://x/h", &["*"]).event_types().len(),
            WEBHOOK_EVENTS.len()
        );
    }

    #[test]
    fn secrets_are_standard_webhooks_secrets() {
        let dir = std::env::temp_dir().join(format!("pc-whsec-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let f = dir.join("s");
        let _ = std::fs::write(&f, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
        assert_eq!(read_secret(&f).map(|s| s.len()), Ok(24));
        let _ = std::fs::write(&f, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert!(read_secret(&f).is_err_and(|e| e.contains("whsec_")));
        let _ = std::fs::write(&f, "whsec_c2hvcnQ=");
        assert!(read_secret(&f).is_err_and(|e| e.contains("24 to 64")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
