//! Promotion routes (`routes:`): sources under `from` go to the same path under `to`,
//! optionally only some platforms of an index (`PlatformSpec`, parsed at load), with the
//! route's mutable channel tags (`channel_tags`, parsed at load), which promotions move and
//! rollbacks point back at an earlier promoted digest. Every other tag stays immutable.

use portcullis_core::{ImageRef, PlatformSpec, RegistryHost, RepoPath, Tag};
use serde::Deserialize;

use super::{Config, ConfigError};

/// Most channel tags one route may declare.
pub const MAX_CHANNEL_TAGS: usize = 16;

/// A promotion route: sources under `from` go to the same path under `to`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RouteFile")]
pub struct Route {
    /// Route name used in requests.
    pub name: String,
    /// Source prefix, e.g. `127.0.0.1:5001/` or `staging.example.com/team/`.
    pub from: String,
    /// Destination prefix, e.g. `127.0.0.1:5002/`.
    pub to: String,
    /// Whether a promotion may move a destination tag that already points at another
    /// digest. Tags are immutable by default.
    pub allow_tag_overwrite: bool,
    /// Copy only these platforms of a multi-platform index; the destination then gets a new
    /// index of just those, under its own digest. Never empty when present.
    pub platforms: Option<Vec<PlatformSpec>>,
    /// Mutable channel tags (e.g. `stable`): a promotion may move them, a rollback points
    /// them back at a digest promoted before on this route. Unique, at most
    /// `MAX_CHANNEL_TAGS`.
    pub channel_tags: Vec<Tag>,
}

/// A route as written in the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    name: String,
    from: String,
    to: String,
    #[serde(default)]
    allow_tag_overwrite: bool,
    /// `os/arch[/variant]` each.
    #[serde(default)]
    platforms: Option<Vec<String>>,
    #[serde(default)]
    channel_tags: Vec<String>,
}

impl TryFrom<RouteFile> for Route {
    type Error = String;
    fn try_from(r: RouteFile) -> Result<Self, String> {
        let platforms = r
            .platforms
            .map(|list| {
                let parsed = list
                    .iter()
                    .map(|p| p.parse::<PlatformSpec>())
                    .collect::<Result<Vec<_>, _>>();
                match parsed {
                    Ok(specs) if !specs.is_empty() => Ok(specs),
                    _ => Err(format!(
                        "routes.{}.platforms: expected a non-empty list of os/arch[/variant], got {list:?}",
                        r.name
                    )),
                }
            })
            .transpose()?;
        let channel_tags = channel_tags(&r.name, &r.channel_tags)?;
        if platforms.is_some() && !channel_tags.is_empty() {
            // A platform subset is tagged as a new index the gate does not keep track of, so
            // a rollback could not point the tag back at what was promoted.
            return Err(format!(
                "routes.{}: channel_tags cannot be combined with platforms",
                r.name
            ));
        }
        Ok(Self {
            name: r.name,
            from: r.from,
            to: r.to,
            allow_tag_overwrite: r.allow_tag_overwrite,
            platforms,
            channel_tags,
        })
    }
}

/// Parses a route's channel tags: valid tags, no duplicates, at most `MAX_CHANNEL_TAGS`.
fn channel_tags(route: &str, list: &[String]) -> Result<Vec<Tag>, String> {
    if list.len() > MAX_CHANNEL_TAGS {
        return Err(format!(
            "routes.{route}.channel_tags: at most {MAX_CHANNEL_TAGS} tags, got {}",
            list.len()
        ));
    }
    let mut tags: Vec<Tag> = Vec::with_capacity(list.len());
    for text in list {
        let tag: Tag = text
            .parse()
            .map_err(|e| format!("routes.{route}.channel_tags: {text:?}: {e}"))?;
        if tags.contains(&tag) {
            return Err(format!(
                "routes.{route}.channel_tags: {text:?} is listed twice"
            ));
        }
        tags.push(tag);
    }
    Ok(tags)
}

impl Route {
    /// The destination repository for `source`, or `None` if the source is outside this route.
    pub fn destination(&self, source: &ImageRef) -> Option<(RegistryHost, RepoPath)> {
        let name = source.repository_name();
        let rest = name.strip_prefix(&self.from)?;
        let dest = format!("{}{rest}", self.to);
        let (host, repo) = dest.split_once('/')?;
        Some((host.parse().ok()?, repo.parse().ok()?))
    }

