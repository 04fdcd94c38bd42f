//! Field access for report parsers: every error names the format and the JSON path of the
//! field at fault, and nothing panics on a document of the wrong shape.

use serde_json::Value;

use crate::{Error, Result};

/// Field reader for documents of one format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    /// The format name used in errors (`grype-json`).
    pub format: &'static str,
}

impl Fields {
    /// An `InvalidReport` error at `field`.
    pub fn invalid(self, field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidReport {
            format: self.format,
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The document root, which must be an object.
    pub fn object(self, doc: &Value) -> Result<()> {
        if doc.is_object() {
            Ok(())
        } else {
            Err(self.invalid("$", "expected a JSON object"))
        }
    }

    /// An optional string member; `null` counts as absent.
    pub fn opt_str<'a>(self, v: &'a Value, key: &str, path: &str) -> Result<Option<&'a str>> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.invalid(format!("{path}.{key}"), "expected a string")),
        }
    }

    /// A required string member.
    pub fn req_str<'a>(self, v: &'a Value, key: &str, path: &str) -> Result<&'a str> {
        self.opt_str(v, key, path)?
            .ok_or_else(|| self.invalid(format!("{path}.{key}"), "missing"))
    }

    /// An optional array member; absent or `null` is an empty slice.
    pub fn opt_array<'a>(self, v: &'a Value, key: &str, path: &str) -> Result<&'a [Value]> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a.as_slice()),
            Some(_) => Err(self.invalid(format!("{path}.{key}"), "expected an array")),
        }
    }

    /// An optional object member.
    pub fn opt_object<'a>(self, v: &'a Value, key: &str, path: &str) -> Result<Option<&'a Value>> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(o @ Value::Object(_)) => Ok(Some(o)),
            Some(_) => Err(self.invalid(format!("{path}.{key}"), "expected an object")),
        }
    }
}
