//! `time.now_ns()` read from a clock the caller may fix. Every engine gets an extension
//! named `time.now_ns` (the interpreter looks extensions up before builtins); it answers the
//! time fixed for the evaluation running on this thread, or the system clock when none is.
//! A decision records the time it was judged at, and replaying it fixes the same time, so a
//! policy that compares against the clock decides the same way again.
//!
//! The RVM calls the builtin directly and cannot be given the clock, so a bundle whose
//! sources mention `now_ns` is served by the interpreter (`PolicyBundle::uses_clock`).

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use regorus::Value;

thread_local! {
    /// The time fixed for the evaluation running on this thread, in ns since the epoch.
    static FIXED_NOW_NS: Cell<Option<i64>> = const { Cell::new(None) };
}

/// The builtin this module replaces.
const NOW_NS: &str = "time.now_ns";

/// Installs the fixable clock as `time.now_ns` in `engine`.
pub(crate) fn install(engine: &mut regorus::Engine) -> std::result::Result<(), String> {
    engine
        .add_extension(NOW_NS.to_owned(), 0, Box::new(now_ns))
        .map_err(|e| e.to_string())
}

fn now_ns(_args: Vec<Value>) -> anyhow::Result<Value> {
    Ok(Value::from(
        FIXED_NOW_NS.with(Cell::get).unwrap_or_else(system_now_ns),
    ))
}

/// The system clock in ns since the Unix epoch (what `time.now_ns()` answers unfixed).
pub fn system_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Whether a Rego source may read the clock. Conservative: a mention in a comment counts,
/// and only costs that bundle the RVM.
pub(crate) fn mentions_clock(source: &str) -> bool {
    source.contains("now_ns")
}

/// Fixes `time.now_ns()` on this thread until dropped (then restores what was fixed before).
pub(crate) struct Fixed(Option<i64>);

impl Fixed {
    /// Fixes the clock at `ns`.
    pub(crate) fn at(ns: i64) -> Self {
        Self(FIXED_NOW_NS.with(|c| c.replace(Some(ns))))
    }
}

impl Drop for Fixed {
    fn drop(&mut self) {
        FIXED_NOW_NS.with(|c| c.set(self.0));
    }
}
