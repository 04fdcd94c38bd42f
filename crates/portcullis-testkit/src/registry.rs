//! A throwaway `docker-registry` (distribution v2) process on 127.0.0.1 for
//! tests: fresh storage directory, random port, killed and cleaned up on drop.

use std::{
    fs::{self, File},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rand::Rng as _;

use crate::{Error, Result, try_free_port};

/// Where Debian installs distribution's registry binary.
pub const DEFAULT_REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// Environment variable overriding [`DEFAULT_REGISTRY_BIN`].
pub const REGISTRY_BIN_ENV: &str = "PORTCULLIS_REGISTRY_BIN";

const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A running registry; the process is killed and its storage deleted on drop.
#[derive(Debug)]
pub struct TestRegistry {
    addr: String,
    root: PathBuf,
    child: Child,
}

impl TestRegistry {
    /// Starts a registry with delete enabled on a free port and waits until it
    /// accepts connections.
    pub async fn start() -> Result<Self> {
        let bin = std::env::var(REGISTRY_BIN_ENV).unwrap_or_else(|_| DEFAULT_REGISTRY_BIN.into());
        let root = std::env::temp_dir().join(format!(
            "portcullis-testkit-{}-{:016x}",
            std::process::id(),
            rand::thread_rng().r#gen::<u64>()
        ));
        fs::create_dir_all(root.join("data"))?;
        let addr = format!("127.0.0.1:{}", try_free_port()?);
        let config = root.join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: {addr}}}\n",
                root.join("data").display()
            ),
        )?;
        let log = File::create(root.join("registry.log"))?;
        let child = Command::new(&bin)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                let _ = fs::remove_dir_all(&root);
                Error::Invalid(format!("cannot start registry `{bin}`: {e}"))
            })?;
        let mut registry = Self { addr, root, child };
        registry.wait_ready().await?;
        Ok(registry)
    }

    /// `127.0.0.1:<port>`, the form every testkit function takes as `registry`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Contents of the registry's log so far, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("registry.log")).unwrap_or_default()
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(Error::Invalid(format!(
                    "registry exited early with {status}: {}",
                    self.log()
                )));
            }
            if tokio::net::TcpStream::connect(&self.addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Invalid(format!(
                    "registry on {} not ready after {READY_TIMEOUT:?}",
                    self.addr
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        // Best effort: nothing useful can be done with errors while dropping.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.root);
    }
}
