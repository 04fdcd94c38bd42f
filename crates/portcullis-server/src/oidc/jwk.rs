//! JSON Web Keys (RFC 7517) as identity providers publish them, turned into verification
//! keys: RSA (`n`, `e`), EC P-256/P-384 (`x`, `y`) and Ed25519 (`OKP`, `x`). The DER
//! SubjectPublicKeyInfo is written by hand: a few fixed prefixes and two lengths.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sigstore::crypto::CosignVerificationKey;
use sigstore::crypto::SigningScheme;

/// A JWKS document is a few KB; refuse anything absurd.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// More keys than this in one JWKS is not a key set we accept.
const MAX_KEYS: usize = 64;

/// The signature algorithms the gate accepts. HMAC (`HS*`) and `none` are never among them:
/// a public key must never be usable as an HMAC secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Parses a JOSE `alg`; `none`, `HS*` and anything unknown are refused.
    pub fn parse(alg: &str) -> Result<Self, String> {
        match alg {
            "RS256" => Ok(Self::RS256),
            "PS256" => Ok(Self::PS256),
            "ES256" => Ok(Self::ES256),
            "ES384" => Ok(Self::ES384),
            "EdDSA" => Ok(Self::EdDSA),
            "none" => Err("alg none is never accepted".into()),
            a if a.starts_with("HS") => Err(format!("alg {a} (HMAC) is never accepted")),
            a => Err(format!("alg {a:?} is not supported")),
        }
    }
}

/// One usable key of a key set.
#[derive(Debug, Clone)]
pub struct Jwk {
    /// Its `kid`, when it has one.
    pub kid: Option<String>,
    /// The algorithms it may verify (by key type; narrowed by its `alg` when given).
    pub algorithms: Vec<Algorithm>,
    /// The key as DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

impl Jwk {
    /// The verification key for `alg`.
    pub fn key_for(&self, alg: Algorithm) -> Result<CosignVerificationKey, String> {
        if !self.algorithms.contains(&alg) {
            return Err(format!("key {:?} is not a key for {alg:?}", self.kid));
        }
        let scheme = match alg {
            Algorithm::RS256 => SigningScheme::RSA_PKCS1_SHA256(0),
            Algorithm::PS256 => SigningScheme::RSA_PSS_SHA256(0),
            Algorithm::ES256 => SigningScheme::ECDSA_P256_SHA256_ASN1,
            Algorithm::ES384 => SigningScheme::ECDSA_P384_SHA384_ASN1,
            Algorithm::EdDSA => SigningScheme::ED25519,
        };
        CosignVerificationKey::from_der(&self.spki, &scheme).map_err(|e| e.to_string())
    }
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
struct RawKey {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// Parses a JWKS. Keys that are not signature keys, or of a type the gate does not use
/// (`oct` among them), are skipped; a malformed key of a usable type is an error.
pub fn parse_set(bytes: &[u8]) -> Result<Vec<Jwk>, String> {
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(format!(
            "JWKS is {} bytes, more than {MAX_JWKS_BYTES}",
            bytes.len()
        ));
    }
    let set: RawSet = serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS: {e}"))?;
    if set.keys.len() > MAX_KEYS {
        return Err(format!(
            "JWKS holds {} keys, more than {MAX_KEYS}",
            set.keys.len()
        ));
    }
    let mut keys = Vec::new();
    for (i, raw) in set.keys.iter().enumerate() {
        if raw.use_.as_deref().is_some_and(|u| u != "sig") {
            continue;
        }
        let parsed = match raw.kty.as_str() {
            "RSA" => rsa(raw),
            "EC" => ec(raw),
            "OKP" => okp(raw),
            _ => continue,
        }
        .map_err(|e| format!("keys[{i}]: {e}"))?;
        let (algorithms, spki) = parsed;
        let algorithms = match raw.alg.as_deref() {
            None => algorithms,
            Some(alg) => {
                let alg = Algorithm::parse(alg).map_err(|e| format!("keys[{i}]: {e}"))?;
                if !algorithms.contains(&alg) {
                    return Err(format!(
                        "keys[{i}]: alg {alg:?} does not fit a {} key",
                        raw.kty
                    ));
                }
                vec![alg]
            }
        };
        keys.push(Jwk {
            kid: raw.kid.clone(),
            algorithms,
            spki,
        });
    }
    Ok(keys)
}

fn b64(field: &Option<String>, name: &str) -> Result<Vec<u8>, String> {
    let text = field.as_deref().ok_or_else(|| format!("missing {name}"))?;
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| format!("{name} is not base64url: {e}"))
}

/// DER length octets.
fn len(n: usize) -> Vec<u8> {
    match n {
        0..=0x7f => vec![n as u8],
        0x80..=0xff => vec![0x81, n as u8],
        _ => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(len(body.len()));
    out.extend_from_slice(body);
    out
}

/// A DER INTEGER of an unsigned big-endian magnitude.
fn uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => &[0],
    };
    let mut body = Vec::with_capacity(trimmed.len() + 1);
    if trimmed[0] & 0x80 != 0 {
        body.push(0);
    }
    body.extend_from_slice(trimmed);
    tlv(0x02, &body)
}

fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(key);
    let mut body = tlv(0x30, algorithm);
    body.extend(tlv(0x03, &bits));
    tlv(0x30, &body)
}

const RSA_ALG: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

fn rsa(raw: &RawKey) -> Result<(Vec<Algorithm>, Vec<u8>), String> {
    let n = b64(&raw.n, "n")?;
    let e = b64(&raw.e, "e")?;
    if n.len() < 256 {
        return Err(format!(
            "RSA modulus of {} bits, fewer than 2048",
            n.len() * 8
        ));
    }
    if n.len() > 1024 {
        return Err("RSA modulus above 8192 bits".into());
    }
    let mut body = uint(&n);
    body.extend(uint(&e));
    let key = tlv(0x30, &body);
    Ok((
        vec![Algorithm::RS256, Algorithm::PS256],
        spki(RSA_ALG, &key),
    ))
}

fn ec(raw: &RawKey) -> Result<(Vec<Algorithm>, Vec<u8>), String> {
    let (curve, size, alg) = match raw.crv.as_deref() {
        Some("P-256") => (P256, 32, Algorithm::ES256),
        Some("P-384") => (P384, 48, Algorithm::ES384),
        other => return Err(format!("EC curve {other:?} is not supported")),
    };
    let (x, y) = (b64(&raw.x, "x")?, b64(&raw.y, "y")?);
    if x.len() != size || y.len() != size {
        return Err(format!("EC coordinates must be {size} bytes"));
    }
    let mut point = vec![0x04];
    point.extend(x);
    point.extend(y);
    let mut algorithm = EC_PUBLIC_KEY.to_vec();
    algorithm.extend_from_slice(curve);
    Ok((vec![alg], spki(&algorithm, &point)))
}

fn okp(raw: &RawKey) -> Result<(Vec<Algorithm>, Vec<u8>), String> {
    if raw.crv.as_deref() != Some("Ed25519") {
        return Err(format!("OKP curve {:?} is not supported", raw.crv));
    }
    let x = b64(&raw.x, "x")?;
    if x.len() != 32 {
        return Err("an Ed25519 key is 32 bytes".into());
    }
    Ok((vec![Algorithm::EdDSA], spki(ED25519, &x)))
}
