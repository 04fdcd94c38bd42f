//! Test support: a fresh Postgres database per test, two real `docker-registry` processes
//! (staging and production), trusted and untrusted cosign keys, the app bound to port 0,
//! and one token per role.

use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_core::{GroupName, Role};
use portcullis_registry::testing::TestRegistry;
use portcullis_server::app::Application;
use portcullis_server::config::Config;
use portcullis_testkit::TestKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const ROUTE: &str = "staging-to-prod";
const PG: &str = "postgres://postgres@127.0.0.1:5432";

pub struct Tokens {
    pub ci: String,
    pub approver1: String,
    pub approver2: String,
    pub outsider: String,
    pub auditor: String,
    pub admin: String,
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub staging: TestRegistry,
    pub prod: TestRegistry,
    pub key: TestKey,
    pub rogue_key: TestKey,
    pub tokens: Tokens,
    pub db: sqlx::PgPool,
    /// The running app's shared state (cache counters, the policy handle).
    pub state: portcullis_server::state::AppState,
    /// The config it was built from (to start a second replica on the same database).
    pub config: Config,
    /// Whether the background copy worker runs; without it, copies run only in
    /// `run_copies` (and `wait_settled`).
    worker: bool,
    _temp_db: TempDb,
    dir: PathBuf,
    server: tokio::task::JoinHandle<()>,
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts everything but the background copy worker; `tweak` may edit the config before
    /// the app is built. Copies run when the test calls `run_copies` or `wait_settled`.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start(tweak, false).await
    }

    /// Like `spawn_with`, with the real background copy worker (for tests of the worker
    /// itself: concurrency, leases, wake-ups).
    pub async fn spawn_with_worker(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start(tweak, true).await
    }

    async fn start(tweak: impl FnOnce(&mut Config), worker: bool) -> Self {
        let staging = TestRegistry::start().await.expect("staging registry");
        let prod = TestRegistry::start().await.expect("production registry");
        let key = TestKey::generate().expect("key");
        let rogue_key = TestKey::generate().expect("rogue key");
        let temp_db = TempDb::new();
        let db_name = temp_db.name.clone();
        let dir = std::env::temp_dir().join(&db_name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cosign.pub"), &key.public_pem).unwrap();
        // The gate's own key, as `portcullis keys generate` writes it.
        let gate_key = portcullis_gate::GateKey::generate().unwrap();
        std::fs::write(dir.join("gate.key"), gate_key.to_pem()).unwrap();
        let yaml = format!(
            r#"
listen: 127.0.0.1:0
database_url: {PG}/{db_name}
# Fewer warm connections than a server's default (16): a test's app starts sooner.
database: {{ min_connections: 10 }}
policy_dir: {policies}
max_body_bytes: 262144
registries:
  "{s}": {{ insecure: true }}
  "{p}": {{ insecure: true }}
routes:
  - {{ name: {ROUTE}, from: "{s}/", to: "{p}/" }}
trust:
  keys: [{{ id: release-key, public_key_file: cosign.pub }}]
gate:
  signing_key_file: gate.key
audit:
  checkpoint_dir: witness
  checkpoint_interval_seconds: 1
  checkpoint_every_events: 1
"#,
            policies = workspace().join("policies").display(),
            s = staging.host.as_str(),
            p = prod.host.as_str(),
        );
        let mut config = Config::from_yaml(&yaml, &dir, &|_| None).expect("config");
        tweak(&mut config);
        let app = Application::build(&config).await.expect("app builds");
        let app = if worker {
            app
        } else {
            app.without_copy_worker()
        };
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let store = state.store.clone();
        let token = |subject: &str, role, groups: &[&str]| {
            let store = store.clone();
            let gate = state.keys.clone();
            let subject = subject.parse().unwrap();
            let groups: Vec<GroupName> = groups.iter().map(|g| g.parse().unwrap()).collect();
            async move {
                portcullis_server::auth::create_token(&store, &gate, &subject, role, groups, None)
                    .await
                    .unwrap()
            }
        };
        let tokens = Tokens {
            ci: token("ci-pipeline", Role::Ci, &[]).await,
            approver1: token("alice", Role::Approver, &["release-approvers"]).await,
            approver2: token("bob", Role::Approver, &["release-approvers", "qa"]).await,
            outsider: token("mallory", Role::Approver, &["qa"]).await,
            auditor: token("audrey", Role::Auditor, &[]).await,
            admin: token("root", Role::Admin, &["release-approvers"]).await,
        };
        let server = tokio::spawn(async move {
            let _ = app.run_until(std::future::pending()).await;
        });
        let db = sqlx::PgPool::connect(&format!("{PG}/{db_name}"))
            .await
            .unwrap();
        Self {
            base,
            http: reqwest::Client::new(),
            staging,
            prod,
            key,
            rogue_key,
            tokens,
            db,
            state,
            config,
            worker,
            _temp_db: temp_db,
            dir,
            server,
        }
    }

    /// Pushes a 3-layer image to staging under `repo:tag`; returns its digest.
    pub async fn push_image(&self, repo: &str, tag: &str) -> String {
        portcullis_testkit::push_random_image(self.staging.host.as_str(), repo, tag, 3, 32 * 1024)
            .await
            .expect("push image")
    }

    pub async fn sign(&self, repo: &str, digest: &str, key: &TestKey) {
        portcullis_testkit::sign_image(self.staging.host.as_str(), repo, digest, key)
            .await
            .expect("sign");
    }

    /// Pushes and signs with the trusted key.
    pub async fn push_signed(&self, repo: &str, tag: &str) -> String {
        let digest = self.push_image(repo, tag).await;
        self.sign(repo, &digest, &self.key).await;
        digest
    }

    /// Pushes a signed two-platform index (linux/amd64, linux/arm64) as `repo:1.0` and
    /// requests its promotion by that tag; returns the index digest and the answer.
    pub async fn request_signed_index(&self, repo: &str) -> (String, Value) {
        let host = self.staging.host.as_str();
        let platforms = [("linux", "amd64"), ("linux", "arm64")];
        let digest = portcullis_testkit::push_index(host, repo, "1.0", &platforms)
            .await
            .unwrap();
        self.sign(repo, &digest, &self.key).await;
        let (status, p) = self
            .request(&format!("{host}/{repo}:1.0"), trivy(&[]))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        (digest, p)
    }

    /// The witness file of audit checkpoints.
    pub fn witness(&self) -> PathBuf {
        self.dir.join("witness").join("checkpoints.jsonl")
    }

    /// A token for `subject` made as the CLI makes it.
    pub async fn token(
        &self,
        subject: &str,
        role: Role,
        groups: &[&str],
        ttl: Option<chrono::Duration>,
    ) -> String {
        let groups: Vec<GroupName> = groups.iter().map(|g| g.parse().unwrap()).collect();
        portcullis_server::auth::create_token(
            &self.state.store,
            &self.state.keys,
            &subject.parse().unwrap(),
            role,
            groups,
            ttl.map(|t| chrono::Utc::now() + t),
        )
        .await
        .unwrap()
    }

    pub fn source(&self, repo: &str, digest: &str) -> String {
        format!("{}/{repo}@{digest}", self.staging.host.as_str())
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        decode(resp).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        decode(resp).await
    }

    /// Requests a promotion with a clean Trivy report as evidence.
    pub async fn request(&self, source: &str, report: Value) -> (StatusCode, Value) {
        let body = json!({
            "source": source,
            "route": ROUTE,
            "tag": "v1",
            "evidence": [{"format": "trivy-json", "document": report}],
        });
        self.post("/v1/promotions", &self.tokens.ci, &body).await
    }

    /// A vote on the evidence the promotion's GET shows now.
    pub async fn vote(&self, id: &str, token: &str, verdict: &str) -> (StatusCode, Value) {
        let hash = self.evidence_hash(id).await;
        self.post(
            &format!("/v1/promotions/{id}/approvals"),
            token,
            &json!({"verdict": verdict, "comment": "ok", "evidence_hash": hash}),
        )
        .await
    }

    /// The promotion's `evidence_hash` as its GET shows it (a well-formed dummy when the
    /// promotion does not exist, so the vote reaches the "not found" path).
    pub async fn evidence_hash(&self, id: &str) -> String {
        let (_, p) = self
            .get(&format!("/v1/promotions/{id}"), &self.tokens.auditor)
            .await;
        p["evidence_hash"]
            .as_str()
            .map_or_else(|| format!("sha256:{}", "0".repeat(64)), str::to_owned)
    }

    /// The two approvals the default policy asks for, each accepted.
    pub async fn approve_twice(&self, id: &str) {
        for token in [&self.tokens.approver1, &self.tokens.approver2] {
            let (status, body) = self.vote(id, token, "approve").await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }

    /// Runs every copy job that can be claimed now, each to its end (the app must have been
    /// started without the background worker); returns how many ran.
    pub async fn run_copies(&self) -> usize {
        assert!(!self.worker, "the background worker runs copies itself");
        portcullis_server::services::copier::run_pending_jobs(&self.state)
            .await
            .expect("copy jobs claimed")
    }

    /// The promotion once it has left `promoting`: without the background worker, after
    /// running the pending copies (no waiting); with it, polled for.
    pub async fn wait_settled(&self, id: &str) -> Value {
        if !self.worker {
            self.run_copies().await;
            let (status, p) = self
                .get(&format!("/v1/promotions/{id}"), &self.tokens.auditor)
                .await;
            assert_eq!(status, StatusCode::OK);
            assert_ne!(p["state"], "promoting", "{p}");
            return p;
        }
        for _ in 0..300 {
            let (status, p) = self
                .get(&format!("/v1/promotions/{id}"), &self.tokens.auditor)
                .await;
            assert_eq!(status, StatusCode::OK);
            if p["state"] != "promoting" {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("promotion {id} still promoting after 30 s");
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db).await.unwrap()
    }

    /// Manifest digest of `repo:reference` in production, if present.
    pub async fn prod_digest(&self, repo: &str, reference: &str) -> Option<String> {
        portcullis_testkit::manifest_digest(self.prod.host.as_str(), repo, reference)
            .await
            .unwrap()
    }
}

pub async fn decode(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !status.is_success() {
        assert_eq!(
            ctype, "application/problem+json",
            "error {status} must be problem+json: {value}"
        );
        assert_eq!(value["status"], status.as_u16(), "{value}");
        assert!(value["code"].is_string(), "{value}");
    }
    (status, value)
}

/// A Trivy report with the given (id, severity) findings.
pub fn trivy(findings: &[(&str, &str)]) -> Value {
    let vulns: Vec<Value> = findings
        .iter()
        .map(|(id, sev)| json!({"VulnerabilityID": id, "PkgName": "openssl", "InstalledVersion": "1.0", "Severity": sev}))
        .collect();
    json!({"SchemaVersion": 2, "ArtifactName": "app", "Results": [{"Target": "app", "Vulnerabilities": vulns}]})
}

/// A fresh, uniquely named database, dropped (with its connections) when this is dropped.
pub struct TempDb {
    pub name: String,
    pub url: String,
}

impl TempDb {
    pub fn new() -> Self {
        let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
        Self {
            url: format!("{PG}/{name}"),
            name,
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside the test's runtime; use a fresh one on a plain thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&format!("{PG}/postgres")).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                }
            });
        })
        .join();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
