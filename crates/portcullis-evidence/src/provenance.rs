//! SLSA build provenance predicates (v0.2 and v1) normalised into `Provenance`: who built it,
//! how, and from which repository, ref and commit. Every error names the field at fault.

use portcullis_core::{Digest, EvidenceOrigin, Provenance};
use serde::Deserialize;

use crate::Result;
use crate::de::{StrOr, Text, from_str};

/// SLSA provenance v0.2.
pub const SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";
/// SLSA provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// The v0.2 predicate, as far as it is read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V02<'a> {
    #[serde(borrow)]
    builder: Builder<'a>,
    #[serde(borrow)]
    build_type: Text<'a>,
    #[serde(borrow)]
    invocation: Option<Invocation<'a>>,
}

#[derive(Deserialize)]
struct Builder<'a> {
    #[serde(borrow)]
    id: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    #[serde(borrow)]
    config_source: Option<ConfigSource<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigSource<'a> {
    /// Checked for shape only: the model has no field for the entry point.
    #[serde(rename = "entryPoint", borrow)]
    _entry_point: Option<Text<'a>>,
    #[serde(borrow)]
    uri: Option<Text<'a>>,
    #[serde(borrow)]
    digest: Option<Sha1<'a>>,
}

#[derive(Deserialize)]
struct Sha1<'a> {
    #[serde(borrow)]
    sha1: Option<Text<'a>>,
}

/// The v1 predicate, as far as it is read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1<'a> {
    #[serde(borrow)]
    build_definition: Definition<'a>,
    #[serde(borrow)]
    run_details: RunDetails<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Definition<'a> {
    #[serde(borrow)]
    build_type: Text<'a>,
    #[serde(borrow)]
    external_parameters: Option<External<'a>>,
    #[serde(borrow)]
    resolved_dependencies: Option<Vec<Dependency<'a>>>,
}

#[derive(Deserialize)]
struct RunDetails<'a> {
    #[serde(borrow)]
    builder: Builder<'a>,
}

/// `externalParameters`: GitHub's `workflow`, a `source` URI (string or `{uri}`), or
/// top-level `repository`/`ref`.
#[derive(Deserialize)]
struct External<'a> {
    #[serde(borrow)]
    workflow: Option<RepoRef<'a>>,
    #[serde(borrow)]
    source: Option<StrOr<'a, Uri<'a>>>,
    #[serde(borrow)]
    repository: Option<Text<'a>>,
    #[serde(rename = "ref", borrow)]
    reference: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RepoRef<'a> {
    #[serde(borrow)]
    repository: Option<Text<'a>>,
    #[serde(rename = "ref", borrow)]
    reference: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Uri<'a> {
    #[serde(borrow)]
    uri: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Dependency<'a> {
    #[serde(borrow)]
    uri: Option<Text<'a>>,
    #[serde(borrow)]
    digest: Option<DependencyDigest<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DependencyDigest<'a> {
    #[serde(borrow)]
    git_commit: Option<Text<'a>>,
    #[serde(borrow)]
    sha1: Option<Text<'a>>,
}

/// Where the source came from, as far as the predicate says.
#[derive(Debug, Default, PartialEq, Eq)]
struct Source {
    repository: Option<String>,
    reference: Option<String>,
    commit: Option<String>,
}

/// Parses a SLSA provenance predicate of `predicate_type` (its JSON text) about
/// `subject_digests`.
pub(crate) fn parse_provenance(
    predicate_type: &str,
    predicate: &str,
    subject_digests: Vec<Digest>,
    origin: EvidenceOrigin,
) -> Result<Provenance> {
    let (builder_id, build_type, source) = match predicate_type {
        SLSA_PROVENANCE_V02 => parse_v02(from_str("slsa-provenance-v0.2", predicate)?),
        _ => parse_v1(from_str("slsa-provenance-v1", predicate)?),
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

fn parse_v02(p: V02<'_>) -> (String, String, Source) {
    let mut source = Source::default();
    if let Some(cs) = p.invocation.and_then(|i| i.config_source) {
        if let Some(uri) = cs.uri {
            let (repository, reference) = split_source_uri(&uri);
            source.repository = Some(repository);
            source.reference = reference;
        }
        source.commit = cs.digest.and_then(|d| d.sha1).map(Text::owned);
    }
    (p.builder.id.owned(), p.build_type.owned(), source)
}

fn parse_v1(p: V1<'_>) -> (String, String, Source) {
    let definition = p.build_definition;
    let mut source = definition
        .external_parameters
        .map(external_source)
        .unwrap_or_default();
    resolve_commit(
        definition.resolved_dependencies.unwrap_or_default(),
        &mut source,
    );
    (
        p.run_details.builder.id.owned(),
        definition.build_type.owned(),
        source,
    )
}

/// The source named by `externalParameters`.
fn external_source(ext: External<'_>) -> Source {
    if let Some(workflow) = ext.workflow {
        return Source {
            repository: workflow.repository.as_deref().map(normalise_repo),
            reference: workflow.reference.map(Text::owned),
            commit: None,
        };
    }
    let uri = match ext.source {
        Some(StrOr::Str(s)) => Some(s),
        Some(StrOr::Obj(o)) => o.uri.map(|u| u.0),
        None => None,
    };
    if let Some(uri) = uri {
        let (repository, reference) = split_source_uri(&uri);
        return Source {
            repository: Some(repository),
            reference,
            commit: None,
        };
    }
    Source {
        repository: ext.repository.as_deref().map(normalise_repo),
        reference: ext.reference.map(Text::owned),
        commit: None,
    }
}

/// Takes the commit from `resolvedDependencies`: the entry for the source repository when
/// one matches, else the first entry with a git commit; fills in repository and ref from it
/// when `externalParameters` did not name them.
fn resolve_commit(dependencies: Vec<Dependency<'_>>, source: &mut Source) {
    let candidates: Vec<_> = dependencies
        .into_iter()
        .filter_map(|dep| {
            let digest = dep.digest?;
            let commit = digest.git_commit.or(digest.sha1)?;
            Some((dep.uri.as_deref().map(split_source_uri), commit))
        })
        .collect();
    let chosen = candidates
        .iter()
        .find(
            |(uri, _)| matches!((uri, &source.repository), (Some((r, _)), Some(repo)) if r == repo),
        )
        .or_else(|| candidates.first());
    if let Some((uri, commit)) = chosen {
        source.commit = Some(commit.to_string());
        if let Some((repository, reference)) = uri {
            source.repository.get_or_insert_with(|| repository.clone());
            if source.reference.is_none() {
                source.reference.clone_from(reference);
            }
        }
    }
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
