//! Command line and environment: the one place that reads configuration.
//!
//! Every option is also an environment variable with the name DESIGN.md gives it; clap
//! reads both, flags winning. [`Settings`] is parsed once at start into typed values, and
//! a bad value stops the binary with one line naming the setting.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The chat-history service: durable chat threads and messages behind a REST v1 API.
#[derive(Debug, Parser)]
#[command(name = "chat-history", version, about, long_about = None)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Settings shared by every command.
    #[command(flatten)]
    pub settings: Settings,
}

/// The binary's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a JWT for USER_ID that this server accepts (development secret, or
    /// JWT_HS256_SECRET when set). Valid for 24 hours unless --ttl-secs says otherwise.
    DevToken {
        /// The user id to put in `sub`.
        user_id: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl_secs: i64,
    },
    /// Delete history now: one user's (`--user`, when their account is deleted), or every
    /// thread not changed for `--older-than` days. Prints what it deleted.
    Purge(PurgeArgs),
    /// Import an export file into one user's history, as `POST /api/v1/me/import` does for
    /// the caller, with a progress bar on a terminal. Prints what it imported.
    Import(ImportArgs),
    /// Print the OpenAPI 3.1 document this binary serves at `/openapi.json` (pretty, as
    /// committed in the repository's `openapi.json`).
    Openapi,
    /// Ask `/readyz` of the server at LISTEN_ADDR (loopback when it listens on all
    /// addresses): exit 0 when it answers 200, non-zero otherwise. For container health
    /// checks (the image has no curl).
    Healthcheck {
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
}

/// What `purge` deletes: exactly one of `--user` and `--older-than`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["user", "older_than"]))]
pub struct PurgeArgs {
    /// Delete all threads and messages of this user (the Better Auth user id).
    #[arg(long)]
    pub user: Option<String>,
    /// Delete every thread whose last change is more than this many days ago.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub older_than: Option<u32>,
    /// With `--older-than`: print what would be deleted, delete nothing.
    #[arg(long, requires = "older_than", conflicts_with = "user")]
    pub dry_run: bool,
}

/// What `import` reads, and for whom.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The user (the Better Auth user id) whose history receives the file.
    #[arg(long)]
    pub user: String,
    /// The file's format: `chat-history` (this service's export), `chatgpt` or `claude`
    /// (their `conversations.json`).
    #[arg(long, default_value = "chat-history", value_parser = ["chat-history", "chatgpt", "claude"])]
    pub format: String,
    /// The export file.
    pub file: PathBuf,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for machines.
    Json,
    /// Human-readable lines.
    Pretty,
}

/// What sits between the service and PostgreSQL (`DB_POOLER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum DbPooler {
    /// Nothing, or a pooler in session mode.
    #[default]
    None,
    /// A pooler in transaction mode (PgBouncer `pool_mode = transaction`, hosted poolers).
    Transaction,
}

