//! OCI 1.1 referrers: `GET /v2/<repo>/referrers/<digest>` lists the manifests whose `subject`
//! is a digest. Registries without the API answer 404; then the referrers tag schema is read
//! instead — an image index tagged `<alg>-<hex>` that clients maintain by hand.

use portcullis_core::{Digest, Reference, RegistryHost, RepoPath, Tag};
use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde::Deserialize;

use crate::client::Access;
use crate::manifest::{MAX_MANIFEST_BYTES, OCI_INDEX};
use crate::response::{check_status, read_limited};
use crate::{Error, RegistryClient, Result};

/// More referrers than this for one digest is not a list we accept.
pub const MAX_REFERRERS: usize = 256;
/// How long a registry that answered the referrers API with 404 is read through the tag
/// schema alone before the API is tried again (a registry may be upgraded in place).
pub const NO_API_RECHECK: std::time::Duration = std::time::Duration::from_secs(600);

/// One entry of a referrers list: a manifest whose `subject` is the digest asked about.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Referrer {
    /// The referrer manifest's media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// The referrer manifest's digest.
    pub digest: Digest,
    /// The referrer manifest's size in bytes.
    pub size: u64,
    /// Its artifact type (the manifest's `artifactType`, else its config media type).
    #[serde(rename = "artifactType", default)]
    pub artifact_type: Option<String>,
}

#[derive(Deserialize)]
struct ReferrersIndex {
    #[serde(default)]
    manifests: Vec<Referrer>,
}

/// The referrers-tag-schema tag of `digest`: `sha256-<hex>`.
pub fn referrers_tag(digest: &Digest) -> Result<Tag> {
    format!("{}-{}", digest.algorithm(), digest.hex())
        .parse()
        .map_err(|e| Error::InvalidRequest(format!("no referrers tag for {digest}: {e}")))
}

/// Reads the entries of a referrers index, keeping those of `artifact_type` when given.
pub fn parse_referrers(bytes: &[u8], artifact_type: Option<&str>) -> Result<Vec<Referrer>> {
    let index: ReferrersIndex = serde_json::from_slice(bytes)
        .map_err(|e| Error::InvalidManifest(format!("referrers index: {e}")))?;
    if index.manifests.len() > MAX_REFERRERS {
        return Err(Error::InvalidManifest(format!(
            "referrers index lists {} manifests, more than {MAX_REFERRERS}",
            index.manifests.len()
        )));
    }
    Ok(index
        .manifests
        .into_iter()
        // Registries may ignore the filter (no `OCI-Filters-Applied`), so always apply it.
        .filter(|r| artifact_type.is_none_or(|t| r.artifact_type.as_deref() == Some(t)))
        .collect())
}

impl RegistryClient {
    /// The manifests that refer to `digest` through their `subject`, optionally only those of
    /// `artifact_type`: from the referrers API, or — when the registry answers 404 there —
    /// from the referrers tag schema. No referrers at all is an empty list.
    pub async fn referrers(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>> {
        const OP: &str = "list referrers";
        let mut url = self.url(
            registry,
            &format!("{}/referrers/{}", repo.as_str(), digest.as_str()),
        )?;
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        // A registry known to lack the API (it answered 404 lately) is read through the
        // tag schema alone: one request instead of two.
        if self.lacks_referrers_api(registry) {
            return self
                .referrers_from_tag(registry, repo, digest, artifact_type)
                .await;
        }
        // The API and the tag-schema fallback are asked at once: a registry without the API
        // then costs one round trip, not two. The fallback's answer is used only on a 404.
        let (resp, from_tag) = tokio::join!(
            self.send(registry, repo, Access::Pull, OP, |http| {
                http.get(url.clone()).header(ACCEPT, OCI_INDEX)
            }),
            self.referrers_from_tag(registry, repo, digest, artifact_type)
        );
        let resp = resp?;
        if resp.status() == StatusCode::NOT_FOUND {
            tracing::debug!(
                registry = registry.as_str(),
                image.digest = %digest,
                "no referrers API; reading the referrers tag schema"
            );
            self.note_no_referrers_api(registry);
            return from_tag;
        }
        let resp = check_status(resp, registry.as_str(), OP).await?;
        let what = || format!("referrers of {digest} in {}", repo.as_str());
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES, registry.as_str(), what).await?;
        parse_referrers(&bytes, artifact_type)
    }

    /// Whether `registry` answered the referrers API with 404 within `NO_API_RECHECK`.
    pub(crate) fn lacks_referrers_api(&self, registry: &RegistryHost) -> bool {
        self.no_referrers_api_since(registry)
            .is_some_and(|at| at.elapsed() < NO_API_RECHECK)
    }

    async fn referrers_from_tag(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>> {
        let tag = Reference::Tag(referrers_tag(digest)?);
        match self.get_manifest(registry, repo, &tag).await? {
            None => Ok(Vec::new()),
            Some(index) if index.is_index() => parse_referrers(&index.bytes, artifact_type),
            Some(other) => Err(Error::InvalidManifest(format!(
                "referrers tag {tag} holds a {}, not an image index",
                other.media_type
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: char) -> String {
        format!("sha256:{}", n.to_string().repeat(64))
    }

    #[test]
    fn filters_by_artifact_type_even_when_the_registry_did_not() {
        let json = format!(
            r#"{{"schemaVersion":2,"manifests":[
                {{"mediaType":"m","digest":"{}","size":1,"artifactType":"application/a"}},
                {{"mediaType":"m","digest":"{}","size":2,"artifactType":"application/b"}},
                {{"mediaType":"m","digest":"{}","size":3}}]}}"#,
            d('a'),
            d('b'),
            d('c')
        );
        let all = parse_referrers(json.as_bytes(), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.len(), 3);
        let only_a = parse_referrers(json.as_bytes(), Some("application/a"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(only_a.len(), 1);
        assert_eq!(only_a[0].digest.as_str(), d('a'));
        assert_eq!(only_a[0].size, 1);
    }

    #[test]
    fn refuses_malformed_and_oversized_lists() {
        assert!(parse_referrers(b"not json", None).is_err());
        let bad_digest = r#"{"manifests":[{"digest":"sha256:12","size":1}]}"#;
        assert!(parse_referrers(bad_digest.as_bytes(), None).is_err());
        let entry = format!(r#"{{"digest":"{}","size":1}}"#, d('a'));
        let many = format!(
            r#"{{"manifests":[{}]}}"#,
            vec![entry; MAX_REFERRERS + 1].join(",")
        );
        assert!(parse_referrers(many.as_bytes(), None).is_err());
    }

    #[test]
    fn referrers_tag_is_algorithm_dash_hex() {
        let digest: Digest = d('f').parse().unwrap_or_else(|e| panic!("{e}"));
        let tag = referrers_tag(&digest).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tag.as_str(), format!("sha256-{}", "f".repeat(64)));
    }
}
