//! A test OIDC issuer: an ECDSA P-256 key published as a JWKS, minting ES256 JWTs with any
//! header and claims (so tests can also forge, expire and mis-address them).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::{Error, Result, TestKey};

/// An issuer key and its `kid`.
pub struct JwtIssuer {
    key: TestKey,
    /// The key id in the JWKS and in minted headers.
    pub kid: String,
}

impl JwtIssuer {
    /// A fresh key with `kid`.
    pub fn new(kid: &str) -> Result<Self> {
        Ok(Self {
            key: TestKey::generate()?,
            kid: kid.to_owned(),
        })
    }

    /// The public key as a JWK (`kty` EC, `crv` P-256).
    pub fn jwk(&self) -> Result<Value> {
        let der = pem_body(&self.key.public_pem)?;
        // The SPKI of a P-256 key ends in the 65-byte uncompressed point 0x04 || x || y.
        let point = der
            .get(der.len().saturating_sub(64)..)
            .ok_or_else(|| Error::Invalid("short public key".into()))?;
        Ok(json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[..32]),
            "y": URL_SAFE_NO_PAD.encode(&point[32..]),
        }))
    }

    /// `{"keys": [jwk]}`.
    pub fn jwks(&self) -> Result<Value> {
        Ok(json!({ "keys": [self.jwk()?] }))
    }

    /// An ES256 token with this key's `kid` over `claims`.
    pub fn token(&self, claims: &Value) -> Result<String> {
        self.token_with_header(
            &json!({"alg": "ES256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }

    /// A token with any header, signed ES256 by this key.
    pub fn token_with_header(&self, header: &Value, claims: &Value) -> Result<String> {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let der = self
            .key
            .signer()
            .sign(input.as_bytes())
            .map_err(|e| Error::Invalid(format!("signing: {e}")))?;
        Ok(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(raw_signature(&der)?)
        ))
    }
}

fn pem_body(pem: &str) -> Result<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| Error::Invalid(format!("public key PEM: {e}")))
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` to JWS `r || s`, 32 bytes each.
fn raw_signature(der: &[u8]) -> Result<Vec<u8>> {
    let bad = || Error::Invalid("not a DER ECDSA signature".into());
    let mut pos = 2;
    if der.first() != Some(&0x30) {
        return Err(bad());
    }
    if der.get(1).is_some_and(|b| b & 0x80 != 0) {
        pos += usize::from(der[1] & 0x7f);
    }
    let mut out = Vec::with_capacity(64);
    for _ in 0..2 {
        if der.get(pos) != Some(&0x02) {
            return Err(bad());
        }
        let len = usize::from(*der.get(pos + 1).ok_or_else(bad)?);
        let int = der.get(pos + 2..pos + 2 + len).ok_or_else(bad)?;
        let trimmed: Vec<u8> = int.iter().copied().skip_while(|b| *b == 0).collect();
        if trimmed.len() > 32 {
            return Err(bad());
        }
        out.extend(std::iter::repeat_n(0u8, 32 - trimmed.len()));
        out.extend(trimmed);
        pos += 2 + len;
    }
    Ok(out)
}
