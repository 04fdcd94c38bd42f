//! OpenVEX documents (v0.2.0, and the earlier `https://openvex.dev/ns` / v0.0.1 shapes) into
//! [`VexStatement`]s, deserialised straight into the borrowed structs below.

use portcullis_core::{EvidenceOrigin, VexProduct, VexStatement, VexStatus};
use serde::{Deserialize, Deserializer, de};

use crate::Result;
use crate::de::{StrOr, Text, Timestamp, from_str, invalid, owned};
use crate::limits::{Budget, Tally};

const FORMAT: &str = "openvex";

/// The `@context` values understood.
const CONTEXTS: &[&str] = &[
    "https://openvex.dev/ns/v0.2.0",
    "https://openvex.dev/ns/v0.0.1",
    "https://openvex.dev/ns",
];

#[derive(Deserialize)]
struct Document<'a> {
    #[serde(rename = "@context", deserialize_with = "context")]
    _context: (),
    #[serde(rename = "@id", borrow)]
    id: Option<Text<'a>>,
    timestamp: Option<Timestamp>,
    #[serde(borrow)]
    statements: Vec<Statement<'a>>,
}

#[derive(Deserialize)]
struct Statement<'a> {
    #[serde(borrow)]
    vulnerability: StrOr<'a, Vulnerability<'a>>,
    #[serde(borrow)]
    products: Option<Vec<StrOr<'a, Product<'a>>>>,
    #[serde(borrow)]
    subcomponents: Option<Vec<StrOr<'a, Identifier<'a>>>>,
    status: VexStatus,
    #[serde(borrow)]
    justification: Option<Text<'a>>,
    #[serde(borrow)]
    impact_statement: Option<Text<'a>>,
    timestamp: Option<Timestamp>,
}

#[derive(Deserialize)]
struct Vulnerability<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    aliases: Option<Vec<Text<'a>>>,
}

/// A component object: `@id`, else `identifiers.purl`, with the subcomponents it narrows to.
#[derive(Deserialize)]
struct Component<'a> {
    #[serde(rename = "@id", borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow)]
    identifiers: Option<Identifiers<'a>>,
}

#[derive(Deserialize)]
struct Identifiers<'a> {
    #[serde(borrow)]
    purl: Option<Text<'a>>,
}

impl<'a> Component<'a> {
    /// The identifier, or the error to raise at the component.
    fn identifier<E: de::Error>(self) -> std::result::Result<Text<'a>, E> {
        self.id
            .or(self.identifiers.and_then(|i| i.purl))
            // Worded as serde words it, so the error names `….@id`.
            .ok_or_else(|| E::custom("missing field `@id` (and no identifiers.purl)"))
    }
}

/// A subcomponent object's identifier.
struct Identifier<'a>(Text<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Identifier<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Component::deserialize(d)?.identifier().map(Self)
    }
}

/// A product object.
struct Product<'a> {
    id: Text<'a>,
    subcomponents: Option<Vec<StrOr<'a, Identifier<'a>>>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Product<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw<'a> {
            #[serde(rename = "@id", borrow)]
            id: Option<Text<'a>>,
            #[serde(borrow)]
            identifiers: Option<Identifiers<'a>>,
            #[serde(borrow)]
            subcomponents: Option<Vec<StrOr<'a, Identifier<'a>>>>,
        }
        let raw = Raw::deserialize(d)?;
        let component = Component {
            id: raw.id,
            identifiers: raw.identifiers,
        };
        Ok(Self {
            id: component.identifier()?,
            subcomponents: raw.subcomponents,
        })
    }
}

fn context<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<(), D::Error> {
    let text = Text::deserialize(d)?;
    if CONTEXTS.contains(&text.trim_end_matches('/')) {
        return Ok(());
    }
    Err(de::Error::custom(format_args!(
        "context {:?} is not supported, expected one of {}",
        &*text,
        CONTEXTS.join(", ")
    )))
}

/// Parses an OpenVEX document, recording `origin` on every statement.
///
/// A statement without a `timestamp` takes the document's. Old documents give the
/// vulnerability and products as strings and may list `subcomponents` on the statement;
/// those apply to each of its products.
pub fn parse_openvex_with_origin(text: &str, origin: EvidenceOrigin) -> Result<Vec<VexStatement>> {
    parse_bounded(text, origin, &Budget::unlimited())
}

/// Parses an OpenVEX document, refusing it before its statements are converted when they
/// would exceed `budget`.
pub(crate) fn parse_bounded(
    text: &str,
    origin: EvidenceOrigin,
    budget: &Budget,
) -> Result<Vec<VexStatement>> {
    let doc: Document = from_str(FORMAT, text)?;
    budget.check(Tally {
        vex_statements: doc.statements.len(),
        ..Tally::default()
    })?;
    let document_id = owned(doc.id);
    let doc_timestamp = doc.timestamp.map(|t| t.0);
    let mut out = Vec::with_capacity(doc.statements.len());
    for (i, s) in doc.statements.into_iter().enumerate() {
        let (vulnerability, aliases) = vulnerability(s.vulnerability).ok_or_else(|| {
            invalid(
                FORMAT,
                format!("$.statements[{i}].vulnerability"),
                "expected a non-empty string or an object",
            )
        })?;
        let shared = identifiers(s.subcomponents);
        let products: Vec<VexProduct> = s
            .products
            .unwrap_or_default()
            .into_iter()
            .map(|p| match p {
                StrOr::Str(id) => VexProduct {
                    id: id.into_owned(),
                    subcomponents: shared.clone(),
                },
                StrOr::Obj(p) => {
                    let subs = identifiers(p.subcomponents);
                    VexProduct {
                        id: p.id.owned(),
                        subcomponents: if subs.is_empty() {
                            shared.clone()
                        } else {
                            subs
                        },
                    }
                }
            })
            .collect();
        if products.is_empty() {
            return Err(invalid(
                FORMAT,
                format!("$.statements[{i}].products"),
                "missing or empty",
            ));
        }
        out.push(VexStatement {
            origin: origin.clone(),
            vulnerability,
            aliases,
            products,
            status: s.status,
            justification: owned(s.justification),
            impact_statement: owned(s.impact_statement),
            timestamp: s.timestamp.map(|t| t.0).or_else(|| doc_timestamp.clone()),
            document_id: document_id.clone(),
        });
    }
    Ok(out)
}

/// The vulnerability id and its aliases (sorted, unique, without the id); `None` for an
/// empty string.
fn vulnerability(v: StrOr<'_, Vulnerability<'_>>) -> Option<(String, Vec<String>)> {
    match v {
        StrOr::Str(id) if id.is_empty() => None,
        StrOr::Str(id) => Some((id.into_owned(), Vec::new())),
        StrOr::Obj(v) => {
            let mut aliases: Vec<String> = v
                .aliases
                .unwrap_or_default()
                .into_iter()
                .filter(|a| **a != *v.name)
                .map(Text::owned)
                .collect();
            aliases.sort();
            aliases.dedup();
            Some((v.name.owned(), aliases))
        }
    }
}

/// The identifiers of a `subcomponents` list.
fn identifiers(list: Option<Vec<StrOr<'_, Identifier<'_>>>>) -> Vec<String> {
    list.unwrap_or_default()
        .into_iter()
        .map(|s| match s {
            StrOr::Str(id) => id.into_owned(),
            StrOr::Obj(i) => i.0.owned(),
        })
        .collect()
}
