//! Values that must never be printed: registry passwords (`Secret`) and the database URL
//! (`DatabaseUrl`, whose password is redacted when it is shown).

use std::fmt;

use serde::Deserialize;

/// A value that must never be logged or shown.
#[derive(Clone, Default)]
pub struct Secret(pub(super) String);

impl Secret {
    /// The secret value; call only where it is sent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// The Postgres URL. It may hold a password (`postgres://user:pw@host/db`), so `Debug` and
/// `Display` show it with the password replaced by `****`; `expose` gives the whole URL to
/// the one place that connects.
#[derive(Clone, Deserialize)]
#[serde(from = "String")]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The full URL, password included; call only where the connection is made.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `****`.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
            return "****".to_owned();
        };
        let rest = &url[scheme_end..];
        // The user info ends at the last '@' before the path: a password may hold '@'.
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let Some(at) = rest[..authority_end].rfind('@') else {
            return url.clone();
        };
        match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:****{}",
                &url[..scheme_end],
                &rest[..colon],
                &rest[at..]
            ),
            None => url.clone(),
        }
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_password_never_prints() {
        for (url, shown) in [
            (
                "postgres://app:hunter2@db:5432/portcullis",
                "postgres://app:****@db:5432/portcullis",
            ),
            (
                "postgres://app:p@ss@db/x?sslmode=require",
                "postgres://app:****@db/x?sslmode=require",
            ),
            ("postgres://app@db/x", "postgres://app@db/x"),
            ("postgres://db/x", "postgres://db/x"),
        ] {
            let u = DatabaseUrl::from(url.to_owned());
            assert_eq!(u.to_string(), shown);
            assert!(!format!("{u:?}").contains("hunter2") && !format!("{u:?}").contains("p@ss"));
            assert_eq!(u.expose(), url);
        }
        assert_eq!(DatabaseUrl::from("hunter2".to_owned()).to_string(), "****");
    }
}
