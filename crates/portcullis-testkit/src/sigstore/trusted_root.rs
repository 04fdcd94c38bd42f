//! A writer for sigstore's `trusted_root.json` (protobuf-specs `TrustedRoot`, media type
//! `application/vnd.dev.sigstore.trustedroot+json;version=0.1`): transparency logs, Fulcio
//! certificate authorities (chain leaf-first: intermediate, then root), CT logs and timestamp
//! authorities, each with its own validity window.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::ct::FakeCtLog;
use super::rekor_v2::{ECDSA_P256_KEY_DETAILS, FakeRekorV2};
use super::tsa::FakeTsa;
use crate::keyless::{FakeFulcio, FakeRekor};
use crate::{Error, Result};

/// The trusted root media type.
pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";

/// A validity window in Unix seconds; `end: None` is open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidFor {
    /// Start, inclusive.
    pub start: i64,
    /// End, if any.
    pub end: Option<i64>,
}

impl ValidFor {
    /// Valid from `start` on.
    pub fn from(start: i64) -> Self {
        Self { start, end: None }
    }

    /// Valid from `start` to `end`.
    pub fn between(start: i64, end: i64) -> Self {
        Self {
            start,
            end: Some(end),
        }
    }

    fn to_json(self) -> Result<Value> {
        let mut out = json!({ "start": rfc3339(self.start)? });
        if let Some(end) = self.end {
            out["end"] = Value::String(rfc3339(end)?);
        }
        Ok(out)
    }
}

/// `unix` as an RFC 3339 UTC timestamp (`2021-01-12T11:53:27Z`).
pub fn rfc3339(unix: i64) -> Result<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|e| Error::Invalid(format!("timestamp {unix}: {e}")))?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// Where an entry goes and where its window is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Tlogs,
    Authorities,
    Ctlogs,
    Tsas,
}

/// Builds a `TrustedRoot` document entry by entry.
#[derive(Debug, Clone, Default)]
pub struct TrustedRootBuilder {
    entries: Vec<(Section, Value, ValidFor)>,
}

impl TrustedRootBuilder {
    /// An empty trust root.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a transparency log with `public_key_der` (SPKI), its `key_details`
    /// (`PKIX_ECDSA_P256_SHA_256`, `PKIX_ED25519`) and `log_id`.
    pub fn tlog(
        mut self,
        base_url: &str,
        public_key_der: &[u8],
        key_details: &str,
        log_id: &[u8],
        valid: ValidFor,
    ) -> Self {
        self.entries.push((
            Section::Tlogs,
            log_json(base_url, public_key_der, key_details, log_id),
            valid,
        ));
        self
    }

    /// Adds the fake Rekor v1 log (`https://rekor.local`).
    pub fn rekor(self, rekor: &FakeRekor, valid: ValidFor) -> Self {
        self.tlog(
            "https://rekor.local",
            &rekor.public_key_der(),
            ECDSA_P256_KEY_DETAILS,
            &rekor.log_id_bytes(),
            valid,
        )
    }

    /// Adds the fake Rekor v2 log (its checkpoint key id as log id).
    pub fn rekor_v2(self, rekor: &FakeRekorV2, valid: ValidFor) -> Self {
        self.tlog(
            &rekor.base_url(),
            &rekor.public_key_der(),
            "PKIX_ED25519",
            &rekor.log_id(),
            valid,
        )
    }

    /// Adds a CT log.
    pub fn ctlog(
        mut self,
        base_url: &str,
        public_key_der: &[u8],
        log_id: &[u8],
        valid: ValidFor,
    ) -> Self {
        self.entries.push((
            Section::Ctlogs,
            log_json(base_url, public_key_der, ECDSA_P256_KEY_DETAILS, log_id),
            valid,
        ));
        self
    }

    /// Adds the fake CT log (`https://ctfe.local`).
    pub fn ct(self, log: &FakeCtLog, valid: ValidFor) -> Self {
        self.ctlog(
            "https://ctfe.local",
            &log.public_key_der(),
            &log.log_id(),
            valid,
        )
    }

