//! Store errors: constraint violations are told apart from infrastructure failures so the
//! API can answer 409 instead of 500.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unique constraint was violated (a duplicate vote, a second open promotion).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row read back from the database does not hold a valid domain value.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database could not be reached in time: no pooled connection within the acquire
    /// timeout, a refused or dropped connection, or a server shutting down. Transient.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// An audit event was to be written without the gate's audit key.
    #[error("no audit key: the store was opened without the gate key")]
    NoAuditKey,
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return Self::Conflict(db.constraint().unwrap_or("unique").to_owned());
        }
        if is_unavailable(&e) {
            return Self::Unavailable(e);
        }
        Self::Database(e)
    }
}

/// Whether `e` says the database is out of reach rather than that a statement failed.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // Class 08 (connection exception), admin/crash shutdown, cannot connect now.
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
