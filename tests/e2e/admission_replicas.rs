//! The admission cache across replicas: a withdrawal made on one replica empties the verdict
//! cache of another as soon as the Postgres notification (migration 0016's trigger on
//! withdrawals, channel `portcullis_promotion_states`) lands there.

use std::time::Duration;

use portcullis_server::app::Application;
use serde_json::json;

use crate::admission::{REVIEWS, admit, promoted, review, with_image};
use crate::support::TestApp;

/// The next change replica B heard, within 30 s (a notification, never a timer, ends the wait).
async fn heard_next(
    rx: &mut tokio::sync::broadcast::Receiver<Option<uuid::Uuid>>,
) -> Option<uuid::Uuid> {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("replica B heard nothing within 30 s")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_on_one_replica_reaches_the_admission_cache_of_another() {
    let app = TestApp::spawn().await;
    let (token, image, _) = promoted(&app).await;
    let b = Application::build(&app.config)
        .await
        .unwrap()
        .without_copy_worker();
    let state_b = b.state().clone();
    let mut heard = state_b.state_watch.subscribe();
    let base_b = format!("http://127.0.0.1:{}", b.port());
    tokio::spawn(async move {
        let _ = b.run_until(std::future::pending()).await;
    });
    // B listens (its first announcement says "look again at everything").
    assert_eq!(heard_next(&mut heard).await, None);
    let (allowed, _) = with_image(review(REVIEWS[1].0), &image);
    let body = serde_json::to_vec(&allowed).unwrap();
    let on_b = |app: &TestApp| {
        let (base, token, body) = (base_b.clone(), token.clone(), body.clone());
        let http = app.http.clone();
        async move {
            let resp = http
                .post(format!("{base}/v1/admission"))
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .unwrap();
            resp.json::<serde_json::Value>().await.unwrap()["response"].clone()
        }
    };
    // Cached as allowed on B.
    assert_eq!(on_b(&app).await["allowed"], true);
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM promotions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let (status, _) = app
        .post(
            &format!("/v1/promotions/{id}/withdraw"),
            &app.tokens.admin,
            &json!({"reason": "recalled"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(heard_next(&mut heard).await, Some(id));
    let r = on_b(&app).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("promotion {id} was withdrawn")),
        "{r}"
    );
    // Replica A refuses too (its own withdrawal emptied its cache at once).
    assert_eq!(admit(&app, &token, &body).await["allowed"], false);
}
