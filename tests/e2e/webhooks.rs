//! Webhooks against a real local HTTP receiver that fails the first attempts of every event:
//! each event of a promotion's life arrives once it recovers, as a CloudEvent signed as
//! Standard Webhooks say (checked here with an HMAC written in the test), and the delivery
//! status shows the attempts. Events come from the outbox the state change's transaction
//! wrote, so a receiver that was down loses nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::support::{TestApp, trivy};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A receiver answering 503 to the first `fail_first` attempts of every webhook-id, then 204.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen = got.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut headers = BTreeMap::new();
                        loop {
                            let mut h = String::new();
                            reader.read_line(&mut h).await.unwrap();
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            let (k, v) = h.split_once(':').unwrap();
                            headers.insert(k.to_ascii_lowercase(), v.trim().to_owned());
                        }
                        let len: usize = headers["content-length"].parse().unwrap();
                        let mut body = vec![0; len];
                        reader.read_exact(&mut body).await.unwrap();
                        let id = headers["webhook-id"].clone();
                        let attempts = {
                            let mut all = seen.lock().unwrap();
                            all.push(Received { headers, body });
                            all.iter().filter(|r| r.headers["webhook-id"] == id).count()
                        };
                        let status = if attempts <= fail_first {
                            "503 Service Unavailable"
                        } else {
                            "204 No Content"
                        };
                        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                        if write.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// HMAC-SHA256, written here from RFC 2104 rather than taken from the gate.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// A fresh directory holding the subscribers' secret: the directory and the file.
fn secret_file() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("webhooks-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secret");
    std::fs::write(&file, SECRET).unwrap();
    (dir, file)
}