    /// Whether `tag` is one of this route's mutable channel tags.
    pub fn is_channel_tag(&self, tag: &Tag) -> bool {
        self.channel_tags.contains(tag)
    }

    /// Whether a promotion along this route may move `tag` when it points at another
    /// digest: always for a channel tag, else only with `allow_tag_overwrite`.
    pub fn may_move(&self, tag: Option<&Tag>) -> bool {
        self.allow_tag_overwrite || tag.is_some_and(|t| self.is_channel_tag(t))
    }

    /// The platform subset as the signed decision statement records it (`os/arch[/variant]`).
    pub fn platform_strings(&self) -> Option<Vec<String>> {
        self.platforms
            .as_ref()
            .map(|specs| specs.iter().map(ToString::to_string).collect())
    }
}

impl Config {
    /// Route names are printable and unique; prefixes are `host[:port]/` plus whole path
    /// segments.
    pub(super) fn validate_routes(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::BTreeSet::new();
        for r in &self.routes {
            // Route names reach the audit log with every promotion.
            if r.name.is_empty()
                || portcullis_core::check_text(&r.name, portcullis_core::TextKind::Line).is_err()
            {
                return Err(ConfigError::Invalid(format!(
                    "routes: route name {:?} must be non-empty printable text",
                    r.name
                )));
            }
            if !names.insert(&r.name) {
                return Err(ConfigError::Invalid(format!(
                    "routes: duplicate route name {:?}",
                    r.name
                )));
            }
            for (field, prefix) in [("from", &r.from), ("to", &r.to)] {
                let host = prefix.split('/').next().unwrap_or_default();
                // A trailing '/' keeps prefixes on path-segment boundaries: `host/team/`
                // must not also match `host/teamevil/app`.
                if !prefix.contains('/')
                    || !prefix.ends_with('/')
                    || host.parse::<RegistryHost>().is_err()
                {
                    return Err(ConfigError::Invalid(format!(
                        "routes.{}.{field}: {prefix:?} must be host[:port]/ followed by whole path segments, ending in /",
                        r.name
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn load(route: &str) -> Result<Config, String> {
        let yaml = format!(
            "listen: 127.0.0.1:8080\ndatabase_url: postgres://x/y\npolicy_dir: p\n\
             routes:\n  - {route}\ntrust:\n  keys: [{{ id: k, public_key_file: k.pub }}]\n"
        );
        Config::from_yaml(&yaml, Path::new("."), &|_| None).map_err(|e| e.to_string())
    }

    #[test]
    fn channel_tags_are_checked_at_load_and_only_they_move() {
        let base = r#"{ name: prod, from: "127.0.0.1:5001/", to: "127.0.0.1:5002/""#;
        let cfg = load(&format!("{base}, channel_tags: [stable, canary] }}")).unwrap();
        let route = &cfg.routes[0];
        let stable: Tag = "stable".parse().unwrap();
        let v1: Tag = "v1".parse().unwrap();
        assert_eq!(
            route.channel_tags,
            vec![stable.clone(), "canary".parse().unwrap()]
        );
        assert!(route.is_channel_tag(&stable) && !route.is_channel_tag(&v1));
        assert!(route.may_move(Some(&stable)));
        assert!(!route.may_move(Some(&v1)) && !route.may_move(None));
        assert!(
            load(&format!("{base} }}")).unwrap().routes[0]
                .channel_tags
                .is_empty()
        );

        let twice = load(&format!("{base}, channel_tags: [stable, stable] }}")).unwrap_err();
        assert!(
            twice.contains("routes.prod.channel_tags") && twice.contains("twice"),
            "{twice}"
        );
        let bad = load(&format!("{base}, channel_tags: [\"-bad tag\"] }}")).unwrap_err();
        assert!(bad.contains("routes.prod.channel_tags"), "{bad}");
        let many: Vec<String> = (0..=MAX_CHANNEL_TAGS).map(|i| format!("c{i}")).collect();
        let many = load(&format!("{base}, channel_tags: [{}] }}", many.join(", "))).unwrap_err();
        assert!(many.contains("at most 16"), "{many}");
        let subset = load(&format!(
            "{base}, channel_tags: [stable], platforms: [linux/amd64] }}"
        ))
        .unwrap_err();
        assert!(
            subset.contains("cannot be combined with platforms"),
            "{subset}"
        );
    }
}
