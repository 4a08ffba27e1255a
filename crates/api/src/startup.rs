//! Composition root: builds the adapters, the services and the HTTP server from
//! [`Settings`]. The only place that knows every crate.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::{Method, header};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, Resource, web};

use auth::{AuthConfig, AuthConfigError, Authenticator, Secret, better_auth_endpoints};
use domain::{
    EventService, ImportService, Limits, MessageService, RetentionService, SearchService,
    SessionStore, ThreadService, UserId,
};
use infra_postgres::better_auth::{BetterAuthNames, BetterAuthSessionStore};
use infra_postgres::{Backend, Pooler, Store, StoreOptions};

use crate::config::{DbPooler, Settings};
use crate::error::ApiError;
use crate::events::{EventHub, HubSettings};
use crate::extract::{BodyLimit, BodyTimeout, TrustedOrigins};
use crate::metrics::{Metrics, PoolStats};
use crate::middleware::{compress_large_responses, request_id_and_log};
use crate::openapi;
use crate::rate_limit::UserRateLimiter;
use crate::routes::{self, events, export, health, import, me, messages, search, threads};
use crate::state::AppState;

/// Why the service could not start. Each message names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened.
    #[error("DATABASE_URL ({url}): cannot open the database")]
    Database {
        /// The URL, password redacted.
        url: String,
        /// Why.
        #[source]
        source: domain::StoreError,
    },
    /// Migrations failed.
    #[error("DATABASE_URL ({url}): migrations failed")]
    Migrate {
        /// The URL, password redacted.
        url: String,
        /// Why.
        #[source]
        source: domain::StoreError,
    },
    /// The listen address could not be bound.
    #[error("LISTEN_ADDR ({addr}): cannot listen")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The development secret could not be read or created.
    #[error("DEV_SECRET_FILE ({}): cannot read or create the development secret", path.display())]
    DevSecret {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Better Auth's database could not be opened.
    #[error("BETTER_AUTH_DATABASE_URL / DATABASE_URL ({url}): cannot open Better Auth's database")]
    SessionDatabase {
        /// The URL, password redacted.
        url: String,
        /// Why.
        #[source]
        source: domain::StoreError,
    },
    /// Settings that do not work together (the message names them).
    #[error("{0}")]
    Settings(String),
    /// An authentication setting is unusable.
    #[error("{0}")]
    Auth(String),
    /// The server failed while running.
    #[error("the server stopped with an error")]
    Server(#[source] io::Error),
    /// A command (`purge`, `import`) failed.
    #[error("{0}")]
    Command(String),
    /// `healthcheck`: the server did not answer ready.
    #[error("LISTEN_ADDR ({url}): not ready: {why}")]
    NotReady {
        /// The URL asked.
        url: String,
        /// The status it answered, or why there was no answer.
        why: String,
    },
}

/// `chat-history healthcheck`: asks `/readyz` of the server at `settings.listen_addr`
/// (loopback of the same family when it is an unspecified address) and succeeds on 200.
pub async fn healthcheck(settings: &Settings, timeout_secs: u64) -> Result<(), StartupError> {
    let mut addr = settings.listen_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let url = format!("http://{addr}/readyz");
    let not_ready = |why: String| StartupError::NotReady {
        url: url.clone(),
        why,
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(timeout_secs.max(1)))
        .build()
        .map_err(|e| not_ready(e.to_string()))?;
    let res = client
        .get(&url)
        .send()
        .await
        .map_err(|e| not_ready(e.to_string()))?;
    if res.status() == reqwest::StatusCode::OK {
        Ok(())
    } else {
        Err(not_ready(format!("answered {}", res.status())))
    }
}

/// Reads the development secret, creating it (mode 0600) on first use.
pub fn load_or_create_dev_secret(path: &Path) -> Result<Secret, StartupError> {
    let wrap = |source| StartupError::DevSecret {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(Secret::new(text.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(wrap(e)),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(wrap)?;
    }
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(wrap)?;
    io::Write::write_all(&mut file, secret.as_bytes()).map_err(wrap)?;
    Ok(Secret::new(secret))
}

/// The HS256 secret used by `dev-token`: JWT_HS256_SECRET when set, else the development
/// secret.
pub fn token_secret(settings: &Settings) -> Result<Secret, StartupError> {
    match &settings.jwt_hs256_secret {
        Some(secret) => Ok(Secret::new(secret.clone())),
        None => load_or_create_dev_secret(&settings.dev_secret_file),
    }
}

/// Mints a token for `user` with the secret `dev-token` uses.
pub fn dev_token(settings: &Settings, user: &str, ttl_secs: i64) -> Result<String, StartupError> {
    let user = UserId::parse(user).map_err(|e| StartupError::Auth(format!("USER_ID: {e}")))?;
    let secret = token_secret(settings)?;
    auth::mint_hs256(&secret, &user, ttl_secs).map_err(|e| StartupError::Auth(e.to_string()))
}

/// Builds the authenticator from the JWT and Better Auth settings; in development mode
/// (nothing configured) from the local development secret only.
async fn build_authenticator(
    settings: &Settings,
    store: &Store,
) -> Result<Authenticator, StartupError> {
    let auth_error = |e: AuthConfigError| StartupError::Auth(e.to_string());
    let hs256_secret = if settings.uses_dev_secret() {
        let secret = load_or_create_dev_secret(&settings.dev_secret_file)?;
        tracing::warn!(
            secret_file = %settings.dev_secret_file.display(),
            "DEVELOPMENT MODE: no authentication is configured, so only tokens signed with the \
             local development secret are accepted. Mint one with `chat-history dev-token <user-id>`. \
             Configure BETTER_AUTH_SECRET / BETTER_AUTH_URL / JWT_* for production."
        );
        Some(secret)
    } else {
        settings.jwt_hs256_secret.clone().map(Secret::new)
    };
    let endpoints = settings
        .better_auth_url
        .as_deref()
        .map(better_auth_endpoints)
        .transpose()
        .map_err(auth_error)?;
    let public_key_pem = match &settings.jwt_public_key_file {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            StartupError::Auth(format!(
                "JWT_PUBLIC_KEY_FILE ({}): cannot read the file: {e}",
                path.display()
            ))
        })?),
        None => None,
    };
    let config = AuthConfig {
        hs256_secret,
        public_key_pem,
        jwks_url: settings
            .jwt_jwks_url
            .clone()
            .or_else(|| endpoints.as_ref().map(|e| e.jwks_url.clone())),
        issuer: settings
            .jwt_issuer
            .clone()
            .or_else(|| endpoints.as_ref().map(|e| e.issuer.clone())),
        audience: settings
            .jwt_audience
            .clone()
            .or_else(|| endpoints.as_ref().map(|e| e.issuer.clone())),
        better_auth_secret: settings.better_auth_secret.clone().map(Secret::new),
        session_store: session_store(settings, store).await?,
        session_cache_ttl: Duration::from_secs(settings.session_cache_ttl_secs),
        require_signed_bearer: settings.better_auth_require_signed_bearer,
        ..AuthConfig::default()
    };
    Authenticator::new(config).map_err(auth_error)
}

