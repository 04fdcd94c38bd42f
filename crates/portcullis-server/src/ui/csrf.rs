//! Cross-site request forgery: every form carries a token the attacker's page cannot read.
//! Signed in, it is the session's own token (kept server-side with the session); before
//! sign-in (the token form), a random value set in a `SameSite=Strict` cookie and echoed in
//! the form (double submit). Tokens are compared in constant time. A forged or missing token
//! is refused 403 `csrf_failed` before anything is read or written.

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use crate::error::ApiError;

/// A fresh random token: 32 bytes, base64url (43 characters).
pub fn token() -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// Whether `a` and `b` are equal, in time that depends on their lengths only.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Refuses the form unless `sent` (its `csrf` field) matches `expected`. A browser that says
/// the request came from another site (`Sec-Fetch-Site: cross-site`) is refused too.
pub fn check(headers: &HeaderMap, sent: &str, expected: &str) -> Result<(), ApiError> {
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"));
    if cross_site || expected.is_empty() || !same(sent, expected) {
        tracing::warn!(
            csrf.cross_site = cross_site,
            "a /ui form was refused: its CSRF token is missing or wrong"
        );
        return Err(ApiError::forbidden(
            "csrf_failed",
            "the form's CSRF token is missing or does not match this session; reload the page and try again",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_and_compare_exactly() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &b));
        assert!(!same(&a, &a[..42]));
    }

    #[test]
    fn a_missing_wrong_or_cross_site_token_is_refused() {
        let good = token();
        let headers = HeaderMap::new();
        assert!(check(&headers, &good, &good).is_ok());
        assert_eq!(
            check(&headers, "", &good).unwrap_err().code(),
            "csrf_failed"
        );
        assert_eq!(
            check(&headers, &token(), &good).unwrap_err().code(),
            "csrf_failed"
        );
        assert_eq!(check(&headers, "", "").unwrap_err().code(), "csrf_failed");
        let mut cross = HeaderMap::new();
        cross.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(check(&cross, &good, &good).is_err());
    }
}
