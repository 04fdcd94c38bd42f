//! The keyless trust material: Fulcio CAs, transparency logs, CT logs and timestamp
//! authorities, each with the window in which it may be trusted. Read from sigstore's standard
//! `trusted_root.json` (protobuf-specs `TrustedRoot`, as sigstore/root-signing publishes it or a
//! private deployment writes it), or from the loose PEM files of older configurations, which
//! carry no windows.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls_pki_types::{CertificateDer, TrustAnchor};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use sigstore::crypto::CosignVerificationKey;

/// Media type prefix every version of the trusted root carries.
const TRUSTED_ROOT_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.trustedroot+json;version=0.";
/// A trusted root is a few tens of KB; refuse anything absurd.
pub(super) const MAX_TRUSTED_ROOT_BYTES: usize = 4 << 20;

/// When a piece of trust material may be used, in Unix seconds; both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Window {
    pub(crate) start: Option<i64>,
    pub(crate) end: Option<i64>,
}

impl Window {
    /// Whether `time` lies inside the window.
    pub(crate) fn contains(&self, time: i64) -> bool {
        self.start.is_none_or(|s| time >= s) && self.end.is_none_or(|e| time <= e)
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |t: Option<i64>| {
            t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339())
        };
        write!(f, "{}..{}", show(self.start), show(self.end))
    }
}

/// One Fulcio CA: the root it chains to, its intermediates, and when it issued.
pub(crate) struct CertificateAuthority {
    pub(crate) uri: String,
    pub(crate) anchor: TrustAnchor<'static>,
    /// The root certificate's DER.
    pub(crate) root: Vec<u8>,
    pub(crate) intermediates: Vec<CertificateDer<'static>>,
    pub(crate) valid: Window,
}

/// A transparency log (Rekor) or CT log key.
pub(crate) struct LogKey {
    pub(crate) base_url: String,
    /// The DER SubjectPublicKeyInfo.
    pub(crate) spki: Vec<u8>,
    pub(crate) key: CosignVerificationKey,
    pub(crate) valid: Window,
}

/// A timestamp authority: its certificate chain, leaf first, and when it may be trusted.
pub(crate) struct TimestampAuthority {
    pub(crate) uri: String,
    pub(crate) chain: Vec<Vec<u8>>,
    pub(crate) valid: Window,
}

/// Everything keyless verification trusts.
#[derive(Default)]
pub(crate) struct TrustMaterial {
    pub(crate) cas: Vec<CertificateAuthority>,
    /// Rekor logs by log id (hex), which is what entries name.
    pub(crate) tlogs: BTreeMap<String, LogKey>,
    /// CT logs by log id (hex).
    pub(crate) ctlogs: BTreeMap<String, LogKey>,
    pub(crate) tsas: Vec<TimestampAuthority>,
}

impl std::fmt::Debug for TrustMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustMaterial")
            .field("cas", &self.cas.iter().map(|c| &c.uri).collect::<Vec<_>>())
            .field(
                "tlogs",
                &self
                    .tlogs
                    .iter()
                    .map(|(id, l)| (id, &l.base_url))
                    .collect::<Vec<_>>(),
            )
            .field(
                "ctlogs",
                &self
                    .ctlogs
                    .iter()
                    .map(|(id, l)| (id, &l.base_url))
                    .collect::<Vec<_>>(),
            )
            .field(
                "tsas",
                &self.tsas.iter().map(|t| &t.uri).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawCa>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    hash_algorithm: Option<String>,
    public_key: RawPublicKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPublicKey {
    raw_bytes: String,
    #[serde(default)]
    key_details: Option<String>,
    #[serde(default)]
    valid_for: Option<RawWindow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCa {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    #[serde(default)]
    valid_for: Option<RawWindow>,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct RawWindow {
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
}

fn window(raw: Option<&RawWindow>, what: &str) -> Result<Window, String> {
    let parse = |t: &Option<String>| {
        t.as_deref()
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|t| t.timestamp())
                    .map_err(|e| format!("{what}: validFor time {t:?}: {e}"))
            })
            .transpose()
    };
    let Some(raw) = raw else {
        return Ok(Window::default());
    };
    Ok(Window {
        start: parse(&raw.start)?,
        end: parse(&raw.end)?,
    })
}

fn base64(text: &str, what: &str) -> Result<Vec<u8>, String> {
    BASE64
        .decode(text.trim())
        .map_err(|e| format!("{what} is not base64: {e}"))
}

