//! `PlatformSpec`: a platform filter for multi-platform copies, `os/arch[/variant]` (e.g.
//! `linux/arm64/v8`), parsed when the configuration loads.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// `os/arch[/variant]`, every part non-empty and without `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlatformSpec {
    os: String,
    arch: String,
    variant: Option<String>,
}

impl PlatformSpec {
    /// The operating system, e.g. `linux`.
    pub fn os(&self) -> &str {
        &self.os
    }

    /// The architecture, e.g. `arm64`.
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// The variant, e.g. `v8`; `None` matches any.
    pub fn variant(&self) -> Option<&str> {
        self.variant.as_deref()
    }
}

impl FromStr for PlatformSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        let part_ok = |p: &&str| !p.is_empty() && !p.chars().any(char::is_whitespace);
        if !parts.iter().all(part_ok) {
            return Err(Error::InvalidPlatform(s.to_owned()));
        }
        match parts.as_slice() {
            [os, arch] => Ok(Self {
                os: (*os).to_owned(),
                arch: (*arch).to_owned(),
                variant: None,
            }),
            [os, arch, variant] => Ok(Self {
                os: (*os).to_owned(),
                arch: (*arch).to_owned(),
                variant: Some((*variant).to_owned()),
            }),
            _ => Err(Error::InvalidPlatform(s.to_owned())),
        }
    }
}

impl TryFrom<String> for PlatformSpec {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<PlatformSpec> for String {
    fn from(p: PlatformSpec) -> Self {
        p.to_string()
    }
}

impl fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_os_arch_and_variant() {
        let p: PlatformSpec = "linux/arm64/v8".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.os(), p.arch(), p.variant()),
            ("linux", "arm64", Some("v8"))
        );
        assert_eq!(p.to_string(), "linux/arm64/v8");
        let q: PlatformSpec = "linux/amd64".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((q.variant(), q.to_string().as_str()), (None, "linux/amd64"));
    }

    #[test]
    fn refuses_missing_or_extra_parts() {
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "",
            "linux//v8",
            "linux/am d64",
        ] {
            assert!(bad.parse::<PlatformSpec>().is_err(), "{bad:?} was accepted");
        }
    }
}
