//! `portcullis promote SOURCE --route R [--tag T] [--evidence FORMAT=FILE]... [--dry-run]
//! [--wait [--timeout 30m]] [--json]`: requests a promotion, prints the verdict, and with
//! `--wait` follows it to its end (long-polling the promotion, printing copy progress while
//! it copies) and exits with the code of its last state.

use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::render;
use super::{Api, MAX_EVIDENCE_BYTES, Outcome, RemoteError, segment};

/// The longest single long poll (the server caps it below its request deadline).
const LONG_POLL_SECONDS: u64 = 20;

/// What `promote` was asked.
#[derive(Debug, Clone)]
pub struct PromoteArgs {
    /// `host[:port]/repo@sha256:…` or `…:tag`.
    pub source: String,
    /// The route.
    pub route: String,
    /// The production tag.
    pub tag: Option<String>,
    /// `FORMAT=FILE` pairs (`-` reads standard input).
    pub evidence: Vec<String>,
    /// Judge only; nothing is stored.
    pub dry_run: bool,
    /// Follow the promotion until it ends or `timeout` passes.
    pub wait: bool,
    /// How long `--wait` waits.
    pub timeout: Duration,
    /// Print the final answer as JSON on standard output (progress goes to standard error).
    pub json: bool,
}

/// Reads one `FORMAT=FILE` evidence argument as `{format, document}`.
fn evidence_document(arg: &str) -> Result<Value, RemoteError> {
    let (format, file) = arg
        .split_once('=')
        .filter(|(f, p)| !f.is_empty() && !p.is_empty())
        .ok_or_else(|| {
            RemoteError::Usage(format!(
                "--evidence {arg:?}: expected FORMAT=FILE, e.g. trivy-json=report.json"
            ))
        })?;
    let mut bytes = Vec::new();
    let read = if file == "-" {
        std::io::stdin()
            .take(MAX_EVIDENCE_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(Path::new(file))
            .and_then(|f| f.take(MAX_EVIDENCE_BYTES + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| RemoteError::Usage(format!("--evidence {file}: {e}")))?;
    if bytes.len() as u64 > MAX_EVIDENCE_BYTES {
        return Err(RemoteError::Usage(format!(
            "--evidence {file}: larger than {} MiB",
            MAX_EVIDENCE_BYTES / (1024 * 1024)
        )));
    }
    let document: Value = serde_json::from_slice(&bytes)
        .map_err(|e| RemoteError::Usage(format!("--evidence {file} is not JSON: {e}")))?;
    Ok(json!({"format": format, "document": document}))
}

/// The request body.
fn body(args: &PromoteArgs) -> Result<Value, RemoteError> {
    let evidence = args
        .evidence
        .iter()
        .map(|a| evidence_document(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut body = json!({"source": args.source, "route": args.route, "evidence": evidence});
    if let Some(tag) = &args.tag {
        body["tag"] = json!(tag);
    }
    if args.dry_run {
        body["dry_run"] = json!(true);
    }
    Ok(body)
}

/// Requests the promotion and, with `--wait`, follows it to its end.
pub async fn promote(api: &Api, args: &PromoteArgs) -> Result<Outcome, RemoteError> {
    let answer = api.post("/v1/promotions", &body(args)?).await?;
    if args.dry_run {
        let allow = answer.pointer("/decision/allow") == Some(&Value::Bool(true));
        if args.json {
            println!("{answer:#}");
        } else {
            println!(
                "dry run: {} → {}",
                args.source,
                answer
                    .get("destination")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            );
            print!(
                "{}",
                render::verdict(answer.get("decision").unwrap_or(&Value::Null))
            );
        }
        return Ok(if allow { Outcome::Ok } else { Outcome::Denied });
    }
    let human = !args.json;
    if human {
        println!("{}", render::headline(&answer));
        print!(
            "{}",
            render::verdict(answer.get("decision").unwrap_or(&Value::Null))
        );
    }
    let state = answer.get("state").and_then(Value::as_str).unwrap_or("");
    if !args.wait || Outcome::of_state(state).is_some() {
        if args.json {
            println!("{answer:#}");
        }
        return Ok(Outcome::of_state(state).unwrap_or(Outcome::Ok));
    }
    let id = answer
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    follow(api, &id, answer, args.timeout, human).await
}

/// Long-polls promotion `id` from `seen` until a final state or `timeout`; prints each
/// change (to stdout when `human`, else to stderr, the final JSON to stdout).
async fn follow(
    api: &Api,
    id: &str,
    mut seen: Value,
    timeout: Duration,
    human: bool,
) -> Result<Outcome, RemoteError> {
    let say = |line: String| {
        if human {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    };
    let deadline = Instant::now() + timeout;
    let mut last_line = String::new();
    loop {
        let state = seen
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if let Some(outcome) = Outcome::of_state(&state) {
            if human {
                print!("{}", render::promotion(&seen));
            } else {
                println!("{seen:#}");
            }
            return Ok(outcome);
        }
        let line = match state.as_str() {
            "promoting" => seen
                .get("copy")
                .filter(|c| c.is_object())
                .map_or_else(|| "copying: starting".to_owned(), render::progress),
            "pending_approval" => format!(
                "waiting for approvals ({} vote(s) so far)",
                seen.get("approvals")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
            ),
            other => format!("state: {other}"),
        };
        if line != last_line {
            say(line.clone());
            last_line = line;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            say(format!(
                "timed out after {}s; promotion {id} is still {state}",
                timeout.as_secs()
            ));
            return Ok(Outcome::TimedOut);
        }
        // While copying, come back every second for the progress; otherwise wait for the
        // state to change.
        let wait = if state == "promoting" {
            1
        } else {
            left.as_secs().clamp(1, LONG_POLL_SECONDS)
        };
        let path = format!(
            "/v1/promotions/{}?wait_seconds={wait}&state={state}",
            segment(id)
        );
        seen = api
            .send(
                Method::GET,
                &path,
                None,
                Duration::from_secs(wait + super::REQUEST_TIMEOUT.as_secs()),
            )
            .await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_arguments_are_format_equals_file() {
        for bad in ["trivy-json", "=x.json", "trivy-json="] {
            let e = evidence_document(bad).err().map(|e| e.to_string());
            assert!(
                e.as_deref().unwrap_or("").contains("expected FORMAT=FILE"),
                "{bad}: {e:?}"
            );
        }
        let e = evidence_document("trivy-json=/nonexistent/report.json")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("--evidence /nonexistent/report.json: "),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("pc-cli-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("r.json");
        let _ = std::fs::write(&file, b"not json");
        let arg = format!("trivy-json={}", file.display());
        let e = evidence_document(&arg)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("is not JSON"), "{e}");
        let _ = std::fs::write(&file, br#"{"Results": []}"#);
        let doc = evidence_document(&arg).unwrap_or_default();
        assert_eq!(doc["format"], "trivy-json");
        assert_eq!(doc["document"]["Results"], json!([]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
