//! Repositories over Postgres: tokens, promotions and their decisions, approvals, copy jobs,
//! waivers, withdrawals, runtime reports, policy bundles, webhook deliveries, web page sessions
//! and the audit log.
//! This is the only crate that speaks SQL. Functions that must be atomic with others take a
//! `&mut Tx` so the service layer decides the transaction boundary.

mod admission;
mod approvals;
mod audit;
mod auth_failures;
mod db;
mod decisions;
mod error;
mod notify;
mod promotions;
mod reviews;
mod sessions;
mod token_cache;
mod tokens;
mod waivers;
mod webhooks;

pub use admission::{PromotedImage, ReportedImage, RuntimeReport, Withdrawal};
pub use approvals::ApprovalRecord;
pub use audit::{AuditEvent, AuditFilter, AuditPage, AuditedTx, ChainReport, NewAuditEvent};
pub use auth_failures::{AuthFailureCount, AuthFailureSample, MAX_SAMPLES_PER_ROW};
pub use db::{DEFAULT_ACQUIRE_TIMEOUT, MAX_CONNECTIONS, Store, TokenCacheStatus, Tx, commit};
pub use decisions::{DecisionRecord, NewDecision};
pub use error::{Error, Result};
pub use notify::{
    COPY_JOBS_CHANNEL, CopyJobListener, PROMOTION_STATES_CHANNEL, StateChange, StateListener,
    Wakeup,
};
pub use promotions::{ClaimedJob, NewPromotion, PromotionRecord, SignedEnvelopes};
pub use reviews::ReviewRecord;
pub use sessions::{NewSession, OidcLogin, SessionRecord};
pub use token_cache::{TOKEN_CACHE_MAX_ENTRIES, TOKEN_CACHE_TTL, TOKEN_CHANNEL};
pub use tokens::{NewToken, PendingGrant, TokenInfo, TokenRecord};
pub use waivers::{NewWaiver, WaiverRecord};
pub use webhooks::{
    AttemptOutcome, DeliveryRecord, DueDelivery, MetricsSnapshot, WebhookSubscriber,
};
