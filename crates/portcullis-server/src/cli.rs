//! The operator verbs of the `portcullis` binary that work on the gate's key and the
//! database directly: `keys generate`, `token create|list|revoke`, `audit verify`.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use chrono::{Duration, Utc};
use portcullis_core::{GroupName, Role, Subject};
use portcullis_gate::GateKey;
use portcullis_store::Store;
use uuid::Uuid;

use crate::app::load_gate;
use crate::config::Config;
use crate::services::checkpoints;

/// What went wrong; the binary prints it and exits 2.
pub type CliResult<T> = Result<T, Box<dyn std::error::Error>>;

/// `keys generate --out FILE`: a new ECDSA P-256 gate key, written with mode 0600 (never
/// over an existing file); its public key goes to `FILE.pub` and standard output.
pub fn keys_generate(out: &Path) -> CliResult<()> {
    let key = GateKey::generate()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(out)
        .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    file.write_all(key.to_pem().as_bytes())?;
    file.sync_all()?;
    let public = key.public().to_pem();
    let pub_path = out.with_extension("pub");
    std::fs::write(&pub_path, &public)
        .map_err(|e| format!("cannot write {}: {e}", pub_path.display()))?;
    eprintln!(
        "gate key {} written to {} (public key in {})",
        key.key_id(),
        out.display(),
        pub_path.display()
    );
    print!("{public}");
    Ok(())
}

/// Parses a time to live: `90s`, `30m`, `12h`, `30d`.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let (num, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let n: i64 = num
        .parse()
        .map_err(|_| format!("--ttl {text:?}: expected a number and a unit, e.g. 30d"))?;
    let d = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        _ => None,
    };
    match d {
        Some(d) if n > 0 && d <= Duration::days(3650) => Ok(d),
        _ => Err(format!(
            "--ttl {text:?}: expected 1s to 3650d with a unit of s, m, h or d"
        )),
    }
}

async fn store_for(config: &Config) -> CliResult<(Store, crate::services::trust::GateKeys)> {
    let gate = load_gate(config)?;
    let store = Store::connect(config.database_url.expose())
        .await?
        .with_audit_key(gate.audit_mac().clone());
    store.migrate().await?;
    Ok((store, gate))
}

/// `token create`: prints the secret once.
pub async fn token_create(
    config: &Config,
    subject: &str,
    role: Role,
    groups: Vec<GroupName>,
    ttl: Option<&str>,
) -> CliResult<()> {
    let subject: Subject = subject.parse()?;
    let expires_at = ttl.map(parse_ttl).transpose()?.map(|d| Utc::now() + d);
    let (store, gate) = store_for(config).await?;
    let token =
        crate::auth::create_token(&store, &gate, &subject, role, groups, expires_at).await?;
    println!("{token}");
    Ok(())
}

/// `token list`: one line a token (never its secret).
pub async fn token_list(config: &Config, subject: Option<&str>, json: bool) -> CliResult<()> {
    let subject: Option<Subject> = subject.map(str::parse).transpose()?;
    let store = Store::connect(config.database_url.expose()).await?;
    let tokens = store.list_tokens(subject.as_ref()).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&tokens)?);
        return Ok(());
    }
    let now = Utc::now();
    for t in tokens {
        let status = match (t.revoked_at, t.expires_at) {
            (Some(at), _) => format!("revoked {}", at.format("%Y-%m-%dT%H:%M:%SZ")),
            (None, Some(at)) if at <= now => format!("expired {}", at.format("%Y-%m-%dT%H:%M:%SZ")),
            (None, Some(at)) => format!("active, expires {}", at.format("%Y-%m-%dT%H:%M:%SZ")),
            (None, None) => "active".to_owned(),
        };
        println!(
            "{}  {}  {}  [{}]  created {}  {status}",
            t.id,
            t.subject,
            t.role,
            t.groups.join(","),
            t.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
        );
    }
    Ok(())
}

/// `token revoke ID` or `token revoke --subject S`; exit 1 when nothing was revoked.
pub async fn token_revoke(
    config: &Config,
    id: Option<Uuid>,
    subject: Option<&str>,
) -> CliResult<ExitCode> {
    let store = Store::connect(config.database_url.expose()).await?;
    let revoked = match (id, subject) {
        (Some(id), None) => u64::from(store.revoke_token(id).await?),
        (None, Some(s)) => store.revoke_subject_tokens(&s.parse()?).await?,
        _ => return Err("give a token id or --subject, not both".into()),
    };
    println!("{revoked} token(s) revoked");
    Ok(if revoked == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `audit verify [--checkpoints FILE]`: exit 0 intact, 1 broken.
pub async fn audit_verify(config: &Config, witness: Option<&Path>) -> CliResult<ExitCode> {
    let gate = load_gate(config)?;
    let store = Store::connect(config.database_url.expose()).await?;
    let file = witness.map(Path::to_path_buf).or_else(|| {
        config
            .audit
            .checkpoint_dir
            .as_deref()
            .map(checkpoints::witness_path)
    });
    let cps = match &file {
        Some(f) => portcullis_gate::read_checkpoints(f)?,
        None => {
            eprintln!(
                "warning: no witness file (set audit.checkpoint_dir or pass --checkpoints): a cut tail cannot be detected"
            );
            Vec::new()
        }
    };
    let report = checkpoints::verify_log(&store, &gate, &cps).await?;
    let head = report.chain.head.as_deref().unwrap_or("none");
    let witnessed = report
        .witnessed_seq
        .map_or("none".to_owned(), |s| s.to_string());
    Ok(match &report.problem {
        None => {
            println!(
                "audit log intact: {} events ({} before the gate key), head {head}; {} checkpoints, newest at event {witnessed}",
                report.chain.events, report.chain.legacy_events, report.checkpoints
            );
            ExitCode::SUCCESS
        }
        Some(why) => {
            println!(
                "audit log BROKEN: {why} ({} events verified before it; {} checkpoints)",
                report.chain.events, report.checkpoints
            );
            ExitCode::FAILURE
        }
    })
}
