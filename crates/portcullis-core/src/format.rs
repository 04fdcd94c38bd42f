//! The CI-supplied evidence formats, parsed once at the edge (the request's
//! `evidence[].format`) and carried as a type; each serialises to the name clients send.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A format of CI-supplied evidence. Serialises to its wire name (`trivy-json`…), so the API
/// and the policy input see the same strings as before the type existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EvidenceFormat {
    /// A Trivy JSON report (SchemaVersion 2).
    #[serde(rename = "trivy-json")]
    TrivyJson,
    /// A Grype JSON report (`grype -o json`).
    #[serde(rename = "grype-json")]
    GrypeJson,
    /// A CycloneDX JSON document (an SBOM, possibly with vulnerabilities).
    #[serde(rename = "cyclonedx-json")]
    CycloneDxJson,
    /// An SPDX 2.2/2.3 JSON document.
    #[serde(rename = "spdx-json")]
    SpdxJson,
    /// An OpenVEX document.
    #[serde(rename = "openvex")]
    OpenVex,
}

impl EvidenceFormat {
    /// Every format, in the order they are advertised.
    pub const ALL: [Self; 5] = [
        Self::TrivyJson,
        Self::GrypeJson,
        Self::CycloneDxJson,
        Self::SpdxJson,
        Self::OpenVex,
    ];

    /// The wire name (`trivy-json`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TrivyJson => "trivy-json",
            Self::GrypeJson => "grype-json",
            Self::CycloneDxJson => "cyclonedx-json",
            Self::SpdxJson => "spdx-json",
            Self::OpenVex => "openvex",
        }
    }
}

impl FromStr for EvidenceFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| Error::UnknownEvidenceFormat(s.to_owned()))
    }
}

impl fmt::Display for EvidenceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_through_text_and_serde() {
        for f in EvidenceFormat::ALL {
            assert_eq!(f.as_str().parse::<EvidenceFormat>(), Ok(f));
            assert_eq!(
                serde_json::to_value(f).ok(),
                Some(serde_json::Value::String(f.as_str().to_owned()))
            );
        }
        let err = "nessus"
            .parse::<EvidenceFormat>()
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "unknown evidence format \"nessus\"; supported: trivy-json, grype-json, \
                 cyclonedx-json, spdx-json, openvex"
            )
        );
    }
}
