//! Policy evaluation latency on one thread: p50, p99, max and evaluations/s of each path
//! over a synthetic evidence document (500 findings, 300 components by default).
//!
//! Run: `cargo bench -p portcullis-policy --bench eval` (or `bench/policy-eval.sh`).
//! Environment: `PORTCULLIS_POLICY_DIR` (default `<workspace>/policies`),
//! `BENCH_ITERATIONS` (default 2000), `BENCH_VULNS` (500), `BENCH_COMPONENTS` (300),
//! `BENCH_ONLY` (run only the rows whose label contains it).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use portcullis_core::{VexStatement, Vulnerability};
use portcullis_policy::bench::{synthetic, synthetic_input};
use portcullis_policy::{DocumentPart, EvalPath, Head, PolicyBundle, assemble, input_value};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Times `iterations` calls of `f` after a warm-up and prints one result row; skipped when
/// `BENCH_ONLY` is set and not part of `label`.
fn measure(label: &str, iterations: usize, mut f: impl FnMut() -> bool) {
    if std::env::var("BENCH_ONLY").is_ok_and(|only| !label.contains(&only)) {
        return;
    }
    for _ in 0..iterations.div_ceil(10).max(10) {
        black_box(f());
    }
    let mut samples = Vec::with_capacity(iterations);
    let start = Instant::now();
    for _ in 0..iterations {
        let t = Instant::now();
        black_box(f());
        samples.push(t.elapsed());
    }
    let total = start.elapsed();
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{label:<44} p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms  {:>7.0} evals/s",
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(samples[samples.len() - 1]),
        iterations as f64 / total.as_secs_f64(),
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::var_os("PORTCULLIS_POLICY_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies"));
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this too, without it:
    // then a few iterations only check that every path still runs.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let iterations = if benchmarking {
        env_usize("BENCH_ITERATIONS", 2000)
    } else {
        println!("smoke run (3 iterations a path); `cargo bench` or bench/policy-eval.sh measures");
        3
    };
    let (vulns, components) = (
        env_usize("BENCH_VULNS", 500),
        env_usize("BENCH_COMPONENTS", 300),
    );
    let bundle = PolicyBundle::load(&dir)?;
    let input = synthetic_input(vulns, components);
    let text = serde_json::to_string(&input)?;

    // Every path must reach the same decision, or the timings compare different work.
    let reference = bundle.evaluate_interpreted(&input);
    if bundle.evaluate(&input) != reference {
        return Err("the RVM and the interpreter disagree on the benchmark input".into());
    }
    println!(
        "policy {} ({}), input {vulns} vulnerabilities + {components} components ({} KiB JSON), \
         {iterations} evaluations per path, one thread",
        dir.display(),
        bundle.digest(),
        text.len() / 1024,
    );
    println!(
        "decision: allow={} violations={:?} warnings={} suppressions={}; RVM program: {}",
        reference.allow,
        reference
            .violations
            .iter()
            .map(|v| format!("{}: {}", v.rule, v.message))
            .collect::<Vec<_>>(),
        reference.warnings.len(),
        reference.suppressions.len(),
        if bundle.is_compiled() {
            "yes"
        } else {
            "no (interpreter fallback)"
        },
    );

    measure("(a) interpreter, input from JSON text", iterations, || {
        let value = regorus::Value::from_json_str(&text).unwrap_or(regorus::Value::Undefined);
        bundle.evaluate_value(EvalPath::Interpreter, value).allow
    });
    measure(
        "(a') interpreter, serde From<json::Value>",
        iterations,
        || bundle.evaluate_interpreted(&input).allow,
    );
    measure("(b) interpreter, direct Value input", iterations, || {
        bundle
            .evaluate_value(EvalPath::Interpreter, input_value(&input))
            .allow
    });
    measure("(d) CompiledPolicy, direct Value input", iterations, || {
        bundle
            .evaluate_value(EvalPath::Compiled, input_value(&input))
            .allow
    });
    let prebuilt = input_value(&input);
    measure("(d') CompiledPolicy, input prebuilt", iterations, || {
        bundle
            .evaluate_value(EvalPath::Compiled, prebuilt.clone())
            .allow
    });
    measure("(b') interpreter, input prebuilt", iterations, || {
        bundle
            .evaluate_value(EvalPath::Interpreter, prebuilt.clone())
            .allow
    });
    measure(
        "(c) RVM, direct Value input [evaluate()]",
        iterations,
        || bundle.evaluate(&input).allow,
    );
    measure(
        "(c') RVM, input Value prebuilt (eval only)",
        iterations,
        || bundle.evaluate_value(EvalPath::Rvm, prebuilt.clone()).allow,
    );
    measure("    input_value() conversion alone", iterations, || {
        input_value(&input) != regorus::Value::Undefined
    });
    // The server's path: typed input built from the evidence, straight into the engine's
    // value, plus its JSON text and hash (what the server records and a dry run answers).
    let case = synthetic(vulns, components)?;
    if bundle.evaluate_input(&case.input()) != reference {
        return Err("the typed input decides differently from the JSON input".into());
    }
    measure(
        "(t) typed input + evaluate + JSON and hash",
        iterations,
        || {
            let input = case.input();
            let decision = bundle.evaluate_input(&input);
            input.to_json().is_ok() && decision.allow
        },
    );
    measure("(t') typed input + evaluate_input()", iterations, || {
        bundle.evaluate_input(&case.input()).allow
    });
    measure(
        "    typed input built + to_value() alone",
        iterations,
        || case.input().to_value() != regorus::Value::Undefined,
    );
    measure(
        "    typed input built + to_json() alone",
        iterations,
        || case.input().to_json().is_ok(),
    );
    // The server's path with the per-document input cache: a document's part is built once
    // (a miss) and assembled with the request's head and evaluated on every request.
    let by_id: HashMap<&str, &VexStatement> = case
        .evidence
        .items
        .vex
        .iter()
        .map(|s| (s.vulnerability.as_str(), s))
        .collect();
    let governing = |v: &Vulnerability| by_id.get(v.id.as_str()).copied();
    let head = Head {
        source: &case.source,
        digest: &case.digest,
        signatures: &case.evidence.signatures,
        attestations: &case.evidence.attestations,
        request: &case.request,
        waivers: &[],
    };
    let part = DocumentPart::build(case.evidence.items.clone())?;
    let cached = assemble(&head, &[&part], governing)?;
    if bundle.evaluate_value(EvalPath::Rvm, cached.value) != reference {
        return Err("the assembled input decides differently from the JSON input".into());
    }
    measure(
        "(p) cached part: assemble + evaluate + hash",
        iterations,
        || {
            assemble(&head, &[&part], governing).is_ok_and(|a| {
                let hash = a.hash();
                bundle.evaluate_value(EvalPath::Rvm, a.value).allow && hash != case.digest
            })
        },
    );
    measure("(p') miss: build part + (p)", iterations, || {
        DocumentPart::build(case.evidence.items.clone()).is_ok_and(|part| {
            assemble(&head, &[&part], governing)
                .is_ok_and(|a| bundle.evaluate_value(EvalPath::Rvm, a.value).allow)
        })
    });
    measure("    cached part: assemble alone", iterations, || {
        assemble(&head, &[&part], governing).is_ok()
    });
    Ok(())
}
