//! The Fulcio certificate extensions a leaf can carry (OIDs under 1.3.6.1.4.1.57264.1), so
//! tests can write any combination real Fulcio has issued over the years: the deprecated raw
//! issuer (.1) alone, the UTF8String issuer (.8) alone, both (agreeing or not), and the GitHub
//! workflow identity extensions (.12 – .21).

use rcgen::{CustomExtension, PublicKeyData as _};

use super::ct::{FakeCtLog, embed_sct};
use super::{der, pem_certificate};
use crate::keyless::{FakeFulcio, LeafCert, LeafSpec};
use crate::{Error, Result};

/// Fulcio's OID arc: 1.3.6.1.4.1.57264.1.
const FULCIO_ARC: [u64; 8] = [1, 3, 6, 1, 4, 1, 57264, 1];

/// The Fulcio OID `1.3.6.1.4.1.57264.1.<n>`.
pub fn fulcio_oid(n: u64) -> Vec<u64> {
    let mut oid = FULCIO_ARC.to_vec();
    oid.push(n);
    oid
}

/// The otherName SAN type Fulcio uses for usernames: 1.3.6.1.4.1.57264.1.7.
pub const OTHER_NAME_SAN_OID: u64 = 7;

/// Extra Fulcio extensions of a leaf; every `None` is left out.
///
/// The two issuer fields override [`crate::LeafSpec::oidc_issuer`] for their extension only,
/// so a leaf can carry just `.1` (2022-era certificates), just `.8`, or two that disagree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FulcioExtensions {
    /// 1.3.6.1.4.1.57264.1.1, the deprecated issuer, as raw bytes.
    pub issuer_v1: Option<String>,
    /// 1.3.6.1.4.1.57264.1.8, the issuer, DER UTF8String.
    pub issuer_v2: Option<String>,
    /// 1.3.6.1.4.1.57264.1.12, source repository URI.
    pub source_repository_uri: Option<String>,
    /// 1.3.6.1.4.1.57264.1.13, source repository digest (commit).
    pub source_repository_digest: Option<String>,
    /// 1.3.6.1.4.1.57264.1.14, source repository ref (`refs/tags/v1`).
    pub source_repository_ref: Option<String>,
    /// 1.3.6.1.4.1.57264.1.18, build config URI (the workflow file at a ref).
    pub build_config_uri: Option<String>,
    /// 1.3.6.1.4.1.57264.1.21, run invocation URI.
    pub run_invocation_uri: Option<String>,
}

impl FulcioExtensions {
    /// The extensions Fulcio writes for a GitHub Actions workflow run of `repository`
    /// (`github.com/org/app`) at `git_ref` (`refs/tags/v1.0.0`) and `commit`, running
    /// `workflow` (`.github/workflows/release.yml`).
    pub fn github_workflow(repository: &str, git_ref: &str, commit: &str, workflow: &str) -> Self {
        let repo_uri = format!("https://{repository}");
        Self {
            issuer_v1: None,
            issuer_v2: None,
            source_repository_uri: Some(repo_uri.clone()),
            source_repository_digest: Some(commit.to_owned()),
            source_repository_ref: Some(git_ref.to_owned()),
            build_config_uri: Some(format!("{repo_uri}/{workflow}@{git_ref}")),
            run_invocation_uri: Some(format!("{repo_uri}/actions/runs/1/attempts/1")),
        }
    }

    /// The rcgen extensions for these fields plus `oidc_issuer` (written to whichever issuer
    /// extension is not overridden).
    pub(crate) fn to_custom(&self, oidc_issuer: Option<&str>) -> Vec<CustomExtension> {
        let mut out = Vec::new();
        if let Some(v1) = self.issuer_v1.as_deref().or(oidc_issuer) {
            out.push(CustomExtension::from_oid_content(
                &fulcio_oid(1),
                v1.as_bytes().to_vec(),
            ));
        }
        let utf8_fields = [
            (8, self.issuer_v2.as_deref().or(oidc_issuer)),
            (12, self.source_repository_uri.as_deref()),
            (13, self.source_repository_digest.as_deref()),
            (14, self.source_repository_ref.as_deref()),
            (18, self.build_config_uri.as_deref()),
            (21, self.run_invocation_uri.as_deref()),
        ];
        for (n, value) in utf8_fields {
            if let Some(value) = value {
                out.push(CustomExtension::from_oid_content(
                    &fulcio_oid(n),
                    der::utf8(value),
                ));
            }
        }
        out
    }
}

impl FakeFulcio {
    /// Issues a leaf for `spec` with an embedded SCT from `log`, timestamped at the leaf's
    /// `not_before`: what Fulcio issues since 2022.
    pub fn issue_with_sct(&self, spec: &LeafSpec, log: &FakeCtLog) -> Result<LeafCert> {
        let timestamp_ms = u64::try_from(spec.not_before)
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .ok_or_else(|| Error::Invalid("an SCT needs a not_before after 1970".into()))?;
        let mut leaf = self.issue(spec)?;
        leaf.cert_der = embed_sct(&leaf.cert_der, &self.issuing_key, log, timestamp_ms)?;
        leaf.cert_pem = pem_certificate(&leaf.cert_der);
        Ok(leaf)
    }

    /// The issuing intermediate's public key, SubjectPublicKeyInfo DER (what an SCT's
    /// issuer key hash is taken over).
    pub fn intermediate_public_key_der(&self) -> Vec<u8> {
        self.issuing_key.subject_public_key_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_overrides_apply_to_their_extension_only() {
        let ext = FulcioExtensions {
            issuer_v2: Some("https://other".into()),
            ..FulcioExtensions::default()
        };
        let custom = ext.to_custom(Some("https://issuer"));
        let v1: Vec<u64> = custom[0].oid_components().collect();
        assert_eq!(v1, fulcio_oid(1));
        assert_eq!(custom[0].content(), b"https://issuer");
        assert_eq!(custom[1].content(), der::utf8("https://other"));
        assert_eq!(custom.len(), 2);
        assert!(FulcioExtensions::default().to_custom(None).is_empty());
    }
}
