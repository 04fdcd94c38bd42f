//! The gate key and token verbs of the `portcullis` binary as an operator runs them:
//! `keys generate`, `serve` without a key, `token create --ttl|list|revoke`, and
//! `audit verify` against a witness file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::path::PathBuf;

use support::{Database, policies, run, temp_dir, text};

/// A temp dir with a config (gate key included unless `with_key` is false) and a database
/// dropped on drop.
struct Env {
    dir: PathBuf,
    _db: Database,
}

impl Env {
    fn new(with_key: bool) -> Self {
        let dir = temp_dir("gatecli");
        let db = Database::new("gatecli");
        let mut yaml = format!(
            "listen: 127.0.0.1:0\ndatabase_url: {}\npolicy_dir: {}\naudit:\n  checkpoint_dir: witness\n",
            db.url(),
            policies().display()
        );
        if with_key {
            let out = run(
                None,
                &[
                    "keys",
                    "generate",
                    "--out",
                    dir.join("gate.key").to_str().unwrap(),
                ],
            );
            assert!(out.status.success(), "{out:?}");
            yaml.push_str("gate:\n  signing_key_file: gate.key\n");
        }
        std::fs::write(dir.join("portcullis.yaml"), yaml).unwrap();
        Self { dir, _db: db }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("portcullis.yaml")
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn keys_generate_writes_a_private_key_once_with_its_public_key() {
    let env = Env::new(true);
    let key = env.dir.join("gate.key");
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let public = std::fs::read_to_string(env.dir.join("gate.pub")).unwrap();
    let loaded = portcullis_gate::GateKey::from_pem(&pem).unwrap();
    assert_eq!(loaded.public().to_pem(), public);
    // Never over an existing key.
    let again = run(None, &["keys", "generate", "--out", key.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), pem, "untouched");
}

#[test]
fn serve_refuses_to_start_without_a_gate_key() {
    let env = Env::new(false);
    let out = run(Some(&env.config()), &["serve"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = text(&out.stderr);
    assert!(err.contains("gate.signing_key_file is not set"), "{err}");
    assert!(err.contains("portcullis keys generate"), "{err}");
}

#[test]
fn tokens_are_listed_expire_and_are_revoked_by_id_or_subject() {
    let env = Env::new(true);
    let c = env.config();
    let created = run(
        Some(&c),
        &[
            "token",
            "create",
            "--subject",
            " Alice ",
            "--role",
            "approver",
            "--group",
            "qa",
            "--ttl",
            "30d",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    assert!(text(&created.stdout).starts_with("pct_"));
    let second = run(
        Some(&c),
        &["token", "create", "--subject", "ci", "--role", "ci"],
    );
    assert!(second.status.success());
    let bad = run(
        Some(&c),
        &[
            "token",
            "create",
            "--subject",
            "x",
            "--role",
            "ci",
            "--ttl",
            "soon",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("--ttl"), "{bad:?}");
    let bidi = run(
        Some(&c),
        &[
            "token",
            "create",
            "--subject",
            "evil\u{202e}",
            "--role",
            "ci",
        ],
    );
    assert_eq!(bidi.status.code(), Some(2));

    let list = run(Some(&c), &["token", "list", "--json"]);
    let tokens: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    let alice = tokens
        .iter()
        .find(|t| t["subject"] == "alice")
        .expect("normalised subject");
    assert_eq!(alice["role"], "approver");
    assert!(alice["expires_at"].is_string());
    assert!(!text(&list.stdout).contains("pct_"), "never a secret");

    let revoked = run(Some(&c), &["token", "revoke", "--subject", "ALICE"]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert!(text(&revoked.stdout).contains("1 token(s) revoked"));
    let again = run(Some(&c), &["token", "revoke", "--subject", "alice"]);
    assert_eq!(again.status.code(), Some(1), "nothing left to revoke");
    let ci_id = tokens.iter().find(|t| t["subject"] == "ci").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_id = run(Some(&c), &["token", "revoke", &ci_id]);
    assert!(by_id.status.success(), "{by_id:?}");
    let human = text(&run(Some(&c), &["token", "list"]).stdout);
    assert_eq!(human.matches("revoked").count(), 2, "{human}");
}

#[test]
fn audit_verify_reports_an_emptied_log_against_its_witness_file() {
    let env = Env::new(true);
    let c = env.config();
    assert!(run(Some(&c), &["migrate"]).status.success());
    let clean = run(Some(&c), &["audit", "verify"]);
    assert!(clean.status.success(), "{clean:?}");
    assert!(
        text(&clean.stdout).contains("audit log intact: 0 events"),
        "{clean:?}"
    );
    // A checkpoint of event 3 signed by this gate's key, but the log is empty.
    let key = portcullis_gate::GateKey::from_file(&env.dir.join("gate.key")).unwrap();
    std::fs::create_dir_all(env.dir.join("witness")).unwrap();
    portcullis_gate::Checkpoint::sign(&key, 3, "hmac-sha256:00", "2026-11-30T00:00:00Z")
        .unwrap()
        .append_to(&env.dir.join("witness/checkpoints.jsonl"))
        .unwrap();
    let broken = run(Some(&c), &["audit", "verify"]);
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    assert!(
        text(&broken.stdout).contains("the log is empty but 1 checkpoints"),
        "{broken:?}"
    );
    // A checkpoint signed by another key is refused too, with --checkpoints.
    let forged = env.dir.join("forged.jsonl");
    portcullis_gate::Checkpoint::sign(&portcullis_gate::GateKey::generate().unwrap(), 0, "x", "t")
        .unwrap()
        .append_to(&forged)
        .unwrap();
    std::fs::remove_file(env.dir.join("witness/checkpoints.jsonl")).unwrap();
    let out = run(
        Some(&c),
        &["audit", "verify", "--checkpoints", forged.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stdout).contains("unknown gate key"), "{out:?}");
}

#[test]
fn the_cli_creates_admission_tokens_for_the_webhook() {
    let env = Env::new(true);
    let c = env.config();
    let created = run(
        Some(&c),
        &[
            "token",
            "create",
            "--subject",
            "kube-apiserver-prod-1",
            "--role",
            "admission",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    assert!(text(&created.stdout).starts_with("pct_"));
    let list = run(Some(&c), &["token", "list", "--json"]);
    let tokens: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(tokens[0]["subject"], "kube-apiserver-prod-1");
    assert_eq!(tokens[0]["role"], "admission");
}
