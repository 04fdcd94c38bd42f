//! Typed parsing of evidence documents: every format is deserialised straight from its JSON
//! text into borrowed structs (`#[derive(Deserialize)]`, unknown fields ignored), and a
//! document of the wrong shape gives the JSON path of the field at fault, found by
//! `serde_path_to_error` (`$.Results[3].Vulnerabilities[0].Severity: unknown severity …`).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use portcullis_core::{Digest, Severity};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::{Error, Result};

/// Deserialises `text` as a `T`, naming `format` and the JSON path in any error.
/// The document must be a JSON object (serde would also take a struct from an array).
pub(crate) fn from_str<'a, T: Deserialize<'a>>(format: &'static str, text: &'a str) -> Result<T> {
    if !text.trim_start().starts_with('{') {
        return Err(invalid(format, "$", "expected a JSON object"));
    }
    // The plain parser first: tracking the path costs on every field, so it is only done
    // again, to name the field at fault, when the document turned out not to parse.
    let mut de = serde_json::Deserializer::from_str(text);
    match T::deserialize(&mut de) {
        Ok(value) => {
            de.end().map_err(|e| invalid(format, "$", e.to_string()))?;
            Ok(value)
        }
        Err(_) => {
            let mut de = serde_json::Deserializer::from_str(text);
            let value =
                serde_path_to_error::deserialize(&mut de).map_err(|e| path_error(format, e))?;
            de.end().map_err(|e| invalid(format, "$", e.to_string()))?;
            Ok(value)
        }
    }
}

/// An `InvalidReport` error.
pub(crate) fn invalid(
    format: &'static str,
    field: impl Into<String>,
    reason: impl Into<String>,
) -> Error {
    Error::InvalidReport {
        format,
        field: field.into(),
        reason: reason.into(),
    }
}

/// The error at a path; a missing field is named by its own path, not its parent's.
fn path_error(format: &'static str, e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = e.path().to_string();
    let mut field = match path.as_str() {
        "." => "$".to_owned(),
        p if p.starts_with('[') => format!("${p}"),
        p => format!("$.{p}"),
    };
    let inner = e.into_inner().to_string();
    let reason = match inner
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
    {
        Some((name, rest)) => {
            field.push('.');
            field.push_str(name);
            format!("missing{rest}")
        }
        None => inner,
    };
    invalid(format, field, reason)
}

/// A string of the document, borrowed unless it held escapes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl Text<'_> {
    /// The owned string (no copy when it was already owned).
    pub fn owned(self) -> String {
        self.0.into_owned()
    }
}

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// An optional string as an owned one; `None` stays `None`.
pub(crate) fn owned(text: Option<Text<'_>>) -> Option<String> {
    text.map(Text::owned)
}

/// A scanner's severity (`HIGH`, `High`, `moderate`…), normalised.
pub(crate) fn severity<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Severity, D::Error> {
    let text = Text::deserialize(d)?;
    text.parse()
        .map_err(|_| de::Error::custom(format_args!("unknown severity {:?}", &*text)))
}

/// `Unknown`, the severity of a finding whose document gives none.
pub(crate) fn unknown() -> Severity {
    Severity::Unknown
}

/// An optional severity; absent or `null` is `Unknown`.
pub(crate) fn opt_severity<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Severity, D::Error> {
    match Option::<Text>::deserialize(d)? {
        None => Ok(Severity::Unknown),
        Some(text) => text
            .parse()
            .map_err(|_| de::Error::custom(format_args!("unknown severity {:?}", &*text))),
    }
}

/// `repo@sha256:…`, as Trivy and Grype list the digests of the scanned image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepoDigest(pub Digest);

impl<'de> Deserialize<'de> for RepoDigest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = Text::deserialize(d)?;
        let (_, digest) = text
            .rsplit_once('@')
            .ok_or_else(|| de::Error::custom("expected repo@digest"))?;
        digest.parse().map(Self).map_err(de::Error::custom)
    }
}

/// The sorted, unique digests of a `repoDigests` list.
pub(crate) fn digests(list: Option<Vec<RepoDigest>>) -> Vec<Digest> {
    let mut out: Vec<Digest> = list.unwrap_or_default().into_iter().map(|d| d.0).collect();
    out.sort();
    out.dedup();
    out
}

/// A value that documents give either as a string or as an object (OpenVEX products, SLSA
/// sources, Grype targets). Errors inside the object keep their path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StrOr<'a, T> {
    /// The string form.
    Str(Cow<'a, str>),
    /// The object form.
    Obj(T),
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for StrOr<'a, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a, T>(PhantomData<(&'a (), T)>);
        impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for V<'a, T> {
            type Value = StrOr<'a, T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an object")
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(StrOr::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(StrOr::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(StrOr::Str(Cow::Owned(v)))
            }
            fn visit_map<M: MapAccess<'de>>(
                self,
                map: M,
            ) -> std::result::Result<Self::Value, M::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(StrOr::Obj)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// An RFC 3339 timestamp, checked and kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timestamp(pub String);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = Text::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&text)
            .map_err(|e| de::Error::custom(format_args!("not RFC 3339: {e}")))?;
        Ok(Self(text.owned()))
    }
}

/// A string that must be one of `allowed` (a format marker or spec version).
pub(crate) fn one_of<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
    allowed: &[&str],
) -> std::result::Result<Text<'de>, D::Error> {
    let text = Text::deserialize(d)?;
    if allowed.contains(&&*text) {
        return Ok(text);
    }
    let expected = match allowed {
        [one, two] => format!("{one} or {two}"),
        _ => format!("one of {}", allowed.join(", ")),
    };
    Err(de::Error::custom(format_args!(
        "{what} {:?} is not supported, expected {expected}",
        &*text
    )))
}
