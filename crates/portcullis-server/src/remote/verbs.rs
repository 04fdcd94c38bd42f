//! `portcullis pending`, `show ID`, `approve ID`, `reject ID`, `audit [--digest D]`.

use serde_json::{Value, json};

use super::render;
use super::{Api, Outcome, RemoteError, segment};

fn print_json(v: &Value) {
    println!("{v:#}");
}

/// `pending`: what the caller may still approve.
pub async fn pending(api: &Api, as_json: bool) -> Result<Outcome, RemoteError> {
    let list = api.get("/v1/promotions?awaiting=me").await?;
    if as_json {
        print_json(&list);
        return Ok(Outcome::Ok);
    }
    let items = list
        .get("promotions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if items.is_empty() {
        println!("nothing awaits your approval");
    }
    for p in &items {
        println!("{}", render::pending_line(p));
    }
    Ok(Outcome::Ok)
}

/// `show ID`: the promotion, readably; exits with its state's code.
pub async fn show(api: &Api, id: &str, as_json: bool) -> Result<Outcome, RemoteError> {
    let p = api.get(&format!("/v1/promotions/{}", segment(id))).await?;
    if as_json {
        print_json(&p);
    } else {
        print!("{}", render::promotion(&p));
    }
    let state = p.get("state").and_then(Value::as_str).unwrap_or("");
    Ok(Outcome::of_state(state).unwrap_or(Outcome::Ok))
}

/// `approve ID` / `reject ID`: votes on the evidence the promotion shows now (its
/// `evidence_hash`, so a vote never counts for evidence the voter did not see).
pub async fn vote(
    api: &Api,
    id: &str,
    verdict: &str,
    comment: &str,
    as_json: bool,
) -> Result<Outcome, RemoteError> {
    let path = format!("/v1/promotions/{}", segment(id));
    let p = api.get(&path).await?;
    let hash = p
        .get("evidence_hash")
        .and_then(Value::as_str)
        .ok_or_else(|| RemoteError::Usage(format!("promotion {id} shows no evidence_hash")))?;
    let body = json!({"verdict": verdict, "comment": comment, "evidence_hash": hash});
    let after = api.post(&format!("{path}/approvals"), &body).await?;
    if as_json {
        print_json(&after);
    } else {
        println!("{verdict} recorded on the evidence {hash}");
        println!("{}", render::headline(&after));
    }
    Ok(Outcome::Ok)
}

/// `audit [--digest D] [--limit N]`: the newest events, one a line.
pub async fn audit(
    api: &Api,
    digest: Option<&str>,
    limit: u32,
    as_json: bool,
) -> Result<Outcome, RemoteError> {
    let mut path = format!("/v1/audit?limit={limit}");
    if let Some(d) = digest {
        path.push_str("&digest=");
        path.push_str(&segment(d));
    }
    let page = api.get(&path).await?;
    if as_json {
        print_json(&page);
        return Ok(Outcome::Ok);
    }
    for e in page
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!("{}", render::audit_line(e));
    }
    Ok(Outcome::Ok)
}
