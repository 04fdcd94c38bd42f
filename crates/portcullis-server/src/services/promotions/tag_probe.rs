//! What a destination tag pointed at, remembered for a moment for dry runs.
//!
//! A dry run asks "would this be allowed?" — a CI pipeline may ask it on every build. Its
//! tag check (is the production tag still free, or already this digest?) was one registry
//! round trip per request, and at load the destination registry's CPU for those look-ups
//! bounded the dry-run throughput. A dry run may therefore use an answer at most
//! [`DRY_RUN_TAG_TTL`] old. A real request never does: it always asks the registry (and
//! refreshes the answer here), and the copy checks again just before it writes the tag.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use portcullis_core::{Digest, RegistryHost, RepoPath, Tag};

/// How old an answer a dry run may use.
pub const DRY_RUN_TAG_TTL: Duration = Duration::from_secs(2);
/// Entries kept at most; when full, expired ones go, and if none has expired, all go.
const MAX_ENTRIES: usize = 4096;

type Key = (RegistryHost, RepoPath, Tag);

/// Recent answers to "what does this destination tag point at?" (`None`: nothing).
#[derive(Debug, Default)]
pub struct TagProbes {
    entries: Mutex<HashMap<Key, (Instant, Option<Digest>)>>,
}

impl TagProbes {
    /// The answer recorded for the tag within [`DRY_RUN_TAG_TTL`], if any.
    pub fn recent(
        &self,
        host: &RegistryHost,
        repo: &RepoPath,
        tag: &Tag,
    ) -> Option<Option<Digest>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (at, current) = entries.get(&(host.clone(), repo.clone(), tag.clone()))?;
        (at.elapsed() < DRY_RUN_TAG_TTL).then(|| current.clone())
    }

    /// Records what the registry just answered.
    pub fn record(&self, host: &RegistryHost, repo: &RepoPath, tag: &Tag, current: Option<Digest>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < DRY_RUN_TAG_TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            (host.clone(), repo.clone(), tag.clone()),
            (Instant::now(), current),
        );
    }

    /// Forgets the tag's answer (this replica has just written the tag).
    pub fn forget(&self, host: &RegistryHost, repo: &RepoPath, tag: &Tag) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&(host.clone(), repo.clone(), tag.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (RegistryHost, RepoPath, Tag) {
        (
            "prod.example".parse().expect("host"),
            "team/app".parse().expect("repo"),
            "v1".parse().expect("tag"),
        )
    }

    #[test]
    fn answers_are_kept_per_tag_and_include_absence() {
        let probes = TagProbes::default();
        let (host, repo, tag) = key();
        assert_eq!(probes.recent(&host, &repo, &tag), None);
        probes.record(&host, &repo, &tag, None);
        assert_eq!(probes.recent(&host, &repo, &tag), Some(None));
        let digest: Digest = format!("sha256:{}", "a".repeat(64))
            .parse()
            .expect("digest");
        probes.record(&host, &repo, &tag, Some(digest.clone()));
        assert_eq!(probes.recent(&host, &repo, &tag), Some(Some(digest)));
        let other: Tag = "v2".parse().expect("tag");
        assert_eq!(probes.recent(&host, &repo, &other), None);
        probes.forget(&host, &repo, &tag);
        assert_eq!(probes.recent(&host, &repo, &tag), None);
    }

    #[test]
    fn a_full_table_makes_room() {
        let probes = TagProbes::default();
        let (host, repo, _) = key();
        for i in 0..=MAX_ENTRIES {
            let tag: Tag = format!("v{i}").parse().expect("tag");
            probes.record(&host, &repo, &tag, None);
        }
        let last: Tag = format!("v{MAX_ENTRIES}").parse().expect("tag");
        assert_eq!(probes.recent(&host, &repo, &last), Some(None));
        let len = probes.entries.lock().map(|e| e.len()).unwrap_or(0);
        assert!(len <= MAX_ENTRIES, "{len} entries");
    }
}