/// Every setting of the service. Secrets are never printed by `Debug`.
#[derive(Clone, Args)]
pub struct Settings {
    /// Database: `postgres://...` or `sqlite://...`.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://data/chat-history.db?mode=rwc",
        global = true
    )]
    pub database_url: String,

    /// Address to serve on.
    #[arg(
        long,
        env = "LISTEN_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen_addr: SocketAddr,

    /// Better Auth's secret, to verify signed session cookies and tokens.
    #[arg(
        long,
        env = "BETTER_AUTH_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub better_auth_secret: Option<String>,

    /// Better Auth's base URL: JWKS at `$BETTER_AUTH_URL/api/auth/jwks`, default JWT
    /// issuer and audience.
    #[arg(long, env = "BETTER_AUTH_URL", global = true)]
    pub better_auth_url: Option<String>,

    /// JWKS URL (overrides the one derived from BETTER_AUTH_URL).
    #[arg(long, env = "JWT_JWKS_URL", global = true)]
    pub jwt_jwks_url: Option<String>,

    /// Required JWT `iss` (default: the origin of BETTER_AUTH_URL when set, which is what
    /// Better Auth's `jwt` plugin puts in).
    #[arg(long, env = "JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,

    /// Required JWT `aud` (default: the origin of BETTER_AUTH_URL when set).
    #[arg(long, env = "JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,

    /// Accept HS256 JWTs signed with this secret.
    #[arg(long, env = "JWT_HS256_SECRET", hide_env_values = true, global = true)]
    pub jwt_hs256_secret: Option<String>,

    /// Accept JWTs signed by this PEM public key (RS256/ES256/EdDSA).
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE", global = true)]
    pub jwt_public_key_file: Option<PathBuf>,

    /// Comma-separated origins: the CORS allow-list and the cookie CSRF check.
    #[arg(
        long,
        env = "TRUSTED_ORIGINS",
        value_delimiter = ',',
        default_value = "",
        global = true
    )]
    pub trusted_origins: Vec<String>,

    /// Where Better Auth's `session` table lives when not in DATABASE_URL's database.
    #[arg(
        long,
        env = "BETTER_AUTH_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub better_auth_database_url: Option<String>,

    /// Most connections to BETTER_AUTH_DATABASE_URL's database, for session lookups (when
    /// sessions are in DATABASE_URL's database they share its pool instead).
    #[arg(
        long,
        env = "BETTER_AUTH_DB_MAX_CONNECTIONS",
        default_value_t = 4,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub better_auth_db_max_connections: u32,

    /// Better Auth's session table, if renamed in its config (`session.modelName`); may be
    /// schema-qualified (`auth.session`).
    #[arg(
        long,
        env = "BETTER_AUTH_SESSION_TABLE",
        default_value = "session",
        global = true
    )]
    pub better_auth_session_table: String,

    /// The session table's token column, if renamed (`session.fields.token`).
    #[arg(
        long,
        env = "BETTER_AUTH_SESSION_TOKEN_COLUMN",
        default_value = "token",
        global = true
    )]
    pub better_auth_session_token_column: String,

    /// The session table's user id column, if renamed (`session.fields.userId`).
    #[arg(
        long,
        env = "BETTER_AUTH_SESSION_USER_ID_COLUMN",
        default_value = "userId",
        global = true
    )]
    pub better_auth_session_user_id_column: String,

    /// The session table's expiry column, if renamed (`session.fields.expiresAt`).
    #[arg(
        long,
        env = "BETTER_AUTH_SESSION_EXPIRES_AT_COLUMN",
        default_value = "expiresAt",
        global = true
    )]
    pub better_auth_session_expires_at_column: String,

    /// Refuse raw (unsigned) session tokens in `Authorization: Bearer`, like Better Auth's
    /// `bearer({ requireSignature: true })`.
    #[arg(long, env = "BETTER_AUTH_REQUIRE_SIGNED_BEARER", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub better_auth_require_signed_bearer: bool,

    /// How long a verified session may be reused without a database lookup (seconds, 0
    /// disables the cache). A signed-out session keeps working this long at most.
    #[arg(
        long,
        env = "SESSION_CACHE_TTL_SECS",
        default_value_t = 5,
        global = true
    )]
    pub session_cache_ttl_secs: u64,

    /// The most database connections the process holds at once (default: 3 per core + 2,
    /// at most 32). On PostgreSQL one pool serves every request, transactions and Better
    /// Auth session lookups in the same database included; one more (inside this number)
    /// listens for live events, so it must be at least 2 there; migrations at start open
    /// their own two.
    #[arg(long, env = "DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<u32>,

    /// How long a request waits for a database connection before it gets 503 (seconds).
    #[arg(
        long,
        env = "DB_ACQUIRE_TIMEOUT_SECS",
        default_value_t = 5,
        global = true
    )]
    pub db_acquire_timeout_secs: u64,

    /// PostgreSQL: the longest one statement may run, waiting for locks included, before
    /// it is cancelled and the request gets 503 (seconds; 0: no limit). Migrations are
    /// never limited.
    #[arg(
        long,
        env = "DB_STATEMENT_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub db_statement_timeout_secs: u64,

    /// PostgreSQL: `transaction` when DATABASE_URL goes through a pooler in transaction
    /// mode (PgBouncer, hosted poolers): every statement then runs in a transaction of its
    /// own, unnamed, with the statement timeout set by `SET LOCAL`; migrations need a
    /// direct MIGRATE_DATABASE_URL.
    #[arg(long, env = "DB_POOLER", value_enum, default_value_t = DbPooler::None, global = true)]
    pub db_pooler: DbPooler,

    /// PostgreSQL: where migrations connect, when not DATABASE_URL (a direct connection
    /// when DATABASE_URL goes through a transaction pooler).
    #[arg(
        long,
        env = "MIGRATE_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub migrate_database_url: Option<String>,

    /// Apply pending migrations when the server starts. Turn off when migrations run as
    /// a separate deployment step (`chat-history migrate`).
    #[arg(long, env = "MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub migrate_on_start: bool,

    /// Requests per minute each user may make, sustained (0 disables rate limiting).
    #[arg(
        long,
        env = "RATE_LIMIT_PER_MINUTE",
        default_value_t = 1200,
        global = true
    )]
    pub rate_limit_per_minute: u32,

    /// Requests each user may make at once, on top of the sustained rate.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 100, global = true)]
    pub rate_limit_burst: u32,

    /// Seconds a client has to send its request head, and then its body, before the
    /// connection is closed (head) or answered 408 (body).
    #[arg(long, env = "CLIENT_TIMEOUT_SECS", default_value_t = 15, global = true)]
    pub client_timeout_secs: u64,

    /// How long live events are kept for replay with `Last-Event-ID` (seconds).
    #[arg(
        long,
        env = "EVENTS_RETENTION_SECS",
        default_value_t = 300,
        global = true
    )]
    pub events_retention_secs: u64,

    /// Live event streams (`GET /api/v1/events`) one user may hold open on one process;
    /// one more gets 429.
    #[arg(
        long,
        env = "EVENTS_MAX_STREAMS_PER_USER",
        default_value_t = 16,
        global = true
    )]
    pub events_max_streams_per_user: usize,

    /// Seconds between the comment lines that keep an idle event stream open.
    #[arg(
        long,
        env = "EVENTS_HEARTBEAT_SECS",
        default_value_t = 15,
        global = true
    )]
    pub events_heartbeat_secs: u64,

    /// Delete threads not changed for this many days (unset: keep forever). The sweeper
    /// applies it every RETENTION_SWEEP_SECS.
    #[arg(long, env = "RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub retention_days: Option<u32>,

    /// Seconds between two sweeps, which delete expired temporary chats (and, with
    /// RETENTION_DAYS, threads past retention). The first runs at start.
    #[arg(
        long,
        env = "RETENTION_SWEEP_SECS",
        default_value_t = 60,
        global = true
    )]
    pub retention_sweep_secs: u64,

    /// Largest message `content`, in bytes of its JSON serialization.
    #[arg(long, env = "MAX_CONTENT_BYTES", default_value_t = domain::Limits::DEFAULT_MAX_CONTENT_BYTES, global = true)]
    pub max_content_bytes: usize,

    /// Largest file `POST /api/v1/me/import` accepts, in bytes (413 beyond).
    #[arg(long, env = "MAX_IMPORT_BYTES", default_value_t = 256 * 1024 * 1024, global = true)]
    pub max_import_bytes: u64,

    /// Where the development JWT secret is kept when no authentication is configured.
    #[arg(
        long,
        env = "DEV_SECRET_FILE",
        default_value = "data/dev-secret",
        global = true
    )]
    pub dev_secret_file: PathBuf,

    /// Log format (default: pretty on a terminal, json otherwise).
    #[arg(long, env = "LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("listen_addr", &self.listen_addr)
            .field("better_auth_secret", &redact(&self.better_auth_secret))
            .field("better_auth_url", &self.better_auth_url)
            .field("jwt_jwks_url", &self.jwt_jwks_url)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("jwt_hs256_secret", &redact(&self.jwt_hs256_secret))
            .field("jwt_public_key_file", &self.jwt_public_key_file)
            .field("trusted_origins", &self.trusted_origins)
            .field(
                "better_auth_database_url",
                &self.better_auth_database_url.as_deref().map(redact_url),
            )
            .field(
                "migrate_database_url",
                &self.migrate_database_url.as_deref().map(redact_url),
            )
            .field("db_pooler", &self.db_pooler)
            .field("better_auth_session_table", &self.better_auth_session_table)
            .field(
                "better_auth_session_token_column",
                &self.better_auth_session_token_column,
            )
            .field(
                "better_auth_session_user_id_column",
                &self.better_auth_session_user_id_column,
            )
            .field(
                "better_auth_session_expires_at_column",
                &self.better_auth_session_expires_at_column,
            )
            .field(
                "better_auth_require_signed_bearer",
                &self.better_auth_require_signed_bearer,
            )
            .field("session_cache_ttl_secs", &self.session_cache_ttl_secs)
            .field("db_max_connections", &self.db_max_connections)
            .field(
                "better_auth_db_max_connections",
                &self.better_auth_db_max_connections,
            )
            .field("db_acquire_timeout_secs", &self.db_acquire_timeout_secs)
            .field("db_statement_timeout_secs", &self.db_statement_timeout_secs)
            .field("migrate_on_start", &self.migrate_on_start)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .field("client_timeout_secs", &self.client_timeout_secs)
            .field("events_retention_secs", &self.events_retention_secs)
            .field(
                "events_max_streams_per_user",
                &self.events_max_streams_per_user,
            )
            .field("events_heartbeat_secs", &self.events_heartbeat_secs)
            .field("retention_days", &self.retention_days)
            .field("retention_sweep_secs", &self.retention_sweep_secs)
            .field("max_content_bytes", &self.max_content_bytes)
            .field("max_import_bytes", &self.max_import_bytes)
            .field("dev_secret_file", &self.dev_secret_file)
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// The settings that hold secrets, each also read from a file named by `<NAME>_FILE`
/// (Docker and Kubernetes secrets), with the flag each stands for.
pub const SECRET_FILE_SETTINGS: [(&str, &str); 5] = [
    ("DATABASE_URL", "--database-url"),
    ("MIGRATE_DATABASE_URL", "--migrate-database-url"),
    ("BETTER_AUTH_DATABASE_URL", "--better-auth-database-url"),
    ("BETTER_AUTH_SECRET", "--better-auth-secret"),
    ("JWT_HS256_SECRET", "--jwt-hs256-secret"),
];

