//! Durability of the copy worker with real `portcullis serve` processes: a server killed
//! with SIGKILL mid-copy leaves no production tag and the copy resumes after a restart on
//! the same database; two servers on one database copy ten promotions exactly once each.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use portcullis_registry::testing::TestRegistry;
use portcullis_testkit::TestKey;
use serde_json::{Value, json};
use support::{BIN, Database, Server, free_port, http, psql, wait_until};

const ROUTE: &str = "staging-to-prod";

/// A database, a config directory and the tokens of the actors; dropped with the test.
struct Env {
    dir: PathBuf,
    db: Database,
    staging: TestRegistry,
    prod: TestRegistry,
    key: TestKey,
    ci: String,
    alice: String,
    bob: String,
}

impl Env {
    async fn new(name: &str) -> Self {
        let db = Database::new(name);
        let dir = support::temp_dir(name);
        let key = TestKey::generate().unwrap();
        std::fs::write(dir.join("cosign.pub"), &key.public_pem).unwrap();
        // Both replicas share one gate key, written by the CLI as an operator would.
        let out = Command::new(BIN)
            .args(["keys", "generate", "--out"])
            .arg(dir.join("gate.key"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        Self {
            staging: TestRegistry::start().await.unwrap(),
            prod: TestRegistry::start().await.unwrap(),
            dir,
            db,
            key,
            ci: String::new(),
            alice: String::new(),
            bob: String::new(),
        }
    }

    /// Writes a config listening on `port` whose route goes to `dest` (production or a
    /// proxy in front of it); returns its path.
    fn config(&self, port: u16, dest: &str) -> PathBuf {
        let s = self.staging.host.as_str();
        let yaml = format!(
            "listen: 127.0.0.1:{port}\ndatabase_url: {db}\npolicy_dir: {policies}\n\
             registries:\n  \"{s}\": {{ insecure: true }}\n  \"{dest}\": {{ insecure: true }}\n\
             routes:\n  - {{ name: {ROUTE}, from: \"{s}/\", to: \"{dest}/\" }}\n\
             trust:\n  keys: [{{ id: release-key, public_key_file: cosign.pub }}]\n\
             gate:\n  signing_key_file: gate.key\naudit:\n  checkpoint_dir: witness\n",
            db = self.db.url(),
            policies = support::policies().display(),
        );
        let path = self.dir.join(format!("portcullis-{port}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// Creates the three actors' tokens with the CLI, as an operator would.
    fn create_tokens(&mut self, config: &Path) {
        let token = |subject: &str, role: &str, group: Option<&str>| {
            let mut cmd = Command::new(BIN);
            cmd.arg("--config").arg(config);
            cmd.args(["token", "create", "--subject", subject, "--role", role]);
            if let Some(g) = group {
                cmd.args(["--group", g]);
            }
            let out = cmd.env("RUST_LOG", "warn").output().unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        self.ci = token("ci-pipeline", "ci", None);
        self.alice = token("alice", "approver", Some("release-approvers"));
        self.bob = token("bob", "approver", Some("release-approvers"));
    }

    async fn push_signed(&self, repo: &str, layers: usize, layer_size: usize) -> String {
        let host = self.staging.host.as_str();
        let digest = portcullis_testkit::push_random_image(host, repo, "build", layers, layer_size)
            .await
            .unwrap();
        portcullis_testkit::sign_image(host, repo, &digest, &self.key)
            .await
            .unwrap();
        digest
    }

    /// Requests the promotion of `repo@digest` on `port` with a clean Trivy report and
    /// approves it twice (on `approve_port`); returns its id.
    fn request_and_approve(
        &self,
        port: u16,
        approve_port: u16,
        repo: &str,
        digest: &str,
    ) -> String {
        let report = json!({"SchemaVersion": 2, "ArtifactName": repo, "Results": []});
        let body = json!({
            "source": format!("{}/{repo}@{digest}", self.staging.host.as_str()),
            "route": ROUTE,
            "tag": "v1",
            "evidence": [{"format": "trivy-json", "document": report}],
        });
        let (status, p) = http(port, "POST", "/v1/promotions", Some(&self.ci), Some(&body));
        assert_eq!(status, 201, "{p}");
        assert_eq!(p["state"], "pending_approval", "{p}");
        let id = p["id"].as_str().unwrap().to_owned();
        let (_, shown) = http(
            port,
            "GET",
            &format!("/v1/promotions/{id}"),
            Some(&self.ci),
            None,
        );
        let vote =
            json!({"verdict": "approve", "comment": "ok", "evidence_hash": shown["evidence_hash"]});
        for token in [&self.alice, &self.bob] {
            let path = format!("/v1/promotions/{id}/approvals");
            let (status, p) = http(approve_port, "POST", &path, Some(token), Some(&vote));
            assert_eq!(status, 200, "{p}");
        }
        id
    }

    fn promotion(&self, port: u16, id: &str) -> Value {
        let (status, p) = http(
            port,
            "GET",
            &format!("/v1/promotions/{id}"),
            Some(&self.ci),
            None,
        );
        assert_eq!(status, 200, "{p}");
        p
    }

    fn audit_count(&self, id: &str, action: &str) -> i64 {
        let sql = format!(
            "SELECT count(*) FROM audit_events WHERE promotion_id = '{id}' AND action = '{action}'"
        );
        psql(&self.db.name, &sql).parse().unwrap()
    }

    /// Every blob of the image `digest` in production answers HEAD with 200.
    fn assert_all_blobs_in_prod(&self, repo: &str, digest: &str) {
        let port: u16 = self
            .prod
            .host
            .as_str()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let (status, manifest) = http(
            port,
            "GET",
            &format!("/v2/{repo}/manifests/{digest}"),
            None,
            None,
        );
        assert_eq!(status, 200, "{manifest}");
        let mut blobs = vec![manifest["config"]["digest"].as_str().unwrap().to_owned()];
        for layer in manifest["layers"].as_array().unwrap() {
            blobs.push(layer["digest"].as_str().unwrap().to_owned());
        }
        for blob in &blobs {
            let (status, _) = http(
                port,
                "HEAD",
                &format!("/v2/{repo}/blobs/{blob}"),
                None,
                None,
            );
            assert_eq!(status, 200, "blob {blob} missing in production");
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How many copies `server` started, from its log.
fn copies_started(server: &Server) -> usize {
    server.log_text().matches("copy started").count()
}

/// A TCP proxy in front of `upstream` that lets each connection upload at most
/// `bytes_per_sec`, so a copy runs long enough to be interrupted; returns its port.
fn throttling_proxy(upstream: String, bytes_per_sec: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut client_r, mut server_w) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server, &mut client);
            });
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = client_r.read(&mut buf) {
                    if n == 0 || server_w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs_f64(n as f64 / bytes_per_sec as f64));
                }
                let _ = server_w.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_interrupted_by_sigkill_leaves_no_tag_and_resumes_after_restart() {
    let mut env = Env::new("kill9").await;
    // The progress the API shows advances per blob, not per byte, so the image has more
    // layers than the copy runs at once (4) and the proxy slows each upload to 4 MiB/s: the
    // first layers land after ~2 s and the whole copy needs ~6 s.
    let (layers, layer_size) = (12, 8 * 1024 * 1024);
    let digest = env.push_signed("team/big", layers, layer_size).await;
    let proxy = throttling_proxy(env.prod.host.as_str().to_owned(), 4 * 1024 * 1024);
    let port = free_port();
    let config = env.config(port, &format!("127.0.0.1:{proxy}"));
    let mut server = Server::start(&config, port, &[]);
    env.create_tokens(&config);
    let id = env.request_and_approve(port, port, "team/big", &digest);

    let mut progress = Value::Null;
    wait_until("copy progress", Duration::from_secs(120), || {
        let p = env.promotion(port, &id);
        assert_eq!(
            p["state"], "promoting",
            "the copy finished before it could be killed: {p}"
        );
        progress = p["copy"].clone();
        // At least one image layer has landed (the signature's blobs are tiny).
        progress["bytes_copied"].as_u64().unwrap_or(0) >= layer_size as u64
    })
    .await;
    server.kill9();
    eprintln!("killed with copy progress {progress}");

    let state = psql(
        &env.db.name,
        &format!("SELECT state FROM promotions WHERE id = '{id}'"),
    );
    assert_eq!(state, "promoting", "killed mid-copy: {progress}");
    let copied_before = progress["blobs_copied"].as_u64().unwrap();
    // Incomplete: not every byte of the image was uploaded when the server died.
    let bytes_before = progress["bytes_copied"].as_u64().unwrap();
    assert!(
        progress["in_progress"] == true && bytes_before < (layers * layer_size) as u64,
        "{progress}"
    );
    let prod = env.prod.host.as_str();
    for reference in ["v1", digest.as_str()] {
        let found = portcullis_testkit::manifest_digest(prod, "team/big", reference)
            .await
            .unwrap();
        assert_eq!(
            found, None,
            "production must not show {reference} while the copy is incomplete"
        );
    }

    // Same database, new process: it takes the job over once the dead worker's lease lapses.
    let server = Server::start(&config, port, &[]);
    wait_until("the promotion to settle", Duration::from_secs(240), || {
        env.promotion(port, &id)["state"] != "promoting"
    })
    .await;
    let done = env.promotion(port, &id);
    eprintln!("after restart: {}", done["copy"]);
    assert_eq!(done["state"], "promoted", "{done}");
    assert_eq!(done["copy"]["digest"], digest);
    assert_eq!(done["copy"]["signature_copied"], true);
    // Blobs that landed before the kill are not uploaded again.
    assert!(
        done["copy"]["blobs_skipped"].as_u64().unwrap() >= copied_before,
        "{done}"
    );
    let found = portcullis_testkit::manifest_digest(prod, "team/big", "v1")
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some(digest.as_str()));
    env.assert_all_blobs_in_prod("team/big", &digest);
    assert_eq!(env.audit_count(&id, "copy_started"), 2);
    assert_eq!(env.audit_count(&id, "promoted"), 1);
    assert_eq!(copies_started(&server), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_copy_each_of_ten_promotions_once() {
    let mut env = Env::new("twoservers").await;
    let mut digests = Vec::new();
    for i in 0..10 {
        digests.push(env.push_signed(&format!("team/app{i}"), 2, 64 * 1024).await);
    }
    let prod = env.prod.host.as_str().to_owned();
    let (port_a, port_b) = (free_port(), free_port());
    let config_a = env.config(port_a, &prod);
    let a = Server::start(&config_a, port_a, &[]);
    let b = Server::start(&env.config(port_b, &prod), port_b, &[]);
    env.create_tokens(&config_a);

    // Requests and approvals alternate between the servers, so both workers get woken.
    let ids: Vec<String> = digests
        .iter()
        .enumerate()
        .map(|(i, digest)| {
            let (request, approve) = if i % 2 == 0 {
                (port_a, port_b)
            } else {
                (port_b, port_a)
            };
            env.request_and_approve(request, approve, &format!("team/app{i}"), digest)
        })
        .collect();
    for id in &ids {
        wait_until("the promotion to settle", Duration::from_secs(120), || {
            env.promotion(port_a, id)["state"] != "promoting"
        })
        .await;
    }
    for (i, (id, digest)) in ids.iter().zip(&digests).enumerate() {
        let p = env.promotion(port_b, id);
        assert_eq!(p["state"], "promoted", "{p}");
        assert_eq!(env.audit_count(id, "copy_started"), 1, "{id}");
        assert_eq!(env.audit_count(id, "promoted"), 1, "{id}");
        let found = portcullis_testkit::manifest_digest(&prod, &format!("team/app{i}"), "v1")
            .await
            .unwrap();
        assert_eq!(found.as_deref(), Some(digest.as_str()));
    }
    let (by_a, by_b) = (copies_started(&a), copies_started(&b));
    eprintln!("copies started: server A {by_a}, server B {by_b}");
    assert_eq!(by_a + by_b, 10);
}
