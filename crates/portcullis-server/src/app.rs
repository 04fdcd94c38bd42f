//! Start-up: build the state and router from a `Config`, bind the listener, start the copy
//! worker, and serve until a shutdown signal. Building is split from running so tests can
//! bind port 0 and drive the app in-process.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::{Extension, Router};
use portcullis_core::RegistryHost;
use std::time::Duration;

use portcullis_evidence::{
    AttestationVerifier, EvidenceCollector, KeylessHandle, KeylessTrust, SignatureVerifier,
    TrustedKey,
};
use portcullis_gate::{GateKey, PublicKey};
use portcullis_policy::PolicyBundle;
use portcullis_registry::{RegistryAuthConfig, RegistryClient};
use portcullis_store::Store;
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tower_http::timeout::RequestBodyDeadlineLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::auth_failures::{self, AuthFailures};
use crate::config::Config;
use crate::deadline;
use crate::error::ApiError;
use crate::handlers;
use crate::request_id;
use crate::serve::{ConnectionLimits, serve};
use crate::services::admission::{Admission, VerdictCache};
use crate::services::checkpoints::{self, Integrity, Schedule};
use crate::services::copier;
use crate::services::input_cache::InputCache;
use crate::services::policy::PolicyHandle;
use crate::services::trust::GateKeys;
use crate::state::{AppState, Gate, KeylessReload};

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Store(#[from] portcullis_store::Error),
    /// The policy bundle does not load.
    #[error("policy: {0}")]
    Policy(#[from] portcullis_policy::Error),
    /// A trusted key does not load.
    #[error("trust: {0}")]
    Trust(#[from] portcullis_evidence::Error),
    /// The registry client could not be built.
    #[error("registries: {0}")]
    Registry(#[from] portcullis_registry::Error),
    /// Binding or serving failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// The gate key is missing or does not load.
    #[error("gate key: {0}")]
    Gate(String),
    /// An OIDC issuer's settings or key set do not load.
    #[error("{0}")]
    Oidc(String),
    /// A webhook subscriber's secret does not load.
    #[error("{0}")]
    Webhooks(String),
    /// The TLS certificate or key does not load.
    #[error("{0}")]
    Tls(String),
}

/// The HTTP routes over `state`: the documented routes (`documented_routes`) with the
/// middleware, and `GET /openapi.json` serving their document. API requests that take longer
/// than `request_timeout` are answered 503 `deadline_exceeded`; the health endpoints,
/// `/metrics` and `/openapi.json` are exempt. Routes that are not API (HTML pages) belong on
/// `routes` here, after the split, and are not in the document.
pub fn router(state: AppState, max_body_bytes: usize, request_timeout: Duration) -> Router {
    let (routes, api) =
        documented_routes(&state.metrics_settings, request_timeout).split_for_parts();
    let document = crate::openapi::Document::new(&crate::openapi::finish(&api));
    routes
        .merge(crate::ui::router(&state, request_timeout))
        // Runs after routing (so the route template is known) for every route.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed",
            )
        })
        .layer(Extension(document))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth_failures::guard,
        ))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http())
        // Outermost: everything above runs inside the request's id and span.
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}

