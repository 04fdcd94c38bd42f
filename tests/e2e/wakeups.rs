//! Copy-job wake-ups across replicas: a promotion entering `promoting` is announced with
//! Postgres NOTIFY (migration 0007) to every `CopyJobListener`, and a listener whose
//! connection is cut comes back (the worker then looks for jobs it may have missed).

use std::time::Duration;

use portcullis_store::{CopyJobListener, Store, Wakeup};

use crate::jobs::promoting_job;
use crate::support::TempDb;

/// The next wake-up; fails the test (instead of hanging) if none comes within a minute.
async fn next(listener: &mut CopyJobListener) -> portcullis_store::Result<Wakeup> {
    tokio::time::timeout(Duration::from_secs(60), listener.next())
        .await
        .expect("a wake-up")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_job_wakes_a_listener_on_another_connection() {
    let db = TempDb::new();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let mut listener = store.listen_copy_jobs().await.unwrap();
    promoting_job(&store).await;
    assert_eq!(next(&mut listener).await.unwrap(), Wakeup::Job);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_whose_connection_is_cut_hears_the_next_job() {
    let db = TempDb::new();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let admin = sqlx::PgPool::connect(&db.url).await.unwrap();
    let mut listener = store.listen_copy_jobs().await.unwrap();
    let pid = listener.backend_pid().await.unwrap();
    let cut: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert!(cut, "the listener's backend was terminated");
    // The cut is reported (an error: the worker listens anew; or a reconnection): either
    // way the worker wakes up and looks for jobs it may have missed.
    match next(&mut listener).await {
        Ok(Wakeup::Reconnected) => {}
        Ok(Wakeup::Job) => panic!("no job was released yet"),
        Err(_) => listener = store.listen_copy_jobs().await.unwrap(),
    }
    let new_pid = listener.backend_pid().await.unwrap();
    assert_ne!(new_pid, pid, "listening on a new connection");
    promoting_job(&store).await;
    loop {
        match next(&mut listener).await.unwrap() {
            Wakeup::Job => break,
            Wakeup::Reconnected => continue,
        }
    }
}
