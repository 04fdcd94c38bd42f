//! SLSA build provenance predicates (v0.2 and v1) normalised into `Provenance`: who built it,
//! how, and from which repository, ref and commit. Every error names the field at fault.

use portcullis_core::{Digest, EvidenceOrigin, Provenance};
use serde_json::Value;

use crate::Result;
use crate::fields::Fields;

/// SLSA provenance v0.2.
pub const SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";
/// SLSA provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

const V02: Fields = Fields {
    format: "slsa-provenance-v0.2",
};
const V1: Fields = Fields {
    format: "slsa-provenance-v1",
};

/// Where the source came from, as far as the predicate says.
#[derive(Debug, Default, PartialEq, Eq)]
struct Source {
    repository: Option<String>,
    reference: Option<String>,
    commit: Option<String>,
}

/// Parses a SLSA provenance predicate of `predicate_type` about `subject_digests`.
pub(crate) fn parse_provenance(
    predicate_type: &str,
    predicate: &Value,
    subject_digests: Vec<Digest>,
    origin: EvidenceOrigin,
) -> Result<Provenance> {
    let (builder_id, build_type, source) = match predicate_type {
        SLSA_PROVENANCE_V02 => parse_v02(predicate)?,
        _ => parse_v1(predicate)?,
    };
    Ok(Provenance {
        origin,
        predicate_type: predicate_type.to_owned(),
        builder_id,
        build_type,
        source_repository: source.repository,
        source_ref: source.reference,
        source_commit: source.commit,
        subject_digests,
    })
}

fn parse_v02(p: &Value) -> Result<(String, String, Source)> {
    let f = V02;
    f.object(p)?;
    let builder = f
        .opt_object(p, "builder", "$")?
        .ok_or_else(|| f.invalid("$.builder", "missing"))?;
    let builder_id = f.req_str(builder, "id", "$.builder")?.to_owned();
    let build_type = f.req_str(p, "buildType", "$")?.to_owned();
    let mut source = Source::default();
    let config_source = match f.opt_object(p, "invocation", "$")? {
        Some(inv) => f.opt_object(inv, "configSource", "$.invocation")?,
        None => None,
    };
    if let Some(cs) = config_source {
        let path = "$.invocation.configSource";
        // Validated for shape only: the model has no field for the entry point.
        f.opt_str(cs, "entryPoint", path)?;
        if let Some(uri) = f.opt_str(cs, "uri", path)? {
            let (repository, reference) = split_source_uri(uri);
            source.repository = Some(repository);
            source.reference = reference;
        }
        if let Some(digest) = f.opt_object(cs, "digest", path)? {
            source.commit = f
                .opt_str(digest, "sha1", &format!("{path}.digest"))?
                .map(str::to_owned);
        }
    }
    Ok((builder_id, build_type, source))
}

fn parse_v1(p: &Value) -> Result<(String, String, Source)> {
    let f = V1;
    f.object(p)?;
    let definition = f
        .opt_object(p, "buildDefinition", "$")?
        .ok_or_else(|| f.invalid("$.buildDefinition", "missing"))?;
    let build_type = f
        .req_str(definition, "buildType", "$.buildDefinition")?
        .to_owned();
    let run = f
        .opt_object(p, "runDetails", "$")?
        .ok_or_else(|| f.invalid("$.runDetails", "missing"))?;
    let builder = f
        .opt_object(run, "builder", "$.runDetails")?
        .ok_or_else(|| f.invalid("$.runDetails.builder", "missing"))?;
    let builder_id = f.req_str(builder, "id", "$.runDetails.builder")?.to_owned();
    let mut source = match f.opt_object(definition, "externalParameters", "$.buildDefinition")? {
        Some(ext) => external_source(ext)?,
        None => Source::default(),
    };
    resolve_commit(definition, &mut source)?;
    Ok((builder_id, build_type, source))
}

/// The source named by `externalParameters`: GitHub's `workflow.{repository, ref}`, a
/// `source` URI (string or `{uri}`), or top-level `repository`/`ref`.
fn external_source(ext: &Value) -> Result<Source> {
    let f = V1;
    let path = "$.buildDefinition.externalParameters";
    if let Some(workflow) = f.opt_object(ext, "workflow", path)? {
        let wpath = format!("{path}.workflow");
        return Ok(Source {
            repository: f
                .opt_str(workflow, "repository", &wpath)?
                .map(normalise_repo),
            reference: f.opt_str(workflow, "ref", &wpath)?.map(str::to_owned),
            commit: None,
        });
    }
    let uri = match ext.get("source") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(obj @ Value::Object(_)) => f.opt_str(obj, "uri", &format!("{path}.source"))?,
        Some(_) => {
            return Err(f.invalid(format!("{path}.source"), "expected a string or an object"));
        }
    };
    if let Some(uri) = uri {
        let (repository, reference) = split_source_uri(uri);
        return Ok(Source {
            repository: Some(repository),
            reference,
            commit: None,
        });
    }
    Ok(Source {
        repository: f.opt_str(ext, "repository", path)?.map(normalise_repo),
        reference: f.opt_str(ext, "ref", path)?.map(str::to_owned),
        commit: None,
    })
}

/// Takes the commit from `resolvedDependencies`: the entry for the source repository when
/// one matches, else the first entry with a git commit; fills in repository and ref from it
/// when `externalParameters` did not name them.
fn resolve_commit(definition: &Value, source: &mut Source) -> Result<()> {
    let f = V1;
    let path = "$.buildDefinition.resolvedDependencies";
    let mut candidates = Vec::new();
    for (i, dep) in f
        .opt_array(definition, "resolvedDependencies", "$.buildDefinition")?
        .iter()
        .enumerate()
    {
        let dpath = format!("{path}[{i}]");
        f.object(dep)
            .map_err(|_| f.invalid(&dpath, "expected a JSON object"))?;
        let Some(digest) = f.opt_object(dep, "digest", &dpath)? else {
            continue;
        };
        let dig_path = format!("{dpath}.digest");
        let commit = match f.opt_str(digest, "gitCommit", &dig_path)? {
            Some(c) => Some(c),
            None => f.opt_str(digest, "sha1", &dig_path)?,
        };
        if let Some(commit) = commit {
            let uri = f.opt_str(dep, "uri", &dpath)?.map(split_source_uri);
            candidates.push((uri, commit.to_owned()));
        }
    }
    let chosen = candidates
        .iter()
        .find(
            |(uri, _)| matches!((uri, &source.repository), (Some((r, _)), Some(repo)) if r == repo),
        )
        .or_else(|| candidates.first());
    if let Some((uri, commit)) = chosen {
        source.commit = Some(commit.clone());
        if let Some((repository, reference)) = uri {
            source.repository.get_or_insert_with(|| repository.clone());
            if source.reference.is_none() {
                source.reference.clone_from(reference);
            }
        }
    }
    Ok(())
}

/// `git+https://github.com/o/r@refs/heads/main` → (`https://github.com/o/r`, `refs/heads/main`).
fn split_source_uri(uri: &str) -> (String, Option<String>) {
    match uri.rsplit_once('@') {
        Some((repo, reference)) if reference.starts_with("refs/") => {
            (normalise_repo(repo), Some(reference.to_owned()))
        }
        _ => (normalise_repo(uri), None),
    }
}

/// Drops the `git+` scheme prefix and a trailing `.git`, so the same repository compares equal.
fn normalise_repo(uri: &str) -> String {
    let uri = uri.strip_prefix("git+").unwrap_or(uri);
    uri.strip_suffix(".git").unwrap_or(uri).to_owned()
}

#[cfg(test)]
mod tests;
