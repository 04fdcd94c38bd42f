//! Unit tests of the SLSA provenance parsers.

use serde_json::json;

use super::*;

fn origin() -> EvidenceOrigin {
    EvidenceOrigin::SignedAttestation {
        key_ids: vec!["ci".into()],
        predicate_type: SLSA_PROVENANCE_V1.into(),
    }
}

fn digest() -> Digest {
    Digest::sha256_of(b"image")
}

fn parse(predicate_type: &str, predicate: &serde_json::Value) -> Result<Provenance> {
    parse_provenance(
        predicate_type,
        &predicate.to_string(),
        vec![digest()],
        origin(),
    )
}

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn v1_github_workflow_provenance_is_normalised() {
    let predicate = json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": {
                "ref": "refs/heads/main",
                "repository": "https://github.com/acme/app",
                "path": ".github/workflows/release.yml"}},
            "resolvedDependencies": [
                {"uri": "git+https://github.com/acme/other@refs/heads/main",
                 "digest": {"gitCommit": "ffffffffffffffffffffffffffffffffffffffff"}},
                {"uri": "git+https://github.com/acme/app@refs/heads/main",
                 "digest": {"gitCommit": COMMIT}}]
        },
        "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}}
    });
    let p = parse(SLSA_PROVENANCE_V1, &predicate).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.builder_id,
        "https://github.com/actions/runner/github-hosted"
    );
    assert_eq!(
        p.build_type,
        "https://actions.github.io/buildtypes/workflow/v1"
    );
    assert_eq!(
        p.source_repository.as_deref(),
        Some("https://github.com/acme/app")
    );
    assert_eq!(p.source_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(p.source_commit.as_deref(), Some(COMMIT));
    assert_eq!(p.subject_digests, vec![digest()]);
    assert_eq!(p.predicate_type, SLSA_PROVENANCE_V1);
    assert_eq!(p.origin, origin());
}

#[test]
fn v1_source_uri_and_dependency_fill_in_repository_ref_and_commit() {
    let predicate = json!({
        "buildDefinition": {
            "buildType": "https://example.com/build/v1",
            "externalParameters": {"source": "git+https://git.example/acme/app.git@refs/tags/v1.2.0"},
            "resolvedDependencies": [{"uri": "git+https://git.example/acme/app",
                                      "digest": {"sha1": COMMIT}}]
        },
        "runDetails": {"builder": {"id": "https://builder.example"}}
    });
    let p = parse(SLSA_PROVENANCE_V1, &predicate).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.source_repository.as_deref(),
        Some("https://git.example/acme/app")
    );
    assert_eq!(p.source_ref.as_deref(), Some("refs/tags/v1.2.0"));
    assert_eq!(p.source_commit.as_deref(), Some(COMMIT));

    let only_deps = json!({
        "buildDefinition": {"buildType": "t", "externalParameters": {},
            "resolvedDependencies": [{"uri": "git+https://git.example/x@refs/heads/dev",
                                      "digest": {"gitCommit": COMMIT}}]},
        "runDetails": {"builder": {"id": "b"}}
    });
    let p = parse(SLSA_PROVENANCE_V1, &only_deps).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.source_repository.as_deref(),
        Some("https://git.example/x")
    );
    assert_eq!(p.source_ref.as_deref(), Some("refs/heads/dev"));
    assert_eq!(p.source_commit.as_deref(), Some(COMMIT));
}

#[test]
fn v02_config_source_is_normalised() {
    let predicate = json!({
        "builder": {"id": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v1.9.0"},
        "buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
        "invocation": {"configSource": {
            "uri": "git+https://github.com/acme/app@refs/heads/main",
            "digest": {"sha1": COMMIT},
            "entryPoint": ".github/workflows/release.yml"}}
    });
    let p = parse(SLSA_PROVENANCE_V02, &predicate).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        p.builder_id
            .starts_with("https://github.com/slsa-framework/")
    );
    assert_eq!(
        p.build_type,
        "https://github.com/slsa-framework/slsa-github-generator/generic@v1"
    );
    assert_eq!(
        p.source_repository.as_deref(),
        Some("https://github.com/acme/app")
    );
    assert_eq!(p.source_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(p.source_commit.as_deref(), Some(COMMIT));
    assert_eq!(p.predicate_type, SLSA_PROVENANCE_V02);
}

#[test]
fn v02_without_invocation_has_no_source() {
    let predicate = json!({"builder": {"id": "b"}, "buildType": "t"});
    let p = parse(SLSA_PROVENANCE_V02, &predicate).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (p.source_repository, p.source_ref, p.source_commit),
        (None, None, None)
    );
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (SLSA_PROVENANCE_V02, json!({"buildType": "t"}), "$.builder"),
        (
            SLSA_PROVENANCE_V02,
            json!({"builder": {"id": 3}, "buildType": "t"}),
            "$.builder.id",
        ),
        (
            SLSA_PROVENANCE_V02,
            json!({"builder": {"id": "b"}}),
            "$.buildType",
        ),
        (
            SLSA_PROVENANCE_V02,
            json!({"builder": {"id": "b"}, "buildType": "t",
                   "invocation": {"configSource": {"digest": {"sha1": 1}}}}),
            "$.invocation.configSource.digest.sha1",
        ),
        (SLSA_PROVENANCE_V1, json!([]), "$"),
        (
            SLSA_PROVENANCE_V1,
            json!({"runDetails": {"builder": {"id": "b"}}}),
            "$.buildDefinition",
        ),
        (
            SLSA_PROVENANCE_V1,
            json!({"buildDefinition": {"buildType": "t"}, "runDetails": {"builder": {}}}),
            "$.runDetails.builder.id",
        ),
        (
            SLSA_PROVENANCE_V1,
            json!({"buildDefinition": {"buildType": "t", "externalParameters": {"source": 7}},
                   "runDetails": {"builder": {"id": "b"}}}),
            "$.buildDefinition.externalParameters.source",
        ),
        (
            SLSA_PROVENANCE_V1,
            json!({"buildDefinition": {"buildType": "t", "resolvedDependencies": ["x"]},
                   "runDetails": {"builder": {"id": "b"}}}),
            "$.buildDefinition.resolvedDependencies[0]",
        ),
    ];
    for (predicate_type, predicate, field) in cases {
        let err = parse(predicate_type, &predicate)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains(&format!("at {field}:")),
            "{err:?} should name {field}"
        );
    }
}
