//! Pushes images and image indexes to a plain-HTTP registry with oci-client, and
//! looks up manifest digests. Manifests are serialized here so the returned digest
//! is exactly the digest of the bytes the registry stores.

use oci_client::{
    Client, Reference,
    client::{ClientConfig, ClientProtocol},
    errors::{OciDistributionError, OciErrorCode},
    manifest::{IMAGE_CONFIG_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE},
    secrets::RegistryAuth,
};
use serde_json::{Value, json};

use crate::{
    Error, Result,
    layer::{LAYER_MEDIA_TYPE, random_tar_layer, sha256_digest},
};

/// An oci-client that talks plain HTTP to `registry` (and HTTPS to anything else).
pub fn oci_client_for(registry: &str) -> Client {
    Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![registry.to_owned()]),
        ..Default::default()
    })
}

/// Parses `registry/repo` plus `:tag` or `@digest` into a reference.
pub fn reference(registry: &str, repo: &str, tag_or_digest: &str) -> Result<Reference> {
    let sep = if tag_or_digest.starts_with("sha256:") {
        '@'
    } else {
        ':'
    };
    let text = format!("{registry}/{repo}{sep}{tag_or_digest}");
    text.parse().map_err(|_| Error::Reference(text))
}

/// A pushed manifest: its digest and size, as an index entry needs them.
#[derive(Debug, Clone)]
struct Pushed {
    digest: String,
    size: usize,
}

/// Pushes an image of `layers` random tar layers of `layer_size` payload bytes
/// each, tagged `tag`, and returns its manifest digest (`sha256:…`).
pub async fn push_random_image(
    registry: &str,
    repo: &str,
    tag: &str,
    layers: usize,
    layer_size: usize,
) -> Result<String> {
    if layers == 0 {
        return Err(Error::Invalid("an image needs at least one layer".into()));
    }
    let client = connect(registry).await;
    let target = reference(registry, repo, tag)?;
    let pushed = push_image(
        &client,
        &target,
        true,
        ("linux", "amd64"),
        layers,
        layer_size,
    )
    .await?;
    Ok(pushed.digest)
}

/// Pushes one two-layer image per `(os, arch)` platform, then an OCI image index
/// referencing them under `tag`; returns the index digest.
pub async fn push_index(
    registry: &str,
    repo: &str,
    tag: &str,
    platforms: &[(&str, &str)],
) -> Result<String> {
    if platforms.is_empty() {
        return Err(Error::Invalid(
            "an index needs at least one platform".into(),
        ));
    }
    let client = connect(registry).await;
    let target = reference(registry, repo, tag)?;
    let mut entries = Vec::with_capacity(platforms.len());
    for (os, arch) in platforms {
        let image = push_image(&client, &target, false, (os, arch), 2, 4096).await?;
        entries.push(json!({
            "mediaType": OCI_IMAGE_MEDIA_TYPE,
            "digest": image.digest,
            "size": image.size,
            "platform": { "architecture": arch, "os": os },
        }));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_INDEX_MEDIA_TYPE,
        "manifests": entries,
    });
    Ok(
        put_manifest(&client, &target, true, &index, OCI_IMAGE_INDEX_MEDIA_TYPE)
            .await?
            .digest,
    )
}

/// The digest of the manifest `reference` (tag or digest) names, or `None` if the
/// registry does not know it.
pub async fn manifest_digest(
    registry: &str,
    repo: &str,
    reference_: &str,
) -> Result<Option<String>> {
    let client = connect(registry).await;
    let target = reference(registry, repo, reference_)?;
    match client
        .fetch_manifest_digest(&target, &RegistryAuth::Anonymous)
        .await
    {
        Ok(digest) => Ok(Some(digest)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// An anonymous client for `registry`, with credentials registered up front so
/// the low-level blob/manifest calls do not need a prior `pull`/`push`.
async fn connect(registry: &str) -> Client {
    let client = oci_client_for(registry);
    client
        .store_auth_if_needed(registry, &RegistryAuth::Anonymous)
        .await;
    client
}

/// Pushes layers, config and manifest of one image into `target`'s repository;
/// the manifest goes under `target`'s tag when `tagged`, else only by digest.
async fn push_image(
    client: &Client,
    target: &Reference,
    tagged: bool,
    (os, arch): (&str, &str),
    layers: usize,
    layer_size: usize,
) -> Result<Pushed> {
    let mut descriptors = Vec::with_capacity(layers);
    let mut diff_ids = Vec::with_capacity(layers);
    for i in 0..layers {
        let data = random_tar_layer(&format!("layer-{i}.bin"), layer_size);
        let digest = sha256_digest(&data);
        let size = data.len();
        client.push_blob(target, data, &digest).await?;
        descriptors.push(json!({ "mediaType": LAYER_MEDIA_TYPE, "digest": digest, "size": size }));
        // Layers are uncompressed, so the diff_id is the layer digest itself.
        diff_ids.push(digest);
    }
    let config = serde_json::to_vec(&json!({
        "architecture": arch,
        "os": os,
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))?;
    let config_digest = sha256_digest(&config);
    let config_size = config.len();
    client.push_blob(target, config, &config_digest).await?;

    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_MEDIA_TYPE,
        "config": { "mediaType": IMAGE_CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_size },
        "layers": descriptors,
    });
    put_manifest(client, target, tagged, &manifest, OCI_IMAGE_MEDIA_TYPE).await
}

/// Serializes and uploads `manifest` (under `target`'s tag when `tagged`, else by
/// its digest); returns what was stored.
async fn put_manifest(
    client: &Client,
    target: &Reference,
    tagged: bool,
    manifest: &Value,
    media_type: &'static str,
) -> Result<Pushed> {
    let body = serde_json::to_vec(manifest)?;
    let pushed = Pushed {
        digest: sha256_digest(&body),
        size: body.len(),
    };
    let dest = if tagged {
        target.clone()
    } else {
        Reference::with_digest(
            target.registry().to_owned(),
            target.repository().to_owned(),
            pushed.digest.clone(),
        )
    };
    client
        .push_manifest_raw(&dest, body, http_header(media_type))
        .await?;
    Ok(pushed)
}

fn http_header(media_type: &'static str) -> http::HeaderValue {
    http::HeaderValue::from_static(media_type)
}

/// True when the registry answered 404 / MANIFEST_UNKNOWN / NAME_UNKNOWN.
pub(crate) fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|err| {
            matches!(
                err.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        _ => false,
    }
}
