//! Wake-ups for the copy workers of every replica: the trigger of migration 0007 sends
//! `NOTIFY portcullis_copy_jobs` when a promotion enters `promoting`, and each worker holds
//! a `CopyJobListener` on it. Notifications are best effort (one sent while a listener's
//! connection is down is lost), so the listener says when it lost its connection and the
//! worker looks for jobs then, and polls slowly besides.

use sqlx::postgres::PgListener;

use crate::{Result, Store};

/// The channel the trigger notifies on; the payload is the promotion id.
pub const COPY_JOBS_CHANNEL: &str = "portcullis_copy_jobs";

/// Why a `CopyJobListener` woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// A promotion entered `promoting`.
    Job,
    /// The connection was lost and re-established: notifications may have been missed.
    Reconnected,
}

/// A connection listening on `COPY_JOBS_CHANNEL`.
#[derive(Debug)]
pub struct CopyJobListener {
    inner: PgListener,
}

impl Store {
    /// Listens for copy jobs on a connection of the pool (held until the listener drops).
    pub async fn listen_copy_jobs(&self) -> Result<CopyJobListener> {
        let mut inner = PgListener::connect_with(&self.pool).await?;
        inner.listen(COPY_JOBS_CHANNEL).await?;
        Ok(CopyJobListener { inner })
    }
}

impl CopyJobListener {
    /// Waits for the next wake-up. An error means the listener is broken (e.g. its
    /// connection was terminated and could not be re-established): drop it and listen anew.
    pub async fn next(&mut self) -> Result<Wakeup> {
        match self.inner.try_recv().await? {
            Some(_) => Ok(Wakeup::Job),
            None => Ok(Wakeup::Reconnected),
        }
    }

    /// The server process id of the listening connection, when connected (for tests that
    /// cut it with `pg_terminate_backend`).
    pub async fn backend_pid(&mut self) -> Result<i32> {
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut self.inner)
            .await?;
        Ok(pid)
    }
}

/// The channel migration 0014's trigger notifies on when a promotion's state changes; the
/// payload is the promotion id.
pub const PROMOTION_STATES_CHANNEL: &str = "portcullis_promotion_states";

/// Why a `StateListener` woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateChange {
    /// This promotion's state changed.
    Promotion(uuid::Uuid),
    /// The connection was lost and re-established (or a payload was not an id):
    /// notifications may have been missed, so every waiter should look again.
    Unknown,
}

/// A connection listening on `PROMOTION_STATES_CHANNEL`.
#[derive(Debug)]
pub struct StateListener {
    inner: PgListener,
}

impl Store {
    /// Listens for promotion state changes on a connection of the pool.
    pub async fn listen_promotion_states(&self) -> Result<StateListener> {
        let mut inner = PgListener::connect_with(&self.pool).await?;
        inner.listen(PROMOTION_STATES_CHANNEL).await?;
        Ok(StateListener { inner })
    }
}

impl StateListener {
    /// Waits for the next change. An error means the listener is broken: listen anew.
    pub async fn next(&mut self) -> Result<StateChange> {
        Ok(match self.inner.try_recv().await? {
            Some(n) => n
                .payload()
                .parse()
                .map_or(StateChange::Unknown, StateChange::Promotion),
            None => StateChange::Unknown,
        })
    }
}
