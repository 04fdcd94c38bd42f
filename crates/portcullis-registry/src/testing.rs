//! Test support (feature `testing`): `TestRegistry` runs a real Distribution registry
//! (`/usr/bin/docker-registry`, overridable with `PORTCULLIS_TEST_REGISTRY_BIN`) on a free
//! loopback port with throw-away storage, optionally behind htpasswd basic auth, and kills
//! it on drop, or behind Docker token auth served by a `TokenServer`. Other crates' tests use it through a dev-dependency with this feature.
//! `FaultProxy` sits in front of one to inject transient failures.

mod fault_proxy;
mod layout;
mod token_server;

pub use fault_proxy::{FaultMode, FaultPlan, FaultProxy};
pub use layout::{Entry as LayoutEntry, push_oci_layout};
pub use token_server::{TOKEN_ISSUER, TOKEN_SERVICE, TokenRequest, TokenServer};

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portcullis_core::RegistryHost;
use tokio::process::{Child, Command};

use crate::{RegistryAuthConfig, RegistryClient, Result};

/// Attempts at finding a port the registry can actually bind (another process may race us).
const START_ATTEMPTS: usize = 5;
/// How long a registry may take to answer `GET /v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A running throw-away registry, listening on `127.0.0.1:<port>` over plain HTTP.
#[derive(Debug)]
pub struct TestRegistry {
    /// `127.0.0.1:<port>`.
    pub host: RegistryHost,
    /// The basic-auth user, when started with htpasswd.
    pub username: Option<String>,
    /// The basic-auth password, when started with htpasswd.
    pub password: Option<String>,
    /// Token realms (on other ports) trusted with the credentials: the token server's.
    pub token_realms: Vec<reqwest::Url>,
    child: Child,
    dir: PathBuf,
}

impl TestRegistry {
    /// Starts an anonymous registry.
    pub async fn start() -> io::Result<Self> {
        Self::spawn(None, None).await
    }

    /// Starts a registry that requires basic auth as `user`/`pass` (needs `htpasswd` from
    /// apache2-utils on the PATH to hash the password with bcrypt).
    pub async fn start_with_htpasswd(user: &str, pass: &str) -> io::Result<Self> {
        Self::spawn(Some((user.to_owned(), pass.to_owned())), None).await
    }

    /// Starts a registry behind the Docker token flow: its `WWW-Authenticate: Bearer`
    /// challenges point at the returned `TokenServer`, which issues tokens to `user`/`pass`
    /// (service `TOKEN_SERVICE`, issuer `TOKEN_ISSUER`). The registry's `username` and
    /// `password` are set, so `auth_config`/`client_for` log in. Keep the token server
    /// alive as long as the registry.
    pub async fn start_with_token_auth(user: &str, pass: &str) -> io::Result<(Self, TokenServer)> {
        let tokens = TokenServer::start(user, pass).await?;
        let mut registry =
            Self::spawn(Some((user.to_owned(), pass.to_owned())), Some(&tokens)).await?;
        registry.token_realms = vec![reqwest::Url::parse(&tokens.realm).map_err(io::Error::other)?];
        Ok((registry, tokens))
    }

    /// Settings to reach this registry with its credentials.
    pub fn auth_config(&self) -> RegistryAuthConfig {
        RegistryAuthConfig {
            insecure: true,
            username: self.username.clone(),
            password: self.password.clone(),
            token_realms: self.token_realms.clone(),
            ..Default::default()
        }
    }

    /// A client configured for all of `registries`.
    pub fn client_for(registries: &[&TestRegistry]) -> Result<RegistryClient> {
        let map: HashMap<_, _> = registries
            .iter()
            .map(|r| (r.host.clone(), r.auth_config()))
            .collect();
        RegistryClient::new(map)
    }