/// Every API route with its OpenAPI path item: `routes!` registers a handler only together
/// with its `#[utoipa::path]`, so nothing is served that `/openapi.json` does not describe (a
/// test keeps any other way of adding a route out of this file). `served` decides whether
/// and how `/metrics` is served, and the document follows.
pub fn documented_routes(
    served: &crate::config::MetricsSettings,
    request_timeout: Duration,
) -> OpenApiRouter<AppState> {
    use handlers::*;
    let api = OpenApiRouter::new()
        .routes(routes!(promotions::create, promotions::list))
        .routes(routes!(promotions::show))
        .routes(routes!(approvals::vote))
        .routes(routes!(promotions::retry))
        .routes(routes!(promotions::withdraw))
        .routes(
            routes!(admission::review)
                .map(|r| r.layer(DefaultBodyLimit::max(admission::MAX_BODY_BYTES))),
        )
        .routes(routes!(runtime::report))
        .routes(routes!(runtime::drift))
        .routes(routes!(break_glass::break_glass))
        .routes(routes!(rollbacks::create))
        .routes(routes!(break_glass::reviews))
        .routes(routes!(break_glass::acknowledge))
        .routes(routes!(waivers::create, waivers::list))
        .routes(routes!(waivers::show))
        .routes(routes!(waivers::confirm))
        .routes(routes!(waivers::revoke))
        .routes(routes!(tokens::mint))
        .routes(routes!(tokens::confirm))
        .routes(routes!(audit::query))
        .routes(routes!(audit::verify))
        .routes(routes!(audit::export))
        .routes(routes!(audit::checkpoints))
        .routes(routes!(gate::keys))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(admin::reload_policy))
        .routes(routes!(decisions::replay))
        .routes(
            // The candidate bundle's tarball: its own cap, above or below max_body_bytes.
            routes!(policy::simulate).map(|r| {
                r.layer(DefaultBodyLimit::max(
                    crate::services::decisions::tarball::MAX_BUNDLE_BYTES,
                ))
            }),
        )
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                deadline::enforce(request_timeout, req, next)
            },
        ));
    let api = match (served.enabled, served.public) {
        (false, _) => api,
        (true, false) => api.routes(routes!(metrics::protected)),
        (true, true) => api.routes(routes!(metrics::public)),
    };
    OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi::document))
        .merge(api)
}

/// Builds the registry client from the configured registries.
pub fn registry_client(config: &Config) -> Result<RegistryClient, StartError> {
    let mut regs = HashMap::new();
    for (host, settings) in &config.registries {
        let host: RegistryHost = host.parse().map_err(|e| {
            StartError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{e}"),
            ))
        })?;
        regs.insert(
            host,
            RegistryAuthConfig {
                insecure: settings.insecure,
                username: settings.username.clone(),
                password: settings.password.as_ref().map(|p| p.expose().to_owned()),
                max_concurrent_requests: settings
                    .max_concurrent_requests
                    .unwrap_or(portcullis_registry::DEFAULT_MAX_CONCURRENT_REQUESTS),
                retry: settings.retry.clone().unwrap_or_default().policy(),
                // Validated at load time; an unparsable entry would only trust less.
                token_realms: settings
                    .token_realms
                    .iter()
                    .filter_map(|r| portcullis_registry::Url::parse(r).ok())
                    .collect(),
                timeouts: settings.timeouts.clone().unwrap_or_default().timeouts(),
            },
        );
    }
    Ok(RegistryClient::new(regs)?)
}

