//! Keyless signing the way `cosign sign` does with Fulcio and Rekor, entirely offline:
//! a fake Fulcio CA (root + intermediate) issues short-lived leaf certificates with an email
//! or URI SAN and the Sigstore OIDC issuer extensions, a fake Rekor key signs the
//! SignedEntryTimestamp over a `hashedrekord` entry, and the result is pushed as a `.sig`
//! layer with cosign's certificate, chain and bundle annotations. Every piece is exposed so
//! tests can tamper with one of them. `FakeRekor` itself lives in `sigstore/rekor.rs` (with
//! the other entry kinds and its Merkle tree) and is re-exported here.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use oci_client::manifest::{IMAGE_CONFIG_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
    SigningKey as _,
};
use serde_json::{Value, json};
use sigstore::cosign::SignatureLayer;
use sigstore::registry::OciReference;

use crate::layer::sha256_digest;
use crate::push::{oci_client_for, reference};
use crate::sign::{SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, signature_tag};
use crate::sigstore::fulcio::FulcioExtensions;
use crate::{Error, Result};

/// Cosign's annotation for the PEM leaf certificate.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Cosign's annotation for the PEM chain (intermediates, then root).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Cosign's annotation for the Rekor bundle JSON.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub(crate) fn cert_error(e: rcgen::Error) -> Error {
    Error::Invalid(format!("certificate generation: {e}"))
}

pub(crate) fn time_at(unix: i64) -> Result<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|e| Error::Invalid(format!("timestamp {unix}: {e}")))
}

/// A fake Fulcio: a self-signed root and an intermediate that issues the leaves.
pub struct FakeFulcio {
    root: CertifiedIssuer<'static, KeyPair>,
    pub(crate) intermediate: CertifiedIssuer<'static, KeyPair>,
    /// A copy of the intermediate's key, to re-sign leaves that get an embedded SCT.
    pub(crate) issuing_key: KeyPair,
}

impl FakeFulcio {
    /// A fresh CA whose certificates are named after `name`, valid 2000–2100.
    pub fn new(name: &str) -> Result<Self> {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_error)?;
        let root = CertifiedIssuer::self_signed(ca_params(&format!("{name} root"))?, root_key)
            .map_err(cert_error)?;
        let inter_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_error)?;
        let issuing_key = KeyPair::try_from(inter_key.serialize_der()).map_err(cert_error)?;
        let mut inter_params = ca_params(&format!("{name} intermediate"))?;
        inter_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let intermediate =
            CertifiedIssuer::signed_by(inter_params, inter_key, &root).map_err(cert_error)?;
        Ok(Self {
            root,
            intermediate,
            issuing_key,
        })
    }

    /// What a verifier trusts: root and intermediate, PEM.
    pub fn trust_root_pem(&self) -> String {
        format!("{}{}", self.root.pem(), self.intermediate.pem())
    }

    /// Only the self-signed root, PEM (the intermediate must then come from the chain annotation).
    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    /// The chain annotation cosign attaches: intermediate, then root.
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.intermediate.pem(), self.root.pem())
    }

    /// The self-signed root, DER.
    pub fn root_der(&self) -> Vec<u8> {
        self.root.der().to_vec()
    }

    /// The intermediate that issues leaves, DER.
    pub fn intermediate_der(&self) -> Vec<u8> {
        self.intermediate.der().to_vec()
    }

    /// Issues a leaf certificate for `spec`, signed by the intermediate (no SCT; see
    /// [`FakeFulcio::issue_with_sct`]).
    pub fn issue(&self, spec: &LeafSpec) -> Result<LeafCert> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_error)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.not_before = time_at(spec.not_before)?;
        params.not_after = time_at(spec.not_after)?;
        let san = match &spec.subject {
            SanSubject::Email(email) => {
                SanType::Rfc822Name(email.clone().try_into().map_err(cert_error)?)
            }
            SanSubject::Uri(uri) => SanType::URI(uri.clone().try_into().map_err(cert_error)?),
            SanSubject::OtherName(name) => SanType::OtherName((
                crate::sigstore::fulcio::fulcio_oid(crate::sigstore::fulcio::OTHER_NAME_SAN_OID),
                name.as_str().into(),
            )),
        };
        params.subject_alt_names = vec![san];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = spec.extended_key_usages.clone();
        params.use_authority_key_identifier_extension = true;
        params.custom_extensions = spec.extensions.to_custom(spec.oidc_issuer.as_deref());
        let cert = params
            .signed_by(&key, &self.intermediate)
            .map_err(cert_error)?;
        Ok(LeafCert {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key,
        })
    }
}

