//! Rows whose text is not a valid domain value (written by hand, or by a bug) are a clear
//! `Corrupt` store error naming the row and the field, never a panic; in the audit chain they
//! are a break at that event.

use portcullis_store::{AuditFilter, Error, Store};

use crate::jobs::promoting_job;
use crate::support::TempDb;

async fn store() -> (TempDb, Store) {
    let db = TempDb::new();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    (db, store)
}

async fn sql(db: &TempDb, statement: &str) {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_row_with_an_invalid_value_is_a_corrupt_row_error() {
    let (db, store) = store().await;
    for (column, value) in [
        ("destination", "no-repository"),
        ("source", "app:latest"),
        ("policy_digest", "sha256:00"),
    ] {
        let id = promoting_job(&store).await;
        sql(
            &db,
            &format!("UPDATE promotions SET {column} = '{value}' WHERE id = '{id}'"),
        )
        .await;
        match store.get_promotion(id).await {
            Err(Error::Corrupt(why)) => {
                assert!(why.contains(&id.to_string()), "{why}");
                assert!(why.contains(&format!("{column}:")), "{why}");
            }
            other => panic!("{column}: expected a corrupt row, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_row_with_an_unknown_action_or_bad_digest_is_corrupt_and_breaks_the_chain() {
    let genesis = format!("sha256:{}", "0".repeat(64));
    for (action, digest) in [("paging_test", "NULL"), ("approved", "'sha256:nope'")] {
        let (db, store) = store().await;
        sql(
            &db,
            &format!(
                "INSERT INTO audit_events (seq, at, actor, action, digest, details, prev_hash, hash) \
                 VALUES (1, now(), 'mallory', '{action}', {digest}, '{{}}', '{genesis}', 'sha256:x')"
            ),
        )
        .await;
        let page = store
            .query_audit(&AuditFilter {
                limit: 10,
                ..Default::default()
            })
            .await;
        match page {
            Err(Error::Corrupt(why)) => assert!(why.starts_with("audit event 1: "), "{why}"),
            other => panic!("{action}: expected a corrupt row, got {other:?}"),
        }
        let report = store.verify_audit_chain(&[]).await.unwrap();
        let (seq, why) = report.broken_at.expect("a break");
        assert_eq!(seq, 1);
        assert!(why.contains("invalid"), "{why}");
    }
}
