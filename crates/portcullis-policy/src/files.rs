//! A bundle's files: read from a directory or handed over in memory (a stored bundle, an
//! uploaded one), the engine they load into, and the bundle's content digest, computed here
//! and nowhere else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use portcullis_core::Digest;
use sha2::{Digest as _, Sha256};

use crate::{Error, Result, clock};

/// A bundle file, read.
pub(crate) struct BundleFile {
    /// Where it came from (a label for an in-memory bundle), for error messages.
    pub path: PathBuf,
    /// Its file name.
    pub name: String,
    /// Its text.
    pub content: String,
}

/// Whether a file name belongs to a bundle at all: a `.rego` file or `data.json`.
pub(crate) fn in_bundle(name: &str) -> bool {
    name.ends_with(".rego") || name == "data.json"
}

/// Whether a bundle file is served (counted in the digest, stored with decisions): every
/// bundle file but the `*_test.rego` unit tests.
pub(crate) fn is_served(name: &str) -> bool {
    in_bundle(name) && !name.ends_with("_test.rego")
}

/// Reads every `.rego` file and `data.json` of `dir`, sorted by name.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<BundleFile>> {
    let io = |path: &Path, source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let path = entry.map_err(|e| io(dir, e))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if in_bundle(&name) {
            let content = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            files.push(BundleFile {
                path,
                name,
                content,
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// The bundle files of an in-memory `name → content` map (names with a `/` and other
/// files are not part of a bundle, as in a directory), each labelled `label/name`.
pub(crate) fn from_map(label: &Path, files: &BTreeMap<String, String>) -> Vec<BundleFile> {
    files
        .iter()
        .filter(|(name, _)| !name.contains('/') && in_bundle(name))
        .map(|(name, content)| BundleFile {
            path: label.join(name),
            name: name.clone(),
            content: content.clone(),
        })
        .collect()
}

/// The content digest of a bundle: SHA-256 over `name\0content\0` of every served file,
/// sorted by name. Editing a test file does not change it.
pub fn content_digest<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Digest {
    let mut served: Vec<(&str, &str)> = files.into_iter().filter(|(n, _)| is_served(n)).collect();
    served.sort_by(|a, b| a.0.cmp(b.0));
    let mut hasher = Sha256::new();
    for (name, content) in served {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(content.as_bytes());
        hasher.update([0]);
    }
    Digest::from_sha256(hasher.finalize().into())
}

/// Loads files into a fresh engine with the fixable clock; `with_tests` also loads
/// `*_test.rego`.
pub(crate) fn engine_for(
    dir: &Path,
    files: &[BundleFile],
    with_tests: bool,
) -> Result<regorus::Engine> {
    let mut engine = regorus::Engine::new();
    clock::install(&mut engine).map_err(|message| Error::Compile {
        path: dir.to_owned(),
        message,
    })?;
    let mut policies = 0;
    for f in files {
        if f.name == "data.json" {
            let value = regorus::Value::from_json_str(&f.content).map_err(|e| Error::Data {
                path: f.path.clone(),
                message: e.to_string(),
            })?;
            engine.add_data(value).map_err(|e| Error::Data {
                path: f.path.clone(),
                message: e.to_string(),
            })?;
        } else if with_tests || is_served(&f.name) {
            engine
                .add_policy(f.path.display().to_string(), f.content.clone())
                .map_err(|e| Error::Compile {
                    path: f.path.clone(),
                    message: e.to_string(),
                })?;
            policies += 1;
        }
    }
    if policies == 0 {
        return Err(Error::Empty(dir.to_owned()));
    }
    Ok(engine)
}