fn ca_params(common_name: &str) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "portcullis-test");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = time_at(946_684_800)?; // 2000-01-01
    params.not_after = time_at(4_102_444_800)?; // 2100-01-01
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// The signer identity a leaf certificate carries.
#[derive(Debug, Clone)]
pub enum SanSubject {
    /// An email SAN (interactive OIDC sign-in).
    Email(String),
    /// A URI SAN (workload identity, e.g. a CI workflow).
    Uri(String),
    /// An otherName SAN of Fulcio's type 1.3.6.1.4.1.57264.1.7 (a username), UTF8String.
    OtherName(String),
}

/// What a leaf certificate says and when it is valid.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    /// The SAN.
    pub subject: SanSubject,
    /// The OIDC issuer written to both Fulcio issuer extensions (.1 and .8); `None` writes
    /// neither, unless [`LeafSpec::extensions`] sets one of them itself.
    pub oidc_issuer: Option<String>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// Extended key usages (Fulcio: code signing).
    pub extended_key_usages: Vec<ExtendedKeyUsagePurpose>,
    /// Further Fulcio extensions (issuer overrides, GitHub workflow identity).
    pub extensions: FulcioExtensions,
}

impl LeafSpec {
    /// A Fulcio-like leaf valid from a minute ago for ten minutes.
    pub fn new(subject: SanSubject, oidc_issuer: &str) -> Self {
        let now = unix_now();
        Self {
            subject,
            oidc_issuer: Some(oidc_issuer.to_owned()),
            not_before: now - 60,
            not_after: now + 540,
            extended_key_usages: vec![ExtendedKeyUsagePurpose::CodeSigning],
            extensions: FulcioExtensions::default(),
        }
    }
}

/// A leaf certificate and its private key.
pub struct LeafCert {
    /// The PEM certificate.
    pub cert_pem: String,
    /// The same certificate, DER.
    pub cert_der: Vec<u8>,
    pub(crate) key: KeyPair,
}

impl LeafCert {
    /// An ECDSA P-256 (ASN.1 DER) signature over `message` with the leaf key.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.key.sign(message).map_err(cert_error)
    }
}

