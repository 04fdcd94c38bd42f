//! Policy evaluation: loads a Rego bundle into regorus once, evaluates the promotion rule
//! over an evidence document, and maps the result to a `Decision`. Every failure to
//! evaluate or to read the result is a deny (fail closed).

mod bundle;
mod error;
mod testing;

pub use bundle::{DECISION_RULE, PolicyBundle};
pub use error::{Error, Result};
pub use testing::{TestOutcome, run_tests};
