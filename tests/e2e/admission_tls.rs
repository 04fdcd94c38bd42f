//! The HTTPS listener (`tls: {cert_file, key_file}`) the admission webhook needs: a real TLS
//! request to `/v1/admission` through a client that trusts only the test CA, and a start
//! refused for a key that does not load.

use portcullis_core::Role;
use portcullis_server::app::Application;
use portcullis_server::config::TlsSettings;
use portcullis_testkit::https::LoopbackIdentity;
use serde_json::Value;

use crate::admission::{REVIEWS, review};
use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_answers_over_https() {
    let identity = LoopbackIdentity::generate().unwrap();
    let dir = std::env::temp_dir().join(format!("portcullis-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), &identity.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &identity.key_pem).unwrap();
    let tls = TlsSettings {
        cert_file: dir.join("cert.pem"),
        key_file: dir.join("key.pem"),
    };
    let app = TestApp::spawn_with(|c| c.tls = Some(tls.clone())).await;
    let token = app
        .token("kube-apiserver", Role::Admission, &[], None)
        .await;
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(identity.ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let url = app.base.replace("http://", "https://") + "/v1/admission";
    let body = serde_json::to_vec(&review(REVIEWS[0].0)).unwrap();
    let resp = client
        .post(&url)
        .bearer_auth(&token)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(
        answer["response"]["uid"],
        "0c9a8d74-9cb7-44dd-b98e-09fd62def2f4"
    );
    assert_eq!(answer["response"]["allowed"], false);
    // Plain HTTP to the TLS port gets no answer.
    let plain = app
        .http
        .post(app.base.clone() + "/v1/admission")
        .body(body)
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // A key file that is not a key stops the start.
    std::fs::write(dir.join("bad.pem"), "not a key").unwrap();
    let mut config = app.config.clone();
    config.tls = Some(TlsSettings {
        cert_file: dir.join("cert.pem"),
        key_file: dir.join("bad.pem"),
    });
    let err = Application::build(&config)
        .await
        .err()
        .expect("a bad key stops the start");
    assert!(err.to_string().contains("tls.key_file"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
