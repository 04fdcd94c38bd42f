//! Image references: `RegistryHost`, `RepoPath`, `Tag` and the `ImageRef` that combines them.
//! The grammar is the distribution reference grammar, restricted to references that name
//! their registry explicitly (a gate must never guess `docker.io`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Digest, Error, Result};

/// A registry `host[:port]`, e.g. `127.0.0.1:5001` or `registry.example.com`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegistryHost(String);

impl RegistryHost {
    /// The `host[:port]` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RegistryHost {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason| Error::InvalidReference {
            value: s.to_owned(),
            reason,
        };
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        if host.is_empty() || host.len() > 253 {
            return Err(bad("registry host is empty or too long"));
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(bad("registry host has characters outside [A-Za-z0-9.-]"));
        }
        if let Some(p) = port
            && p.parse::<u16>().map_or(true, |n| n == 0)
        {
            return Err(bad("registry port is not a number in 1-65535"));
        }
        Ok(Self(s.to_ascii_lowercase()))
    }
}

impl TryFrom<String> for RegistryHost {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<RegistryHost> for String {
    fn from(h: RegistryHost) -> String {
        h.0
    }
}

/// A repository path inside a registry, e.g. `team/app`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "team/app")]
pub struct RepoPath(String);

impl RepoPath {
    /// The path text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|s| s == b'-');
        if !ok {
            return false;
        }
    }
    true
}

impl FromStr for RepoPath {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s.is_empty() || s.len() > 255 || !s.split('/').all(valid_path_component) {
            return Err(Error::InvalidRepository(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for RepoPath {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<RepoPath> for String {
    fn from(r: RepoPath) -> String {
        r.0
    }
}

/// A tag, `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Internal constructor for tags built from already-checked parts.
    pub(crate) fn from_checked(s: String) -> Self {
        Self(s)
    }
}

impl FromStr for Tag {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes().next().is_some_and(word)
            && s.bytes().all(|b| word(b) || b == b'.' || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::InvalidTag(s.to_owned()))
        }
    }
}

impl TryFrom<String> for Tag {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Tag> for String {
    fn from(t: Tag) -> String {
        t.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `host/repo`: how a repository is named in text (logs, the API, the database column).
pub fn repository_name(registry: &RegistryHost, repository: &RepoPath) -> String {
    format!("{}/{}", registry.as_str(), repository.as_str())
}

/// What an `ImageRef` points at: a tag (to be resolved) or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// A mutable tag.
    Tag(Tag),
    /// An immutable digest.
    Digest(Digest),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => f.write_str(t.as_str()),
            Self::Digest(d) => f.write_str(d.as_str()),
        }
    }
}

/// A fully qualified image reference: `host[:port]/repo(:tag|@digest)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The registry.
    pub registry: RegistryHost,
    /// The repository inside it.
    pub repository: RepoPath,
    /// Tag or digest.
    pub reference: Reference,
}

impl ImageRef {
    /// The same repository pinned to `digest`.
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            reference: Reference::Digest(digest),
            ..self.clone()
        }
    }

    /// `host/repo` without tag or digest.
    pub fn repository_name(&self) -> String {
        repository_name(&self.registry, &self.repository)
    }
}

impl FromStr for ImageRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason| Error::InvalidReference {
            value: s.to_owned(),
            reason,
        };
        if s.len() > 512 {
            return Err(bad("longer than 512 characters"));
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d.parse::<Digest>()?)),
            None => (s, None),
        };
        let (host, rest) = name
            .split_once('/')
            .ok_or_else(|| bad("missing registry host"))?;
        let looks_like_host = host.contains('.') || host.contains(':') || host == "localhost";
        if !looks_like_host {
            return Err(bad(
                "the registry host must be explicit (host[:port]/repository)",
            ));
        }
        let registry: RegistryHost = host.parse()?;
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repo, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        let repository: RepoPath = repo.parse()?;
        let reference = match (digest, tag) {
            (Some(d), _) => Reference::Digest(d),
            (None, Some(t)) => Reference::Tag(t.parse()?),
            (None, None) => return Err(bad("a tag or a digest is required")),
        };
        Ok(Self {
            registry,
            repository,
            reference,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = match self.reference {
            Reference::Tag(_) => ':',
            Reference::Digest(_) => '@',
        };
        write!(f, "{}{sep}{}", self.repository_name(), self.reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_digest_and_tag_references() {
        let d = format!("sha256:{}", "0".repeat(64));
        let r: ImageRef = format!("127.0.0.1:5001/team/app@{d}")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.registry.as_str(), "127.0.0.1:5001");
        assert_eq!(r.repository.as_str(), "team/app");
        assert_eq!(r.reference.to_string(), d);
        let t: ImageRef = "registry.example.com/app:v1.2"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t.reference,
            Reference::Tag("v1.2".parse().unwrap_or_else(|e| panic!("{e:?}")))
        );
        assert_eq!(t.to_string(), "registry.example.com/app:v1.2");
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "app:latest",
            "127.0.0.1:5001/app",
            "127.0.0.1:5001/App:v1",
            "127.0.0.1:5001/app@sha256:1234",
            "127.0.0.1:99999/app:v1",
            "127.0.0.1:5001/app:-bad",
            "127.0.0.1:5001/a//b:v1",
            "127.0.0.1:5001/a--b_-c:v1",
        ] {
            assert!(bad.parse::<ImageRef>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn repo_path_grammar() {
        for ok in ["a", "a/b", "a.b", "a_b", "a__b", "a---b", "team/app-1"] {
            assert!(ok.parse::<RepoPath>().is_ok(), "{ok}");
        }
        for bad in ["", "A", "a..b", "a___b", "-a", "a-", "a/", "/a"] {
            assert!(bad.parse::<RepoPath>().is_err(), "{bad}");
        }
    }
}
