//! The bundle's own Rego unit tests: every `test_*` rule in a `*_test.rego` file must be true.

use std::path::Path;

use crate::Result;
use crate::files::{engine_for, read_dir};

/// One test rule's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// `package.rule`.
    pub name: String,
    /// Whether it evaluated to `true`.
    pub passed: bool,
    /// The evaluation error, if any.
    pub error: Option<String>,
}

/// Runs every `test_` rule of the bundle in `dir`.
pub fn run_tests(dir: &Path) -> Result<Vec<TestOutcome>> {
    let files = read_dir(dir)?;
    let engine = engine_for(dir, &files, true)?;
    let mut outcomes = Vec::new();
    for f in files.iter().filter(|f| f.name.ends_with("_test.rego")) {
        let Some(package) = f
            .content
            .lines()
            .find_map(|l| l.trim().strip_prefix("package "))
        else {
            continue;
        };
        let package = package.trim();
        for line in f.content.lines() {
            let Some(rest) = line.strip_prefix("test_") else {
                continue;
            };
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let name = format!("{package}.test_{ident}");
            if outcomes.iter().any(|o: &TestOutcome| o.name == name) {
                continue;
            }
            let mut e = engine.clone();
            let (passed, error) = match e.eval_rule(format!("data.{name}")) {
                Ok(v) => (v == regorus::Value::from(true), None),
                Err(err) => (false, Some(err.to_string())),
            };
            outcomes.push(TestOutcome {
                name,
                passed,
                error,
            });
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bundle_tests_all_pass() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
        let outcomes = run_tests(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(outcomes.len() >= 3, "found {outcomes:?}");
        for o in &outcomes {
            assert!(o.passed, "{} failed: {:?}", o.name, o.error);
        }
    }
}
