//! A compact JWS (RFC 7515) carrying JWT claims (RFC 7519): split, header read, signature
//! checked with the issuer's key for the header's `alg`, then the registered claims.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};
use sigstore::crypto::Signature;

use super::jwk::{Algorithm, Jwk};

/// A bearer token longer than this is not a JWT we read.
pub const MAX_JWT_BYTES: usize = 16 * 1024;

/// Whether `token` has the shape of a compact JWS (three base64url parts).
pub fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let shaped = parts.by_ref().take(3).all(|p| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    shaped && token.split('.').count() == 3
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

/// A token split and decoded, not yet verified.
pub struct Unverified {
    /// The `alg` of its header, accepted by the gate at all.
    pub alg: Algorithm,
    /// The header's `kid`.
    pub kid: Option<String>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    /// The claims, to be trusted only after `verify`.
    pub claims: Map<String, Value>,
}

fn part(text: &str, what: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| format!("JWT {what} is not base64url: {e}"))
}

impl Unverified {
    /// Splits and decodes `token`.
    pub fn parse(token: &str) -> Result<Self, String> {
        if token.len() > MAX_JWT_BYTES {
            return Err(format!(
                "JWT of {} bytes, more than {MAX_JWT_BYTES}",
                token.len()
            ));
        }
        let mut parts = token.splitn(3, '.');
        let (Some(h), Some(c), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("not a compact JWT".into());
        };
        let header: Header =
            serde_json::from_slice(&part(h, "header")?).map_err(|e| format!("JWT header: {e}"))?;
        if header.crit.is_some() {
            return Err("JWT header has critical extensions the gate does not understand".into());
        }
        let claims: Map<String, Value> =
            serde_json::from_slice(&part(c, "claims")?).map_err(|e| format!("JWT claims: {e}"))?;
        Ok(Self {
            alg: Algorithm::parse(&header.alg)?,
            kid: header.kid,
            signing_input: format!("{h}.{c}").into_bytes(),
            signature: part(s, "signature")?,
            claims,
        })
    }

    /// Whether `key` signed the token with the header's `alg`.
    pub fn verify_with(&self, key: &Jwk) -> Result<(), String> {
        let verifier = key.key_for(self.alg)?;
        let signature = match self.alg {
            Algorithm::ES256 => ecdsa_der(&self.signature, 32)?,
            Algorithm::ES384 => ecdsa_der(&self.signature, 48)?,
            _ => self.signature.clone(),
        };
        verifier
            .verify_signature(Signature::Raw(&signature), &self.signing_input)
            .map_err(|_| "JWT signature does not verify".to_owned())
    }
}

/// JWS ECDSA signatures are `r || s`, fixed width; the verifier wants ASN.1 DER.
fn ecdsa_der(raw: &[u8], width: usize) -> Result<Vec<u8>, String> {
    if raw.len() != 2 * width {
        return Err(format!(
            "ECDSA signature of {} bytes, want {}",
            raw.len(),
            2 * width
        ));
    }
    let int = |bytes: &[u8]| {
        let start = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        let mut body = Vec::with_capacity(width + 1);
        if bytes[start] & 0x80 != 0 {
            body.push(0);
        }
        body.extend_from_slice(&bytes[start..]);
        let mut out = vec![0x02, body.len() as u8];
        out.extend(body);
        out
    };
    let mut seq = int(&raw[..width]);
    seq.extend(int(&raw[width..]));
    let mut out = vec![0x30];
    if seq.len() > 0x7f {
        out.push(0x81);
    }
    out.push(seq.len() as u8);
    out.extend(seq);
    Ok(out)
}
