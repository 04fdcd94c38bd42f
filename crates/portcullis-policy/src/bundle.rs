//! `PolicyBundle`: the Rego files and data of a policy directory, compiled once at load
//! into an RVM program (with the interpreter kept as the reference and fallback), with the
//! content digest that every decision records.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::{Decision, Digest};
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::{Program, RegoVM};
use regorus::utils::limits::ExecutionTimerConfig;

use crate::files::{BundleFile, content_digest, engine_for, from_map, is_served, read_dir};
use crate::output::to_decision;
use crate::{Error, Result, clock, input_value};

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
    /// The served files, `name → content`.
    files: Arc<BTreeMap<String, String>>,
    /// Whether a served file mentions `time.now_ns` (then the RVM is not used).
    uses_clock: bool,
    /// The per-evaluation time limit, if any (`with_time_limit`).
    time_limit: Option<ExecutionTimerConfig>,
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

impl PolicyBundle {
    /// Loads and compiles the bundle in `dir`; fails if any file does not parse.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::build(dir, read_dir(dir)?, None)
    }

    /// Loads and compiles a bundle held in memory as `file name → content` (a stored bundle,
    /// an uploaded one), as if its files were a directory's; `label` names it in errors.
    /// Its digest is the one `load` computes for the same files.
    pub fn from_files(label: &str, files: &BTreeMap<String, String>) -> Result<Self> {
        let label = Path::new(label);
        Self::build(label, from_map(label, files), None)
    }

    /// Like `from_files`, for a bundle from an untrusted hand (an upload): loading it (which
    /// evaluates the decision rule once) and each evaluation stop, and deny, after `limit`.
    pub fn from_files_within(
        label: &str,
        files: &BTreeMap<String, String>,
        limit: Duration,
    ) -> Result<Self> {
        let label = Path::new(label);
        Self::build(label, from_map(label, files), Some(timer(limit)))
    }

    fn build(
        dir: &Path,
        files: Vec<BundleFile>,
        time_limit: Option<ExecutionTimerConfig>,
    ) -> Result<Self> {
        let mut engine = engine_for(dir, &files, false)?;
        if let Some(config) = time_limit {
            engine.set_execution_timer_config(config);
        }
        // Compile the decision rule once now so a broken bundle fails at load, not per request.
        engine
            .eval_rule(DECISION_RULE.to_owned())
            .map_err(|e| Error::Compile {
                path: dir.to_owned(),
                message: e.to_string(),
            })?;
        let served: BTreeMap<String, String> = files
            .into_iter()
            .filter(|f| is_served(&f.name))
            .map(|f| (f.name, f.content))
            .collect();
        let digest = content_digest(served.iter().map(|(n, c)| (n.as_str(), c.as_str())));
        let uses_clock = served.values().any(|c| clock::mentions_clock(c));
        let compiled = engine
            .clone()
            .compile_with_entrypoint(&DECISION_RULE.into())
            .map_err(|e| Error::Compile {
                path: dir.to_owned(),
                message: e.to_string(),
            })?;
        // The RVM reads the system clock itself: a bundle that reads the clock is served by
        // the interpreter, whose clock a decision can fix and its replay fix again.
        let program = if uses_clock {
            None
        } else {
            compile_rvm(&compiled)
        };
        let data = engine.get_data();
        Ok(Self {
            engine,
            compiled,
            program,
            data,
            digest,
            dir: dir.to_owned(),
            files: Arc::new(served),
            uses_clock,
            time_limit,
        })
    }

    /// The same bundle, each evaluation stopped (and denied) once it has run for `limit`.
    /// For candidate bundles run on behalf of a caller (a simulation); the serving bundle
    /// is bounded by the RVM's instruction limit instead.
    pub fn with_time_limit(mut self, limit: Duration) -> Self {
        let config = timer(limit);
        self.engine.set_execution_timer_config(config);
        self.time_limit = Some(config);
        self
    }

    /// The content hash of the bundle (`sha256:…`), recorded with every decision.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The directory the bundle was loaded from (its label, for an in-memory bundle).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The served files (`name → content`, tests left out): what the digest covers and
    /// what is stored with the decisions this bundle makes.
    pub fn files(&self) -> &BTreeMap<String, String> {
        &self.files
    }

    /// Whether the bundle reads the clock (`time.now_ns`), so is evaluated by the
    /// interpreter with the clock fixed at the decision's time.
    pub fn uses_clock(&self) -> bool {
        self.uses_clock
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

    /// Evaluates the decision rule over a typed input document, built straight into the
    /// engine's value (no JSON in between), on the fastest path.
    pub fn evaluate_input(&self, input: &crate::Input<'_>) -> Decision {
        self.evaluate_value(EvalPath::Rvm, input.to_value())
    }

    /// Evaluates through the interpreter exactly as before the RVM path existed (input via
    /// serde, a clone of the engine per call): the reference and the benchmark baseline.
    pub fn evaluate_interpreted(&self, input: &serde_json::Value) -> Decision {
        self.evaluate_value(EvalPath::Interpreter, regorus::Value::from(input.clone()))
    }

    /// Evaluates over an input already converted (see [`input_value`]) on the given path,
    /// with `time.now_ns()` fixed at `now_ns` (ns since the epoch): a decision records the
    /// time it was judged at, and its replay passes the same. No allocation beyond
    /// `evaluate_value`'s.
    pub fn evaluate_at(&self, path: EvalPath, input: regorus::Value, now_ns: i64) -> Decision {
        let _clock = clock::Fixed::at(now_ns);
        self.evaluate_value(path, input)
    }

    /// Evaluates over an input already converted (see [`input_value`]) on the given path;
    /// `time.now_ns()` reads the system clock (unless the caller fixed it: `evaluate_at`).
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
        if self.time_limit.is_some() {
            vm.set_execution_timer_config(self.time_limit);
        }
        vm.set_data(self.data.clone()).map_err(|e| e.to_string())?;
        vm.set_input(input);
        vm.execute().map_err(|e| e.to_string())
    }
}

/// A time limit checked every 64 units of work.
fn timer(limit: Duration) -> ExecutionTimerConfig {
    ExecutionTimerConfig {
        limit,
        check_interval: NonZeroU32::new(64).unwrap_or(NonZeroU32::MIN),
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
