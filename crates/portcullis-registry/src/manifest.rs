//! `RawManifest` and the little manifest parsing the copy engine needs: the media types we
//! accept and the descriptors (config, layers, child manifests) a manifest points at.
//! Manifests are never re-serialised; parsing only reads references out of the raw bytes.

use bytes::Bytes;
use portcullis_core::Digest;
use serde::Deserialize;

use crate::{Error, Result};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema 2 manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Every manifest media type we accept, in `Accept` header form.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// Largest manifest we read (the distribution spec suggests registries accept at least 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// A manifest exactly as the registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawManifest {
    /// Its media type (the `Content-Type` it was served with).
    pub media_type: String,
    /// The exact bytes; the digest is over these.
    pub bytes: Bytes,
    /// The digest of `bytes`.
    pub digest: Digest,
}

/// A content descriptor inside a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Descriptor {
    /// The target's media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// The target's digest.
    pub digest: Digest,
    /// The target's size in bytes.
    pub size: u64,
    /// Alternate download locations; non-empty for foreign (non-distributable) layers.
    #[serde(default)]
    pub urls: Vec<String>,
    /// The descriptor's annotations (cosign keeps signatures and certificates here).
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// What a manifest references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestContents {
    /// An image manifest: a config blob and layer blobs.
    Image {
        /// The config blob.
        config: Descriptor,
        /// The layer blobs, in order.
        layers: Vec<Descriptor>,
    },
    /// An index / manifest list: child manifests.
    Index {
        /// The child manifests.
        manifests: Vec<Descriptor>,
    },
}

/// A platform filter for index copies: `os/arch[/variant]`, e.g. `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlatformSpec {
    os: String,
    arch: String,
    variant: Option<String>,
}

