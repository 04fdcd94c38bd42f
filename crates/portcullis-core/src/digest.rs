//! `Digest`: an OCI content digest, checked on construction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

use crate::{Error, Result};

/// An OCI content digest (`sha256:<hex>` or `sha512:<hex>`), lowercase hex of the right length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(
    value_type = String,
    pattern = "^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$",
    example = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
)]
pub struct Digest(String);

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Self(format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(bytes))
        ))
    }

    /// The sha256 digest whose hash is `hash` (a hash computed over several parts).
    pub fn from_sha256(hash: [u8; 32]) -> Self {
        Self(format!("sha256:{}", hex::encode(hash)))
    }

    /// The algorithm part (`sha256`).
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }

    /// The full `algo:hex` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cosign tag-schema name of an attached artifact, e.g. `sha256-<hex>.sig`.
    pub fn cosign_tag(&self, suffix: &str) -> Tag {
        Tag::from_checked(format!("{}-{}.{suffix}", self.algorithm(), self.hex()))
    }

    /// Whether `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        match self.algorithm() {
            "sha256" => hex::encode(sha2::Sha256::digest(bytes)) == self.hex(),
            "sha512" => hex::encode(sha2::Sha512::digest(bytes)) == self.hex(),
            _ => false,
        }
    }
}

use crate::Tag;

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidDigest(s.to_owned());
        let (algo, hex) = s.split_once(':').ok_or_else(bad)?;
        let len = match algo {
            "sha256" => 64,
            "sha512" => 128,
            _ => return Err(bad()),
        };
        let hex_ok =
            hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex_ok {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_sha256_and_rejects_malformed() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(good.parse::<Digest>().map(|d| d.hex().len()), Ok(64));
        for bad in [
            "sha256:abc",
            "md5:0123",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:{}", "g".repeat(64)),
            "",
            &"a".repeat(64),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn sha256_of_matches_and_names_cosign_tag() {
        let d = Digest::sha256_of(b"hello");
        assert!(d.matches(b"hello"));
        assert!(!d.matches(b"hellO"));
        assert_eq!(
            d.cosign_tag("sig").as_str(),
            format!("sha256-{}.sig", d.hex())
        );
    }
}