    async fn spawn(
        credentials: Option<(String, String)>,
        tokens: Option<&TokenServer>,
    ) -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "portcullis-test-registry-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(dir.join("storage"))?;
        let auth = match (&credentials, tokens) {
            (_, Some(tokens)) => write_token_auth(&dir, tokens)?,
            (Some((user, pass)), None) => write_htpasswd(&dir, user, pass).await?,
            (None, None) => String::new(),
        };
        let mut last_err = io::Error::other("registry did not start");
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            match start_on(&dir, port, &auth).await {
                Ok(child) => {
                    let host = format!("127.0.0.1:{port}")
                        .parse()
                        .map_err(io::Error::other)?;
                    let (username, password) = credentials
                        .map(|(u, p)| (Some(u), Some(p)))
                        .unwrap_or_default();
                    return Ok(Self {
                        host,
                        username,
                        password,
                        token_realms: Vec::new(),
                        child,
                        dir,
                    });
                }
                Err(e) => last_err = e,
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last_err)
    }

    /// Writes a manifest straight into the registry's filesystem storage, as a revision of
    /// `repo`, without its blobs: how a test serves a third-party image whose layers it does
    /// not have (the registry then serves the manifest by digest, byte for byte).
    pub fn seed_manifest(&self, repo: &str, bytes: &[u8]) -> io::Result<portcullis_core::Digest> {
        let digest = portcullis_core::Digest::sha256_of(bytes);
        let hex = digest.hex();
        let root = self.dir.join("storage/docker/registry/v2");
        let blob = root.join(format!("blobs/sha256/{}/{hex}", &hex[..2]));
        std::fs::create_dir_all(&blob)?;
        std::fs::write(blob.join("data"), bytes)?;
        let link = root.join(format!(
            "repositories/{repo}/_manifests/revisions/sha256/{hex}"
        ));
        std::fs::create_dir_all(&link)?;
        std::fs::write(link.join("link"), digest.as_str())?;
        Ok(digest)
    }

    /// Every blob the registry stores (manifests included), as `sha256:<hex>`, read from its
    /// filesystem storage: comparing the set before and after an operation shows whether it
    /// uploaded anything.
    pub fn stored_blobs(&self) -> io::Result<std::collections::BTreeSet<String>> {
        let root = self.dir.join("storage/docker/registry/v2/blobs/sha256");
        let mut out = std::collections::BTreeSet::new();
        if !root.exists() {
            return Ok(out);
        }
        for prefix in std::fs::read_dir(root)? {
            for blob in std::fs::read_dir(prefix?.path())? {
                out.insert(format!("sha256:{}", blob?.file_name().to_string_lossy()));
            }
        }
        Ok(out)
    }

    /// Kills the registry process and waits until it has exited, so its port refuses
    /// connections when this returns (to test an unreachable registry, with no sleep).
    pub async fn stop(&mut self) -> io::Result<()> {
        if self.child.try_wait()?.is_none() {
            self.child.start_kill()?;
        }
        self.child.wait().await.map(|_| ())
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port that was free a moment ago, never one of 5000-5003 (kept for humans).
fn free_port() -> io::Result<u16> {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if !(5000..=5003).contains(&port) {
            return Ok(port);
        }
    }
}

async fn write_htpasswd(dir: &std::path::Path, user: &str, pass: &str) -> io::Result<String> {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, pass])
        .output()
        .await?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "htpasswd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let path = dir.join("htpasswd");
    std::fs::write(&path, &out.stdout)?;
    Ok(format!(
        "auth:\n  htpasswd:\n    realm: portcullis-test\n    path: {}\n",
        path.display()
    ))
}

/// Writes the token server's certificate as the root bundle; returns the `auth:` config.
fn write_token_auth(dir: &std::path::Path, tokens: &TokenServer) -> io::Result<String> {
    let path = dir.join("token-root.pem");
    std::fs::write(&path, &tokens.root_cert_pem)?;
    Ok(format!(
        "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
        tokens.realm,
        path.display()
    ))
}

/// Writes the config, spawns the registry and waits until `GET /v2/` answers.
async fn start_on(dir: &std::path::Path, port: u16, auth: &str) -> io::Result<Child> {
    let config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n{auth}",
        dir.join("storage").display()
    );
    let config_path = dir.join(format!("config-{port}.yml"));
    std::fs::write(&config_path, config)?;
    let bin = std::env::var("PORTCULLIS_TEST_REGISTRY_BIN")
        .unwrap_or_else(|_| "/usr/bin/docker-registry".into());
    let log = std::fs::File::create(dir.join(format!("registry-{port}.log")))?;
    let mut child = Command::new(bin)
        .arg("serve")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "registry on port {port} exited: {status}"
            )));
        }
        if http
            .get(format!("http://127.0.0.1:{port}/v2/"))
            .send()
            .await
            .is_ok()
        {
            return Ok(child);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.start_kill();
    Err(io::Error::other(format!(
        "registry on port {port} did not answer within {READY_TIMEOUT:?}"
    )))
}