/// Better Auth's session table, when sessions are in use (`BETTER_AUTH_SECRET` or
/// `BETTER_AUTH_DATABASE_URL` set): in `BETTER_AUTH_DATABASE_URL`'s database, else in
/// `DATABASE_URL`'s when that is PostgreSQL. `None` for JWT-only deployments.
async fn session_store(
    settings: &Settings,
    store: &Store,
) -> Result<Option<Arc<dyn SessionStore>>, StartupError> {
    let shared = settings.better_auth_database_url.is_none()
        && settings.better_auth_secret.is_some()
        && store.backend() == Backend::Postgres;
    if settings.better_auth_database_url.is_none() && !shared {
        // JWT-only, or BETTER_AUTH_SECRET without a PostgreSQL database (the authenticator
        // refuses that with a message naming both settings).
        return Ok(None);
    }
    let names = BetterAuthNames {
        session_table: settings.better_auth_session_table.clone(),
        token_column: settings.better_auth_session_token_column.clone(),
        user_id_column: settings.better_auth_session_user_id_column.clone(),
        expires_at_column: settings.better_auth_session_expires_at_column.clone(),
    };
    names
        .validate()
        .map_err(|e| StartupError::Auth(e.to_string()))?;
    let url = settings
        .better_auth_database_url
        .as_deref()
        .unwrap_or(&settings.database_url);
    let redacted = crate::config::redact_url(url);
    let sessions = if shared {
        // In the service's own database: on its pool, under DB_MAX_CONNECTIONS.
        store.better_auth_sessions(names)
    } else {
        BetterAuthSessionStore::connect(
            url,
            names,
            settings.better_auth_db_max_connections,
            pooler(settings),
        )
        .await
    }
    .map_err(|source| StartupError::SessionDatabase {
        url: redacted.clone(),
        source,
    })?;
    // A missing table is not fatal: Better Auth may not have migrated yet. Say so once
    // here; session requests answer 503 until it has.
    if let Err(e) = sessions.check().await {
        tracing::warn!(
            database = %redacted,
            table = %settings.better_auth_session_table,
            error = %e,
            "Better Auth's session table cannot be read (yet); session cookies and tokens \
             will get 503 until it can. Check BETTER_AUTH_DATABASE_URL and \
             BETTER_AUTH_SESSION_* if this persists."
        );
    }
    Ok(Some(Arc::new(sessions)))
}

