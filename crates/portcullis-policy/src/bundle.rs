//! `PolicyBundle`: the Rego files and data of a policy directory, compiled once at load
//! into an RVM program (with the interpreter kept as the reference and fallback), with the
//! content digest that every decision records.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use portcullis_core::{Decision, Digest};
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::{Program, RegoVM};
use sha2::{Digest as _, Sha256};

use crate::output::to_decision;
use crate::{Error, Result, input_value};

/// The rule every bundle must define.
pub const DECISION_RULE: &str = "data.portcullis.promotion.decision";

/// A loaded, ready-to-evaluate policy bundle. Cloning is cheap (reference counts); it is
/// `Send + Sync` and meant to be shared in an `Arc`.
#[derive(Clone)]
pub struct PolicyBundle {
    /// The interpreter: the reference semantics, the baseline, and the fallback.
    engine: regorus::Engine,
    /// The interpreter's precompiled form of the decision rule.
    compiled: regorus::CompiledPolicy,
    /// The decision rule compiled to RVM bytecode, when the compiler supports the bundle.
    program: Option<Arc<Program>>,
    /// The bundle's data document, handed to each RVM run.
    data: regorus::Value,
    digest: Digest,
    dir: PathBuf,
}

/// How to evaluate; [`PolicyBundle::evaluate`] always takes the fastest correct one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalPath {
    /// The tree-walking interpreter over a clone of the prepared engine.
    Interpreter,
    /// The interpreter over the `CompiledPolicy` made at load (`eval_with_input`).
    Compiled,
    /// The RVM program compiled at load. Falls back to the interpreter when the bundle could
    /// not be compiled, when the VM fails, and when the result is undefined. Known difference
    /// (regorus 0.14.1): where a complete helper rule yields conflicting values the
    /// interpreter raises an error (a deny) but the RVM keeps the first value of a single
    /// body, or makes the rule undefined when two definitions disagree. Write complete rules
    /// that cannot conflict; `tests/rvm_equivalence.rs` checks the default bundle.
    Rvm,
}

/// The RVM stops a run after this many instructions (its default, 25 000, is too few for
/// hundreds of findings); a run that stops is re-evaluated by the interpreter.
const MAX_RVM_INSTRUCTIONS: usize = 50_000_000;

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
        let digest = Digest::from_sha256(hasher.finalize().into());
        let compiled = engine
            .clone()
            .compile_with_entrypoint(&DECISION_RULE.into())
            .map_err(|e| Error::Compile {
                path: dir.to_owned(),
                message: e.to_string(),
            })?;
        let program = compile_rvm(&compiled);
        let data = engine.get_data();
        Ok(Self {
            engine,
            compiled,
            program,
            data,
            digest,
            dir: dir.to_owned(),
        })
    }

    /// The content hash of the bundle (`sha256:…`), recorded with every decision.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The directory the bundle was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether evaluations run on the compiled RVM program (false: the bundle uses a
    /// construct the RVM compiler does not support, and the interpreter serves instead).
    pub fn is_compiled(&self) -> bool {
        self.program.is_some()
    }

    /// Evaluates the decision rule over `input` on the fastest path. CPU-bound: call it off
    /// the async executor. Undefined output, an evaluation error or an output of the wrong
    /// shape is a deny.
    pub fn evaluate(&self, input: &serde_json::Value) -> Decision {
        self.evaluate_value(EvalPath::Rvm, input_value(input))
    }

    /// Evaluates through the interpreter exactly as before the RVM path existed (input via
    /// serde, a clone of the engine per call): the reference and the benchmark baseline.
    pub fn evaluate_interpreted(&self, input: &serde_json::Value) -> Decision {
        self.evaluate_value(EvalPath::Interpreter, regorus::Value::from(input.clone()))
    }

    /// Evaluates over an input already converted (see [`input_value`]) on the given path.
    pub fn evaluate_value(&self, path: EvalPath, input: regorus::Value) -> Decision {
        let result = match (path, &self.program) {
            (EvalPath::Rvm, Some(program)) => match self.run_rvm(program, input.clone()) {
                // The RVM turns a complete rule's conflicting values into undefined where the
                // interpreter raises an error; undefined is rare and a deny either way, so
                // let the interpreter say which (policy.undefined or policy.error).
                Ok(regorus::Value::Undefined) => self.interpret(input),
                Ok(value) => Ok(value),
                Err(e) => {
                    tracing::warn!(
                        policy.digest = %self.digest,
                        error = %e,
                        "RVM evaluation failed; re-evaluating with the interpreter"
                    );
                    self.interpret(input)
                }
            },
            (EvalPath::Compiled, _) => self
                .compiled
                .eval_with_input(input)
                .map_err(|e| e.to_string()),
            _ => self.interpret(input),
        };
        to_decision(result)
    }

    fn interpret(&self, input: regorus::Value) -> std::result::Result<regorus::Value, String> {
        let mut engine = self.engine.clone();
        engine.set_input(input);
        engine
            .eval_rule(DECISION_RULE.to_owned())
            .map_err(|e| e.to_string())
    }

    fn run_rvm(
        &self,
        program: &Arc<Program>,
        input: regorus::Value,
    ) -> std::result::Result<regorus::Value, String> {
        let mut vm = RegoVM::new();
        vm.load_program(Arc::clone(program));
        vm.set_max_instructions(MAX_RVM_INSTRUCTIONS);
        vm.set_data(self.data.clone()).map_err(|e| e.to_string())?;
        vm.set_input(input);
        vm.execute().map_err(|e| e.to_string())
    }
}

/// Compiles the decision rule to an RVM program. A bundle the RVM compiler cannot handle
/// still loads and is served by the interpreter.
fn compile_rvm(policy: &regorus::CompiledPolicy) -> Option<Arc<Program>> {
    match Compiler::compile_from_policy(policy, &[DECISION_RULE]) {
        Ok(program) => Some(program),
        Err(e) => {
            tracing::warn!(error = %e, "policy does not compile to the RVM; using the interpreter");
            None
        }
    }
}
