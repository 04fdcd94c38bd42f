//! Measures this crate's client against `oci-client` on the same machine and registries,
//! for the reason given in the crate header: a manifest HEAD round trip, and a copy of one
//! image to a fresh registry each (oci-client streams each blob from a GET into a
//! monolithic PUT, as many blobs at once as ours; it has no copy of its own).
//!
//! `cargo run --release -p portcullis-registry --example oci_client_compare -- \
//!     SRC_HOST REPO DIGEST DEST_OURS DEST_OCI [HEAD_ROUNDS]` (plain-http registries).

use std::collections::HashMap;
use std::error::Error;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use portcullis_core::{Digest, ImageRef, RegistryHost};
use portcullis_registry::{CopyPlan, RegistryAuthConfig, RegistryClient, copy_image};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const ACCEPT: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, repo, digest, dest_ours, dest_oci, rest @ ..] = args.as_slice() else {
        return Err("usage: SRC_HOST REPO DIGEST DEST_OURS DEST_OCI [HEAD_ROUNDS]".into());
    };
    let rounds: u32 = rest.first().map_or(Ok(200), |r| r.parse())?;
    let digest: Digest = digest.parse()?;
    let hosts: HashMap<RegistryHost, RegistryAuthConfig> = [src, dest_ours, dest_oci]
        .iter()
        .map(|h| {
            let config = RegistryAuthConfig {
                insecure: true,
                ..Default::default()
            };
            h.parse().map(|host| (host, config))
        })
        .collect::<Result<_, _>>()?;
    let ours = RegistryClient::new(hosts)?;
    let theirs = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        use_monolithic_push: true,
        ..Default::default()
    });
    let image: ImageRef = format!("{src}/{repo}@{digest}").parse()?;
    let reference: oci_client::Reference = format!("{src}/{repo}@{digest}").parse()?;

    // Warm both (connections, and oci-client's auth probe), then time HEAD round trips.
    ours.resolve(&image).await?;
    theirs
        .fetch_manifest_digest(&reference, &RegistryAuth::Anonymous)
        .await?;
    let t = Instant::now();
    for _ in 0..rounds {
        ours.resolve(&image).await?;
    }
    let ours_head = t.elapsed() / rounds;
    let t = Instant::now();
    for _ in 0..rounds {
        theirs
            .fetch_manifest_digest(&reference, &RegistryAuth::Anonymous)
            .await?;
    }
    let theirs_head = t.elapsed() / rounds;
    println!(
        "manifest HEAD round trip, mean of {rounds}: portcullis-registry {} µs, oci-client {} µs",
        ours_head.as_micros(),
        theirs_head.as_micros()
    );

    let t = Instant::now();
    let plan = CopyPlan {
        source: image.clone(),
        dest_registry: dest_ours.parse()?,
        dest_repo: repo.parse()?,
        dest_tag: Some("v1".parse()?),
        options: Default::default(),
    };
    copy_image(&ours, &plan).await?;
    let ours_copy = t.elapsed();
    let t = Instant::now();
    copy_with_oci_client(&theirs, &reference, &format!("{dest_oci}/{repo}:v1")).await?;
    let theirs_copy = t.elapsed();
    println!(
        "image copy to a fresh registry: portcullis-registry {:.3} s, oci-client {:.3} s",
        secs(ours_copy),
        secs(theirs_copy)
    );
    Ok(())
}

/// The copy as a user of oci-client writes it: pull the manifest raw, stream each blob
/// (4 at once, as `CopyOptions::default`) from a GET into a monolithic PUT, push the
/// manifest raw under the tag.
async fn copy_with_oci_client(
    client: &oci_client::Client,
    source: &oci_client::Reference,
    dest: &str,
) -> Res<()> {
    let dest: oci_client::Reference = dest.parse()?;
    let auth = RegistryAuth::Anonymous;
    let (raw, _) = client.pull_manifest_raw(source, &auth, ACCEPT).await?;
    let manifest: serde_json::Value = serde_json::from_slice(&raw)?;
    let media_type = manifest["mediaType"]
        .as_str()
        .unwrap_or(ACCEPT[0])
        .to_owned();
    let blobs: Vec<(String, u64)> = manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(std::iter::once(&manifest["config"]))
        .filter_map(|d| Some((d["digest"].as_str()?.to_owned(), d["size"].as_u64()?)))
        .collect();
    client
        .store_auth_if_needed(dest.resolve_registry(), &auth)
        .await;
    futures_util::stream::iter(blobs)
        .map(|(digest, size)| {
            let dest = dest.clone();
            async move {
                let pulled = client.pull_blob_stream(source, digest.as_str()).await?;
                let body = pulled
                    .stream
                    .map_err(oci_client::errors::OciDistributionError::IoError);
                client
                    .push_blob_stream(&dest, body, &digest, Some(size))
                    .await?;
                Ok::<_, Box<dyn Error + Send + Sync>>(())
            }
        })
        .buffer_unordered(4)
        .try_collect::<Vec<()>>()
        .await?;
    client
        .push_manifest_raw(&dest, raw, media_type.parse()?)
        .await?;
    Ok(())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