    /// Adds a certificate authority whose chain is `chain_der`, leaf-most first.
    pub fn certificate_authority(
        mut self,
        uri: &str,
        common_name: &str,
        chain_der: &[Vec<u8>],
        valid: ValidFor,
    ) -> Self {
        self.entries.push((
            Section::Authorities,
            authority_json(uri, common_name, chain_der),
            valid,
        ));
        self
    }

    /// Adds the fake Fulcio (intermediate, then root).
    pub fn fulcio(self, fulcio: &FakeFulcio, valid: ValidFor) -> Self {
        let chain = [fulcio.intermediate_der(), fulcio.root_der()];
        self.certificate_authority(
            "https://fulcio.local",
            "portcullis-test fulcio",
            &chain,
            valid,
        )
    }

    /// Adds a timestamp authority whose chain is `chain_der`, leaf first.
    pub fn timestamp_authority(
        mut self,
        uri: &str,
        common_name: &str,
        chain_der: &[Vec<u8>],
        valid: ValidFor,
    ) -> Self {
        self.entries.push((
            Section::Tsas,
            authority_json(uri, common_name, chain_der),
            valid,
        ));
        self
    }

    /// Adds the fake TSA (leaf, then root).
    pub fn tsa(self, tsa: &FakeTsa, valid: ValidFor) -> Self {
        self.timestamp_authority(
            "https://tsa.local/api/v1/timestamp",
            "portcullis-test tsa",
            &tsa.chain_der(),
            valid,
        )
    }

    /// The `TrustedRoot` JSON document.
    pub fn build(&self) -> Result<Value> {
        let mut root = json!({
            "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": [], "certificateAuthorities": [], "ctlogs": [], "timestampAuthorities": [],
        });
        for (section, entry, valid) in &self.entries {
            let mut entry = entry.clone();
            let (list, window) = match section {
                Section::Tlogs => ("tlogs", &mut entry["publicKey"]),
                Section::Ctlogs => ("ctlogs", &mut entry["publicKey"]),
                Section::Authorities => ("certificateAuthorities", &mut entry),
                Section::Tsas => ("timestampAuthorities", &mut entry),
            };
            window["validFor"] = valid.to_json()?;
            if let Some(items) = root[list].as_array_mut() {
                items.push(entry);
            }
        }
        Ok(root)
    }

    /// Writes the document to `path` (pretty JSON).
    pub fn write(&self, path: &std::path::Path) -> Result<()> {
        std::fs::write(path, serde_json::to_vec_pretty(&self.build()?)?)?;
        Ok(())
    }
}

fn log_json(base_url: &str, public_key_der: &[u8], key_details: &str, log_id: &[u8]) -> Value {
    json!({
        "baseUrl": base_url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": { "rawBytes": BASE64.encode(public_key_der), "keyDetails": key_details },
        "logId": { "keyId": BASE64.encode(log_id) },
    })
}

fn authority_json(uri: &str, common_name: &str, chain_der: &[Vec<u8>]) -> Value {
    let certificates: Vec<Value> = chain_der
        .iter()
        .map(|der| json!({ "rawBytes": BASE64.encode(der) }))
        .collect();
    json!({
        "subject": { "organization": "portcullis-test", "commonName": common_name },
        "uri": uri,
        "certChain": { "certificates": certificates },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_and_windows() {
        assert_eq!(
            rfc3339(1_610_452_407).ok().as_deref(),
            Some("2021-01-12T11:53:27Z")
        );
        let doc = TrustedRootBuilder::new()
            .ctlog("https://ct", b"key", b"id", ValidFor::between(0, 60))
            .build()
            .ok();
        let window = doc.map(|d| d["ctlogs"][0]["publicKey"]["validFor"].clone());
        assert_eq!(
            window,
            Some(json!({"start": "1970-01-01T00:00:00Z", "end": "1970-01-01T00:01:00Z"}))
        );
    }
}
