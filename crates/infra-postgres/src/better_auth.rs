//! Read-only access to the `session` table of a Better Auth installation on PostgreSQL:
//! the [`SessionStore`] port for the auth crate.
//!
//! Better Auth owns its tables. This module only ever runs one `SELECT` on them; it never
//! writes, creates or migrates anything. Their names are configurable because Better Auth
//! lets its users rename tables and columns (`session: { modelName, fields }`); the
//! defaults are Better Auth's own (lower-case unquoted table, camelCase quoted columns).

use std::time::Duration;

use async_trait::async_trait;
use sea_orm::{DbBackend, Statement};

use domain::{SessionRecord, SessionStore, StoreError, Timestamp, UserId};

use crate::db::Db;
use crate::pool::{PgPool, PgPoolOptions, Pooler};

/// The names of Better Auth's session table and of the columns read from it. Each is a
/// plain SQL identifier (`[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes); the table may be
/// schema-qualified (`auth.session`). They are quoted, so case is kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BetterAuthNames {
    /// `BETTER_AUTH_SESSION_TABLE`, default `session`.
    pub session_table: String,
    /// `BETTER_AUTH_SESSION_TOKEN_COLUMN`, default `token`.
    pub token_column: String,
    /// `BETTER_AUTH_SESSION_USER_ID_COLUMN`, default `userId`.
    pub user_id_column: String,
    /// `BETTER_AUTH_SESSION_EXPIRES_AT_COLUMN`, default `expiresAt`.
    pub expires_at_column: String,
}

impl Default for BetterAuthNames {
    fn default() -> Self {
        Self {
            session_table: "session".to_owned(),
            token_column: "token".to_owned(),
            user_id_column: "userId".to_owned(),
            expires_at_column: "expiresAt".to_owned(),
        }
    }
}

/// A configured name that is not a plain SQL identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{setting}: {value:?} is not a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*, at most 63 bytes)"
)]
pub struct InvalidName {
    /// The environment variable that holds the name.
    pub setting: &'static str,
    /// The rejected value.
    pub value: String,
}

impl BetterAuthNames {
    /// Checks every name; the error names the setting to fix.
    pub fn validate(&self) -> Result<(), InvalidName> {
        let table_ok = match self.session_table.split_once('.') {
            Some((schema, table)) => is_identifier(schema) && is_identifier(table),
            None => is_identifier(&self.session_table),
        };
        if !table_ok {
            return Err(invalid("BETTER_AUTH_SESSION_TABLE", &self.session_table));
        }
        for (setting, value) in [
            ("BETTER_AUTH_SESSION_TOKEN_COLUMN", &self.token_column),
            ("BETTER_AUTH_SESSION_USER_ID_COLUMN", &self.user_id_column),
            (
                "BETTER_AUTH_SESSION_EXPIRES_AT_COLUMN",
                &self.expires_at_column,
            ),
        ] {
            if !is_identifier(value) {
                return Err(invalid(setting, value));
            }
        }
        Ok(())
    }

    /// `"schema"."table"` or `"table"`.
    fn quoted_table(&self) -> String {
        self.session_table
            .split('.')
            .map(quote)
            .collect::<Vec<_>>()
            .join(".")
    }
}

fn invalid(setting: &'static str, value: &str) -> InvalidName {
    InvalidName {
        setting,
        value: value.to_owned(),
    }
}

fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 63
}

/// Quotes a validated identifier (it cannot contain `"`).
fn quote(identifier: &str) -> String {
    format!("\"{identifier}\"")
}

/// A URL this adapter cannot use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "BETTER_AUTH_DATABASE_URL / DATABASE_URL: Better Auth sessions are read from PostgreSQL \
     only (postgres:// or postgresql://)"
)]
pub struct UnsupportedDatabase;

/// [`SessionStore`] over Better Auth's `session` table in PostgreSQL: on the service's own
/// pool when the table is in the service's database ([`crate::Store::better_auth_sessions`]),
/// else on a small pool of its own ([`BetterAuthSessionStore::connect`]).
///
/// The lookup is SQL text rather than a sea-query statement: the table and column names
/// come from configuration (checked to be plain identifiers, then quoted), and the expiry
/// is read through `EXTRACT(EPOCH FROM ...)`, which sea-query has no builder for.
#[derive(Debug, Clone)]
pub struct BetterAuthSessionStore {
    db: Db,
    find_sql: String,
    check_sql: String,
}

