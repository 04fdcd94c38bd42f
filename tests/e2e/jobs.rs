//! Copy-job claims in the store: SKIP LOCKED claiming, lease takeover, and a stale claim
//! that can no longer write an outcome.

use portcullis_core::{Decision, PromotionState};
use portcullis_store::{NewPromotion, Store};
use serde_json::json;
use uuid::Uuid;

use crate::support::TempDb;

pub(crate) async fn promoting_job(store: &Store) -> Uuid {
    let id = Uuid::new_v4();
    let new = NewPromotion {
        id,
        state: PromotionState::PendingApproval,
        source: "127.0.0.1:1/app:v1".parse().unwrap(),
        digest: portcullis_core::Digest::sha256_of(id.as_bytes()),
        route: "r".into(),
        destination: ("127.0.0.1:2".parse().unwrap(), "app".parse().unwrap()),
        tag: None,
        requested_by: "ci".into(),
        decision: Decision::deny("x", "y"),
        evidence: json!({}),
        policy_digest: portcullis_core::Digest::sha256_of(b"policy"),
        kind: portcullis_core::PromotionKind::Promotion,
    };
    let mut tx = store.begin().await.unwrap();
    Store::insert_promotion(&mut tx, &new).await.unwrap();
    Store::set_promotion_state(&mut tx, id, PromotionState::Promoting, None, None)
        .await
        .unwrap();
    portcullis_store::commit(tx).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_claimed_once_and_a_stale_claim_cannot_finish_it() {
    let db = TempDb::new();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let id = promoting_job(&store).await;

    let claimed = store.claim_copy_job(60).await.unwrap().expect("claimable");
    let (job, first) = (claimed.job, claimed.claim);
    assert_eq!((job.id, job.attempts), (id, 1));
    assert!(
        store.claim_copy_job(60).await.unwrap().is_none(),
        "leased: no second claim"
    );
    assert!(
        store
            .heartbeat_copy_job(id, first, 60, Some(&json!({"blobs_copied": 1})))
            .await
            .unwrap()
    );

    // The first worker stalls past its lease; another takes over.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query("UPDATE promotions SET lease_until = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let claimed = store
        .claim_copy_job(60)
        .await
        .unwrap()
        .expect("lease lapsed");
    let (again, second) = (claimed.job, claimed.claim);
    assert_eq!(again.attempts, 2);
    assert_eq!(
        again.copy_report,
        Some(json!({"blobs_copied": 1})),
        "progress survives the takeover"
    );

    // The stale worker can neither renew nor record an outcome.
    assert!(!store.heartbeat_copy_job(id, first, 60, None).await.unwrap());
    let mut tx = store.begin().await.unwrap();
    let stale = Store::finish_copy_job(
        &mut tx,
        id,
        first,
        PromotionState::Failed,
        Some("late"),
        None,
    )
    .await
    .unwrap();
    assert!(!stale);
    portcullis_store::commit(tx).await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let report = json!({"blobs_copied": 4});
    assert!(
        Store::finish_copy_job(
            &mut tx,
            id,
            second,
            PromotionState::Promoted,
            None,
            Some(&report)
        )
        .await
        .unwrap()
    );
    portcullis_store::commit(tx).await.unwrap();
    let done = store.get_promotion(id).await.unwrap().unwrap();
    assert_eq!(done.state, PromotionState::Promoted);
    assert_eq!(done.error, None);
    assert_eq!(done.copy_report, Some(report));
    assert!(store.claim_copy_job(60).await.unwrap().is_none());
    pool.close().await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claimers_split_the_jobs_without_overlap() {
    let db = TempDb::new();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(promoting_job(&store).await);
    }
    let claims = futures_util::future::join_all((0..16).map(|_| store.claim_copy_job(60))).await;
    let mut claimed: Vec<Uuid> = claims
        .into_iter()
        .filter_map(|c| c.unwrap().map(|c| c.job.id))
        .collect();
    claimed.sort();
    ids.sort();
    assert_eq!(claimed, ids, "each job claimed exactly once");
    store.close().await;
}
