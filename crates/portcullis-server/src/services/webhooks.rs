//! Webhooks: CloudEvents 1.0 (type `dev.portcullis.<event>`) of promotion changes, POSTed
//! to the configured subscribers and signed as the Standard Webhooks spec says
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`), so a receiver can check them and refuse replays.
//!
//! Events come from the Postgres outbox (migration 0017), written by triggers in the
//! transaction of the change. Every `TICK` the dispatcher fans new events out to the
//! subscribers of their type, claims the deliveries that are due (leased, so replicas share
//! them) and sends them; a failure is retried with exponential backoff until
//! `webhook_delivery.max_attempts`, then the delivery is `dead`. A receiver that is down
//! loses nothing: its deliveries wait in the table.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use portcullis_gate::MacKey;
use portcullis_store::{AttemptOutcome, DueDelivery, Store, WebhookSubscriber};
use serde_json::json;

use crate::config::{WebhookDelivery, WebhookFormat, WebhookSettings, read_secret};

mod slack;
use crate::services::trust::timestamp;

/// How often the dispatcher looks for work.
const TICK: Duration = Duration::from_secs(1);
/// Longest one round (fan-out, claim, sends) may take.
const ROUND_TIMEOUT: Duration = Duration::from_secs(120);
/// Events fanned out per round.
const FAN_OUT_BATCH: i64 = 500;
/// Deliveries claimed per round.
const CLAIM_BATCH: i64 = 32;
/// How often old deliveries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// The CloudEvents `source` of every event.
pub const SOURCE: &str = "urn:portcullis:gate";

/// One configured subscriber, its secret loaded.
#[derive(Debug)]
struct Subscriber {
    name: String,
    url: reqwest::Url,
    key: MacKey,
    events: Vec<String>,
    format: WebhookFormat,
}

/// The subscribers and the delivery rules.
#[derive(Debug)]
pub struct Webhooks {
    subscribers: Vec<Subscriber>,
    delivery: WebhookDelivery,
    http: reqwest::Client,
    /// The approver page's base URL (`ui.public_url`), for links in chat messages.
    ui_base: Option<String>,
}

impl Webhooks {
    /// From the configuration; a secret file that does not load is an error. `ui_base` is
    /// the approver page's base URL, which chat messages link to.
    pub fn new(
        hooks: &[WebhookSettings],
        delivery: &WebhookDelivery,
        ui_base: Option<&str>,
    ) -> Result<Self, String> {
        let subscribers = hooks
            .iter()
            .map(|h| {
                let secret =
                    read_secret(&h.secret_file).map_err(|e| format!("webhooks.{}: {e}", h.name))?;
                let url =
                    reqwest::Url::parse(&h.url).map_err(|e| format!("webhooks.{}: {e}", h.name))?;
                Ok(Subscriber {
                    name: h.name.clone(),
                    url,
                    key: MacKey::from_secret(&secret, &h.name),
                    events: h.event_types(),
                    format: h.format,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(delivery.timeout_seconds))
            .connect_timeout(Duration::from_secs(delivery.timeout_seconds.min(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("portcullis-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhooks: cannot build the HTTP client: {e}"))?;
        Ok(Self {
            subscribers,
            delivery: delivery.clone(),
            http,
            ui_base: ui_base.map(str::to_owned),
        })
    }

    fn fan_out_list(&self) -> Vec<WebhookSubscriber> {
        self.subscribers
            .iter()
            .map(|s| WebhookSubscriber {
                name: s.name.clone(),
                events: s.events.clone(),
            })
            .collect()
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1), or `None` when no
    /// attempt is left.
    fn retry_in_ms(&self, attempt: u32) -> Option<i64> {
        if attempt >= self.delivery.max_attempts {
            return None;
        }
        let max = self.delivery.backoff_max_seconds.saturating_mul(1000);
        let wait = self
            .delivery
            .backoff_base_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(30))
            .min(max);
        Some(i64::try_from(wait).unwrap_or(i64::MAX))
    }
}

/// The CloudEvent of a delivery, as the bytes that are signed and sent.
pub fn cloud_event(d: &DueDelivery) -> Vec<u8> {
    let event = json!({
        "specversion": "1.0",
        "id": d.event_id,
        "source": SOURCE,
        "type": format!("dev.portcullis.{}", d.event_type),
        "subject": d.promotion_id,
        "time": timestamp(d.created_at),
        "datacontenttype": "application/json",
        "data": d.data,
    });
    serde_json::to_vec(&event).unwrap_or_default()
}

/// The Standard Webhooks signature header value over `id.timestamp.body`.
pub fn signature(key: &MacKey, id: &str, unix_seconds: i64, body: &[u8]) -> String {
    let mut signed = format!("{id}.{unix_seconds}.").into_bytes();
    signed.extend_from_slice(body);
    format!("v1,{}", STANDARD.encode(key.sign(&signed)))
}

/// Sends one delivery and says how it ended.
async fn attempt(hooks: &Webhooks, d: &DueDelivery) -> AttemptOutcome {
    let Some(sub) = hooks.subscribers.iter().find(|s| s.name == d.subscriber) else {
        return AttemptOutcome::Failed {
            status: None,
            error: format!("subscriber {:?} is no longer configured", d.subscriber),
            retry_in_ms: None,
        };
    };
    let (body, content_type) = match sub.format {
        WebhookFormat::CloudEvents => (cloud_event(d), "application/cloudevents+json"),
        WebhookFormat::Slack => (
            slack::message(d, hooks.ui_base.as_deref()),
            "application/json",
        ),
    };
    let id = d.event_id.to_string();
    let now = chrono::Utc::now().timestamp();
    let sent = hooks
        .http
        .post(sub.url.clone())
        .header("content-type", content_type)
        .header("webhook-id", &id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature(&sub.key, &id, now, &body))
        .body(body)
        .send()
        .await;
    let attempt_no = u32::try_from(d.attempts).unwrap_or(0) + 1;
    match sent {
        Ok(r) if r.status().is_success() => AttemptOutcome::Delivered {
            status: i32::from(r.status().as_u16()),
        },
        Ok(r) => AttemptOutcome::Failed {
            status: Some(i32::from(r.status().as_u16())),
            error: format!("the receiver answered {}", r.status()),
            retry_in_ms: hooks.retry_in_ms(attempt_no),
        },
        Err(e) => AttemptOutcome::Failed {
            status: None,
            // Without the URL: it may carry a token in its query.
            error: e.without_url().to_string(),
            retry_in_ms: hooks.retry_in_ms(attempt_no),
        },
    }
}

/// One round: fan out, claim what is due, send it all at once; returns the deliveries
/// attempted. The test hook for webhooks (as `copier::run_pending_jobs` is for copies).
pub async fn run_once(
    store: &Store,
    hooks: &Arc<Webhooks>,
) -> Result<usize, portcullis_store::Error> {
    store
        .fan_out_webhooks(&hooks.fan_out_list(), FAN_OUT_BATCH)
        .await?;
    if hooks.subscribers.is_empty() {
        return Ok(0);
    }
    let lease = i64::try_from(hooks.delivery.timeout_seconds).unwrap_or(60) + 30;
    let due = store.claim_webhook_deliveries(CLAIM_BATCH, lease).await?;
    let attempted = due.len();
    let mut sends = tokio::task::JoinSet::new();
    for d in due {
        let (store, hooks) = (store.clone(), Arc::clone(hooks));
        sends.spawn(async move {
            let outcome = attempt(&hooks, &d).await;
            match &outcome {
                AttemptOutcome::Delivered { .. } => {
                    tracing::debug!(webhook.subscriber = %d.subscriber, webhook.event = %d.event_id, "webhook delivered");
                }
                AttemptOutcome::Failed {
                    error, retry_in_ms, ..
                } => {
                    tracing::warn!(webhook.subscriber = %d.subscriber, webhook.event = %d.event_id, error = %error, gave_up = retry_in_ms.is_none(), "webhook delivery failed");
                }
            }
            // A lost write leaves the lease to lapse: the event is sent again (receivers
            // deduplicate by webhook-id).
            store
                .finish_webhook_delivery(d.event_id, &d.subscriber, &outcome)
                .await
        });
    }
    while let Some(joined) = sends.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "could not record a webhook attempt"),
            Err(e) => tracing::error!(error = %e, "a webhook send panicked"),
        }
    }
    Ok(attempted)
}

/// Runs forever: a round every `TICK`, each within `ROUND_TIMEOUT`; prunes finished
/// deliveries older than `retention_days` every hour.
pub async fn run(store: Store, hooks: Arc<Webhooks>) {
    let mut last_prune = std::time::Instant::now();
    loop {
        match tokio::time::timeout(ROUND_TIMEOUT, run_once(&store, &hooks)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "webhook round failed"),
            Err(_) => tracing::error!("webhook round timed out"),
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = std::time::Instant::now();
            let days = i64::from(hooks.delivery.retention_days);
            let before = chrono::Utc::now() - chrono::Duration::days(days);
            if let Err(e) = store.prune_webhooks(before).await {
                tracing::warn!(error = %e, "pruning webhook deliveries failed");
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

/// The deliveries `GET /v1/webhooks/deliveries` lists.
pub async fn deliveries(
    store: &Store,
    state: Option<&str>,
    promotion: Option<uuid::Uuid>,
    limit: i64,
) -> Result<Vec<portcullis_store::DeliveryRecord>, portcullis_store::Error> {
    store.webhook_deliveries(state, promotion, limit).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks(base_ms: u64, max: u32) -> Webhooks {
        let delivery = WebhookDelivery {
            backoff_base_ms: base_ms,
            max_attempts: max,
            backoff_max_seconds: 60,
            ..WebhookDelivery::default()
        };
        Webhooks::new(&[], &delivery, None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap_and_stop() {
        let h = hooks(5_000, 5);
        let waits: Vec<Option<i64>> = (1..=5).map(|a| h.retry_in_ms(a)).collect();
        assert_eq!(
            waits,
            [Some(5_000), Some(10_000), Some(20_000), Some(40_000), None]
        );
        assert_eq!(hooks(50_000, 10).retry_in_ms(4), Some(60_000));
    }

    #[test]
    fn the_signature_is_standard_webhooks() {
        // The example of the Standard Webhooks spec's reference libraries.
        let key = MacKey::from_secret(
            &STANDARD
                .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap_or_default(),
            "test",
        );
        let sig = signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
