//! `PolicyBundle`: the Rego files and data of a policy directory, compiled once, with the
//! content digest that every decision records.

use std::path::{Path, PathBuf};

use portcullis_core::{Decision, RequiredApprovals, Violation};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// The rule every bundle must define.
pub const DECISION_RULE: &str = "data.portcullis.promotion.decision";

/// A loaded, ready-to-evaluate policy bundle. Cloning the inner engine per evaluation keeps
/// evaluations independent without re-parsing.
#[derive(Clone)]
pub struct PolicyBundle {
    engine: regorus::Engine,
    digest: String,
    dir: PathBuf,
}

/// A bundle file, read.
pub(crate) struct BundleFile {
    pub path: PathBuf,
    pub name: String,
    pub content: String,
}

/// Reads every `.rego` file and `data.json` of `dir`, sorted by name.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<BundleFile>> {
    let io = |path: &Path, source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let path = entry.map_err(|e| io(dir, e))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.ends_with(".rego") || name == "data.json" {
            let content = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            files.push(BundleFile {
                path,
                name,
                content,
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Loads files into a fresh engine; `with_tests` also loads `*_test.rego`.
pub(crate) fn engine_for(
    dir: &Path,
    files: &[BundleFile],
    with_tests: bool,
) -> Result<regorus::Engine> {
    let mut engine = regorus::Engine::new();
    let mut policies = 0;
    for f in files {
        if f.name == "data.json" {
            let value = regorus::Value::from_json_str(&f.content).map_err(|e| Error::Data {
                path: f.path.clone(),
                message: e.to_string(),
            })?;
            engine.add_data(value).map_err(|e| Error::Data {
                path: f.path.clone(),
                message: e.to_string(),
            })?;
        } else if with_tests || !f.name.ends_with("_test.rego") {
            engine
                .add_policy(f.path.display().to_string(), f.content.clone())
                .map_err(|e| Error::Compile {
                    path: f.path.clone(),
                    message: e.to_string(),
                })?;
            policies += 1;
        }
    }
    if policies == 0 {
        return Err(Error::Empty(dir.to_owned()));
    }
    Ok(engine)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDecision {
    allow: bool,
    #[serde(default)]
    violations: Vec<RawViolation>,
    required_approvals: Option<RequiredApprovals>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct RawViolation {
    rule: String,
    message: String,
    #[serde(default = "default_severity")]
    severity: String,
}

fn default_severity() -> String {
    "high".to_owned()
}

impl PolicyBundle {
    /// Loads and compiles the bundle in `dir`; fails if any file does not parse.
    pub fn load(dir: &Path) -> Result<Self> {
        let files = read_dir(dir)?;
        let mut engine = engine_for(dir, &files, false)?;
        // Compile the decision rule once now so a broken bundle fails at load, not per request.
        engine
            .eval_rule(DECISION_RULE.to_owned())
            .map_err(|e| Error::Compile {
                path: dir.to_owned(),
                message: e.to_string(),
            })?;
        let mut hasher = Sha256::new();
        // Only what is served counts: editing a test file does not change the digest.
        for f in files.iter().filter(|f| !f.name.ends_with("_test.rego")) {
            hasher.update(f.name.as_bytes());
            hasher.update([0]);
            hasher.update(f.content.as_bytes());
            hasher.update([0]);
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        Ok(Self {
            engine,
            digest,
            dir: dir.to_owned(),
        })
    }

    /// The content hash of the bundle (`sha256:…`), recorded with every decision.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The directory the bundle was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Evaluates the decision rule over `input`. CPU-bound: call it off the async executor.
    /// Undefined output, an evaluation error or an output of the wrong shape is a deny.
    pub fn evaluate(&self, input: &serde_json::Value) -> Decision {
        let mut engine = self.engine.clone();
        engine.set_input(regorus::Value::from(input.clone()));
        let value = match engine.eval_rule(DECISION_RULE.to_owned()) {
            Ok(v) => v,
            Err(e) => {
                return Decision::deny("policy.error", format!("policy evaluation failed: {e}"));
            }
        };
        if value == regorus::Value::Undefined {
            return Decision::deny("policy.undefined", format!("{DECISION_RULE} is undefined"));
        }
        let parsed = value
            .to_json_str()
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str::<RawDecision>(&s).map_err(|e| e.to_string()));
        match parsed {
            Ok(raw) => to_decision(raw),
            Err(e) => Decision::deny(
                "policy.malformed",
                format!("policy output has the wrong shape: {e}"),
            ),
        }
    }
}

fn to_decision(raw: RawDecision) -> Decision {
    let mut violations: Vec<Violation> = raw
        .violations
        .into_iter()
        .map(|v| Violation {
            rule: v.rule,
            message: v.message,
            severity: v.severity,
        })
        .collect();
    violations.sort_by(|a, b| a.rule.cmp(&b.rule).then_with(|| a.message.cmp(&b.message)));
    // An allow that still lists violations is contradictory: fail closed.
    let allow = raw.allow && violations.is_empty();
    if allow && raw.required_approvals.is_none() {
        return Decision::deny("policy.malformed", "an allow must state required_approvals");
    }
    Decision {
        allow,
        violations,
        required_approvals: raw.required_approvals,
        warnings: raw.warnings,
    }
}
