//! The token cache: a revoked token is refused at once by the replica that revoked it and,
//! as soon as the Postgres notification lands, by every other replica on the database; a
//! replica whose listener connection is lost forgets what it cached and listens again.

use std::time::Duration;

use portcullis_core::Role;
use portcullis_server::app::Application;
use portcullis_store::Store;
use reqwest::StatusCode;

use crate::support::TestApp;

/// Another replica of `app` on the same database: its base URL and store.
async fn replica(app: &TestApp) -> (String, Store) {
    let b = Application::build(&app.config).await.unwrap();
    let base = format!("http://127.0.0.1:{}", b.port());
    let store = b.state().store.clone();
    tokio::spawn(async move {
        let _ = b.run_until(std::future::pending()).await;
    });
    (base, store)
}

async fn status(app: &TestApp, base: &str, token: &str) -> StatusCode {
    app.http
        .get(format!("{base}/v1/promotions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// Waits (on the cache's change signal, never a timer) until `store`'s token cache is live
/// and holds `entries` look-ups; fails the test if that does not happen within 30 s.
async fn cache_settles(store: &Store, entries: usize) {
    let mut changes = store.token_cache_changes().expect("a token cache");
    let settled = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let s = store.token_cache_status().unwrap();
            if s.live && s.entries == entries {
                return;
            }
            changes.changed().await.unwrap();
        }
    })
    .await;
    assert!(
        settled.is_ok(),
        "token cache never reached {entries} entries: {:?}",
        store.token_cache_status()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused_at_once_on_this_and_another_replica() {
    let app = TestApp::spawn().await;
    let (other, other_store) = replica(&app).await;
    cache_settles(&other_store, 0).await;
    let token = app
        .token("dave", Role::Auditor, &[], Some(chrono::Duration::hours(1)))
        .await;
    assert_eq!(status(&app, &app.base, &token).await, StatusCode::OK);
    assert_eq!(status(&app, &other, &token).await, StatusCode::OK);
    assert_eq!(
        other_store.token_cache_status().unwrap().entries,
        1,
        "the other replica cached the look-up"
    );
    let revoked = app
        .state
        .store
        .revoke_subject_tokens(&"dave".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(revoked, 1);
    assert_eq!(
        status(&app, &app.base, &token).await,
        StatusCode::UNAUTHORIZED,
        "the revoking replica forgets it before answering"
    );
    // The other replica holds the look-up until the NOTIFY reaches it (its TTL is 5 s).
    cache_settles(&other_store, 0).await;
    assert_eq!(status(&app, &other, &token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_clears_the_cache_and_listens_again() {
    let app = TestApp::spawn().await;
    let store = &app.state.store;
    cache_settles(store, 0).await;
    let token = app.token("erin", Role::Auditor, &[], None).await;
    assert_eq!(status(&app, &app.base, &token).await, StatusCode::OK);
    assert_eq!(store.token_cache_status().unwrap().entries, 1);

    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%portcullis_tokens%'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(killed, [true], "one token listener connection");
    cache_settles(store, 0).await;

    // Listening again: a revocation made behind the store's back (plain SQL) still evicts.
    assert_eq!(status(&app, &app.base, &token).await, StatusCode::OK);
    assert_eq!(store.token_cache_status().unwrap().entries, 1);
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE subject = 'erin'")
        .execute(&app.db)
        .await
        .unwrap();
    cache_settles(store, 0).await;
    assert_eq!(
        status(&app, &app.base, &token).await,
        StatusCode::UNAUTHORIZED
    );
}
