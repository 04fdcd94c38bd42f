//! How much evidence one request may bring: findings, components and VEX statements
//! counted over every document of the request and every verified attestation, and how many
//! referrers of a digest are read. Work past these bounds is refused, never attempted.

use portcullis_core::EvidenceItems;

use crate::vex::index_pairs;
use crate::{Error, Result};

/// (vulnerability id or alias, product) pairs allowed per permitted VEX statement: indexing
/// statements costs one entry per pair, so a few statements listing thousands of aliases and
/// products must not cost more than many ordinary ones.
pub const VEX_PAIRS_PER_STATEMENT: usize = 8;

/// The configured bounds (`limits.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Vulnerability findings per request, over all reports.
    pub max_findings: usize,
    /// SBOM components per request, over all SBOMs.
    pub max_components: usize,
    /// VEX statements per request, over all VEX documents.
    pub max_vex_statements: usize,
    /// Referrer manifests of one digest that are read for attestations.
    pub max_referrers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_findings: 50_000,
            max_components: 50_000,
            max_vex_statements: 50_000,
            max_referrers: 256,
        }
    }
}

/// What one more document may bring: the limits, less what the documents before it in the
/// same request brought. Parsers check what a document holds against it after reading it
/// into borrowed structs and before converting anything, so a document past the limits
/// costs one pass over its text, not the evidence model of every finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Budget {
    /// The configured bounds.
    pub limits: Limits,
    /// What earlier documents brought.
    pub used: Tally,
}

impl Budget {
    /// No bound at all (attestation predicates: their items are counted with the request's).
    pub fn unlimited() -> Self {
        Self {
            limits: Limits {
                max_findings: usize::MAX,
                max_components: usize::MAX,
                max_vex_statements: usize::MAX,
                max_referrers: usize::MAX,
            },
            used: Tally::default(),
        }
    }

    /// Refuses `found` (what the document being parsed holds) when, added to what was used,
    /// it breaks a bound.
    pub(crate) fn check(&self, found: Tally) -> Result<()> {
        match self.used.plus(found).exceeded(&self.limits) {
            Some(exceeded) => Err(Error::TooLarge(exceeded)),
            None => Ok(()),
        }
    }
}

/// How much evidence a set of items holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Tally {
    /// Vulnerability findings.
    pub findings: usize,
    /// SBOM components.
    pub components: usize,
    /// VEX statements.
    pub vex_statements: usize,
    /// (id, product) pairs the VEX statements index into.
    pub vex_pairs: usize,
}

impl Tally {
    /// Counts `items`.
    pub fn of(items: &EvidenceItems) -> Self {
        Self {
            findings: items
                .vulnerability_reports
                .iter()
                .map(|r| r.vulnerabilities.len())
                .sum(),
            components: items.sboms.iter().map(|s| s.components.len()).sum(),
            vex_statements: items.vex.len(),
            vex_pairs: index_pairs(&items.vex),
        }
    }

    /// The sum of both tallies.
    pub fn plus(self, other: Self) -> Self {
        Self {
            findings: self.findings.saturating_add(other.findings),
            components: self.components.saturating_add(other.components),
            vex_statements: self.vex_statements.saturating_add(other.vex_statements),
            vex_pairs: self.vex_pairs.saturating_add(other.vex_pairs),
        }
    }

    /// The first bound this tally breaks, if any.
    pub fn exceeded(&self, limits: &Limits) -> Option<LimitExceeded> {
        let pairs_allowed = limits
            .max_vex_statements
            .saturating_mul(VEX_PAIRS_PER_STATEMENT);
        [
            (
                self.findings,
                "findings",
                "limits.max_findings",
                limits.max_findings,
                1,
            ),
            (
                self.components,
                "components",
                "limits.max_components",
                limits.max_components,
                1,
            ),
            (
                self.vex_statements,
                "VEX statements",
                "limits.max_vex_statements",
                limits.max_vex_statements,
                1,
            ),
            (
                self.vex_pairs,
                "VEX (vulnerability, product) pairs",
                "limits.max_vex_statements",
                pairs_allowed,
                VEX_PAIRS_PER_STATEMENT,
            ),
        ]
        .into_iter()
        .find(|(count, _, _, allowed, _)| count > allowed)
        .map(|(count, what, limit, allowed, per)| LimitExceeded {
            count,
            what,
            limit,
            allowed,
            per_unit: per,
        })
    }
}

/// A bound that evidence broke; its `Display` names the count and the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// How many there were.
    pub count: usize,
    /// What was counted (`findings`, `components`, `VEX statements`…).
    pub what: &'static str,
    /// The configuration key (`limits.max_findings`…).
    pub limit: &'static str,
    /// How many were allowed.
    pub allowed: usize,
    /// Allowed per unit of the configured limit (1 except for VEX pairs).
    pub per_unit: usize,
}

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} exceed ", self.count, self.what)?;
        if self.per_unit != 1 {
            write!(f, "{} x ", self.per_unit)?;
        }
        write!(f, "{} = {}", self.limit, self.allowed)
    }
}

impl std::error::Error for LimitExceeded {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_broken_bound_is_named_with_its_value() {
        let limits = Limits {
            max_findings: 10,
            max_components: 5,
            max_vex_statements: 2,
            max_referrers: 1,
        };
        let ok = Tally {
            findings: 10,
            components: 5,
            vex_statements: 2,
            vex_pairs: 16,
        };
        assert_eq!(ok.exceeded(&limits), None, "limits are inclusive");
        let over = ok.plus(Tally {
            findings: 1,
            ..Tally::default()
        });
        assert_eq!(
            over.exceeded(&limits).unwrap().to_string(),
            "11 findings exceed limits.max_findings = 10"
        );
        let pairs = Tally {
            vex_pairs: 17,
            ..Tally::default()
        };
        assert_eq!(
            pairs.exceeded(&limits).unwrap().to_string(),
            "17 VEX (vulnerability, product) pairs exceed 8 x limits.max_vex_statements = 16"
        );
    }
}
