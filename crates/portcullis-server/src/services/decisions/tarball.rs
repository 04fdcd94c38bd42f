//! An uploaded candidate bundle: a plain tar archive unpacked in memory, never onto the
//! filesystem. Only regular files and directories are accepted (a symlink, hard link,
//! device, FIFO is refused), with relative paths free of `..`, at most `MAX_ENTRIES` entries
//! and `MAX_BUNDLE_BYTES` of file content. The bundle files are the `.rego` files and
//! `data.json` at the archive's root, or inside its single top-level directory (as
//! `tar cf bundle.tar policies/` makes it); other files are ignored, as in a directory.

use std::collections::BTreeMap;
use std::io::Read;

use super::SimulationError;

/// The most an uploaded bundle may weigh, as uploaded and as unpacked (file content).
pub const MAX_BUNDLE_BYTES: usize = 4 * 1024 * 1024;
/// The most entries an archive may hold.
pub const MAX_ENTRIES: usize = 1000;

/// Unpacks `body` into `file name → content`.
pub fn unpack(body: &[u8]) -> Result<BTreeMap<String, String>, SimulationError> {
    if body.len() > MAX_BUNDLE_BYTES {
        return Err(SimulationError::TooLarge {
            limit: MAX_BUNDLE_BYTES,
        });
    }
    if body.starts_with(&[0x1f, 0x8b]) {
        return Err(SimulationError::Archive(
            "gzip is not accepted; upload a plain tar (tar cf)".to_owned(),
        ));
    }
    let archive_error = |e: std::io::Error| SimulationError::Archive(e.to_string());
    let mut archive = tar::Archive::new(body);
    let mut files: Vec<(Vec<String>, String)> = Vec::new();
    let (mut entries, mut unpacked) = (0usize, 0usize);
    for entry in archive.entries().map_err(archive_error)? {
        let mut entry = entry.map_err(archive_error)?;
        entries += 1;
        if entries > MAX_ENTRIES {
            return Err(SimulationError::TooManyEntries(MAX_ENTRIES));
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let refuse = |reason| SimulationError::EntryRefused {
            path: shown.clone(),
            reason,
        };
        let kind = entry.header().entry_type();
        // A pax global header (`git archive` writes one) carries no file.
        if kind.is_pax_global_extensions() {
            continue;
        }
        let path = std::str::from_utf8(&raw).map_err(|_| refuse("the path is not UTF-8"))?;
        let parts = components(path).map_err(refuse)?;
        if kind.is_dir() {
            continue;
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            return Err(refuse(
                "only regular files and directories are accepted (no links, devices or FIFOs)",
            ));
        }
        let size =
            usize::try_from(entry.header().size().map_err(archive_error)?).unwrap_or(usize::MAX);
        unpacked = unpacked.saturating_add(size);
        if unpacked > MAX_BUNDLE_BYTES {
            return Err(SimulationError::TooLarge {
                limit: MAX_BUNDLE_BYTES,
            });
        }
        if !parts
            .last()
            .is_some_and(|n| n.ends_with(".rego") || n == "data.json")
        {
            continue;
        }
        let mut content = String::with_capacity(size);
        entry
            .by_ref()
            .take(size as u64)
            .read_to_string(&mut content)
            .map_err(|_| refuse("a bundle file is not UTF-8 text"))?;
        files.push((parts, content));
    }
    Ok(layout(files))
}

/// The components of a relative path without `.`; refuses absolute paths and `..`.
fn components(path: &str) -> Result<Vec<String>, &'static str> {
    if path.starts_with('/') || path.starts_with('\\') {
        return Err("absolute paths are refused");
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("`..` is refused"),
            p if p.contains('\\') => return Err("backslashes are refused"),
            p => parts.push(p.to_owned()),
        }
    }
    if parts.is_empty() {
        return Err("an empty path");
    }
    Ok(parts)
}

/// The bundle's files by name: those at the root, or, when every file sits under one
/// top-level directory, those directly inside it.
fn layout(files: Vec<(Vec<String>, String)>) -> BTreeMap<String, String> {
    let first = files.first().and_then(|(p, _)| p.first().cloned());
    let one_dir = first.filter(|top| {
        files
            .iter()
            .all(|(p, _)| p.len() > 1 && p.first() == Some(top))
    });
    let skip = usize::from(one_dir.is_some());
    files
        .into_iter()
        .filter(|(p, _)| p.len() == skip + 1)
        .filter_map(|(mut p, content)| p.pop().map(|name| (name, content)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_and_plain() {
        assert_eq!(components("./a/b.rego").unwrap(), vec!["a", "b.rego"]);
        assert!(components("/etc/passwd").is_err());
        assert!(components("a/../../b.rego").is_err());
        assert!(components("..").is_err());
        assert!(components("./").is_err());
        assert!(components("a\\..\\b.rego").is_err());
    }

    #[test]
    fn one_top_level_directory_is_stripped() {
        let f = |p: &[&str]| (p.iter().map(|s| s.to_string()).collect(), "x".to_owned());
        let files = layout(vec![
            f(&["policies", "a.rego"]),
            f(&["policies", "sub", "b.rego"]),
        ]);
        assert_eq!(files.keys().collect::<Vec<_>>(), vec!["a.rego"]);
        let files = layout(vec![f(&["a.rego"]), f(&["data.json"])]);
        assert_eq!(files.len(), 2);
    }
}
