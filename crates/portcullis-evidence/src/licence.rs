//! Licence texts from SBOMs into [`Licence`]: parsed as SPDX licence expressions by the
//! `spdx` crate, with the unambiguous non-SPDX names that packagers use (`GPLv3+`,
//! `Apache 2.0`, deprecated `GPL-2.0`) mapped to SPDX ids, and everything else kept as
//! `unknown` rather than guessed.

use portcullis_core::Licence;
use spdx::expression::{ExprNode, Operator};
use spdx::lexer::{Lexer, Token};
use spdx::{Expression, ParseMode};

/// The most alternatives the disjunctive normal form may have. Past it `alternatives` is
/// left empty (as for an expression that did not parse) while `expression` and `terms` are
/// still set, so a policy that needs the alternatives fails closed instead of judging a
/// truncated list.
pub const MAX_ALTERNATIVES: usize = 64;

/// Imprecise names from the `spdx` crate's lax table that we accept: each denotes exactly
/// one licence. Left out on purpose: `gpl`, `lgpl`, `agpl`, `mpl`, `apache` and `bsd`
/// (versions or clauses unstated) and `gnu gpl v2` (the crate maps it to GPL-3.0).
const UNAMBIGUOUS_IMPRECISE: &[&str] = &[
    "agplv3",
    "apache 2.0",
    "apache-2",
    "apache2",
    "asl2.0",
    "bsd 2-clause",
    "bsd-2clause",
    "bsd3",
    "cc0",
    "gnu gpl v3",
    "gpl v2",
    "gpl v3",
    "gpl-1.0",
    "gpl-2.0",
    "gpl-3.0",
    "gpl2",
    "gpl3",
    "gplv2",
    "gplv3",
    "mit",
    "mpl2",
    "simplified bsd license",
    "zlib",
];

/// Parses one licence text (an SPDX expression or a licence name) into a [`Licence`].
///
/// `expression` is the canonical SPDX form (`GPLv3+` becomes `GPL-3.0-or-later`,
/// `GPL-2.0` becomes `GPL-2.0-only`); when the text is not SPDX and cannot be mapped
/// unambiguously the whole text goes to `unknown` and `expression`, `terms` and
/// `alternatives` stay empty.
pub fn parse_licence(declared: &str) -> Licence {
    let declared = declared.trim();
    if declared.is_empty() {
        return Licence::default();
    }
    let Some((expression, parsed)) = canonical(declared) else {
        return Licence {
            declared: declared.to_owned(),
            unknown: vec![declared.to_owned()],
            ..Licence::default()
        };
    };
    let mut terms: Vec<String> = parsed.requirements().map(|r| r.req.to_string()).collect();
    terms.sort();
    terms.dedup();
    Licence {
        declared: declared.to_owned(),
        expression: Some(expression),
        terms,
        alternatives: dnf(&parsed).unwrap_or_default(),
        unknown: Vec::new(),
    }
}

