//! OpenVEX documents (v0.2.0, and the earlier `https://openvex.dev/ns` / v0.0.1 shapes) into
//! [`VexStatement`]s.

use portcullis_core::{EvidenceOrigin, VexProduct, VexStatement, VexStatus};
use serde_json::Value;

use crate::Result;
use crate::fields::Fields;

const F: Fields = Fields { format: "openvex" };

/// The `@context` values understood.
const CONTEXTS: &[&str] = &[
    "https://openvex.dev/ns/v0.2.0",
    "https://openvex.dev/ns/v0.0.1",
    "https://openvex.dev/ns",
];

/// Parses an OpenVEX document, recording `origin` on every statement.
///
/// A statement without a `timestamp` takes the document's. Old documents give the
/// vulnerability and products as strings and may list `subcomponents` on the statement;
/// those apply to each of its products.
pub fn parse_openvex_with_origin(doc: &Value, origin: EvidenceOrigin) -> Result<Vec<VexStatement>> {
    F.object(doc)?;
    let context = F.req_str(doc, "@context", "$")?;
    if !CONTEXTS.contains(&context.trim_end_matches('/')) {
        return Err(F.invalid(
            "$.@context",
            format!(
                "context {context:?} is not supported, expected one of {}",
                CONTEXTS.join(", ")
            ),
        ));
    }
    let document_id = F.opt_str(doc, "@id", "$")?.map(str::to_owned);
    let doc_timestamp = timestamp(doc, "$")?;
    let statements = match doc.get("statements") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => return Err(F.invalid("$.statements", "missing")),
        Some(_) => return Err(F.invalid("$.statements", "expected an array")),
    };
    let mut out = Vec::with_capacity(statements.len());
    for (i, s) in statements.iter().enumerate() {
        let path = format!("$.statements[{i}]");
        if !s.is_object() {
            return Err(F.invalid(path, "expected an object"));
        }
        let (vulnerability, aliases) = vulnerability(s, &path)?;
        out.push(VexStatement {
            origin: origin.clone(),
            vulnerability,
            aliases,
            products: products(s, &path)?,
            status: status(s, &path)?,
            justification: F.opt_str(s, "justification", &path)?.map(str::to_owned),
            impact_statement: F.opt_str(s, "impact_statement", &path)?.map(str::to_owned),
            timestamp: timestamp(s, &path)?.or_else(|| doc_timestamp.clone()),
            document_id: document_id.clone(),
        });
    }
    Ok(out)
}

/// `vulnerability`: a string (v0.0.1) or `{name, aliases}` (v0.2.0).
fn vulnerability(s: &Value, path: &str) -> Result<(String, Vec<String>)> {
    let vpath = format!("{path}.vulnerability");
    match s.get("vulnerability") {
        Some(Value::String(id)) if !id.is_empty() => Ok((id.clone(), Vec::new())),
        Some(v @ Value::Object(_)) => {
            let name = F.req_str(v, "name", &vpath)?;
            let mut aliases = Vec::new();
            for (j, a) in F.opt_array(v, "aliases", &vpath)?.iter().enumerate() {
                let alias = a.as_str().ok_or_else(|| {
                    F.invalid(format!("{vpath}.aliases[{j}]"), "expected a string")
                })?;
                if alias != name {
                    aliases.push(alias.to_owned());
                }
            }
            aliases.sort();
            aliases.dedup();
            Ok((name.to_owned(), aliases))
        }
        None | Some(Value::Null) => Err(F.invalid(vpath, "missing")),
        Some(_) => Err(F.invalid(vpath, "expected a non-empty string or an object")),
    }
}

/// `products[]`: strings or `{"@id", identifiers{purl}, subcomponents[]}`.
fn products(s: &Value, path: &str) -> Result<Vec<VexProduct>> {
    let shared = identifiers(
        F.opt_array(s, "subcomponents", path)?,
        &format!("{path}.subcomponents"),
    )?;
    let list = F.opt_array(s, "products", path)?;
    if list.is_empty() {
        return Err(F.invalid(format!("{path}.products"), "missing or empty"));
    }
    let mut out = Vec::with_capacity(list.len());
    for (j, p) in list.iter().enumerate() {
        let ppath = format!("{path}.products[{j}]");
        let (id, subcomponents) = match p {
            Value::String(id) => (id.clone(), shared.clone()),
            Value::Object(_) => {
                let subs = identifiers(
                    F.opt_array(p, "subcomponents", &ppath)?,
                    &format!("{ppath}.subcomponents"),
                )?;
                (
                    identifier(p, &ppath)?,
                    if subs.is_empty() {
                        shared.clone()
                    } else {
                        subs
                    },
                )
            }
            _ => return Err(F.invalid(ppath, "expected a string or an object")),
        };
        out.push(VexProduct { id, subcomponents });
    }
    Ok(out)
}

/// The identifiers of a `products` / `subcomponents` list whose entries are strings or
/// objects.
fn identifiers(list: &[Value], path: &str) -> Result<Vec<String>> {
    list.iter()
        .enumerate()
        .map(|(k, v)| match v {
            Value::String(id) => Ok(id.clone()),
            Value::Object(_) => identifier(v, &format!("{path}[{k}]")),
            _ => Err(F.invalid(format!("{path}[{k}]"), "expected a string or an object")),
        })
        .collect()
}

/// A component's identifier: `@id`, else `identifiers.purl`.
fn identifier(v: &Value, path: &str) -> Result<String> {
    if let Some(id) = F.opt_str(v, "@id", path)? {
        return Ok(id.to_owned());
    }
    let purl = match F.opt_object(v, "identifiers", path)? {
        Some(ids) => F.opt_str(ids, "purl", &format!("{path}.identifiers"))?,
        None => None,
    };
    purl.map(str::to_owned)
        .ok_or_else(|| F.invalid(format!("{path}.@id"), "missing (and no identifiers.purl)"))
}

/// `status`, one of the four OpenVEX statuses.
fn status(s: &Value, path: &str) -> Result<VexStatus> {
    Ok(match F.req_str(s, "status", path)? {
        "not_affected" => VexStatus::NotAffected,
        "affected" => VexStatus::Affected,
        "fixed" => VexStatus::Fixed,
        "under_investigation" => VexStatus::UnderInvestigation,
        other => {
            return Err(F.invalid(
                format!("{path}.status"),
                format!(
                    "unknown status {other:?}, expected not_affected, affected, fixed or under_investigation"
                ),
            ));
        }
    })
}

/// An RFC 3339 `timestamp`, checked.
fn timestamp(v: &Value, path: &str) -> Result<Option<String>> {
    let Some(text) = F.opt_str(v, "timestamp", path)? else {
        return Ok(None);
    };
    chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|e| F.invalid(format!("{path}.timestamp"), format!("not RFC 3339: {e}")))?;
    Ok(Some(text.to_owned()))
}
