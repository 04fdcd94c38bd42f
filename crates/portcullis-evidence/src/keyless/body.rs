//! Binding a transparency-log entry body to the signature being verified. Each entry kind
//! logs something different, so each is checked on its own terms:
//!
//! | kind | binds |
//! |---|---|
//! | `hashedrekord` 0.0.1, `rekord` 0.0.1 | sha256 of the signed bytes, the signature, the certificate or key |
//! | `intoto` 0.0.1 | sha256 of the envelope as stored (the `.att` layer), sha256 of the payload, the certificate |
//! | `intoto` 0.0.2 | sha256 of the payload, the signature and certificate (each base64 twice) |
//! | `dsse` 0.0.1 | sha256 of the envelope when we hold its bytes, sha256 of the payload, the signature and certificate |
//! | `hashedrekord` / `dsse` 0.0.2 (Rekor v2) | the digest (or payload digest), the signature, the certificate or key |

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::tlog::decode;

/// What was signed, as the log must have seen it.
pub(crate) enum Signed<'a> {
    /// A signature over a message (`hashedrekord`, `rekord`): the message's sha256.
    Message {
        /// sha256 of the signed bytes.
        digest: [u8; 32],
        /// The raw signature bytes.
        signature: &'a [u8],
    },
    /// A DSSE envelope signature.
    Envelope {
        /// The envelope JSON exactly as stored, when we have it (a `.att` layer blob).
        envelope: Option<&'a [u8]>,
        /// The envelope's decoded payload.
        payload: &'a [u8],
        /// The raw signature bytes that verified.
        signature: &'a [u8],
    },
}

/// Who signed: the leaf certificate's DER, or a public key's DER.
pub(crate) enum Verifier<'a> {
    /// A Fulcio (or BYO-PKI) leaf certificate.
    Certificate(&'a [u8]),
    /// A plain public key (SPKI DER).
    PublicKey(&'a [u8]),
}

fn field<'v>(body: &'v Value, pointer: &str) -> Result<&'v str, String> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("log entry body lacks {pointer}"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A `{algorithm, value}` hash field that must be the sha256 `expected`.
fn check_hash(body: &Value, pointer: &str, expected: &str, what: &str) -> Result<(), String> {
    let algorithm = field(body, &format!("{pointer}/algorithm"))?;
    let value = field(body, &format!("{pointer}/value"))?;
    if algorithm != "sha256" || !value.eq_ignore_ascii_case(expected) {
        return Err(format!("log entry does not record this {what}"));
    }
    Ok(())
}

/// The verifier as logged: base64 of a PEM certificate or public key (once or twice encoded).
fn check_logged_verifier(
    logged_b64: &str,
    verifier: &Verifier<'_>,
    twice: bool,
) -> Result<(), String> {
    let mut pem_bytes = decode(logged_b64, "logged verifier")?;
    // intoto 0.0.2 nests one more base64 layer in some writers; a PEM is never base64.
    if twice && !pem_bytes.starts_with(b"-----") {
        let inner = String::from_utf8(pem_bytes).map_err(|_| "logged verifier is not text")?;
        pem_bytes = decode(&inner, "logged verifier")?;
    }
    let logged = pem::parse(&pem_bytes).map_err(|e| format!("logged verifier: {e}"))?;
    let matches = match verifier {
        Verifier::Certificate(der) => logged.tag() == "CERTIFICATE" && logged.contents() == *der,
        Verifier::PublicKey(der) => logged.tag() == "PUBLIC KEY" && logged.contents() == *der,
    };
    if !matches {
        return Err("log entry records a different certificate or key".into());
    }
    Ok(())
}

fn check_logged_signature(logged_b64: &str, signature: &[u8], twice: bool) -> Result<bool, String> {
    let mut logged = decode(logged_b64, "logged signature")?;
    if twice {
        let inner = String::from_utf8(logged).map_err(|_| "logged signature is not text")?;
        logged = decode(&inner, "logged signature")?;
    }
    Ok(logged == signature)
}

/// Where a DSSE entry kind lists its signatures, and how each is encoded.
struct Logged {
    /// JSON pointer of the list.
    list: &'static str,
    /// Field of a listed signature holding the signature.
    signature: &'static str,
    /// Field holding the verifier (certificate or key PEM).
    verifier: &'static str,
    /// Whether both are base64 twice (`intoto` 0.0.2).
    twice: bool,
}

impl Logged {
    /// The listed signature equal to `signature` must be by `verifier`.
    fn check(&self, body: &Value, signature: &[u8], verifier: &Verifier<'_>) -> Result<(), String> {
        let sigs = body
            .pointer(self.list)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("log entry body lacks {}", self.list))?;
        for sig in sigs {
            let (Some(s), Some(k)) = (
                sig.get(self.signature).and_then(Value::as_str),
                sig.get(self.verifier).and_then(Value::as_str),
            ) else {
                continue;
            };
            if check_logged_signature(s, signature, self.twice)? {
                return check_logged_verifier(k, verifier, self.twice);
            }
        }
        Err("log entry records a different signature".into())
    }
}