/// Parses a `trusted_root.json` document.
pub(crate) fn parse_trusted_root(bytes: &[u8]) -> Result<TrustMaterial, String> {
    if bytes.len() > MAX_TRUSTED_ROOT_BYTES {
        return Err(format!(
            "{} bytes, more than {MAX_TRUSTED_ROOT_BYTES}",
            bytes.len()
        ));
    }
    let raw: RawRoot =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes))
            .map_err(|e| format!("not a trusted root at {}: {}", e.path(), e.inner()))?;
    if !raw.media_type.starts_with(TRUSTED_ROOT_MEDIA_TYPE) {
        return Err(format!(
            "mediaType {:?} is not a sigstore trusted root ({TRUSTED_ROOT_MEDIA_TYPE}x)",
            raw.media_type
        ));
    }
    let mut material = TrustMaterial::default();
    for (i, log) in raw.tlogs.iter().enumerate() {
        let (id, key) = log_key(log, &format!("tlogs[{i}]"))?;
        material.tlogs.insert(id, key);
    }
    for (i, log) in raw.ctlogs.iter().enumerate() {
        let (id, key) = log_key(log, &format!("ctlogs[{i}]"))?;
        material.ctlogs.insert(id, key);
    }
    for (i, ca) in raw.certificate_authorities.iter().enumerate() {
        material.cas.push(certificate_authority(
            ca,
            &format!("certificateAuthorities[{i}]"),
        )?);
    }
    for (i, tsa) in raw.timestamp_authorities.iter().enumerate() {
        let what = format!("timestampAuthorities[{i}]");
        let chain = tsa
            .cert_chain
            .certificates
            .iter()
            .map(|c| base64(&c.raw_bytes, &what))
            .collect::<Result<Vec<_>, _>>()?;
        if chain.is_empty() {
            return Err(format!("{what}: empty certificate chain"));
        }
        material.tsas.push(TimestampAuthority {
            uri: tsa.uri.clone(),
            chain,
            valid: window(tsa.valid_for.as_ref(), &what)?,
        });
    }
    if material.cas.is_empty() {
        return Err("no certificateAuthorities".into());
    }
    if material.tlogs.is_empty() {
        return Err("no tlogs".into());
    }
    Ok(material)
}

fn log_key(log: &RawLog, what: &str) -> Result<(String, LogKey), String> {
    if let Some(alg) = log.hash_algorithm.as_deref()
        && alg != "SHA2_256"
    {
        return Err(format!("{what}: hashAlgorithm {alg} is not supported"));
    }
    let spki = base64(&log.public_key.raw_bytes, &format!("{what}.publicKey"))?;
    let key = CosignVerificationKey::try_from_der(&spki).map_err(|e| {
        format!(
            "{what}: public key ({}) is unusable: {e}",
            log.public_key
                .key_details
                .as_deref()
                .unwrap_or("no keyDetails")
        )
    })?;
    let id = base64(&log.log_id.key_id, &format!("{what}.logId"))?;
    Ok((
        hex::encode(id),
        LogKey {
            base_url: log.base_url.clone(),
            spki,
            key,
            valid: window(log.public_key.valid_for.as_ref(), what)?,
        },
    ))
}

fn certificate_authority(ca: &RawCa, what: &str) -> Result<CertificateAuthority, String> {
    let mut chain = ca
        .cert_chain
        .certificates
        .iter()
        .map(|c| base64(&c.raw_bytes, what).map(CertificateDer::from))
        .collect::<Result<Vec<_>, _>>()?;
    // Leaf first, root last: the last certificate is the anchor.
    let root = chain
        .pop()
        .ok_or_else(|| format!("{what}: empty certificate chain"))?;
    let anchor = webpki::anchor_from_trusted_cert(&root)
        .map_err(|e| format!("{what}: unusable root certificate: {e}"))?
        .to_owned();
    Ok(CertificateAuthority {
        uri: ca.uri.clone(),
        anchor,
        root: root.to_vec(),
        intermediates: chain,
        valid: window(ca.valid_for.as_ref(), what)?,
    })
}

/// Log keys from loose PEM (the `rekor_public_key` / `ctlog_public_key` settings): no windows,
/// log id = SHA-256 of the DER key, as Rekor v1 and RFC 6962 logs compute it.
pub(crate) fn pem_log_keys(pem_bytes: &[u8]) -> Result<BTreeMap<String, LogKey>, String> {
    let blocks = pem::parse_many(pem_bytes).map_err(|e| format!("invalid PEM: {e}"))?;
    let mut keys = BTreeMap::new();
    for block in blocks {
        if block.tag() != "PUBLIC KEY" {
            return Err(format!(
                "unexpected PEM block {:?}, want PUBLIC KEY",
                block.tag()
            ));
        }
        let key = CosignVerificationKey::try_from_der(block.contents())
            .map_err(|e| format!("unusable public key: {e}"))?;
        keys.insert(
            hex::encode(Sha256::digest(block.contents())),
            LogKey {
                base_url: String::new(),
                spki: block.contents().to_vec(),
                key,
                valid: Window::default(),
            },
        );
    }
    if keys.is_empty() {
        return Err("no PEM public key found".into());
    }
    Ok(keys)
}

/// Fulcio CAs from loose PEM: each self-signed certificate is a root (no window) and every
/// other certificate an intermediate offered to all of them.
pub(crate) fn pem_authorities(
    anchors: Vec<(TrustAnchor<'static>, Vec<u8>)>,
    intermediates: Vec<CertificateDer<'static>>,
) -> Vec<CertificateAuthority> {
    anchors
        .into_iter()
        .map(|(anchor, root)| CertificateAuthority {
            uri: String::new(),
            anchor,
            root,
            intermediates: intermediates.clone(),
            valid: Window::default(),
        })
        .collect()
}

#[cfg(test)]
#[path = "root_tests.rs"]
mod tests;
