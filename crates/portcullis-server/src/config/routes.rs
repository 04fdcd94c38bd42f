//! Promotion routes (`routes:`): sources under `from` go to the same path under `to`,
//! optionally only some platforms of an index (`PlatformSpec`, parsed at load).

use portcullis_core::{ImageRef, PlatformSpec, RegistryHost, RepoPath};
use serde::Deserialize;

use super::{Config, ConfigError};

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
        Ok(Self {
            name: r.name,
            from: r.from,
            to: r.to,
            allow_tag_overwrite: r.allow_tag_overwrite,
            platforms,
        })
    }
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