impl BetterAuthSessionStore {
    /// The default of `BETTER_AUTH_DB_MAX_CONNECTIONS`: connections kept at most for
    /// session lookups in a database of their own.
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 4;

    /// Connects to the PostgreSQL database at `url` (Better Auth's database, when it is not
    /// the service's) with a pool of at most `max_connections`, and prepares the lookup
    /// for `names`.
    ///
    /// Errors: [`StoreError::Unexpected`] for names that are not plain identifiers
    /// ([`InvalidName`]) or a URL that is not PostgreSQL ([`UnsupportedDatabase`]);
    /// [`StoreError::Unavailable`] when the database cannot be reached.
    pub async fn connect(
        url: &str,
        names: BetterAuthNames,
        max_connections: u32,
        pooler: Pooler,
    ) -> Result<Self, StoreError> {
        names.validate().map_err(StoreError::unexpected)?;
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::unexpected(UnsupportedDatabase));
        }
        // A separate session database is read with the lookups only, which need no
        // session state: the default mode is right there whatever pooler sits in front,
        // except for named statements, which a transaction pooler may not carry.
        let pool = PgPool::new(PgPoolOptions::new(
            url,
            max_connections,
            None,
            Duration::from_secs(5),
            Duration::from_secs(5),
            pooler,
        )?);
        pool.check_reachable().await?;
        Self::over(Db::Postgres(pool), names)
    }

    /// The lookup for `names` over `db` (PostgreSQL).
    pub(crate) fn over(db: Db, names: BetterAuthNames) -> Result<Self, StoreError> {
        names.validate().map_err(StoreError::unexpected)?;
        if db.backend() != DbBackend::Postgres {
            return Err(StoreError::unexpected(UnsupportedDatabase));
        }
        let table = names.quoted_table();
        let token = quote(&names.token_column);
        let user_id = quote(&names.user_id_column);
        let expires_at = quote(&names.expires_at_column);
        // The user id is read as text whatever its type (Better Auth can use uuid ids), and
        // the expiry as microseconds since the epoch, which works for `timestamptz` (Better
        // Auth's Kysely migrations) and for UTC `timestamp` columns (Prisma, Drizzle).
        let select = format!(
            "SELECT CAST({user_id} AS TEXT) AS user_id, \
             CAST(EXTRACT(EPOCH FROM {expires_at}) * 1000000 AS BIGINT) AS expires_at_us \
             FROM {table}"
        );
        Ok(Self {
            db,
            find_sql: format!("{select} WHERE {token} = $1 LIMIT 1"),
            check_sql: format!("{select} WHERE FALSE"),
        })
    }

    /// Whether the table and columns exist and the database answers: for a clear error
    /// at start (a renamed table, Better Auth not migrated yet) instead of at the first
    /// request.
    ///
    /// Errors: `Unavailable` when the database cannot be reached, `Unexpected` when the
    /// query fails (missing table or column).
    pub async fn check(&self) -> Result<(), StoreError> {
        self.db
            .statement_rows(Statement::from_string(
                DbBackend::Postgres,
                self.check_sql.clone(),
            ))
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl SessionStore for BetterAuthSessionStore {
    async fn find_session(&self, token: &str) -> Result<Option<SessionRecord>, StoreError> {
        let statement =
            Statement::from_sql_and_values(DbBackend::Postgres, &self.find_sql, [token.into()]);
        let Some(row) = self.db.statement_rows(statement).await?.into_iter().next() else {
            return Ok(None);
        };
        let user_id: String = row.get(0)?;
        let expires_at_us: i64 = row.get(1)?;
        let user_id = UserId::parse(user_id).map_err(StoreError::unexpected)?;
        let expires_at = Timestamp::from_micros(expires_at_us)
            .ok_or_else(|| StoreError::unexpected(OutOfRange))?;
        Ok(Some(SessionRecord {
            user_id,
            expires_at,
        }))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("session expiry out of range")]
struct OutOfRange;

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

    /// The PostgreSQL server the tests create their throwaway databases on.
    fn admin_url() -> String {
        std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    }

    fn url_of(database: &str) -> String {
        let admin = admin_url();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        format!("{base}/{database}")
    }

    async fn admin() -> DatabaseConnection {
        Database::connect(admin_url())
            .await
            .expect("PostgreSQL for tests")
    }

    /// Runs `body` against a fresh database created with `schema`, and drops the database
    /// afterwards, also when `body` panics.
    async fn with_database<F, Fut>(schema: &'static str, body: F)
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let name = format!("chat_history_ba_{}", uuid::Uuid::now_v7().simple());
        let admin = admin().await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("database created");
        let url = url_of(&name);
        let setup = Database::connect(url.clone()).await.expect("connected");
        setup.execute_unprepared(schema).await.expect("schema");
        setup.close().await.expect("closed");

        let outcome = tokio::spawn(body(url)).await;

        admin
            .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
            .await
            .expect("database dropped");
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    /// Better Auth 1.7's `user` and `session` tables as its migrations create them, with
    /// Alice's live session, Bob's expired one.
    const BETTER_AUTH_SCHEMA: &str = r#"
        CREATE TABLE "user" (
            "id" text NOT NULL PRIMARY KEY, "name" text NOT NULL, "email" text NOT NULL UNIQUE,
            "emailVerified" boolean NOT NULL, "image" text,
            "createdAt" timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
            "updatedAt" timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL);
        CREATE TABLE "session" (
            "id" text NOT NULL PRIMARY KEY, "expiresAt" timestamptz NOT NULL,
            "token" text NOT NULL UNIQUE,
            "createdAt" timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
            "updatedAt" timestamptz NOT NULL, "ipAddress" text, "userAgent" text,
            "userId" text NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE);
        INSERT INTO "user" ("id", "name", "email", "emailVerified") VALUES
            ('5owWRoCHIzsC84Gpv1ZEZWVZkJT1O53E', 'Alice', 'alice@example.com', false),
            ('Q2mC0yVb1yq9ZP6m3v0G2B8cTlEw7HkR', 'Bob', 'bob@example.com', false);
        INSERT INTO "session" ("id", "expiresAt", "token", "updatedAt", "userId") VALUES
            ('s1', '2099-01-02T03:04:05.123456Z', 'AliceToken0123456789abcdefghijkl', now(),
             '5owWRoCHIzsC84Gpv1ZEZWVZkJT1O53E'),
            ('s2', now() - interval '1 minute', 'BobToken0123456789abcdefghijklmn', now(),
             'Q2mC0yVb1yq9ZP6m3v0G2B8cTlEw7HkR');
    "#;

    #[tokio::test]
    async fn a_live_session_is_found_with_its_user_and_expiry() {
        with_database(BETTER_AUTH_SCHEMA, |url| async move {
            let store =
                BetterAuthSessionStore::connect(&url, BetterAuthNames::default(), 4, Pooler::None)
                    .await
                    .expect("connected");
            store.check().await.expect("the schema is there");
            let record = store
                .find_session("AliceToken0123456789abcdefghijkl")
                .await
                .expect("answered")
                .expect("found");
            assert_eq!(record.user_id.as_str(), "5owWRoCHIzsC84Gpv1ZEZWVZkJT1O53E");
            assert_eq!(
                record.expires_at.to_rfc3339(),
                "2099-01-02T03:04:05.123456Z"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn an_expired_row_is_returned_as_it_is_for_the_caller_to_reject() {
        with_database(BETTER_AUTH_SCHEMA, |url| async move {
            let store =
                BetterAuthSessionStore::connect(&url, BetterAuthNames::default(), 4, Pooler::None)
                    .await
                    .expect("connected");
            let record = store
                .find_session("BobToken0123456789abcdefghijklmn")
                .await
                .expect("answered")
                .expect("found");
            assert_eq!(record.user_id.as_str(), "Q2mC0yVb1yq9ZP6m3v0G2B8cTlEw7HkR");
            assert!(record.expires_at < Timestamp::now());
        })
        .await;
    }

    #[tokio::test]
    async fn a_missing_or_deleted_token_is_not_found() {
        with_database(BETTER_AUTH_SCHEMA, |url| async move {
            let store =
                BetterAuthSessionStore::connect(&url, BetterAuthNames::default(), 4, Pooler::None)
                    .await
                    .expect("connected");
            for token in ["NoSuchToken0123456789abcdefghijk", "", "' OR 1=1 --", "s1"] {
                assert!(
                    store.find_session(token).await.expect("answered").is_none(),
                    "{token:?}"
                );
            }
            let admin = Database::connect(url.clone()).await.expect("connected");
            admin
                .execute_unprepared(
                    "DELETE FROM \"session\" WHERE \"token\" = 'AliceToken0123456789abcdefghijkl'",
                )
                .await
                .expect("signed out");
            assert!(
                store
                    .find_session("AliceToken0123456789abcdefghijkl")
                    .await
                    .expect("answered")
                    .is_none()
            );
        })
        .await;
    }

    #[tokio::test]
    async fn renamed_tables_and_columns_are_read_through_the_configured_names() {
        const RENAMED: &str = r#"
            CREATE SCHEMA auth;
            CREATE TABLE auth.auth_sessions (
                id text PRIMARY KEY, session_token text NOT NULL UNIQUE,
                owner_id uuid NOT NULL, "validUntil" timestamp(3) NOT NULL);
            INSERT INTO auth.auth_sessions VALUES ('1', 'tok', 
                '0192f1e2-7a4b-7c3d-8e9f-0a1b2c3d4e5f', '2099-01-01 00:00:00');
        "#;
        with_database(RENAMED, |url| async move {
            let names = BetterAuthNames {
                session_table: "auth.auth_sessions".to_owned(),
                token_column: "session_token".to_owned(),
                user_id_column: "owner_id".to_owned(),
                expires_at_column: "validUntil".to_owned(),
            };
            let store = BetterAuthSessionStore::connect(&url, names, 4, Pooler::None)
                .await
                .expect("connected");
            store.check().await.expect("the schema is there");
            let record = store
                .find_session("tok")
                .await
                .expect("answered")
                .expect("found");
            assert_eq!(
                record.user_id.as_str(),
                "0192f1e2-7a4b-7c3d-8e9f-0a1b2c3d4e5f"
            );
            assert_eq!(
                record.expires_at.to_rfc3339(),
                "2099-01-01T00:00:00.000000Z"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn a_missing_table_is_reported_by_the_check_as_unexpected() {
        with_database("SELECT 1", |url| async move {
            let store =
                BetterAuthSessionStore::connect(&url, BetterAuthNames::default(), 4, Pooler::None)
                    .await
                    .expect("connected");
            assert!(matches!(
                store.check().await,
                Err(StoreError::Unexpected(_))
            ));
            assert!(matches!(
                store.find_session("tok").await,
                Err(StoreError::Unexpected(_))
            ));
        })
        .await;
    }

    #[tokio::test]
    async fn an_unreachable_database_is_unavailable() {
        let result = BetterAuthSessionStore::connect(
            "postgres://postgres@127.0.0.1:1/nothing",
            BetterAuthNames::default(),
            4,
            Pooler::None,
        )
        .await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn other_databases_are_refused() {
        let result = BetterAuthSessionStore::connect(
            "sqlite::memory:",
            BetterAuthNames::default(),
            4,
            Pooler::None,
        )
        .await;
        let Err(StoreError::Unexpected(e)) = result else {
            panic!("expected a refusal, got {result:?}");
        };
        assert!(e.to_string().contains("PostgreSQL"));
    }

    #[test]
    fn names_that_are_not_plain_identifiers_are_refused() {
        assert_eq!(BetterAuthNames::default().validate(), Ok(()));
        let bad = [
            "",
            "se ssion",
            "session\"; DROP TABLE \"user",
            "1session",
            "a.b.c",
            ".session",
            "session.",
            "sess-ion",
            "séance",
        ];
        for value in bad {
            let names = BetterAuthNames {
                session_table: value.to_owned(),
                ..BetterAuthNames::default()
            };
            let err = names.validate().expect_err(value);
            assert_eq!(err.setting, "BETTER_AUTH_SESSION_TABLE");
            let names = BetterAuthNames {
                token_column: value.to_owned(),
                ..BetterAuthNames::default()
            };
            assert!(names.validate().is_err(), "{value:?}");
        }
        let names = BetterAuthNames {
            expires_at_column: "x".repeat(64),
            ..BetterAuthNames::default()
        };
        assert!(names.validate().is_err());
        let names = BetterAuthNames {
            session_table: "auth.session".to_owned(),
            user_id_column: "user_id".to_owned(),
            ..BetterAuthNames::default()
        };
        assert_eq!(names.validate(), Ok(()));
    }
}