impl std::fmt::Debug for LeafCert {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafCert")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

pub use crate::sigstore::rekor::FakeRekor;

/// Everything a keyless `.sig` layer carries; fields are public so tests can tamper.
#[derive(Debug, Clone)]
pub struct KeylessSignature {
    /// The simple-signing payload (the layer blob).
    pub payload: Vec<u8>,
    /// Base64 signature over `payload`.
    pub signature: String,
    /// PEM leaf certificate.
    pub certificate: String,
    /// PEM chain (intermediate, root); `None` omits the annotation.
    pub chain: Option<String>,
    /// The Rekor bundle JSON.
    pub bundle: Value,
}

/// Signs `digest` (in `registry/repo`) with `leaf`, logged by `rekor` at `integrated_time`.
pub fn keyless_signature(
    registry: &str,
    repo: &str,
    digest: &str,
    fulcio: &FakeFulcio,
    leaf: &LeafCert,
    rekor: &FakeRekor,
    integrated_time: i64,
) -> Result<KeylessSignature> {
    let text = format!("{registry}/{repo}@{digest}");
    let image: OciReference = text.parse().map_err(|_| Error::Reference(text.clone()))?;
    let mut layer = SignatureLayer::new_unsigned(&image, digest)?;
    // As cosign: the payload names the repository only.
    layer.simple_signing.critical.identity.docker_reference = format!("{registry}/{repo}");
    let payload = serde_json::to_vec(&layer.simple_signing)?;
    let signature = BASE64.encode(leaf.sign(&payload)?);
    let body = FakeRekor::hashedrekord_body(&payload, &signature, &leaf.cert_pem);
    let bundle = rekor.bundle(&body, integrated_time, 1)?;
    Ok(KeylessSignature {
        payload,
        signature,
        certificate: leaf.cert_pem.clone(),
        chain: Some(fulcio.chain_pem()),
        bundle,
    })
}

/// Pushes `sig` as the only layer of `repo:sha256-<hex>.sig` for `digest`.
pub async fn push_keyless_signature(
    registry: &str,
    repo: &str,
    digest: &str,
    sig: &KeylessSignature,
) -> Result<()> {
    push_keyless(registry, repo, digest, sig, false).await
}

/// Adds `sig` after the layers already in `repo:sha256-<hex>.sig` (as `cosign sign` does
/// for a second signer), so key and keyless signatures coexist.
pub async fn append_keyless_signature(
    registry: &str,
    repo: &str,
    digest: &str,
    sig: &KeylessSignature,
) -> Result<()> {
    push_keyless(registry, repo, digest, sig, true).await
}

async fn push_keyless(
    registry: &str,
    repo: &str,
    digest: &str,
    sig: &KeylessSignature,
    append: bool,
) -> Result<()> {
    let client = oci_client_for(registry);
    client
        .store_auth_if_needed(registry, &RegistryAuth::Anonymous)
        .await;
    let target = reference(registry, repo, &signature_tag(digest))?;
    let layer_digest = sha256_digest(&sig.payload);
    client
        .push_blob(&target, sig.payload.clone(), &layer_digest)
        .await?;
    let mut layers: Vec<Value> =
        match crate::attest::pull_json(&client, &target, OCI_IMAGE_MEDIA_TYPE).await? {
            Some(existing) if append => existing["layers"].as_array().cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
    let mut diff_ids: Vec<Value> = layers.iter().map(|l| l["digest"].clone()).collect();
    diff_ids.push(json!(layer_digest));
    let config = serde_json::to_vec(&json!({
        "architecture": "", "os": "", "config": {},
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))?;
    let config_digest = sha256_digest(&config);
    let config_size = config.len();
    client.push_blob(&target, config, &config_digest).await?;

    let mut annotations = serde_json::Map::new();
    annotations.insert(SIGNATURE_ANNOTATION.into(), sig.signature.clone().into());
    annotations.insert(
        CERTIFICATE_ANNOTATION.into(),
        sig.certificate.clone().into(),
    );
    if let Some(chain) = &sig.chain {
        annotations.insert(CHAIN_ANNOTATION.into(), chain.clone().into());
    }
    annotations.insert(BUNDLE_ANNOTATION.into(), sig.bundle.to_string().into());
    layers.push(json!({
        "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
        "digest": layer_digest,
        "size": sig.payload.len(),
        "annotations": annotations,
    }));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_MEDIA_TYPE,
        "config": { "mediaType": IMAGE_CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_size },
        "layers": layers,
    }))?;
    client
        .push_manifest_raw(
            &target,
            manifest,
            http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE),
        )
        .await?;
    Ok(())
}

/// Signs `digest` keylessly (integrated now) and pushes the signature, like `cosign sign`.
pub async fn sign_image_keyless(
    registry: &str,
    repo: &str,
    digest: &str,
    fulcio: &FakeFulcio,
    leaf: &LeafCert,
    rekor: &FakeRekor,
) -> Result<KeylessSignature> {
    let sig = keyless_signature(registry, repo, digest, fulcio, leaf, rekor, unix_now())?;
    push_keyless_signature(registry, repo, digest, &sig).await?;
    Ok(sig)
}