/// The command line with every `<NAME>_FILE` of [`SECRET_FILE_SETTINGS`] read into its
/// flag (the file's content without one final line break), so that the value never sits
/// in the environment or in the process's visible arguments. `env` reads a variable.
///
/// Errors (one line naming the variables): both `<NAME>` and `<NAME>_FILE` set, a file
/// that cannot be read or is not UTF-8, an empty file.
pub fn with_secret_files(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Vec<std::ffi::OsString>, String> {
    let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
    for (name, flag) in SECRET_FILE_SETTINGS {
        let file_var = format!("{name}_FILE");
        let Some(path) = env(&file_var) else {
            continue;
        };
        if env(name).is_some() {
            return Err(format!(
                "{name} and {file_var} are both set: set one of them"
            ));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{file_var}: cannot read {}: {e}", path.to_string_lossy()))?;
        let value = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text);
        if value.is_empty() {
            return Err(format!("{file_var}: {} is empty", path.to_string_lossy()));
        }
        args.push(format!("{flag}={value}").into());
    }
    Ok(args)
}

/// A database URL with its password replaced, for logs.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // set_password only fails for URLs that cannot have one, excluded above.
            let _ = parsed.set_password(Some("<redacted>"));
            parsed.to_string()
        }
        _ => raw.to_owned(),
    }
}

impl Settings {
    /// The settings of an empty command line: defaults, overridden by whatever the
    /// environment sets. Tests start from this and override the fields they care about.
    pub fn defaults() -> Self {
        let cli = <Cli as clap::Parser>::parse_from(["chat-history"]);
        cli.settings
    }

    /// True when no way of authenticating is configured, so the binary falls back to its
    /// local development secret.
    pub fn uses_dev_secret(&self) -> bool {
        self.jwt_hs256_secret.is_none()
            && self.jwt_public_key_file.is_none()
            && self.better_auth_secret.is_none()
            && self.better_auth_url.is_none()
            && self.jwt_jwks_url.is_none()
    }
}
