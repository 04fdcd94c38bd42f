//! Checking registry responses: 401/403 become `Unauthorized`, other failures `Http` with
//! the OCI error codes of the body (never the body itself), and bodies are read within a
//! size limit. Shared by the client, the token flow and every operation.

use reqwest::Response;

use crate::{Error, Result};

/// Longest registry error body kept in a log line.
const MAX_ERROR_BODY: usize = 512;

pub(crate) fn refuse_forbidden(
    resp: Response,
    registry: &str,
    operation: &'static str,
) -> Result<Response> {
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        return Err(Error::Unauthorized {
            registry: registry.to_owned(),
            status,
            operation,
        });
    }
    Ok(resp)
}

/// Passes a 2xx response through; turns anything else into `Unauthorized` or `Http`.
pub(crate) async fn check_status(
    resp: Response,
    registry: &str,
    operation: &'static str,
) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let resp = refuse_forbidden(resp, registry, operation)?;
    let body = resp.text().await.unwrap_or_default();
    let codes = oci_error_codes(&body);
    let excerpt: String = body.chars().take(MAX_ERROR_BODY).collect();
    // The raw body is for operators only: it never goes into the error (and so never to
    // API clients or stored promotion errors).
    tracing::warn!(
        registry,
        registry.operation = operation,
        http.status = status.as_u16(),
        registry.error_body = %excerpt,
        "registry returned an error response"
    );
    Err(Error::Http {
        status: status.as_u16(),
        operation,
        registry: registry.to_owned(),
        codes,
    })
}

/// Most OCI error codes kept from one response.
const MAX_ERROR_CODES: usize = 8;

#[derive(serde::Deserialize)]
struct OciErrors {
    errors: Vec<OciError>,
}

#[derive(serde::Deserialize)]
struct OciError {
    code: String,
}

/// The `code` values of an OCI error body (`{"errors":[{"code":"MANIFEST_UNKNOWN",…}]}`),
/// keeping only well-formed codes (`A-Z`, `0-9`, `_`) so nothing free-form slips through.
pub(crate) fn oci_error_codes(body: &str) -> Vec<String> {
    let Ok(parsed) = serde_json::from_str::<OciErrors>(body) else {
        return Vec::new();
    };
    parsed
        .errors
        .into_iter()
        .map(|e| e.code)
        .filter(|c| {
            !c.is_empty()
                && c.len() <= 64
                && c.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .take(MAX_ERROR_CODES)
        .collect()
}

/// Reads a whole response body, refusing more than `limit` bytes.
pub(crate) async fn read_limited(
    mut resp: Response,
    limit: u64,
    registry: &str,
    what: impl Fn() -> String,
) -> Result<Vec<u8>> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(Error::TooLarge {
            what: what(),
            limit,
        });
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Error::body(registry, "reading a body", e))?
    {
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(Error::TooLarge {
                what: what(),
                limit,
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_well_formed_oci_error_codes() {
        let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"secret detail"},
            {"code":"<script>"},{"code":"DENIED","detail":{"x":1}}]}"#;
        assert_eq!(oci_error_codes(body), vec!["MANIFEST_UNKNOWN", "DENIED"]);
        assert!(oci_error_codes("<html>502 Bad Gateway</html>").is_empty());
        assert!(oci_error_codes("").is_empty());
    }

    #[test]
    fn http_error_display_never_contains_the_body() {
        let e = Error::Http {
            status: 404,
            operation: "get manifest",
            registry: "r.example".into(),
            codes: oci_error_codes(r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"leak"}]}"#),
        };
        assert_eq!(
            e.to_string(),
            "registry r.example answered 404 to get manifest (MANIFEST_UNKNOWN)"
        );
        let bare = Error::Http {
            status: 502,
            operation: "get manifest",
            registry: "r.example".into(),
            codes: Vec::new(),
        };
        assert_eq!(
            bare.to_string(),
            "registry r.example answered 502 to get manifest"
        );
    }
}
