//! Free text that reaches the audit log or the database: one check for every handler, so a
//! comment, subject, route name or filter can never carry NUL (which Postgres refuses in
//! `text`), terminal escapes or bidi overrides that make a log line read differently from
//! what it holds.

/// Why a piece of text was refused: the first offending character and its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("contains a forbidden character U+{:04X} at character {index}", u32::from(*.found))]
pub struct TextError {
    /// The refused character.
    pub found: char,
    /// Its position, counted in characters from 0.
    pub index: usize,
}

/// Which line breaks a field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// One line: no control characters at all (names, filters, subjects, tags).
    Line,
    /// Multi-line prose: newline and tab allowed (comments).
    Prose,
}

/// Whether `c` may never appear in stored text: C0 and C1 controls (newline and tab aside
/// for prose), DEL, the bidi embeddings/overrides U+202A–U+202E and isolates U+2066–U+2069,
/// and U+FEFF.
pub fn is_forbidden(c: char, kind: TextKind) -> bool {
    match c {
        '\n' | '\t' => kind == TextKind::Line,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}' => true,
        _ => false,
    }
}

/// Checks `text`; `Ok` when every character is allowed for `kind`.
pub fn check_text(text: &str, kind: TextKind) -> Result<(), TextError> {
    match text
        .chars()
        .enumerate()
        .find(|(_, c)| is_forbidden(*c, kind))
    {
        Some((index, found)) => Err(TextError { found, index }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_allows_printable_unicode_newlines_and_tabs() {
        let ok = "LGTM 👍\n\tcafé — 日本語 «ok» ‏rtl‏ text";
        assert_eq!(check_text(ok, TextKind::Prose), Ok(()));
        assert_eq!(check_text("", TextKind::Line), Ok(()));
    }

    #[test]
    fn refuses_controls_escapes_and_bidi_overrides() {
        for (text, found, index) in [
            ("a\u{0}b", '\u{0}', 1),
            ("\u{1b}[31mred", '\u{1b}', 0),
            ("del\u{7f}", '\u{7f}', 3),
            ("c1\u{85}", '\u{85}', 2),
            ("x\u{9b}31m", '\u{9b}', 1),
            ("abc\u{202e}gpj.exe", '\u{202e}', 3),
            ("\u{2066}iso", '\u{2066}', 0),
            ("\u{feff}bom", '\u{feff}', 0),
            ("cr\r", '\r', 2),
        ] {
            assert_eq!(
                check_text(text, TextKind::Prose),
                Err(TextError { found, index }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn lines_refuse_newlines_and_tabs_that_prose_allows() {
        assert!(check_text("a\nb", TextKind::Line).is_err());
        assert!(check_text("a\tb", TextKind::Line).is_err());
        let err = check_text("a\nb", TextKind::Line).unwrap_err().to_string();
        assert_eq!(err, "contains a forbidden character U+000A at character 1");
    }
}
