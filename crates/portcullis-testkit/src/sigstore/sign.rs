//! [`PrivateSigstore`]: one of each fake service, its trusted root, and signing that produces
//! complete bundles (signature, log entry with proof, RFC 3161 timestamp).

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::bundle::{
    Bundle, BundleContent, BundleVersion, Material, cosign_sign_statement, sign_envelope,
};
use super::{FakeCtLog, FakeRekorV2, FakeTsa, LogEntry, TrustedRootBuilder, ValidFor};
use crate::attest::{fingerprint, sign_statement, statement};
use crate::keyless::{FakeFulcio, FakeRekor, LeafCert, LeafSpec, unix_now};
use crate::{Error, Result, TestKey};

/// 2000-01-01, the start of every default validity window.
const Y2000: i64 = 946_684_800;

/// Which transparency log a signature goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlogChoice {
    /// The Rekor v1 log: SET, inclusion proof and checkpoint.
    RekorV1,
    /// The Rekor v2 log: inclusion proof and checkpoint, no SET, integrated time 0.
    RekorV2,
    /// No log entry at all.
    None,
}

/// How a bundle is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignOptions {
    /// Bundle format.
    pub version: BundleVersion,
    /// Which log records the signature.
    pub log: TlogChoice,
    /// Rekor v1 integrated time, Unix seconds.
    pub integrated_time: i64,
    /// genTime of an RFC 3161 timestamp over the signature; `None` adds none.
    pub timestamp_at: Option<i64>,
}

impl Default for SignOptions {
    /// What cosign v3 writes: v0.3, Rekor v1, integrated and timestamped now.
    fn default() -> Self {
        let now = unix_now();
        Self {
            version: BundleVersion::V0_3,
            log: TlogChoice::RekorV1,
            integrated_time: now,
            timestamp_at: Some(now),
        }
    }
}

impl SignOptions {
    /// A v0.3 bundle logged in Rekor v2 and timestamped now (the only time source).
    pub fn rekor_v2() -> Self {
        Self {
            log: TlogChoice::RekorV2,
            ..Self::default()
        }
    }
}

/// A private Sigstore deployment; the services are public so tests can use them directly.
pub struct PrivateSigstore {
    /// The Fulcio CA (root + intermediate).
    pub fulcio: FakeFulcio,
    /// The CT log whose SCTs leaves embed.
    pub ct: FakeCtLog,
    /// The Rekor v1 log (ECDSA P-256).
    pub rekor: FakeRekor,
    /// The Rekor v2 log (Ed25519).
    pub rekor_v2: FakeRekorV2,
    /// The timestamp authority.
    pub tsa: FakeTsa,
}

impl PrivateSigstore {
    /// Fresh keys for every service.
    pub fn new() -> Result<Self> {
        Ok(Self {
            fulcio: FakeFulcio::new("private fulcio")?,
            ct: FakeCtLog::new()?,
            rekor: FakeRekor::new()?,
            rekor_v2: FakeRekorV2::new()?,
            tsa: FakeTsa::new("private")?,
        })
    }

    /// A builder holding every service, each valid from 2000 on; add or rebuild entries
    /// with other windows as a test needs.
    pub fn trusted_root_builder(&self) -> TrustedRootBuilder {
        let always = ValidFor::from(Y2000);
        TrustedRootBuilder::new()
            .rekor(&self.rekor, always)
            .rekor_v2(&self.rekor_v2, always)
            .fulcio(&self.fulcio, always)
            .ct(&self.ct, always)
            .tsa(&self.tsa, always)
    }

    /// The `trusted_root.json` document of this deployment.
    pub fn trusted_root(&self) -> Result<Value> {
        self.trusted_root_builder().build()
    }

    /// Writes the `trusted_root.json` of this deployment to `path`.
    pub fn write_trusted_root(&self, path: &std::path::Path) -> Result<()> {
        self.trusted_root_builder().write(path)
    }

    /// A leaf for `spec` with an SCT from this deployment's CT log embedded.
    pub fn issue(&self, spec: &LeafSpec) -> Result<LeafCert> {
        self.fulcio.issue_with_sct(spec, &self.ct)
    }

    /// A cosign v3 image signature of `digest` (`sha256:…`) by `leaf`.
    pub fn sign_image(
        &self,
        leaf: &LeafCert,
        digest: &str,
        options: &SignOptions,
    ) -> Result<Bundle> {
        self.dsse_bundle(
            leaf,
            sign_envelope(&cosign_sign_statement(digest), leaf)?,
            options,
        )
    }