/// Checks that `body` (the decoded entry) logs exactly `signed` by `verifier`; `claimed` is
/// the kind and version a bundle says the entry has, which must be the body's own.
pub(crate) fn check(
    body: &[u8],
    claimed: Option<&(String, String)>,
    signed: &Signed<'_>,
    verifier: &Verifier<'_>,
) -> Result<(), String> {
    let body: Value =
        serde_json::from_slice(body).map_err(|e| format!("log entry body is not JSON: {e}"))?;
    let kind = field(&body, "/kind")?;
    let version = field(&body, "/apiVersion")?;
    if let Some((k, v)) = claimed
        && (k != kind || v != version)
    {
        return Err(format!(
            "the bundle says the entry is {k} {v}, its body is {kind} {version}"
        ));
    }
    match (kind, version, signed) {
        ("hashedrekord" | "rekord", "0.0.1", Signed::Message { digest, signature }) => {
            check_hash(&body, "/spec/data/hash", &hex::encode(digest), "message")?;
            if !check_logged_signature(field(&body, "/spec/signature/content")?, signature, false)?
            {
                return Err("log entry records a different signature".into());
            }
            check_logged_verifier(
                field(&body, "/spec/signature/publicKey/content")?,
                verifier,
                false,
            )
        }
        (
            "intoto",
            "0.0.1",
            Signed::Envelope {
                envelope, payload, ..
            },
        ) => {
            let envelope = envelope.ok_or(
                "an intoto 0.0.1 entry binds the stored envelope, which this bundle does not carry",
            )?;
            check_hash(
                &body,
                "/spec/content/hash",
                &sha256_hex(envelope),
                "envelope",
            )?;
            check_hash(
                &body,
                "/spec/content/payloadHash",
                &sha256_hex(payload),
                "payload",
            )?;
            check_logged_verifier(field(&body, "/spec/publicKey")?, verifier, false)
        }
        (
            "intoto",
            "0.0.2",
            Signed::Envelope {
                payload, signature, ..
            },
        ) => {
            check_hash(
                &body,
                "/spec/content/payloadHash",
                &sha256_hex(payload),
                "payload",
            )?;
            let logged = Logged {
                list: "/spec/content/envelope/signatures",
                signature: "sig",
                verifier: "publicKey",
                twice: true,
            };
            logged.check(&body, signature, verifier)
        }
        (
            "dsse",
            "0.0.1",
            Signed::Envelope {
                envelope,
                payload,
                signature,
            },
        ) => {
            if let Some(envelope) = envelope {
                check_hash(
                    &body,
                    "/spec/envelopeHash",
                    &sha256_hex(envelope),
                    "envelope",
                )?;
            }
            check_hash(&body, "/spec/payloadHash", &sha256_hex(payload), "payload")?;
            let logged = Logged {
                list: "/spec/signatures",
                signature: "signature",
                verifier: "verifier",
                twice: false,
            };
            logged.check(&body, signature, verifier)
        }
        ("hashedrekord", "0.0.2", Signed::Message { digest, signature }) => {
            let spec = body
                .pointer("/spec/hashedRekordV002")
                .ok_or("log entry body lacks /spec/hashedRekordV002")?;
            check_v2_digest(spec, "/data", digest)?;
            check_v2_signature(spec, "/signature", signature, verifier)
        }
        (
            "dsse",
            "0.0.2",
            Signed::Envelope {
                payload, signature, ..
            },
        ) => {
            let spec = body
                .pointer("/spec/dsseV002")
                .ok_or("log entry body lacks /spec/dsseV002")?;
            check_v2_digest(spec, "/payloadHash", &Sha256::digest(payload).into())?;
            let sigs = spec
                .pointer("/signatures")
                .and_then(Value::as_array)
                .ok_or("log entry body lacks signatures")?;
            for sig in sigs {
                if check_v2_signature(sig, "", signature, verifier).is_ok() {
                    return Ok(());
                }
            }
            Err("log entry records a different signature".into())
        }
        (kind, version, Signed::Message { .. }) => Err(format!(
            "a {kind} {version} log entry cannot record a message signature"
        )),
        (kind, version, Signed::Envelope { .. }) => Err(format!(
            "a {kind} {version} log entry cannot record a DSSE envelope"
        )),
    }
}

/// Rekor v2 `{algorithm: SHA2_256, digest: base64}`.
fn check_v2_digest(spec: &Value, pointer: &str, expected: &[u8; 32]) -> Result<(), String> {
    let algorithm = field(spec, &format!("{pointer}/algorithm"))?;
    let digest = decode(field(spec, &format!("{pointer}/digest"))?, "logged digest")?;
    if algorithm != "SHA2_256" || digest != expected {
        return Err("log entry does not record this message digest".into());
    }
    Ok(())
}

/// Rekor v2 `{content: base64 sig, verifier: {x509Certificate: {rawBytes}} | {publicKey: {rawBytes}}}`.
fn check_v2_signature(
    sig: &Value,
    pointer: &str,
    signature: &[u8],
    verifier: &Verifier<'_>,
) -> Result<(), String> {
    let logged = decode(
        field(sig, &format!("{pointer}/content"))?,
        "logged signature",
    )?;
    if logged != signature {
        return Err("log entry records a different signature".into());
    }
    let (path, der) = match verifier {
        Verifier::Certificate(der) => ("x509Certificate", der),
        Verifier::PublicKey(der) => ("publicKey", der),
    };
    let raw = decode(
        field(sig, &format!("{pointer}/verifier/{path}/rawBytes"))?,
        "logged verifier",
    )?;
    if raw != *der {
        return Err("log entry records a different certificate or key".into());
    }
    Ok(())
}
