//! Policy evaluation: loads a Rego bundle into regorus once, compiles the promotion rule to
//! an RVM program, evaluates it over an evidence document, and maps the result to a
//! `Decision`. Every failure to evaluate or to read the result is a deny (fail closed).

pub mod bench;
mod bundle;
mod clock;
mod convert;
mod error;
mod files;
mod input;
mod output;
mod testing;

pub use bundle::{DECISION_RULE, EvalPath, PolicyBundle};
pub use clock::system_now_ns;
pub use convert::input_value;
pub use error::{Error, Result};
pub use files::content_digest;
pub use input::{
    Artifact, Assembled, Attestations, ComponentEntry, Counts, DocumentPart, Finding, Head, Input,
    LicenceView, Origin, ProvenanceEntry, ReportEntry, RequestInfo, SEVERITIES, SbomEntry,
    Signatures, Suppressed, VexEntry, WaiverEntry, assemble, severity_name,
};
pub use testing::{TestOutcome, run_tests};
