//! Signs pushed images the way `cosign sign --key` does (tag-based `.sig`
//! SimpleSigning layers, no transparency log), using sigstore's own signing and
//! push code rather than hand-built signature documents.

use sigstore::{
    cosign::{
        ClientBuilder, Constraint as _, CosignCapabilities as _, SignatureLayer,
        constraint::PrivateKeySigner,
    },
    registry::{Auth, ClientConfig, ClientProtocol, OciReference},
};

use crate::{Error, Result, TestKey};

/// Media type of a cosign SimpleSigning signature layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// Manifest annotation holding the base64 signature over the layer bytes.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// The tag cosign stores signatures of `digest` under: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// A sigstore cosign client that reaches `registry` over plain HTTP.
pub fn cosign_client_for(registry: &str) -> Result<sigstore::cosign::Client> {
    let config = ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![registry.to_owned()]),
        ..Default::default()
    };
    Ok(ClientBuilder::default()
        .with_oci_client_config(config)
        .build()?)
}

/// Signs the manifest `digest` in `registry/repo` with `key` and pushes the
/// signature to `repo:sha256-<hex>.sig`, replacing any earlier signature there.
pub async fn sign_image(registry: &str, repo: &str, digest: &str, key: &TestKey) -> Result<()> {
    let image = parse(&format!("{registry}/{repo}@{digest}"))?;
    let mut layer = SignatureLayer::new_unsigned(&image, digest)?;
    // Cosign's payload names the repository only (`ref.Context().Name()`), never the
    // digest; sigstore would put the whole reference there, so match cosign.
    layer.simple_signing.critical.identity.docker_reference = format!("{registry}/{repo}");
    layer.raw_data = serde_json::to_vec(&layer.simple_signing)?;
    layer.oci_digest = crate::layer::sha256_digest(&layer.raw_data);

    let signer = PrivateKeySigner::new_with_signer(key.to_signer()?);
    if !signer.add_constraint(&mut layer)? {
        return Err(Error::Invalid("signature layer was already signed".into()));
    }

    let sig_ref = parse(&format!("{registry}/{repo}:{}", signature_tag(digest)))?;
    let mut client = cosign_client_for(registry)?;
    client
        .push_signature(None, &Auth::Anonymous, &sig_ref, vec![layer])
        .await?;
    Ok(())
}

fn parse(text: &str) -> Result<OciReference> {
    text.parse().map_err(|_| Error::Reference(text.to_owned()))
}
