//! The `portcullis` binary: `serve`, `migrate`, `keys generate`, `token create|list|revoke`,
//! `audit verify`, `decision replay`, `policy test|eval|simulate`, `copy`, `verify`; and, as a
//! client of a running gate (`PORTCULLIS_URL`, `PORTCULLIS_TOKEN`; `remote`), `promote`,
//! `pending`, `show`, `approve`, `reject`, `audit log`.

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
    /// Request a promotion from the gate at PORTCULLIS_URL (token PORTCULLIS_TOKEN) and print
    /// its verdict; with --wait, follow it to its end. Exit 0 promoted (or allowed on a dry
    /// run, or still on its way without --wait), 1 denied, 2 usage or connection error,
    /// 3 rejected, 4 failed, 5 timed out, 6 expired.
    Promote {
        /// `host[:port]/repo@sha256:…` or `host[:port]/repo:tag`.
        source: String,
        /// The route to promote along.
        #[arg(long)]
        route: String,
        /// The production tag.
        #[arg(long)]
        tag: Option<String>,
        /// Evidence, `FORMAT=FILE` (repeatable; `-` reads standard input), e.g.
        /// `trivy-json=report.json`.
        #[arg(long = "evidence")]
        evidence: Vec<String>,
        /// Judge only; nothing is stored.
        #[arg(long, conflicts_with = "wait")]
        dry_run: bool,
        /// Follow the promotion until it is promoted, denied, rejected, failed or expired.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits: 90s, 30m, 12h.
        #[arg(long, default_value = "30m", requires = "wait")]
        timeout: String,
        /// Print the answer as JSON (progress goes to standard error).
        #[arg(long)]
        json: bool,
    },
    /// List the promotions you may still approve (gate at PORTCULLIS_URL).
    Pending {
        /// JSON instead of one line a promotion.
        #[arg(long)]
        json: bool,
    },
    /// Show one promotion; exit with its state's code (1 denied, 3 rejected, 4 failed,
    /// 6 expired, else 0).
    Show {
        /// The promotion id.
        id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Approve a promotion on the evidence it shows now.
    Approve {
        /// The promotion id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        comment: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Reject a promotion.
    Reject {
        /// The promotion id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        comment: String,
        /// JSON instead of text.
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
    /// The newest audit events from the gate at PORTCULLIS_URL (auditor or admin token).
    Log {
        /// Only this digest's events.
        #[arg(long)]
        digest: Option<String>,
        /// How many (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// JSON instead of one line an event.
        #[arg(long)]
        json: bool,
    },
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
        /// ci, approver, auditor, admin, break-glass or admission.
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
    if let Some(code) = remote(&cli.command).await {
        return Ok(code);
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
        // Answered by `remote` above.
        Command::Promote { .. }
        | Command::Pending { .. }
        | Command::Show { .. }
        | Command::Approve { .. }
        | Command::Reject { .. }
        | Command::Audit {
            command: AuditCommand::Log { .. },
        } => {}
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

/// The client verbs (`remote`): `None` for every other command. Their errors are printed
/// here and exit 2, like every "could not do it".
async fn remote(command: &Command) -> Option<ExitCode> {
    use portcullis_server::remote::{self, Api, Outcome, PromoteArgs};
    let api = || Api::from_env();
    let done = match command {
        Command::Promote {
            source,
            route,
            tag,
            evidence,
            dry_run,
            wait,
            timeout,
            json,
        } => match cli::parse_ttl(timeout).map(|t| t.to_std().unwrap_or_default()) {
            Err(e) => Err(remote::RemoteError::Usage(e.replace("--ttl", "--timeout"))),
            Ok(timeout) => {
                let args = PromoteArgs {
                    source: source.clone(),
                    route: route.clone(),
                    tag: tag.clone(),
                    evidence: evidence.clone(),
                    dry_run: *dry_run,
                    wait: *wait,
                    timeout,
                    json: *json,
                };
                match api() {
                    Ok(api) => remote::promote(&api, &args).await,
                    Err(e) => Err(e),
                }
            }
        },
        Command::Pending { json } => match api() {
            Ok(api) => remote::pending(&api, *json).await,
            Err(e) => Err(e),
        },
        Command::Show { id, json } => match api() {
            Ok(api) => remote::show(&api, id, *json).await,
            Err(e) => Err(e),
        },
        Command::Approve { id, comment, json } | Command::Reject { id, comment, json } => {
            let verdict = if matches!(command, Command::Approve { .. }) {
                "approve"
            } else {
                "reject"
            };
            match api() {
                Ok(api) => remote::vote(&api, id, verdict, comment, *json).await,
                Err(e) => Err(e),
            }
        }
        Command::Audit {
            command:
                AuditCommand::Log {
                    digest,
                    limit,
                    json,
                },
        } => match api() {
            Ok(api) => remote::audit(&api, digest.as_deref(), *limit, *json).await,
            Err(e) => Err(e),
        },
        _ => return None,
    };
    Some(match done {
        Ok(outcome) => ExitCode::from(outcome as u8),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(Outcome::Error as u8)
        }
    })
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
