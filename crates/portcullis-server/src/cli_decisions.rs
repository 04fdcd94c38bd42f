//! The offline verbs over recorded decisions: `decision replay ID` and `policy simulate
//! --dir DIR [--last N]`. They read the database named by the config file and check with
//! the gate's keys, as `audit verify` does, and print the same JSON the API answers.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use portcullis_policy::PolicyBundle;
use portcullis_store::Store;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::app::load_gate;
use crate::cli::CliResult;
use crate::config::Config;
use crate::services::decisions::{replay, simulate};

/// One evaluation at a time: the command runs beside nothing else.
fn permits() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(1))
}

/// `decision replay ID`: prints the replay report; exit 0 identical, 1 different or
/// tampered.
pub async fn decision_replay(config: &Config, id: Uuid) -> CliResult<ExitCode> {
    let gate = load_gate(config)?;
    let store = Store::connect(config.database_url.expose()).await?;
    let report = replay::replay(&store, &gate, &permits(), id).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.identical {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `policy simulate --dir DIR [--last N]`: prints the simulation report; exit 0 when no
/// verdict would flip, 1 when some would.
pub async fn policy_simulate(
    config: &Config,
    dir: &Path,
    last: Option<i64>,
) -> CliResult<ExitCode> {
    let candidate = PolicyBundle::load(dir)?;
    let store = Store::connect(config.database_url.expose()).await?;
    let limit = Duration::from_millis(config.simulation.timeout_ms);
    let report = simulate::simulate(&store, &permits(), candidate, last, limit).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.flips.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