fn store_options(settings: &Settings) -> StoreOptions {
    let mut options = StoreOptions::default();
    if let Some(max) = settings.db_max_connections {
        options.max_connections = max;
    }
    options.acquire_timeout = Duration::from_secs(settings.db_acquire_timeout_secs.max(1));
    options.statement_timeout = (settings.db_statement_timeout_secs > 0)
        .then(|| Duration::from_secs(settings.db_statement_timeout_secs));
    options.pooler = pooler(settings);
    options
}

fn pooler(settings: &Settings) -> Pooler {
    match settings.db_pooler {
        DbPooler::None => Pooler::None,
        DbPooler::Transaction => Pooler::Transaction,
    }
}

/// Opens the store at `DATABASE_URL`, migrating through `MIGRATE_DATABASE_URL` when set.
/// Behind a transaction pooler migrations need that direct connection (their advisory
/// lock is a session's, and sea-orm-migration names its prepared statements).
async fn open_store(settings: &Settings, will_migrate: bool) -> Result<Store, StartupError> {
    let url = crate::config::redact_url(&settings.database_url);
    if will_migrate
        && settings.db_pooler == DbPooler::Transaction
        && settings.migrate_database_url.is_none()
        && Backend::from_url(&settings.database_url) == Some(Backend::Postgres)
    {
        return Err(StartupError::Settings(
            "DB_POOLER=transaction: set MIGRATE_DATABASE_URL to a direct connection for \
             migrations (or MIGRATE_ON_START=false and migrate as a deploy step)"
                .to_owned(),
        ));
    }
    let store = Store::connect(&settings.database_url, store_options(settings))
        .await
        .map_err(|source| StartupError::Database { url, source })?;
    Ok(match &settings.migrate_database_url {
        Some(direct) => store.migrate_through(direct),
        None => store,
    })
}

/// Opens the database for a command, migrating it first unless `MIGRATE_ON_START=false`
/// (so that a command works on a fresh database as the server would).
pub(crate) async fn open_migrated(settings: &Settings) -> Result<Store, StartupError> {
    let store = open_store(settings, settings.migrate_on_start).await?;
    if settings.migrate_on_start {
        store
            .migrate()
            .await
            .map_err(|source| StartupError::Migrate {
                url: crate::config::redact_url(&settings.database_url),
                source,
            })?;
    }
    Ok(store)
}

/// Opens the database and applies migrations (the `migrate` command).
pub async fn migrate(settings: &Settings) -> Result<(), StartupError> {
    let url = crate::config::redact_url(&settings.database_url);
    let store = open_store(settings, true).await?;
    store
        .migrate()
        .await
        .map_err(|source| StartupError::Migrate { url, source })?;
    store.close().await;
    Ok(())
}

fn cors(origins: &TrustedOrigins) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("x-request-id"),
            // EventSource resends it on reconnect (GET /api/v1/events).
            header::HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("idempotent-replayed"),
        ])
        .supports_credentials()
        .block_on_origin_mismatch(false)
        .max_age(3600);
    for origin in origins.as_slice() {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// A resource whose unsupported methods answer 405 with `Allow` (actix's default is a
/// bare 405 without a problem document).
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(routes::method_not_allowed))
}