impl PlatformSpec {
    /// Parses `os/arch[/variant]`; every part non-empty.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let parts: Vec<&str> = text.split('/').collect();
        let bad = || Error::InvalidRequest(format!("platform {text:?} is not os/arch[/variant]"));
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Self::new(os, arch, None)),
            [os, arch, variant] => Ok(Self::new(os, arch, Some(variant))),
            _ => Err(bad()),
        }
    }

    fn new(os: &str, arch: &str, variant: Option<&str>) -> Self {
        Self {
            os: os.to_owned(),
            arch: arch.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// Whether an index entry's `platform` object is this platform (any variant when the
    /// filter names none).
    fn matches(&self, platform: &serde_json::Value) -> bool {
        let field = |name: &str| platform.get(name).and_then(serde_json::Value::as_str);
        field("os") == Some(self.os.as_str())
            && field("architecture") == Some(self.arch.as_str())
            && self
                .variant
                .as_deref()
                .is_none_or(|v| field("variant") == Some(v))
    }
}

#[derive(Deserialize)]
struct Doc {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    manifests: Option<Vec<Descriptor>>,
}

/// Strips parameters and case from a `Content-Type` value.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether `media_type` is one we can copy.
pub fn is_supported(media_type: &str) -> bool {
    matches!(
        essence(media_type).as_str(),
        OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_MANIFEST_LIST
    )
}

impl RawManifest {
    /// Wraps fetched bytes, deciding the media type from the `Content-Type` header or, when
    /// that is missing or generic, from the document's own `mediaType` field.
    pub fn from_fetched(content_type: Option<&str>, bytes: Bytes, digest: Digest) -> Result<Self> {
        let media_type = match content_type.filter(|c| is_supported(c)) {
            Some(c) => essence(c),
            None => {
                let doc: Doc = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::InvalidManifest(format!("{digest}: {e}")))?;
                match doc.media_type.filter(|m| is_supported(m)) {
                    Some(m) => m,
                    None => {
                        let shown = content_type.unwrap_or("none");
                        return Err(Error::InvalidManifest(format!(
                            "{digest}: unsupported media type {shown}"
                        )));
                    }
                }
            }
        };
        Ok(Self {
            media_type,
            bytes,
            digest,
        })
    }

    /// Builds a manifest from bytes we created ourselves (tests, demos).
    pub fn new(media_type: &str, bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let digest = Digest::sha256_of(&bytes);
        Self {
            media_type: media_type.to_owned(),
            bytes,
            digest,
        }
    }

    /// Whether this is an index / manifest list.
    pub fn is_index(&self) -> bool {
        matches!(self.media_type.as_str(), OCI_INDEX | DOCKER_MANIFEST_LIST)
    }

    /// For an index: a new index of the same media type, annotations and other fields but
    /// only the entries matching one of `platforms`, with those entries' descriptors.
    /// No matching entry is an error. Entries are kept as written, in order.
    pub(crate) fn subset_index(
        &self,
        platforms: &[PlatformSpec],
    ) -> Result<(RawManifest, Vec<Descriptor>)> {
        let bad = |why: String| Error::InvalidManifest(format!("{}: {why}", self.digest));
        let mut doc: serde_json::Value =
            serde_json::from_slice(&self.bytes).map_err(|e| bad(e.to_string()))?;
        let entries = doc
            .get_mut("manifests")
            .and_then(serde_json::Value::as_array_mut)
            .ok_or_else(|| bad("index without manifests".into()))?;
        entries.retain(|entry| {
            entry
                .get("platform")
                .is_some_and(|p| platforms.iter().any(|spec| spec.matches(p)))
        });
        if entries.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "index {} has no manifest for the requested platforms",
                self.digest
            )));
        }
        let kept = entries
            .iter()
            .map(|e| serde_json::from_value(e.clone()).map_err(|e| bad(e.to_string())))
            .collect::<Result<Vec<Descriptor>>>()?;
        let bytes = serde_json::to_vec(&doc).map_err(|e| bad(e.to_string()))?;
        Ok((RawManifest::new(&self.media_type, bytes), kept))
    }

    /// Reads the descriptors this manifest references.
    pub fn contents(&self) -> Result<ManifestContents> {
        let bad = |why: String| Error::InvalidManifest(format!("{}: {why}", self.digest));
        let doc: Doc = serde_json::from_slice(&self.bytes).map_err(|e| bad(e.to_string()))?;
        if self.is_index() {
            let manifests = doc
                .manifests
                .ok_or_else(|| bad("index without manifests".into()))?;
            return Ok(ManifestContents::Index { manifests });
        }
        let config = doc
            .config
            .ok_or_else(|| bad("image manifest without config".into()))?;
        Ok(ManifestContents::Image {
            config,
            layers: doc.layers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: char) -> String {
        format!("sha256:{}", n.to_string().repeat(64))
    }

    #[test]
    fn extracts_config_and_layers_including_foreign_urls() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
               "config":{{"mediaType":"x","digest":"{}","size":3}},
               "layers":[{{"mediaType":"l","digest":"{}","size":10}},
                         {{"mediaType":"f","digest":"{}","size":20,"urls":["https://x/y"]}}]}}"#,
            d('a'),
            d('b'),
            d('c')
        );
        let m = RawManifest::from_fetched(
            Some("application/octet-stream"),
            json.into(),
            Digest::sha256_of(b""),
        );
        let m = m.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        let ManifestContents::Image { config, layers } =
            m.contents().unwrap_or_else(|e| panic!("{e}"))
        else {
            panic!("expected an image");
        };
        assert_eq!(config.digest.as_str(), d('a'));
        assert_eq!(config.size, 3);
        assert_eq!(layers.len(), 2);
        assert!(layers[0].urls.is_empty());
        assert_eq!(layers[1].urls, vec!["https://x/y".to_owned()]);
    }

    #[test]
    fn extracts_index_children_using_content_type_with_params() {
        let json = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}","size":5}}]}}"#,
            d('e')
        );
        let m = RawManifest::from_fetched(
            Some("application/vnd.oci.image.index.v1+json; charset=utf-8"),
            json.into(),
            Digest::sha256_of(b""),
        );
        let m = m.unwrap_or_else(|e| panic!("{e}"));
        assert!(m.is_index());
        let contents = m.contents().unwrap_or_else(|e| panic!("{e}"));
        let ManifestContents::Index { manifests } = contents else {
            panic!("expected an index")
        };
        assert_eq!(
            manifests
                .iter()
                .map(|m| m.digest.to_string())
                .collect::<Vec<_>>(),
            vec![d('e')]
        );
    }

    #[test]
    fn subset_index_keeps_matching_entries_and_the_index_fields() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","annotations":{{"a":"b"}},"manifests":[
                {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
                {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":2,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
                {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":3}}]}}"#,
            d('a'),
            d('b'),
            d('c')
        );
        let index = RawManifest::new(OCI_INDEX, json);
        let arm = [PlatformSpec::parse("linux/arm64").unwrap_or_else(|e| panic!("{e}"))];
        let (subset, kept) = index.subset_index(&arm).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(subset.media_type, OCI_INDEX);
        assert_ne!(subset.digest, index.digest);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].digest.as_str(), d('b'));
        let doc: serde_json::Value =
            serde_json::from_slice(&subset.bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc["annotations"]["a"], "b");
        assert_eq!(doc["manifests"].as_array().map(Vec::len), Some(1));
        let v7 = [PlatformSpec::parse("linux/arm64/v7").unwrap_or_else(|e| panic!("{e}"))];
        assert!(matches!(
            index.subset_index(&v7),
            Err(Error::InvalidRequest(_))
        ));
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d"] {
            assert!(PlatformSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_unknown_media_types_and_incomplete_manifests() {
        let schema1 = r#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+json"}"#;
        let r = RawManifest::from_fetched(None, schema1.into(), Digest::sha256_of(b""));
        assert!(matches!(r, Err(Error::InvalidManifest(_))));
        let no_config = RawManifest::new(OCI_MANIFEST, r#"{"layers":[]}"#);
        assert!(matches!(
            no_config.contents(),
            Err(Error::InvalidManifest(_))
        ));
        let bad_digest = RawManifest::new(
            OCI_MANIFEST,
            r#"{"config":{"digest":"sha256:12","size":1}}"#,
        );
        assert!(matches!(
            bad_digest.contents(),
            Err(Error::InvalidManifest(_))
        ));
    }
}
