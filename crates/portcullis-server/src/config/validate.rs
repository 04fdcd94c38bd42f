//! Cross-field checks of a loaded configuration: every bound in range, and a copy job's
//! deadline longer than any registry's retry window.

use super::{Config, ConfigError, RetrySettings};

impl Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.validate_routes()?;
        self.validate_role_routes()?;
        self.admission.validate()?;
        self.validate_ui()?;
        super::webhooks::validate(&self.webhooks, &self.webhook_delivery)?;
        if self.audit.checkpoint_interval_seconds == 0 || self.audit.checkpoint_every_events < 1 {
            return Err(ConfigError::Invalid(
                "audit.checkpoint_interval_seconds and audit.checkpoint_every_events must be at least 1".into(),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_body_bytes must be at least 1024".into(),
            ));
        }
        if !(1..=64).contains(&self.copy.blob_concurrency) {
            return Err(ConfigError::Invalid(
                "copy.blob_concurrency must be between 1 and 64".into(),
            ));
        }
        self.validate_limits()?;
        if !(1..=64).contains(&self.copy.max_concurrent_jobs) {
            return Err(ConfigError::Invalid(
                "copy.max_concurrent_jobs must be between 1 and 64".into(),
            ));
        }
        // A job must outlive the retries it is meant to sit out (unconfigured registries
        // use the default policy).
        let default_retry = RetrySettings::default().policy().max_elapsed;
        let longest_retry = self
            .registries
            .values()
            .map(|r| r.retry.clone().unwrap_or_default().policy().max_elapsed)
            .chain([default_retry])
            .max()
            .unwrap_or(default_retry);
        if std::time::Duration::from_secs(self.copy.job_deadline_seconds) <= longest_retry {
            return Err(ConfigError::Invalid(format!(
                "copy.job_deadline_seconds ({}) must exceed every registry's retry.max_elapsed_seconds ({})",
                self.copy.job_deadline_seconds,
                longest_retry.as_secs()
            )));
        }
        if self.policy_concurrency == 0 {
            return Err(ConfigError::Invalid(
                "policy_concurrency must be at least 1".into(),
            ));
        }
        let l = &self.limits;
        for (key, value) in [
            ("max_findings", l.max_findings),
            ("max_components", l.max_components),
            ("max_vex_statements", l.max_vex_statements),
            ("max_referrers", l.max_referrers),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!(
                    "limits.{key} must be at least 1"
                )));
            }
        }
        if !(1..=3650).contains(&self.waivers.max_days) {
            return Err(ConfigError::Invalid(
                "waivers.max_days must be between 1 and 3650".into(),
            ));
        }
        if self.http.request_timeout_seconds == 0 {
            return Err(ConfigError::Invalid(
                "http.request_timeout_seconds must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// An OIDC role mapping scoped to routes names configured routes, at least one.
    fn validate_role_routes(&self) -> Result<(), ConfigError> {
        for issuer in &self.auth.oidc {
            for mapping in &issuer.roles {
                let Some(routes) = &mapping.routes else {
                    continue;
                };
                if routes.is_empty() {
                    return Err(ConfigError::Invalid(format!(
                        "auth.oidc {}: the mapping of {} = {:?} has an empty routes list (leave it out for every route)",
                        issuer.issuer, mapping.claim, mapping.equals
                    )));
                }
                if let Some(unknown) = routes
                    .iter()
                    .find(|r| !self.routes.iter().any(|route| route.name == **r))
                {
                    return Err(ConfigError::Invalid(format!(
                        "auth.oidc {}: the mapping of {} = {:?} names route {unknown:?}, which is not configured",
                        issuer.issuer, mapping.claim, mapping.equals
                    )));
                }
            }
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let checks = [
            (
                "database.acquire_timeout_ms must be between 100 and 60000",
                (100..=60_000).contains(&self.database.acquire_timeout_ms),
            ),
            (
                "database.min_connections must be at most 16",
                self.database.min_connections <= portcullis_store::MAX_CONNECTIONS,
            ),
            (
                "http.header_read_timeout_seconds must be between 1 and 300",
                (1..=300).contains(&self.http.header_read_timeout_seconds),
            ),
            (
                "http.body_read_timeout_seconds must be between 1 and 3600",
                (1..=3600).contains(&self.http.body_read_timeout_seconds),
            ),
            (
                "http.max_connections must be between 1 and 65536",
                (1..=65_536).contains(&self.http.max_connections),
            ),
            (
                "simulation.timeout_ms must be between 1 and http.request_timeout_seconds in ms",
                (1..=self.http.request_timeout_seconds.saturating_mul(1000))
                    .contains(&self.simulation.timeout_ms),
            ),
            (
                "auth_failures.max_per_minute must be at least 1",
                self.auth_failures.max_per_minute >= 1,
            ),
            (
                "auth_failures.flush_interval_ms must be between 10 and 60000",
                (10..=60_000).contains(&self.auth_failures.flush_interval_ms),
            ),
            (
                "auth_failures.retention_days must be at least 1",
                self.auth_failures.retention_days >= 1,
            ),
        ];
        match checks.iter().find(|(_, ok)| !ok) {
            Some((message, _)) => Err(ConfigError::Invalid((*message).to_owned())),
            None => Ok(()),
        }
    }
}