/// Registers every route of the v1 contract and the probes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)))
        .service(resource("/metrics").route(web::get().to(crate::metrics::metrics)))
        .service(resource("/openapi.json").route(web::get().to(openapi::openapi_json)))
        .service(resource("/docs").route(web::get().to(openapi::docs)))
        .service(openapi::swagger_ui())
        .service(
            // Resources are tried in order and each pattern with a parameter costs a regex
            // match: the two hottest routes (list and append messages) come first.
            web::scope("/api/v1")
                .service(
                    resource("/threads/{thread_id}/messages")
                        .route(web::get().to(messages::list_messages))
                        .route(web::post().to(messages::append_message)),
                )
                .service(
                    resource("/threads")
                        .route(web::get().to(threads::list_threads))
                        .route(web::post().to(threads::create_thread)),
                )
                .service(
                    resource("/threads/{thread_id}")
                        .route(web::get().to(threads::get_thread))
                        .route(web::patch().to(threads::update_thread))
                        .route(web::delete().to(threads::delete_thread)),
                )
                .service(
                    resource("/threads/{thread_id}/fork")
                        .route(web::post().to(threads::fork_thread)),
                )
                .service(
                    resource("/threads/{thread_id}/export")
                        .route(web::get().to(export::export_thread)),
                )
                // Before `{message_id}`, which would otherwise match "batch".
                .service(
                    resource("/threads/{thread_id}/messages/batch")
                        .app_data(BodyLimit::BATCH)
                        .route(web::post().to(messages::append_batch)),
                )
                .service(
                    resource("/threads/{thread_id}/messages/{message_id}")
                        .route(web::get().to(messages::get_message))
                        .route(web::put().to(messages::put_message))
                        .route(web::patch().to(messages::update_message))
                        .route(web::delete().to(messages::delete_message)),
                )
                .service(
                    resource("/threads/{thread_id}/messages/{message_id}/feedback")
                        .route(web::put().to(messages::put_feedback))
                        .route(web::delete().to(messages::delete_feedback)),
                )
                .service(resource("/search").route(web::get().to(search::search_messages)))
                .service(resource("/events").route(web::get().to(events::events)))
                .service(resource("/me").route(web::get().to(me::me)))
                .service(resource("/me/history").route(web::delete().to(me::delete_history)))
                .service(resource("/me/export").route(web::get().to(export::export_history)))
                .service(resource("/me/import").route(web::post().to(import::import_history))),
        )
        .default_service(web::to(routes::not_found));
}

/// A built server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    hub: EventHub,
}

/// Stops a running [`Application`]: ends the live event streams first (they would
/// otherwise hold a graceful stop until its timeout), then stops the server.
#[derive(Clone)]
pub struct Stopper {
    server: ServerHandle,
    hub: EventHub,
}

impl std::fmt::Debug for Stopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stopper").finish_non_exhaustive()
    }
}

