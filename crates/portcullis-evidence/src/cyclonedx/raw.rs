//! The parts of a CycloneDX JSON document that are read, as borrowed structs; everything
//! else in the document is skipped unread.

use portcullis_core::Severity;
use serde::{Deserialize, Deserializer, de};

use crate::de::{Text, one_of, opt_severity, unknown};

/// The spec versions understood.
const SPEC_VERSIONS: &[&str] = &["1.2", "1.3", "1.4", "1.5", "1.6"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Bom<'a> {
    #[serde(rename = "bomFormat", deserialize_with = "bom_format")]
    _bom_format: (),
    #[serde(borrow, deserialize_with = "spec_version")]
    pub spec_version: Text<'a>,
    #[serde(borrow)]
    pub metadata: Option<Metadata<'a>>,
    #[serde(borrow)]
    pub components: Option<Vec<RawComponent<'a>>>,
    #[serde(borrow)]
    pub vulnerabilities: Option<Vec<RawVulnerability<'a>>>,
}

#[derive(Deserialize)]
pub(super) struct Metadata<'a> {
    #[serde(borrow)]
    pub component: Option<Subject<'a>>,
}

/// `metadata.component`: the image the document is about.
#[derive(Deserialize)]
pub(super) struct Subject<'a> {
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    #[serde(borrow)]
    pub purl: Option<Text<'a>>,
    #[serde(borrow)]
    pub version: Option<Text<'a>>,
    #[serde(rename = "bom-ref", borrow)]
    pub bom_ref: Option<Text<'a>>,
    #[serde(borrow)]
    pub properties: Option<Vec<Property<'a>>>,
}

#[derive(Deserialize)]
pub(super) struct Property<'a> {
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    #[serde(borrow)]
    pub value: Option<Text<'a>>,
}

#[derive(Deserialize)]
pub(super) struct RawComponent<'a> {
    #[serde(rename = "bom-ref", borrow)]
    pub bom_ref: Option<Text<'a>>,
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub version: Option<Text<'a>>,
    #[serde(borrow)]
    pub purl: Option<Text<'a>>,
    #[serde(borrow)]
    pub licenses: Option<Vec<LicenceEntry<'a>>>,
    #[serde(borrow)]
    pub components: Option<Vec<RawComponent<'a>>>,
}

/// A `licenses[]` entry's text: its `expression`, else its `license`'s `id` or `name`.
pub(super) struct LicenceEntry<'a>(pub Text<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for LicenceEntry<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Entry<'a> {
            #[serde(borrow)]
            expression: Option<Text<'a>>,
            #[serde(borrow)]
            license: Option<LicenceName<'a>>,
        }
        let entry = Entry::deserialize(d)?;
        entry
            .expression
            .or(entry.license.map(|l| l.0))
            .map(Self)
            .ok_or_else(|| de::Error::custom("expected a license or an expression"))
    }
}

/// A `license` object's `id`, else its `name`.
struct LicenceName<'a>(Text<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for LicenceName<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Licence<'a> {
            #[serde(borrow)]
            id: Option<Text<'a>>,
            #[serde(borrow)]
            name: Option<Text<'a>>,
        }
        let licence = Licence::deserialize(d)?;
        licence
            .id
            .or(licence.name)
            .map(Self)
            // Worded as serde words it, so the error names `….license.id`.
            .ok_or_else(|| de::Error::custom("missing field `id` (and no name either)"))
    }
}

#[derive(Deserialize)]
pub(super) struct RawVulnerability<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    pub ratings: Option<Vec<Rating>>,
    #[serde(borrow)]
    pub references: Option<Vec<Reference<'a>>>,
    #[serde(borrow)]
    pub description: Option<Text<'a>>,
    #[serde(borrow)]
    pub detail: Option<Text<'a>>,
    #[serde(borrow)]
    pub affects: Option<Vec<Affect<'a>>>,
}

#[derive(Deserialize)]
pub(super) struct Rating {
    #[serde(default = "unknown", deserialize_with = "opt_severity")]
    pub severity: Severity,
}

#[derive(Deserialize)]
pub(super) struct Reference<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
}

#[derive(Deserialize)]
pub(super) struct Affect<'a> {
    #[serde(rename = "ref", borrow)]
    pub reference: Text<'a>,
}

fn bom_format<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    let text = Text::deserialize(d)?;
    if &*text == "CycloneDX" {
        return Ok(());
    }
    Err(de::Error::custom(format_args!(
        "expected \"CycloneDX\", found {:?}",
        &*text
    )))
}

fn spec_version<'de, D: Deserializer<'de>>(d: D) -> Result<Text<'de>, D::Error> {
    one_of(d, "version", SPEC_VERSIONS)
}
