//! Package URLs (`pkg:type/namespace/name@version?qualifiers#subpath`), parsed just far
//! enough to compare the package a VEX statement names with the package a scanner found,
//! and to read the manifest digest out of an image's `pkg:oci/…@sha256:…` purl.

use portcullis_core::Digest;

/// The parts of a package URL that identify a package; qualifiers and subpath are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageUrl {
    /// The package type, lower-cased (`deb`, `rpm`, `oci`…).
    pub ty: String,
    /// The namespace, percent-decoded, when there is one (`debian`, `@scope`…).
    pub namespace: Option<String>,
    /// The name, percent-decoded.
    pub name: String,
    /// The version, percent-decoded, when there is one (`1:1.0.2k-16.el7`, `sha256:…`).
    pub version: Option<String>,
}

impl PackageUrl {
    /// Parses `text`; `None` when it is not a package URL.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.trim().strip_prefix("pkg:")?.trim_start_matches('/');
        // The subpath and qualifiers never identify the package.
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
        let (path, version) = match rest.rsplit_once('@') {
            // An `@` inside the path is an npm scope (`pkg:npm/%40scope/x` should encode it,
            // but some tools do not); the version separator comes after the last `/`.
            Some((p, v)) if !v.contains('/') => (p, Some(percent_decode(v)?)),
            _ => (rest, None),
        };
        let (ty, path) = path.split_once('/')?;
        let path = path.trim_matches('/');
        let (namespace, name) = match path.rsplit_once('/') {
            Some((ns, n)) => (Some(decode_segments(ns)?), percent_decode(n)?),
            None => (None, percent_decode(path)?),
        };
        if ty.is_empty() || name.is_empty() {
            return None;
        }
        let ty = ty.to_ascii_lowercase();
        // PyPI names are case-insensitive and treat `_` as `-` (purl spec).
        let name = if ty == "pypi" {
            name.to_ascii_lowercase().replace('_', "-")
        } else {
            name
        };
        Some(Self {
            ty,
            namespace,
            name,
            version: version.filter(|v| !v.is_empty()),
        })
    }

    /// The manifest digest of an image purl (`pkg:oci/app@sha256%3A…`), when this is one.
    pub fn oci_digest(&self) -> Option<Digest> {
        if self.ty != "oci" {
            return None;
        }
        self.version.as_deref()?.parse().ok()
    }

    /// Whether `found` (a scanner's purl) is the package this purl names: type, namespace
    /// and name must be equal, and the version too when this purl gives one.
    pub fn covers(&self, found: &Self) -> bool {
        self.ty == found.ty
            && self.namespace == found.namespace
            && self.name == found.name
            && self
                .version
                .as_ref()
                .is_none_or(|v| Some(v) == found.version.as_ref())
    }
}

/// Decodes each `/`-separated namespace segment.
fn decode_segments(ns: &str) -> Option<String> {
    let parts: Option<Vec<String>> = ns.split('/').map(percent_decode).collect();
    Some(parts?.join("/"))
}

/// Percent-decodes `s`; `None` on a malformed escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The manifest digest a product identifier names: a bare `sha256:…` digest or an image purl.
pub fn image_digest(id: &str) -> Option<Digest> {
    let id = id.trim();
    id.parse()
        .ok()
        .or_else(|| PackageUrl::parse(id)?.oci_digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespace_version_and_drops_qualifiers() {
        let p = PackageUrl::parse(
            "pkg:rpm/centos/openssl-libs@1:1.0.2k-16.el7?arch=x86_64&epoch=1#sub/path",
        )
        .unwrap();
        assert_eq!(p.ty, "rpm");
        assert_eq!(p.namespace.as_deref(), Some("centos"));
        assert_eq!(p.name, "openssl-libs");
        assert_eq!(p.version.as_deref(), Some("1:1.0.2k-16.el7"));
        let npm = PackageUrl::parse("pkg:npm/%40angular/core@16.0.0").unwrap();
        assert_eq!(npm.namespace.as_deref(), Some("@angular"));
        assert_eq!(
            PackageUrl::parse("pkg:pypi/Django_X@1").unwrap().name,
            "django-x"
        );
        for bad in ["", "pkg:", "pkg:deb", "npm/x@1", "pkg:deb/%zz@1", "pkg:/x"] {
            assert_eq!(PackageUrl::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_image_digests_encoded_or_not() {
        let hex = "a".repeat(64);
        let want: Digest = format!("sha256:{hex}").parse().unwrap();
        for id in [
            format!("pkg:oci/app@sha256%3A{hex}?repository_url=r.example/app"),
            format!("pkg:oci/app@sha256:{hex}"),
            format!("sha256:{hex}"),
        ] {
            assert_eq!(image_digest(&id), Some(want.clone()), "{id}");
        }
        assert_eq!(image_digest(&format!("pkg:docker/app@sha256:{hex}")), None);
        assert_eq!(image_digest("pkg:oci/app@latest"), None);
    }

    #[test]
    fn covers_ignores_qualifiers_and_missing_version() {
        let found = PackageUrl::parse("pkg:deb/debian/libc6@2.28-10?arch=amd64").unwrap();
        let any = PackageUrl::parse("pkg:deb/debian/libc6").unwrap();
        let exact = PackageUrl::parse("pkg:deb/debian/libc6@2.28-10").unwrap();
        let other = PackageUrl::parse("pkg:deb/debian/libc6@2.28-11").unwrap();
        let elsewhere = PackageUrl::parse("pkg:deb/ubuntu/libc6@2.28-10").unwrap();
        assert!(any.covers(&found) && exact.covers(&found));
        assert!(!other.covers(&found) && !elsewhere.covers(&found));
    }
}
