//! `portcullis-testkit` command line: key generation, image/index pushing and
//! cosign-format signing for demo scripts. Results go to stdout, errors to
//! stderr with exit code 1.

use std::{
    error::Error as _,
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Parser, Subcommand};
use portcullis_testkit::{
    Error, Placement, Result, TestKey, attest, push_index, push_random_image, sign_image,
};

/// Test and demo helper for Portcullis.
#[derive(Debug, Parser)]
#[command(name = "portcullis-testkit", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write DIR/cosign.key (encrypted) and DIR/cosign.pub, like `cosign generate-key-pair`.
    Keygen {
        /// Directory to write the key pair into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Environment variable holding the key password (unset means empty).
        #[arg(long, default_value = "COSIGN_PASSWORD")]
        password_env: String,
    },
    /// Push an image of random layers; prints its manifest digest.
    PushImage {
        #[command(flatten)]
        target: Target,
        /// Number of layers.
        #[arg(long, default_value_t = 3)]
        layers: usize,
        /// Payload bytes per layer.
        #[arg(long, default_value_t = 65536)]
        layer_size: usize,
    },
    /// Push one image per platform plus an OCI index over them; prints the index digest.
    PushIndex {
        #[command(flatten)]
        target: Target,
        /// Platform as OS/ARCH; repeat for more (default linux/amd64 and linux/arm64).
        #[arg(long = "platform")]
        platforms: Vec<String>,
    },
    /// Sign a manifest digest with a cosign key (password from COSIGN_PASSWORD).
    Sign {
        /// Registry as HOST:PORT.
        #[arg(long)]
        registry: String,
        /// Repository path.
        #[arg(long)]
        repo: String,
        /// Manifest digest (`sha256:…`) to sign.
        #[arg(long)]
        digest: String,
        /// Path of the encrypted cosign private key.
        #[arg(long)]
        key: PathBuf,
    },
    /// Attest a manifest digest: sign an in-toto statement with a cosign key (password from
    /// COSIGN_PASSWORD) and push the DSSE envelope; prints the manifest digest holding it.
    Attest {
        /// Registry as HOST:PORT.
        #[arg(long)]
        registry: String,
        /// Repository path.
        #[arg(long)]
        repo: String,
        /// Manifest digest (`sha256:…`) the statement is about.
        #[arg(long)]
        digest: String,
        /// Path of the encrypted cosign private key; repeat to sign with several keys.
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        /// The in-toto predicate type, e.g. `https://slsa.dev/provenance/v1`.
        #[arg(long)]
        predicate_type: String,
        /// Path of the predicate JSON.
        #[arg(long)]
        predicate: PathBuf,
        /// Push as an OCI 1.1 referrer (plus the `sha256-<hex>` fallback index) instead of
        /// appending to cosign's `sha256-<hex>.att` manifest.
        #[arg(long)]
        referrer: bool,
    },
}

/// Where an image or index is pushed.
#[derive(Debug, clap::Args)]
struct Target {
    /// Registry as HOST:PORT (plain HTTP).
    #[arg(long)]
    registry: String,
    /// Repository path.
    #[arg(long)]
    repo: String,
    /// Tag to push under.
    #[arg(long)]
    tag: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("portcullis-testkit: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                eprint!(": {cause}");
                source = cause.source();
            }
            eprintln!();
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keygen { out, password_env } => keygen(&out, &password_env),
        Command::PushImage {
            target,
            layers,
            layer_size,
        } => {
            let digest = push_random_image(
                &target.registry,
                &target.repo,
                &target.tag,
                layers,
                layer_size,
            )
            .await?;
            println!("{digest}");
            Ok(())
        }
        Command::PushIndex { target, platforms } => {
            let platforms = parse_platforms(&platforms)?;
            let digest =
                push_index(&target.registry, &target.repo, &target.tag, &platforms).await?;
            println!("{digest}");
            Ok(())
        }
        Command::Sign {
            registry,
            repo,
            digest,
            key,
        } => {
            let pem = fs::read_to_string(&key)?;
            let key = TestKey::load(&pem, &password("COSIGN_PASSWORD"))?;
            sign_image(&registry, &repo, &digest, &key).await
        }
        Command::Attest {
            registry,
            repo,
            digest,
            keys,
            predicate_type,
            predicate,
            referrer,
        } => {
            let keys = keys
                .iter()
                .map(|path| TestKey::load(&fs::read_to_string(path)?, &password("COSIGN_PASSWORD")))
                .collect::<Result<Vec<_>>>()?;
            let keys: Vec<&TestKey> = keys.iter().collect();
            let predicate: serde_json::Value = serde_json::from_slice(&fs::read(&predicate)?)?;
            let placement = if referrer {
                Placement::Referrer
            } else {
                Placement::Cosign
            };
            let pushed = attest(
                &registry,
                &repo,
                &digest,
                &predicate_type,
                &predicate,
                &keys,
                placement,
            )
            .await?;
            println!("{pushed}");
            Ok(())
        }
    }
}

fn keygen(out: &Path, password_env: &str) -> Result<()> {
    let key = TestKey::generate_with_password(&password(password_env))?;
    fs::create_dir_all(out)?;
    let private = out.join("cosign.key");
    let public = out.join("cosign.pub");
    fs::write(&private, &key.private_pem)?;
    fs::write(&public, &key.public_pem)?;
    println!("{}", private.display());
    println!("{}", public.display());
    Ok(())
}

/// The password in `var`; unset means empty, as with cosign.
fn password(var: &str) -> String {
    std::env::var(var).unwrap_or_default()
}

fn parse_platforms(raw: &[String]) -> Result<Vec<(&str, &str)>> {
    if raw.is_empty() {
        return Ok(vec![("linux", "amd64"), ("linux", "arm64")]);
    }
    raw.iter()
        .map(|p| {
            p.split_once('/')
                .filter(|(os, arch)| !os.is_empty() && !arch.is_empty())
                .ok_or_else(|| Error::Invalid(format!("platform `{p}` is not OS/ARCH")))
        })
        .collect()
}
