//! The `portcullis` binary: `serve`, `migrate`, `keys generate`, `token create|list|revoke`,
//! `audit verify`, `decision replay`, `policy test|eval|simulate`, `copy`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portcullis_core::{GroupName, ImageRef, Reference, Role};
use portcullis_server::app::Application;
use portcullis_server::cli;
use portcullis_server::config::Config;
use portcullis_store::Store;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Policy-as-code promotion gate for container images"
)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        env = "PORTCULLIS_CONFIG",
        default_value = "config/portcullis.yaml",
        global = true
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the API and the copy worker.
    Serve {
        /// Make a throwaway gate key instead of reading gate.signing_key_file (demos and
        /// tests: every check still runs, but nothing signed outlives the process).
        #[arg(long)]
        dev_ephemeral_key: bool,
    },
    /// Manage the gate's own signing key.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Work with the policy bundle.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Work with the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Work with recorded decisions.
    Decision {
        #[command(subcommand)]
        command: DecisionCommand,
    },
    /// List every signature and attestation of an image (cosign `.sig`/`.att`, Sigstore
    /// bundles) and how each verified with the configured trust. Exit 0 when at least one
    /// trusted signature verified, 1 when none did, 2 when the registry could not be read.
    Verify {
        /// `host[:port]/repo@sha256:…` or `host[:port]/repo:tag`.
        image: ImageRef,
        /// Print the full report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy an image digest for digest with the promotion copy engine and the configured
    /// registries' credentials; print the copy report as JSON.
    Copy {
        /// `host[:port]/repo@sha256:…`, or `host[:port]/repo:tag` (resolved to its digest).
        src: ImageRef,
        /// `host[:port]/repo[:tag]`; the tag is written last.
        dest: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new ECDSA P-256 gate key (PKCS#8 PEM, mode 0600) to FILE and its public key
    /// to FILE.pub; never overwrites.
    Generate {
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the keyed chain and check it against every witnessed checkpoint; exit 1 if
    /// any event was altered, inserted or deleted, or the tail was cut.
    Verify {
        /// The witness file (default: checkpoints.jsonl in audit.checkpoint_dir).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DecisionCommand {
    /// Judge a recorded decision again with its stored input and bundle, the clock at its
    /// time, after checking both against the gate's signed record; print the report as
    /// JSON. Exit 0 when the verdict is identical, 1 when it differs or was tampered with.
    Replay {
        /// The decision id (`decision_ids` of a promotion's GET).
        id: uuid::Uuid,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it once.
    Create {
        /// Who the token belongs to.
        #[arg(long)]
        subject: String,
        /// ci, approver, auditor or admin.
        #[arg(long)]
        role: Role,
        /// Approver group (repeatable).
        #[arg(long = "group")]
        groups: Vec<GroupName>,
        /// Lifetime: 90s, 30m, 12h, 30d (default: no expiry).
        #[arg(long)]
        ttl: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        /// Only this subject's tokens.
        #[arg(long)]
        subject: Option<String>,
        /// JSON instead of one line a token.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one token by id, or every token of a subject.
    Revoke {
        /// The token id (`token list` shows it).
        id: Option<uuid::Uuid>,
        /// Revoke every token of this subject instead.
        #[arg(long, conflicts_with = "id")]
        subject: Option<String>,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Run the bundle's `test_` rules.
    Test {
        /// Bundle directory (default: the configured policy_dir).
        dir: Option<PathBuf>,
    },
    /// Evaluate the bundle offline over an input document and print the verdict as JSON.
    /// Exit 0 when allowed, 1 when denied.
    Eval {
        /// The input document (JSON, shaped as policies/input.schema.json; `-` for stdin).
        #[arg(long)]
        input: PathBuf,
        /// Bundle directory (default: the configured policy_dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Judge the stored inputs of recent decisions with a candidate bundle and list every
    /// verdict that would flip, as JSON. Exit 0 when none would, 1 when some would.
    Simulate {
        /// The candidate bundle directory.
        #[arg(long)]
        dir: PathBuf,
        /// How many of the most recent decisions (default 1000, at most 10000).
        #[arg(long)]
        last: Option<i64>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        // 1 is a verdict (denied, tests failed, chain broken); 2 is "could not do it".
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match &cli.command {
        Command::Policy {
            command: PolicyCommand::Test { dir: Some(dir) },
        } => return policy_test(dir),
        Command::Policy {
            command:
                PolicyCommand::Eval {
                    input,
                    dir: Some(dir),
                },
        } => return policy_eval(dir, input),
        Command::Keys {
            command: KeysCommand::Generate { out },
        } => {
            cli::keys_generate(out)?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let mut config = Config::load(&cli.config)?;
    match cli.command {
        Command::Keys { .. } => {}
        Command::Serve { dev_ephemeral_key } => {
            config.gate.dev_ephemeral_key = dev_ephemeral_key;
            let app = Application::build(&config).await?;
            tracing::info!(listen = %config.listen, port = app.port(), "portcullis serving");
            app.run_until(shutdown_signal()).await?;
        }
        Command::Migrate => {
            let store = Store::connect(config.database_url.expose()).await?;
            store.migrate().await?;
            println!("migrations applied");
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    subject,
                    role,
                    groups,
                    ttl,
                },
        } => cli::token_create(&config, &subject, role, groups, ttl.as_deref()).await?,
        Command::Token {
            command: TokenCommand::List { subject, json },
        } => cli::token_list(&config, subject.as_deref(), json).await?,
        Command::Token {
            command: TokenCommand::Revoke { id, subject },
        } => return cli::token_revoke(&config, id, subject.as_deref()).await,
        Command::Audit {
            command: AuditCommand::Verify { checkpoints },
        } => return cli::audit_verify(&config, checkpoints.as_deref()).await,
        Command::Decision {
            command: DecisionCommand::Replay { id },
        } => return portcullis_server::cli_decisions::decision_replay(&config, id).await,
        Command::Policy {
            command: PolicyCommand::Simulate { dir, last },
        } => return portcullis_server::cli_decisions::policy_simulate(&config, &dir, last).await,
        Command::Copy { src, dest } => copy(&config, &src, &dest).await?,
        Command::Verify { image, json } => {
            let report = portcullis_server::inspect::verify(&config, &image).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", portcullis_server::inspect::render(&report));
            }
            return Ok(portcullis_server::inspect::exit_code(&report));
        }
        Command::Policy {
            command: PolicyCommand::Test { dir },
        } => {
            return policy_test(&dir.unwrap_or(config.policy_dir));
        }
        Command::Policy {
            command: PolicyCommand::Eval { input, dir },
        } => {
            return policy_eval(&dir.unwrap_or(config.policy_dir), &input);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn policy_test(dir: &std::path::Path) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let outcomes = portcullis_policy::run_tests(dir)?;
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    for o in &outcomes {
        let mark = if o.passed { "PASS" } else { "FAIL" };
        match &o.error {
            Some(e) => println!("{mark} {} ({e})", o.name),
            None => println!("{mark} {}", o.name),
        }
    }
    println!("{} passed, {failed} failed", outcomes.len() - failed);
    Ok(if failed == 0 && !outcomes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn policy_eval(
    dir: &std::path::Path,
    input: &std::path::Path,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let text = if input == std::path::Path::new("-") {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(input)
            .map_err(|e| format!("cannot read {}: {e}", input.display()))?
    };
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", input.display()))?;
    if !doc.is_object() {
        return Err(format!(
            "{}: the input document must be a JSON object",
            input.display()
        )
        .into());
    }
    let bundle = portcullis_policy::PolicyBundle::load(dir)?;
    let decision = bundle.evaluate(&doc);
    let out = serde_json::json!({
        "policy_digest": bundle.digest(),
        "decision": decision,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(if decision.allow {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `portcullis copy`: the worker's engine, run once from the command line.
async fn copy(
    config: &Config,
    src: &ImageRef,
    dest: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = portcullis_server::app::registry_client(config)?;
    let digest = match &src.reference {
        Reference::Digest(d) => d.clone(),
        Reference::Tag(_) => client.resolve(src).await?,
    };
    let (host, rest) = dest
        .split_once('/')
        .ok_or("DEST must be host[:port]/repo[:tag]")?;
    // A tag follows the last ':' after the last '/' (the host may carry a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (
            &rest[..last_slash + i],
            Some(rest[last_slash + i + 1..].parse()?),
        ),
        None => (rest, None),
    };
    let plan = portcullis_registry::CopyPlan {
        source: src.with_digest(digest),
        dest_registry: host.parse()?,
        dest_repo: repo.parse()?,
        dest_tag: tag,
        options: portcullis_registry::CopyOptions {
            blob_concurrency: config.copy.blob_concurrency,
            ..Default::default()
        },
    };
    let report = portcullis_registry::copy_image(&client, &plan).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}