fn verify(r: &Received) -> bool {
    let key = STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let signed = format!(
        "{}.{}.{}",
        r.headers["webhook-id"],
        r.headers["webhook-timestamp"],
        String::from_utf8_lossy(&r.body)
    );
    let expected = format!(
        "v1,{}",
        STANDARD.encode(hmac_sha256(&key, signed.as_bytes()))
    );
    r.headers["webhook-signature"]
        .split(' ')
        .any(|s| s == expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_a_promotion_reaches_a_receiver_that_fails_at_first() {
    let receiver = Receiver::start(2).await;
    let (secret_dir, secret_file) = secret_file();
    let url = receiver.url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.webhooks = vec![portcullis_server::config::WebhookSettings {
            name: "ci-hooks".into(),
            url,
            secret_file,
            events: vec!["*".into()],
            format: portcullis_server::config::WebhookFormat::CloudEvents,
        }];
        c.webhook_delivery.backoff_base_ms = 0;
    })
    .await;
    // A denied request (before the tag exists in production), then a promotion.
    let unsigned = app.push_image("team/app", "unsigned").await;
    let (_, denied) = app
        .request(&app.source("team/app", &unsigned), trivy(&[]))
        .await;
    assert_eq!(denied["state"], "denied", "{denied}");
    let digest = app.push_signed("team/app", "build-1").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    assert_eq!(app.wait_settled(&id).await["state"], "promoted");

    // Rounds until every event got through its two failures (each round sends what is due).
    let hooks = app.state.webhooks.clone();
    for _ in 0..20 {
        portcullis_server::services::webhooks::run_once(&app.state.store, &hooks)
            .await
            .unwrap();
        let (_, d) = app
            .get("/v1/webhooks/deliveries?state=pending", &app.tokens.auditor)
            .await;
        if d["deliveries"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
    }

    let got = receiver.received();
    assert!(got.iter().all(verify), "a signature does not verify");
    let delivered: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .collect();
    let types_of = |promotion: &str| {
        let mut seen: Vec<String> = Vec::new();
        for e in delivered.iter().filter(|e| e["subject"] == promotion) {
            let t = e["type"].as_str().unwrap().to_owned();
            if !seen.contains(&t) {
                seen.push(t);
            }
        }
        seen.sort();
        seen
    };
    assert_eq!(
        types_of(&id),
        [
            "dev.portcullis.approved",
            "dev.portcullis.pending_approval",
            "dev.portcullis.promoted",
            "dev.portcullis.requested",
        ]
    );
    assert_eq!(
        types_of(denied["id"].as_str().unwrap()),
        ["dev.portcullis.denied", "dev.portcullis.requested"]
    );
    let promoted = delivered
        .iter()
        .find(|e| e["type"] == "dev.portcullis.promoted")
        .unwrap();
    assert_eq!(promoted["specversion"], "1.0");
    assert_eq!(promoted["source"], "urn:portcullis:gate");
    assert_eq!(promoted["data"]["digest"], digest);
    assert_eq!(promoted["data"]["state"], "promoted");
    assert_eq!(promoted["datacontenttype"], "application/json");
    // Each event was tried three times under one id (failed twice, then delivered).
    let mut per_id: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &got {
        *per_id.entry(r.headers["webhook-id"].as_str()).or_default() += 1;
    }
    assert_eq!(per_id.len(), 6, "{per_id:?}");
    assert!(per_id.values().all(|n| *n == 3), "{per_id:?}");

    let (status, d) = app
        .get(
            &format!("/v1/webhooks/deliveries?promotion={id}"),
            &app.tokens.auditor,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    let rows = d["deliveries"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{d}");
    for row in rows {
        assert_eq!(row["state"], "delivered", "{row}");
        assert_eq!(row["attempts"], 3, "{row}");
        assert_eq!(row["last_status"], 204, "{row}");
        assert_eq!(row["subscriber"], "ci-hooks");
    }
    // Bad queries are refused; a CI token may not read deliveries.
    for q in ["state=lost", "limit=0", "promotion=nope", "other=1"] {
        let (status, e) = app
            .get(&format!("/v1/webhooks/deliveries?{q}"), &app.tokens.auditor)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {e}");
    }
    let (status, _) = app.get("/v1/webhooks/deliveries", &app.tokens.ci).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let _ = std::fs::remove_dir_all(&secret_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_rolls_back_sends_nothing_and_a_dead_receiver_ends_dead() {
    // Nobody listens on this port: every attempt fails to connect.
    let port = portcullis_testkit::free_port();
    let (dir, secret_file) = secret_file();
    let app = TestApp::spawn_with(move |c| {
        c.webhooks = vec![portcullis_server::config::WebhookSettings {
            name: "gone".into(),
            url: format!("http://127.0.0.1:{port}/hooks"),
            secret_file,
            events: vec!["denied".into()],
            format: portcullis_server::config::WebhookFormat::CloudEvents,
        }];
        c.webhook_delivery.backoff_base_ms = 0;
        c.webhook_delivery.max_attempts = 2;
    })
    .await;
    let unsigned = app.push_image("team/app", "unsigned").await;
    let (_, denied) = app
        .request(&app.source("team/app", &unsigned), trivy(&[]))
        .await;
    assert_eq!(denied["state"], "denied");
    // A state change in a transaction that rolls back leaves no event behind.
    let mut tx = app.db.begin().await.unwrap();
    let changed = sqlx::query("UPDATE promotions SET state = 'failed'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    tx.rollback().await.unwrap();
    let hooks = app.state.webhooks.clone();
    for _ in 0..5 {
        portcullis_server::services::webhooks::run_once(&app.state.store, &hooks)
            .await
            .unwrap();
    }
    let (_, d) = app
        .get("/v1/webhooks/deliveries", &app.tokens.auditor)
        .await;
    let rows = d["deliveries"].as_array().unwrap();
    // Only `denied` was subscribed: one delivery, given up after its two attempts.
    assert_eq!(rows.len(), 1, "{d}");
    assert_eq!(rows[0]["type"], "denied");
    assert_eq!(rows[0]["state"], "dead");
    assert_eq!(rows[0]["attempts"], 2);
    assert!(
        rows[0]["last_error"]
            .as_str()
            .is_some_and(|e| !e.contains("127.0.0.1")),
        "{}",
        rows[0]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM webhook_outbox WHERE type = 'failed'")
            .await,
        0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_subscriber_gets_a_chat_message() {
    let receiver = Receiver::start(0).await;
    let (secret_dir, secret_file) = secret_file();
    let url = receiver.url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.webhooks = vec![portcullis_server::config::WebhookSettings {
            name: "chat".into(),
            url,
            secret_file,
            events: vec!["promoted".into()],
            format: portcullis_server::config::WebhookFormat::Slack,
        }];
        c.ui.public_url = Some("https://gate.example".into());
    })
    .await;
    let digest = app.push_signed("team/app", "build-1").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    assert_eq!(app.wait_settled(&id).await["state"], "promoted");
    let hooks = app.state.webhooks.clone();
    portcullis_server::services::webhooks::run_once(&app.state.store, &hooks)
        .await
        .unwrap();

    let got = receiver.received();
    assert_eq!(got.len(), 1, "only the promoted event was asked for");
    assert!(
        verify(&got[0]),
        "the chat message is signed like any delivery"
    );
    assert_eq!(got[0].headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with(":white_check_mark: *promoted* `"),
        "{text}"
    );
    assert!(text.contains(&digest[..19]), "{text}");
    assert!(text.contains("requested by `ci-pipeline`"), "{text}");
    assert!(
        text.ends_with(&format!("<https://gate.example/ui/promotions/{id}|open>")),
        "{text}"
    );
    assert_eq!(body["blocks"][0]["text"]["text"], text);
    let _ = std::fs::remove_dir_all(&secret_dir);
}