    /// An attestation of `digest` with `predicate_type` and `predicate`, signed by `leaf`.
    pub fn attest(
        &self,
        leaf: &LeafCert,
        digest: &str,
        predicate_type: &str,
        predicate: &Value,
        options: &SignOptions,
    ) -> Result<Bundle> {
        let envelope = sign_envelope(&statement(digest, predicate_type, predicate), leaf)?;
        self.dsse_bundle(leaf, envelope, options)
    }

    /// A bundle for an already signed `envelope` (e.g. a tampered one) by `leaf`.
    pub fn dsse_bundle(
        &self,
        leaf: &LeafCert,
        envelope: Value,
        options: &SignOptions,
    ) -> Result<Bundle> {
        let entry = match options.log {
            TlogChoice::RekorV1 => {
                let body =
                    FakeRekor::dsse_v001_body(&serde_json::to_vec(&envelope)?, &leaf.cert_pem)?;
                Some(self.rekor.log(&body, options.integrated_time)?)
            }
            TlogChoice::RekorV2 => Some(
                self.rekor_v2
                    .log(&FakeRekorV2::dsse_body(&envelope, &leaf.cert_der)?)?,
            ),
            TlogChoice::None => None,
        };
        self.finish(
            self.material(leaf, options.version),
            BundleContent::Dsse(envelope),
            entry,
            options,
        )
    }

    /// A messageSignature bundle: `leaf` signs `artifact` (e.g. the manifest bytes), logged as
    /// `hashedrekord` (0.0.1 in v1, 0.0.2 in v2).
    pub fn sign_message(
        &self,
        leaf: &LeafCert,
        artifact: &[u8],
        options: &SignOptions,
    ) -> Result<Bundle> {
        let signature = leaf.sign(artifact)?;
        let digest: [u8; 32] = Sha256::digest(artifact).into();
        let entry = match options.log {
            TlogChoice::RekorV1 => {
                let body =
                    FakeRekor::hashedrekord_body(artifact, &base64_of(&signature), &leaf.cert_pem);
                Some(self.rekor.log(&body, options.integrated_time)?)
            }
            TlogChoice::RekorV2 => Some(self.rekor_v2.log(&FakeRekorV2::hashedrekord_body(
                &digest,
                &signature,
                &leaf.cert_der,
            ))?),
            TlogChoice::None => None,
        };
        let content = BundleContent::MessageSignature { digest, signature };
        self.finish(
            self.material(leaf, options.version),
            content,
            entry,
            options,
        )
    }

    /// A key-based attestation bundle: `key` signs a statement of `digest`; the bundle names
    /// the key by its hint (hex sha256 of its DER public key) and the Rekor v1 `dsse` entry
    /// carries the PEM public key. Rekor v2 is not offered for keys.
    pub fn sign_with_key(
        &self,
        key: &TestKey,
        digest: &str,
        predicate_type: &str,
        predicate: &Value,
        options: &SignOptions,
    ) -> Result<Bundle> {
        let envelope = sign_statement(&statement(digest, predicate_type, predicate), &[key])?;
        let entry = match options.log {
            TlogChoice::RekorV1 => {
                let body =
                    FakeRekor::dsse_v001_body(&serde_json::to_vec(&envelope)?, &key.public_pem)?;
                Some(self.rekor.log(&body, options.integrated_time)?)
            }
            TlogChoice::RekorV2 => {
                return Err(Error::Invalid(
                    "key-based bundles go to Rekor v1 here".into(),
                ));
            }
            TlogChoice::None => None,
        };
        let material = Material::PublicKeyHint(fingerprint(key)?);
        self.finish(material, BundleContent::Dsse(envelope), entry, options)
    }

    fn material(&self, leaf: &LeafCert, version: BundleVersion) -> Material {
        match version {
            BundleVersion::V0_3 => Material::Certificate(leaf.cert_der.clone()),
            _ => Material::Chain(vec![leaf.cert_der.clone(), self.fulcio.intermediate_der()]),
        }
    }

    fn finish(
        &self,
        material: Material,
        content: BundleContent,
        entry: Option<LogEntry>,
        options: &SignOptions,
    ) -> Result<Bundle> {
        let mut bundle = Bundle {
            version: options.version,
            material,
            content,
            tlog_entries: entry.into_iter().collect(),
            rfc3161_timestamps: Vec::new(),
        };
        if let Some(at) = options.timestamp_at {
            let response = self
                .tsa
                .timestamp_response(&bundle.signature_bytes()?, at)?;
            bundle.rfc3161_timestamps.push(response);
        }
        Ok(bundle)
    }
}

impl std::fmt::Debug for PrivateSigstore {
    // The services hold private keys; print only the public identities.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateSigstore")
            .field("rekor", &self.rekor.log_id())
            .field("rekor_v2", &self.rekor_v2)
            .field("ct", &self.ct)
            .finish_non_exhaustive()
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
