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