/// Parses the texts of several CycloneDX `licenses[]` entries, which all apply together.
///
/// `declared` joins them with ` AND `. When every entry parses the result is the
/// conjunction of their expressions; otherwise `expression` and `alternatives` are empty,
/// `terms` holds the terms of the entries that did parse and `unknown` the ones that did not.
pub fn parse_licence_entries<S: AsRef<str>>(entries: &[S]) -> Licence {
    let texts: Vec<&str> = entries
        .iter()
        .map(|e| e.as_ref().trim())
        .filter(|e| !e.is_empty())
        .collect();
    match texts.as_slice() {
        [] => return Licence::default(),
        [one] => return parse_licence(one),
        _ => {}
    }
    let parts: Vec<Licence> = texts.iter().map(|t| parse_licence(t)).collect();
    let declared = texts.join(" AND ");
    let mut terms: Vec<String> = parts.iter().flat_map(|p| p.terms.clone()).collect();
    terms.sort();
    terms.dedup();
    let unknown: Vec<String> = parts.iter().flat_map(|p| p.unknown.clone()).collect();
    if !unknown.is_empty() {
        return Licence {
            declared,
            terms,
            unknown,
            ..Licence::default()
        };
    }
    let joined = parts
        .iter()
        .filter_map(|p| p.expression.as_deref())
        .map(|e| format!("({e})"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let mut licence = parse_licence(&joined);
    licence.declared = declared;
    licence
}

/// The canonical SPDX text of `declared` and its parse, when it is SPDX or maps to SPDX
/// without guessing.
fn canonical(declared: &str) -> Option<(String, Expression)> {
    if declared.is_empty() || uses_ambiguous_name(declared) {
        return None;
    }
    // Rewrites lax syntax (`/`, lower-case operators, `+` on GNU ids, imprecise names) into
    // strict SPDX; `None` means it already was.
    let text = Expression::canonicalize(declared)
        .ok()?
        .unwrap_or_else(|| declared.to_owned());
    let mode = ParseMode {
        allow_deprecated: true,
        ..ParseMode::STRICT
    };
    let parsed = Expression::parse_mode(&text, mode).ok()?;
    Some((text, parsed))
}

/// Whether the lax lexer would map part of `text` through an imprecise name we do not
/// trust (or cannot lex it at all).
fn uses_ambiguous_name(text: &str) -> bool {
    for token in Lexer::new_mode(text, ParseMode::LAX) {
        let Ok(token) = token else { return true };
        if let Token::Spdx(id) = token.token {
            let Some(written) = text.get(token.span.clone()) else {
                return true;
            };
            let exact = written.trim_end_matches('+') == id.name;
            if !exact && !UNAMBIGUOUS_IMPRECISE.contains(&written.to_ascii_lowercase().as_str()) {
                return true;
            }
        }
    }
    false
}

/// The disjunctive normal form of `expr`: each inner list the sorted terms required
/// together, the outer list sorted and unique; `None` past [`MAX_ALTERNATIVES`].
fn dnf(expr: &Expression) -> Option<Vec<Vec<String>>> {
    let mut stack: Vec<Vec<Vec<String>>> = Vec::new();
    for node in expr.iter() {
        match node {
            ExprNode::Req(r) => stack.push(vec![vec![r.req.to_string()]]),
            ExprNode::Op(op) => {
                let right = stack.pop()?;
                let left = stack.pop()?;
                let combined = match op {
                    Operator::Or => {
                        let mut all = left;
                        all.extend(right);
                        all
                    }
                    Operator::And => {
                        if left.len().saturating_mul(right.len()) > MAX_ALTERNATIVES {
                            return None;
                        }
                        let mut all = Vec::with_capacity(left.len() * right.len());
                        for l in &left {
                            for r in &right {
                                let mut both = l.clone();
                                both.extend(r.iter().cloned());
                                all.push(both);
                            }
                        }
                        all
                    }
                };
                let normal = normalise(combined);
                if normal.len() > MAX_ALTERNATIVES {
                    return None;
                }
                stack.push(normal);
            }
        }
    }
    let result = stack.pop()?;
    stack.is_empty().then_some(result)
}

/// Sorts and dedups each conjunction and the list of them.
fn normalise(mut alternatives: Vec<Vec<String>>) -> Vec<Vec<String>> {
    for a in &mut alternatives {
        a.sort();
        a.dedup();
    }
    alternatives.sort();
    alternatives.dedup();
    alternatives
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alts(l: &Licence) -> Vec<Vec<&str>> {
        l.alternatives
            .iter()
            .map(|a| a.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn disjunction_gives_one_alternative_per_licence() {
        let l = parse_licence("MIT OR Apache-2.0");
        assert_eq!(l.expression.as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(l.terms, ["Apache-2.0", "MIT"]);
        assert_eq!(alts(&l), [["Apache-2.0"], ["MIT"]]);
        assert!(l.unknown.is_empty());
    }

    #[test]
    fn conjunction_distributes_over_disjunction() {
        let l = parse_licence("(MIT OR Apache-2.0) AND (BSD-3-Clause OR Zlib)");
        assert_eq!(
            alts(&l),
            [
                ["Apache-2.0", "BSD-3-Clause"],
                ["Apache-2.0", "Zlib"],
                ["BSD-3-Clause", "MIT"],
                ["MIT", "Zlib"]
            ]
        );
    }

    #[test]
    fn with_exception_stays_one_term() {
        let l = parse_licence("GPL-2.0-only WITH Classpath-exception-2.0 OR MIT");
        assert_eq!(
            l.terms,
            ["GPL-2.0-only WITH Classpath-exception-2.0", "MIT"]
        );
        assert_eq!(
            alts(&l),
            [
                vec!["GPL-2.0-only WITH Classpath-exception-2.0"],
                vec!["MIT"]
            ]
        );
    }

    #[test]
    fn licence_refs_are_terms() {
        let l = parse_licence("LicenseRef-Acme-Proprietary AND MIT");
        assert_eq!(l.terms, ["LicenseRef-Acme-Proprietary", "MIT"]);
        assert_eq!(alts(&l), [["LicenseRef-Acme-Proprietary", "MIT"]]);
    }

    #[test]
    fn or_later_forms_become_the_or_later_id() {
        for text in ["GPL-2.0+", "GPL-2.0-or-later", "GPLv2+"] {
            let l = parse_licence(text);
            assert_eq!(l.expression.as_deref(), Some("GPL-2.0-or-later"), "{text}");
            assert_eq!(l.terms, ["GPL-2.0-or-later"], "{text}");
        }
    }

    #[test]
    fn unambiguous_non_spdx_names_are_mapped() {
        for (text, want) in [
            ("GPLv3+", "GPL-3.0-or-later"),
            ("Apache 2.0", "Apache-2.0"),
            ("GPL-2.0", "GPL-2.0-only"),
            ("mit", "MIT"),
            ("MIT/Apache-2.0", "MIT OR Apache-2.0"),
        ] {
            let l = parse_licence(text);
            assert_eq!(l.expression.as_deref(), Some(want), "{text}");
            assert_eq!(l.declared, text);
            assert!(l.unknown.is_empty(), "{text}");
        }
    }

    #[test]
    fn ambiguous_or_unknown_names_are_kept_raw() {
        for text in [
            "GPL",
            "BSD",
            "Apache",
            "Custom",
            "Public Domain",
            "LGPLv2+",
            "MIT AND Acme",
        ] {
            let l = parse_licence(text);
            assert_eq!(l.expression, None, "{text}");
            assert_eq!(l.unknown, [text], "{text}");
            assert!(l.terms.is_empty() && l.alternatives.is_empty(), "{text}");
        }
    }

    #[test]
    fn entries_are_joined_with_and() {
        let l = parse_licence_entries(&["MIT", "Apache-2.0 OR BSD-3-Clause"]);
        assert_eq!(l.declared, "MIT AND Apache-2.0 OR BSD-3-Clause");
        assert_eq!(
            l.expression.as_deref(),
            Some("(MIT) AND (Apache-2.0 OR BSD-3-Clause)")
        );
        assert_eq!(alts(&l), [["Apache-2.0", "MIT"], ["BSD-3-Clause", "MIT"]]);
        assert_eq!(parse_licence_entries(&["", " "]), Licence::default());
        assert_eq!(parse_licence(" "), Licence::default());
        let partial = parse_licence_entries(&["MIT", "Acme Licence"]);
        assert_eq!(partial.expression, None);
        assert_eq!(partial.terms, ["MIT"]);
        assert_eq!(partial.unknown, ["Acme Licence"]);
    }

    #[test]
    fn expansion_past_the_cap_leaves_alternatives_empty() {
        // 7 two-way choices ANDed together have 2^7 = 128 alternatives.
        let ids = [
            ("MIT", "Apache-2.0"),
            ("BSD-2-Clause", "BSD-3-Clause"),
            ("ISC", "Zlib"),
            ("MPL-2.0", "EPL-2.0"),
            ("0BSD", "Unlicense"),
            ("CC0-1.0", "WTFPL"),
            ("BSL-1.0", "PostgreSQL"),
        ];
        let text = ids
            .iter()
            .map(|(a, b)| format!("({a} OR {b})"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let l = parse_licence(&text);
        assert!(l.expression.is_some());
        assert_eq!(l.terms.len(), 14);
        assert!(l.alternatives.is_empty());
        let six = ids[..6]
            .iter()
            .map(|(a, b)| format!("({a} OR {b})"))
            .collect::<Vec<_>>()
            .join(" AND ");
        assert_eq!(parse_licence(&six).alternatives.len(), 64);
    }
}
