//! Evidence parsing time on one thread: p50, p99 and max of parsing synthetic documents from
//! their JSON text into the evidence model, as a promotion request brings them.
//!
//! - `500/300`: a Trivy report with 500 findings over 300 packages, plus a CycloneDX SBOM of
//!   300 components (the dry-run benchmark's 127 KB body);
//! - `20k/20k`: a Trivy report with 20,000 findings, plus an OpenVEX document of 20,000
//!   statements.
//!
//! Run: `cargo bench -p portcullis-evidence --bench parse`. Environment: `BENCH_ITERATIONS`
//! (default 400 for the small case; the large one runs a tenth as many).

use std::hint::black_box;
use std::time::{Duration, Instant};

use portcullis_core::EvidenceFormat;
use serde_json::{Value, json};

/// Parses `text` as `format`, returning how many items it held (so nothing is optimised out).
fn parse(format: EvidenceFormat, text: &str) -> usize {
    match portcullis_evidence::parse_report(format, text) {
        Ok(items) => {
            items
                .vulnerability_reports
                .iter()
                .map(|r| r.vulnerabilities.len())
                .sum::<usize>()
                + items
                    .sboms
                    .iter()
                    .map(|s| s.components.len())
                    .sum::<usize>()
                + items.vex.len()
        }
        Err(e) => {
            eprintln!("parse failed: {e}");
            std::process::exit(1);
        }
    }
}

const IMAGE: &str = "sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
const SEVERITIES: [&str; 5] = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"];

/// A Trivy report of `findings` findings spread over `packages` packages.
fn trivy(findings: usize, packages: usize) -> String {
    let vulns: Vec<Value> = (0..findings)
        .map(|i| {
            let p = i % packages.max(1);
            json!({
                "VulnerabilityID": format!("CVE-2024-{:05}", i),
                "PkgName": format!("pkg{p}"),
                "PkgIdentifier": {"PURL": format!("pkg:apk/alpine/pkg{p}@1.{p}.0-r0")},
                "InstalledVersion": format!("1.{p}.0-r0"),
                "FixedVersion": format!("1.{p}.1-r0"),
                "Severity": SEVERITIES[i % SEVERITIES.len()],
                "Title": format!("pkg{p}: flaw number {i}"),
                "PrimaryURL": format!("https://avd.aquasec.com/nvd/cve-2024-{i:05}"),
            })
        })
        .collect();
    json!({
        "SchemaVersion": 2,
        "ArtifactName": "r.example/team/app:1.0",
        "ArtifactType": "container_image",
        "Metadata": {"RepoDigests": [format!("r.example/team/app@{IMAGE}")]},
        "Results": [{"Target": "r.example/team/app (alpine 3.19)", "Class": "os-pkgs",
                     "Type": "alpine", "Vulnerabilities": vulns}],
    })
    .to_string()
}

/// A CycloneDX 1.5 SBOM of `components` components.
fn cyclonedx(components: usize) -> String {
    let list: Vec<Value> = (0..components)
        .map(|p| {
            json!({
                "bom-ref": format!("pkg:apk/alpine/pkg{p}@1.{p}.0-r0"),
                "type": "library",
                "name": format!("pkg{p}"),
                "version": format!("1.{p}.0-r0"),
                "purl": format!("pkg:apk/alpine/pkg{p}@1.{p}.0-r0"),
                "licenses": [{"license": {"id": if p % 2 == 0 { "MIT" } else { "Apache-2.0" }}}],
            })
        })
        .collect();
    json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"component": {"type": "container", "name": "r.example/team/app",
            "purl": format!("pkg:oci/app@{}", IMAGE.replace(':', "%3A"))}},
        "components": list,
    })
    .to_string()
}

/// An OpenVEX document of `statements` statements, one per finding of [`trivy`].
fn openvex(statements: usize, packages: usize) -> String {
    let list: Vec<Value> = (0..statements)
        .map(|i| {
            let p = i % packages.max(1);
            json!({
                "vulnerability": {"name": format!("CVE-2024-{:05}", i)},
                "products": [{"@id": format!("pkg:oci/app@{IMAGE}"),
                              "subcomponents": [{"@id": format!("pkg:apk/alpine/pkg{p}")}]}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            })
        })
        .collect();
    json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/app-1",
        "author": "security@example.com",
        "timestamp": "2024-05-01T12:00:00Z",
        "version": 1,
        "statements": list,
    })
    .to_string()
}

/// Times `iterations` parses of `docs` after a warm-up and prints one row.
fn measure(label: &str, iterations: usize, docs: &[(EvidenceFormat, String)]) {
    let run = || docs.iter().map(|(f, t)| parse(*f, t)).sum::<usize>();
    for _ in 0..iterations.div_ceil(10).max(3) {
        black_box(run());
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        black_box(run());
        samples.push(t.elapsed());
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let bytes: usize = docs.iter().map(|(_, t)| t.len()).sum();
    println!(
        "{label:<34} {:>6} KiB  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
        bytes / 1024,
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(samples[samples.len() - 1]),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this too, without it:
    // then a few iterations only check that every document still parses.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let iterations = if benchmarking {
        std::env::var("BENCH_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(400)
    } else {
        println!("smoke run (3 iterations); `cargo bench -p portcullis-evidence` measures");
        3
    };
    println!("evidence parsing from JSON text into the evidence model, one thread");
    let small = [
        (EvidenceFormat::TrivyJson, trivy(500, 300)),
        (EvidenceFormat::CycloneDxJson, cyclonedx(300)),
    ];
    measure("trivy 500/300 + cyclonedx 300", iterations, &small);
    let large = [
        (EvidenceFormat::TrivyJson, trivy(20_000, 300)),
        (EvidenceFormat::OpenVex, openvex(20_000, 300)),
    ];
    measure("trivy 20k + openvex 20k", (iterations / 10).max(3), &large);
}