/// The gate's keys: the configured key file, or a throwaway key when the dev flag says so.
/// Without either the service does not start: a gate without its own key could not prove
/// anything it decided.
pub fn load_gate(config: &Config) -> Result<GateKeys, StartError> {
    let key = match (&config.gate.signing_key_file, config.gate.dev_ephemeral_key) {
        (Some(path), _) => GateKey::from_file(path).map_err(|e| StartError::Gate(e.to_string()))?,
        (None, true) => {
            tracing::warn!(
                "serving with a throwaway gate key (--dev-ephemeral-key): nothing it signs outlives this process"
            );
            GateKey::generate().map_err(|e| StartError::Gate(e.to_string()))?
        }
        (None, false) => {
            return Err(StartError::Gate(
                "gate.signing_key_file is not set; create a key with `portcullis keys generate --out FILE` \
                 (or run `serve --dev-ephemeral-key` for a throwaway key)"
                    .into(),
            ));
        }
    };
    let retired = config
        .gate
        .retired_public_keys
        .iter()
        .map(|path| {
            std::fs::read_to_string(path)
                .map_err(|e| format!("{}: {e}", path.display()))
                .and_then(|pem| {
                    PublicKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
                })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(StartError::Gate)?;
    GateKeys::new(key, retired).map_err(|e| StartError::Gate(e.to_string()))
}

/// Where audit checkpoints are witnessed; required unless the key is a throwaway one (then
/// a directory under the system temp dir, gone with the key).
fn checkpoint_schedule(config: &Config) -> Result<Schedule, StartError> {
    let dir = match (&config.audit.checkpoint_dir, config.gate.dev_ephemeral_key) {
        (Some(dir), _) => dir.clone(),
        (None, true) => std::env::temp_dir().join(format!(
            "portcullis-witness-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        )),
        (None, false) => {
            return Err(StartError::Gate(
                "audit.checkpoint_dir is not set: signed audit checkpoints need a witness file outside the database".into(),
            ));
        }
    };
    std::fs::create_dir_all(&dir)?;
    Ok(Schedule {
        file: checkpoints::witness_path(&dir),
        interval: Duration::from_secs(config.audit.checkpoint_interval_seconds),
        every_events: config.audit.checkpoint_every_events,
    })
}

/// Connects, migrates and assembles the shared state.
pub async fn build_state(config: &Config) -> Result<AppState, StartError> {
    let gate = Arc::new(load_gate(config)?);
    let checkpoints = checkpoint_schedule(config)?;
    tracing::info!(
        gate.key_id = gate.ring().current().key_id(),
        "gate key loaded"
    );
    let store = Store::connect_with_pool(
        config.database_url.expose(),
        Duration::from_millis(config.database.acquire_timeout_ms),
        config.database.min_connections,
    )
    .await?
    .with_audit_key(gate.audit_mac().clone())
    .with_token_cache();
    store.migrate().await?;
    let state_watch: Arc<crate::services::watch::StateWatch> = Arc::default();
    let admission = Arc::new(Admission::new(
        config.admission.default_mode,
        config.admission.namespaces.clone(),
        &config.routes,
        VerdictCache::new(state_watch.subscribe()),
    ));
    let policy = PolicyBundle::load(&config.policy_dir)?;
    tracing::info!(policy.digest = %policy.digest(), policy.dir = %config.policy_dir.display(), "policy loaded");
    // Stored before it judges anything, so every decision it makes can be replayed.
    let mut tx = store.begin().await?;
    crate::services::decisions::store_bundle(&mut tx, &policy).await?;
    portcullis_store::commit(tx).await?;
    let registry = registry_client(config)?;
    let (signatures, attestations, keyless) = verifiers(config, &registry)?;
    let cache = &config.trust.cache;
    let evidence = EvidenceCollector::new(
        signatures,
        attestations,
        trust_fingerprint(config)?,
        Duration::from_secs(cache.ttl_seconds),
        Duration::from_secs(cache.negative_ttl_seconds),
        cache.max_entries,
    );
    Ok(AppState {
        store,
        gate: Gate {
            collector: Arc::new(evidence),
            policy: Arc::new(PolicyHandle::new(policy)),
            eval_permits: Arc::new(Semaphore::new(config.policy_concurrency)),
            limits: config.limits.limits(),
            keyless,
            input_cache: Arc::new(InputCache::new(config.evidence.input_cache_max_bytes)),
        },
        registry,
        routes: Arc::new(config.routes.clone()),
        copy_blob_concurrency: config.copy.blob_concurrency,
        copy_wakeup: Arc::new(Notify::new()),
        keys: gate,
        integrity: Arc::new(Integrity::default()),
        checkpoints,
        auth_failures: Arc::new(AuthFailures::new(config.auth_failures.max_per_minute)),
        copy_max_concurrent_jobs: config.copy.max_concurrent_jobs,
        copy_job_deadline: Duration::from_secs(config.copy.job_deadline_seconds),
        copy_attest: config.copy.attest,
        metrics: Arc::default(),
        metrics_settings: config.metrics.clone(),
        webhooks: Arc::new(
            crate::services::webhooks::Webhooks::new(
                &config.webhooks,
                &config.webhook_delivery,
                config.ui.public_url.as_deref(),
            )
            .map_err(StartError::Webhooks)?,
        ),
        oidc: Arc::new(
            crate::oidc::Oidc::load(&config.auth.oidc)
                .await
                .map_err(StartError::Oidc)?,
        ),
        bar_admin_approvals: config.approvals.bar_admins,
        token_max_ttl: Duration::from_secs(config.tokens.max_ttl_hours.saturating_mul(3600)),
        pending_expiry: (config.approvals.pending_expiry_hours > 0).then(|| {
            Duration::from_secs(config.approvals.pending_expiry_hours.saturating_mul(3600))
        }),
        tag_probes: Arc::default(),
        read_ahead: Arc::default(),
        copy_handoff: Arc::default(),
        state_watch,
        audit_anchor: Arc::default(),
        max_wait: Duration::from_secs(config.http.request_timeout_seconds.saturating_sub(1)),
        waiver_max_days: config.waivers.max_days,
        admission,
        simulation_timeout: Duration::from_millis(config.simulation.timeout_ms),
        ui: Arc::new(
            crate::ui::UiConfig::load(&config.ui, &config.auth.oidc).map_err(StartError::Oidc)?,
        ),
    })
}

/// The signature and attestation verifiers the configuration asks for (trusted keys,
/// keyless trust, referrer limits), and the keyless trust's reload handle.
pub fn verifiers(
    config: &Config,
    registry: &RegistryClient,
) -> Result<
    (
        SignatureVerifier,
        AttestationVerifier,
        Option<Arc<KeylessReload>>,
    ),
    StartError,
> {
    let keys: Arc<[TrustedKey]> = config
        .trust
        .keys
        .iter()
        .map(|k| TrustedKey::from_file(&k.id, &k.public_key_file))
        .collect::<Result<Vec<_>, _>>()?
        .into();
    let mut signatures = SignatureVerifier::new(keys.clone(), registry.clone())
        .with_max_referrers(config.limits.max_referrers);
    let mut attestations = AttestationVerifier::new(keys, registry.clone())
        .with_max_referrers(config.limits.max_referrers);
    let keyless = match &config.trust.keyless {
        Some(cfg) => {
            let handle = KeylessHandle::from(KeylessTrust::load(cfg)?);
            signatures = signatures.with_keyless(handle.clone());
            attestations = attestations.with_keyless(handle.clone());
            Some(Arc::new(KeylessReload {
                handle,
                config: cfg.clone(),
            }))
        }
        None => None,
    };
    Ok((signatures, attestations, keyless))
}

/// A hash over everything that decides what verifies: key ids and key contents. Cache
/// entries carry it, so results are never reused across trust configurations.
fn trust_fingerprint(config: &Config) -> Result<String, StartError> {
    let mut hasher = Sha256::new();
    for key in &config.trust.keys {
        let pem = std::fs::read(&key.public_key_file)?;
        hasher.update(key.id.as_bytes());
        hasher.update([0]);
        hasher.update(&pem);
        hasher.update([0]);
    }
    if let Some(keyless) = &config.trust.keyless {
        for path in [
            &keyless.trusted_root,
            &keyless.trust_root,
            &keyless.rekor_public_key,
            &keyless.ctlog_public_key,
        ]
        .into_iter()
        .flatten()
        {
            hasher.update(std::fs::read(path)?);
            hasher.update([0]);
        }
        hasher.update(format!("{:?}", keyless.require_sct).as_bytes());
        hasher.update(format!("{:?}", keyless.identities).as_bytes());
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A built, bound application, ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    auth_flush: (Duration, Duration),
    /// Whether `run_until` runs the background copy worker (tests may run copies
    /// themselves with `copier::run_pending_jobs` instead).
    copy_worker: bool,
}

impl Application {
    /// Builds the state and binds `config.listen` (port 0 picks a free port).
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        let tls = config
            .tls
            .as_ref()
            .map(crate::tls::acceptor)
            .transpose()
            .map_err(StartError::Tls)?;
        let state = build_state(config).await?;
        let listener = TcpListener::bind(config.listen).await?;
        // A body not fully received in time fails its extractor; the connection closes.
        let router = router(
            state.clone(),
            config.max_body_bytes,
            Duration::from_secs(config.http.request_timeout_seconds),
        )
        .layer(RequestBodyDeadlineLayer::new(Duration::from_secs(
            config.http.body_read_timeout_seconds,
        )));
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(config.http.header_read_timeout_seconds),
            max_connections: config.http.max_connections,
        };
        let auth = &config.auth_failures;
        let auth_flush = (
            Duration::from_millis(auth.flush_interval_ms),
            Duration::from_secs(u64::from(auth.retention_days) * 86_400),
        );
        Ok(Self {
            listener,
            state,
            router,
            limits,
            tls,
            auth_flush,
            copy_worker: true,
        })
    }

    /// The same application without the background copy worker: copies run only when
    /// `copier::run_pending_jobs` is called (deterministic tests).
    pub fn without_copy_worker(mut self) -> Self {
        self.copy_worker = false;
        self
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// The shared state (for tests and the CLI).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves and runs the copy worker until `shutdown` resolves.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let worker = self
            .copy_worker
            .then(|| tokio::spawn(copier::run(self.state.clone())));
        let witness = tokio::spawn(checkpoints::run(
            self.state.store.clone(),
            self.state.keys.clone(),
            self.state.integrity.clone(),
            self.state.checkpoints.clone(),
        ));
        let reloader = tokio::spawn(reload_on_sighup(self.state.clone()));
        let expirer = tokio::spawn(crate::services::expiry::run(self.state.clone()));
        let waiver_sweeper = tokio::spawn(crate::services::waivers::run(self.state.clone()));
        let webhooks = tokio::spawn(crate::services::webhooks::run(
            self.state.store.clone(),
            self.state.webhooks.clone(),
        ));
        let state_watch = tokio::spawn(crate::services::watch::run(
            self.state.store.clone(),
            self.state.state_watch.clone(),
        ));
        let ui_sweeper = self.state.ui.enabled.then(|| {
            tokio::spawn(crate::services::ui_sessions::sweep(
                self.state.store.clone(),
                self.state.ui.idle_timeout,
            ))
        });
        let failures = self.state.auth_failures.clone();
        let (interval, retention) = self.auth_flush;
        let flusher = tokio::spawn(failures.clone().run_flusher(
            self.state.store.clone(),
            interval,
            retention,
        ));
        serve(self.listener, self.router, self.limits, self.tls, shutdown).await;
        if let Some(worker) = worker {
            worker.abort();
        }
        witness.abort();
        reloader.abort();
        expirer.abort();
        waiver_sweeper.abort();
        webhooks.abort();
        state_watch.abort();
        flusher.abort();
        if let Some(sweeper) = ui_sweeper {
            sweeper.abort();
        }
        // What was counted since the last tick is not lost on a clean shutdown.
        let _ = failures.flush(&self.state.store).await;
        Ok(())
    }
}

/// Reloads the policy bundle on every SIGHUP; a refused reload is logged and audited and
/// the previous bundle keeps serving.
async fn reload_on_sighup(state: AppState) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload with POST /v1/admin/policy/reload");
                return;
            }
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the policy bundle and the keyless trust");
            match state.gate.reload_keyless() {
                Ok(()) => tracing::info!("keyless trust reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "keyless trust reload refused; the previous trust keeps serving")
                }
            }
            // The outcome is logged and audited inside reload.
            if let Ok(r) = state.gate.policy.reload(&state.store, "sighup").await
                && r.changed
            {
                let by = crate::services::waivers::system_caller();
                match crate::services::promotions::rejudge_after_reload(&state, &by).await {
                    Ok(n) => tracing::info!(
                        promotions.rejudged = n,
                        "pending promotions judged under the new policy"
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, "judging pending promotions again failed; each is judged at its next vote")
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = state;
    }
}
