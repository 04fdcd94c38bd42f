//! CPU-bound work (parsing evidence, matching VEX, evaluating the policy) runs behind the
//! evaluation semaphore and inside the caller's tracing span (so its log lines keep the
//! request id). Heavy work runs on the blocking pool, never on the async executor that also
//! answers `/healthz`. Light work (a 17 KB report: well under a millisecond) runs on the
//! calling task: handing it to the pool and back costs two thread wake-ups, which measured
//! more than the work itself (dry runs with a 17 KB report at concurrency 50 on two cores:
//! 0.53–0.62 ms of server CPU per request through the pool, 0.42 ms on the task;
//! `bench/load-dryrun.sh`).

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Work that could not be run or did not complete; a 500 (`error.rs`), nothing written.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// The evaluation semaphore was closed.
    #[error("the evaluation pool is closed")]
    Closed(#[from] tokio::sync::AcquireError),
    /// The task panicked or was cancelled.
    #[error("blocking task did not complete")]
    Join(#[from] tokio::task::JoinError),
}

/// Evidence documents of at most this many bytes in all are parsed on the calling task.
const LIGHT_BYTES: usize = 32 * 1024;
/// Inputs of at most this many findings, components and VEX statements in all are
/// evaluated on the calling task.
const LIGHT_ITEMS: usize = 200;

/// How much work a piece of CPU-bound work is, judged before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// Runs on the calling task.
    Light,
    /// Runs on the blocking pool.
    Heavy,
}

impl Weight {
    /// The weight of parsing `bytes` of evidence documents.
    pub fn of_bytes(bytes: usize) -> Self {
        if bytes <= LIGHT_BYTES {
            Self::Light
        } else {
            Self::Heavy
        }
    }

    /// The weight of judging an input of `items` findings, components and VEX statements.
    pub fn of_items(items: usize) -> Self {
        if items <= LIGHT_ITEMS {
            Self::Light
        } else {
            Self::Heavy
        }
    }
}

/// Runs `work` once one of `permits` is free: on the calling task when it is `Light`, on the
/// blocking pool when it is `Heavy`.
pub async fn run<T, F>(permits: &Arc<Semaphore>, weight: Weight, work: F) -> Result<T, WorkError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if weight == Weight::Light {
        let _permit = permits.acquire().await?;
        return Ok(work());
    }
    blocking(permits, work).await
}

/// Runs `work` on the blocking pool once one of `permits` is free.
pub async fn blocking<T, F>(permits: &Arc<Semaphore>, work: F) -> Result<T, WorkError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let permit = permits.clone().acquire_owned().await?;
    let span = tracing::Span::current();
    Ok(tokio::task::spawn_blocking(move || {
        let _permit = permit;
        span.in_scope(work)
    })
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_follows_the_size_of_the_work() {
        assert_eq!(Weight::of_bytes(17 * 1024), Weight::Light);
        assert_eq!(Weight::of_bytes(LIGHT_BYTES + 1), Weight::Heavy);
        assert_eq!(Weight::of_items(92), Weight::Light);
        assert_eq!(Weight::of_items(800), Weight::Heavy);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn light_work_stays_on_the_task_and_heavy_work_goes_to_the_pool() {
        let permits = Arc::new(Semaphore::new(1));
        let here = std::thread::current().id();
        let light = run(&permits, Weight::Light, move || std::thread::current().id())
            .await
            .unwrap();
        assert_eq!(light, here);
        let heavy = run(&permits, Weight::Heavy, move || std::thread::current().id())
            .await
            .unwrap();
        assert_ne!(heavy, here);
        // Both held a permit while they ran, and gave it back.
        assert_eq!(permits.available_permits(), 1);
        permits.close();
        assert!(matches!(
            run(&permits, Weight::Light, || ()).await,
            Err(WorkError::Closed(_))
        ));
    }
}
