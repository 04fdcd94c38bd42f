//! Image names as Kubernetes and Docker write them (`nginx`, `nginx:1.27@sha256:…`,
//! `ghcr.io/org/app:v1`), read with Docker's normalisation into a fully qualified `ImageRef`.
//! The gate itself never guesses a registry (`ImageRef::from_str`); only what a cluster
//! runs is read this way, because that is what the container runtime will pull.

use crate::{Error, ImageRef, Result};

/// Docker Hub as the runtime names it.
pub const DOCKER_HUB: &str = "docker.io";

/// Parses `image` as a container runtime does: no registry means `docker.io`, a single
/// Docker Hub path segment means `library/…`, `index.docker.io` is `docker.io`, and no tag
/// or digest means `:latest`. With both a tag and a digest, the digest is what is pulled.
pub fn parse_docker_reference(image: &str) -> Result<ImageRef> {
    let bad = |reason| Error::InvalidReference {
        value: image.to_owned(),
        reason,
    };
    if image.is_empty() {
        return Err(bad("empty"));
    }
    if image.len() > 512 {
        return Err(bad("longer than 512 characters"));
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let (registry, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest.to_owned())
        }
        _ => (DOCKER_HUB, name.to_owned()),
    };
    let registry = if registry == "index.docker.io" {
        DOCKER_HUB
    } else {
        registry
    };
    let path = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    let last = path.rsplit('/').next().unwrap_or_default();
    let text = match digest {
        Some(d) => format!("{registry}/{path}@{d}"),
        None if last.contains(':') => format!("{registry}/{path}"),
        None => format!("{registry}/{path}:latest"),
    };
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reference;

    fn parse(s: &str) -> ImageRef {
        parse_docker_reference(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalises_like_docker() {
        let d = format!("sha256:{}", "a".repeat(64));
        let cases = [
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.27", "docker.io/library/nginx:1.27"),
            (
                "jmalloc/echo-server",
                "docker.io/jmalloc/echo-server:latest",
            ),
            (
                "index.docker.io/library/nginx:1",
                "docker.io/library/nginx:1",
            ),
            ("ghcr.io/org/app:v1", "ghcr.io/org/app:v1"),
            ("localhost/app", "localhost/app:latest"),
            ("127.0.0.1:5002/team/app:v1", "127.0.0.1:5002/team/app:v1"),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).to_string(), want, "{input}");
        }
        let pinned = parse(&format!("nginx:v1.26@{d}"));
        assert_eq!(pinned.to_string(), format!("docker.io/library/nginx@{d}"));
        assert!(matches!(pinned.reference, Reference::Digest(_)));
    }

    #[test]
    fn refuses_what_no_runtime_pulls() {
        for bad in ["", "Nginx", "nginx@sha256:12", "a//b", "ghcr.io/org/app:-v"] {
            assert!(parse_docker_reference(bad).is_err(), "{bad}");
        }
    }
}
