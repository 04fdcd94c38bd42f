//! A bundle loaded from memory is the bundle loaded from its directory (same digest, same
//! verdicts), and `time.now_ns()` answers the time an evaluation fixes, so a decision that
//! reads the clock can be replayed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use portcullis_policy::bench::synthetic_input;
use portcullis_policy::{EvalPath, PolicyBundle, content_digest, input_value};

fn default_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

#[test]
fn a_bundle_from_its_files_has_the_directory_digest_and_verdicts() {
    let from_dir = PolicyBundle::load(&default_dir()).unwrap();
    let files = from_dir.files().clone();
    assert!(files.contains_key("promotion.rego") && files.contains_key("data.json"));
    assert!(
        files.keys().all(|n| !n.ends_with("_test.rego")),
        "tests are not served: {:?}",
        files.keys()
    );
    let from_files = PolicyBundle::from_files("stored", &files).unwrap();
    assert_eq!(from_files.digest(), from_dir.digest());
    assert_eq!(
        content_digest(files.iter().map(|(n, c)| (n.as_str(), c.as_str()))),
        *from_dir.digest()
    );
    assert!(from_dir.is_compiled() && !from_dir.uses_clock());
    let input = synthetic_input(20, 10);
    assert_eq!(from_files.evaluate(&input), from_dir.evaluate(&input));

    // One byte of one file changes the digest; a test file or a stray file does not.
    let mut edited = files.clone();
    edited.get_mut("data.json").unwrap().push(' ');
    assert_ne!(
        PolicyBundle::from_files("x", &edited).unwrap().digest(),
        from_dir.digest()
    );
    let mut extra = files.clone();
    extra.insert("more_test.rego".into(), "package x_test\n".into());
    extra.insert("README.md".into(), "hello".into());
    extra.insert("sub/dir.rego".into(), "not rego".into());
    assert_eq!(
        PolicyBundle::from_files("x", &extra).unwrap().digest(),
        from_dir.digest()
    );
}

const CLOCK_POLICY: &str = r#"package portcullis.promotion

import rego.v1

# Allowed until the end of 2030 (ns since the epoch), and says when it judged.
decision := {
	"allow": time.now_ns() < 1924992000000000000,
	"violations": [],
	"required_approvals": {"count": 1, "group": "release-approvers"},
	"warnings": [sprintf("judged at %d", [time.now_ns()])],
}
"#;

fn clock_bundle() -> PolicyBundle {
    let files = BTreeMap::from([("promotion.rego".to_owned(), CLOCK_POLICY.to_owned())]);
    PolicyBundle::from_files("clock", &files).unwrap()
}

#[test]
fn time_now_ns_answers_the_fixed_time_and_runs_on_the_interpreter() {
    let bundle = clock_bundle();
    assert!(bundle.uses_clock());
    assert!(!bundle.is_compiled(), "the RVM cannot be given the clock");
    let input = input_value(&serde_json::json!({}));
    let before = bundle.evaluate_at(EvalPath::Rvm, input.clone(), 1_700_000_000_000_000_001);
    assert!(before.allow, "{before:?}");
    assert_eq!(before.warnings, vec!["judged at 1700000000000000001"]);
    // The same time gives the same verdict again; a later one another.
    let again = bundle.evaluate_at(EvalPath::Rvm, input.clone(), 1_700_000_000_000_000_001);
    assert_eq!(again, before);
    let later = bundle.evaluate_at(EvalPath::Rvm, input.clone(), 1_924_992_000_000_000_000);
    assert!(!later.allow);
    assert_eq!(later.warnings, vec!["judged at 1924992000000000000"]);
    // Unfixed, the clock is the system's.
    let now = bundle.evaluate_value(EvalPath::Rvm, input);
    let judged: i64 = now.warnings[0]
        .strip_prefix("judged at ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(judged > 1_764_000_000_000_000_000, "{judged}");
}