impl Stopper {
    /// Stops the server; `graceful`: in-flight requests finish (up to 30 s) and event
    /// streams end cleanly, else connections are dropped.
    pub async fn stop(&self, graceful: bool) {
        self.hub.close();
        self.server.stop(graceful).await;
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the database (migrating it unless told not to), builds the authenticator and
    /// binds `LISTEN_ADDR` (port 0 picks a free port; see [`Application::port`]).
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let url = crate::config::redact_url(&settings.database_url);
        let store = open_store(&settings, settings.migrate_on_start).await?;
        if settings.migrate_on_start {
            // On connections of its own, without the statement timeout.
            store
                .migrate()
                .await
                .map_err(|source| StartupError::Migrate {
                    url: url.clone(),
                    source,
                })?;
        }
        let authenticator = web::Data::new(build_authenticator(&settings, &store).await?);
        if settings.db_pooler == DbPooler::Transaction && settings.migrate_database_url.is_none() {
            tracing::warn!(
                "DB_POOLER=transaction without MIGRATE_DATABASE_URL: live events listen through \
                 the pooler, where LISTEN does not hold, so events written through other \
                 replicas may arrive late (up to 5 s). Set MIGRATE_DATABASE_URL to a direct \
                 connection."
            );
        }
        store
            .start_events()
            .await
            .map_err(|source| StartupError::Database {
                url: url.clone(),
                source,
            })?;
        let probe_store = store.clone();
        let probe = Arc::new(move || {
            let stats = probe_store.pool_stats();
            PoolStats {
                size: stats.size,
                idle: stats.idle,
                max: stats.max,
                waiting: stats.waiting,
            }
        });
        let metrics = web::Data::new(
            Metrics::new(Some(probe)).map_err(|e| StartupError::Auth(format!("metrics: {e}")))?,
        );
        tokio::spawn(crate::retention::sweep_forever(
            RetentionService::new(
                store.thread_repository(),
                settings.retention_days.map(crate::retention::period),
            ),
            metrics.get_ref().clone(),
            Duration::from_secs(settings.retention_sweep_secs.max(1)),
        ));
        let hub = EventHub::start(
            EventService::new(
                store.event_log(),
                store.thread_repository(),
                Duration::from_secs(settings.events_retention_secs),
            ),
            store.event_signals(),
            HubSettings {
                max_streams_per_user: settings.events_max_streams_per_user,
                heartbeat: Duration::from_secs(settings.events_heartbeat_secs.max(1)),
                open_streams: metrics.event_streams(),
                ended_streams: metrics.event_streams_ended(),
                reads: metrics.event_reads(),
            },
        );
        let hub_data = web::Data::new(hub.clone());
        let limits = Limits {
            max_content_bytes: settings.max_content_bytes,
        };
        let max_import_bytes = settings.max_import_bytes;
        let imports = Arc::new(tokio::sync::Semaphore::new(crate::routes::import::AT_ONCE));
        let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let origins = TrustedOrigins::new(&settings.trusted_origins);
        let limiter = web::Data::new(UserRateLimiter::new(
            settings.rate_limit_per_minute,
            settings.rate_limit_burst,
        ));
        let client_timeout = Duration::from_secs(settings.client_timeout_secs.max(1));
        let listener =
            TcpListener::bind(settings.listen_addr).map_err(|source| StartupError::Bind {
                addr: settings.listen_addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.listen_addr,
            source,
        })?;
        let server = HttpServer::new(move || {
            let state = web::Data::new(AppState {
                threads: ThreadService::new(store.thread_repository()),
                messages: MessageService::new(store.message_repository()),
                search: SearchService::new(store.search_repository()),
                limits,
                import: ImportService::new(store.thread_repository(), limits),
                max_import_bytes,
                imports: imports.clone(),
            });
            App::new()
                .app_data(state)
                .app_data(authenticator.clone())
                .app_data(origins.clone())
                .app_data(metrics.clone())
                .app_data(BodyLimit::DEFAULT)
                .app_data(BodyTimeout(client_timeout))
                .app_data(limiter.clone())
                .app_data(hub_data.clone())
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|err, _| ApiError::InvalidQuery(err.to_string()).into()),
                )
                .app_data(
                    web::PathConfig::default()
                        .error_handler(|_, _| ApiError::InvalidPathId("path").into()),
                )
                .wrap(from_fn(compress_large_responses))
                .wrap(cors(&origins))
                .wrap(from_fn(request_id_and_log))
                .configure(routes)
        })
        .workers(workers)
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: settings.listen_addr,
            source,
        })?
        // Slow clients cannot hold connections: the request head must arrive in time, and
        // idle keep-alive connections are closed.
        .client_request_timeout(client_timeout)
        .client_disconnect_timeout(Duration::from_secs(5))
        .keep_alive(Duration::from_secs(75))
        .shutdown_timeout(30)
        // SIGINT and SIGTERM are handled by `run_until_stopped`, which ends the event
        // streams before the graceful stop.
        .disable_signals()
        .run();
        tracing::info!(%addr, database = %url, "chat-history is listening");
        Ok(Self {
            port: addr.port(),
            server,
            hub,
        })
    }

    /// The port the server is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server (gracefully or not), live event streams first.
    pub fn handle(&self) -> Stopper {
        Stopper {
            server: self.server.handle(),
            hub: self.hub.clone(),
        }
    }

    /// Serves until stopped. SIGINT and SIGTERM stop it gracefully: event streams end,
    /// in-flight requests finish (up to 30 s), new connections are refused.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let stopper = self.handle();
        let signals = tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: ending event streams, finishing requests");
            stopper.stop(true).await;
        });
        let served = self.server.await.map_err(StartupError::Server);
        signals.abort();
        served
    }
}

/// SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
