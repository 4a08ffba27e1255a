//! The events feed: [`SeaOrmEventLog`] reads the outbox that the triggers of migration
//! `m20261207_000001_events` write in the transaction of every write, and [`EventSignals`]
//! tells the process which users have new events.
//!
//! Signals: a repository that committed a write of user `u` calls
//! [`EventSignals::changed`]; the process's own subscribers learn it at once, and on
//! PostgreSQL a background task sends `NOTIFY chat_history_events, '<origin>:<u>'` (batched,
//! on the pool) so that the other processes sharing the database learn it too. Each
//! process LISTENs on a connection of its own (one of `DB_MAX_CONNECTIONS`) and ignores its
//! own notifications. A notification only says "look": the events themselves, whatever
//! their size, are read from `chat_events`, numbered per user in commit order, so a
//! lost or duplicated notification loses or duplicates nothing. The NOTIFY is sent after
//! the write's commit, in a transaction of its own: PostgreSQL serializes the commits of
//! transactions that notify, and the writes must not queue behind each other for it.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    Change, Event, EventId, EventLog, Message, MessageContent, MessageId, MessageParts,
    MessageStatus, Metadata, Role, Sources, StoreError, StreamId, Thread, ThreadId, ThreadTitle,
    UserId, Version,
};
use sea_orm::DbBackend;
use sea_orm::sea_query::Value;
use sea_orm::sqlx::ConnectOptions as _;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::Notify;

use crate::convert::{STORED_LIMITS, feedback_from_json};
use crate::db::{Db, Row};
use crate::error::{InvalidRow, sqlx_error};
use crate::pool::Priority;
use crate::tree::statement;

/// The channel of the notifications.
const CHANNEL: &str = "chat_history_events";

/// The database's clock in milliseconds since the Unix epoch, as the outbox records it.
fn now_ms(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
        _ => "(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Reads the outbox (`chat_events`, `chat_event_seq`).
#[derive(Debug, Clone)]
pub struct SeaOrmEventLog {
    db: Db,
}

impl SeaOrmEventLog {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl EventLog for SeaOrmEventLog {
    async fn newest_event(&self, user: &UserId) -> Result<EventId, StoreError> {
        let rows = self
            .db
            .statement_rows(statement(
                self.db.backend(),
                "SELECT last_seq FROM chat_event_seq WHERE user_id = $1",
                vec![Value::from(user.as_str())],
            ))
            .await?;
        let last = match rows.first() {
            Some(row) => row.get::<i64>(0)?,
            None => 0,
        };
        Ok(EventId::new(u64::try_from(last).unwrap_or(0)))
    }

    async fn is_retained(
        &self,
        user: &UserId,
        id: EventId,
        retention: Duration,
    ) -> Result<bool, StoreError> {
        let backend = self.db.backend();
        let sql = format!(
            "SELECT 1 FROM chat_events WHERE user_id = $1 AND seq = $2 \
             AND recorded_ms >= {} - $3",
            now_ms(backend)
        );
        let seq = i64::try_from(id.get()).map_err(StoreError::unexpected)?;
        let rows = self
            .db
            .statement_rows(statement(
                backend,
                &sql,
                vec![
                    Value::from(user.as_str()),
                    Value::from(seq),
                    Value::from(millis(retention)),
                ],
            ))
            .await?;
        Ok(!rows.is_empty())
    }

    async fn events_after(
        &self,
        cursors: Vec<(UserId, EventId)>,
        limit: u64,
    ) -> Result<Vec<Vec<Event>>, StoreError> {
        let backend = self.db.backend();
        // The cursors travel as one JSON array of `[user, after]` pairs: one statement for
        // any number of users, on both backends, without array types.
        let pairs: Vec<(&str, u64)> = cursors
            .iter()
            .map(|(user, after)| (user.as_str(), after.get()))
            .collect();
        let json = serde_json::to_string(&pairs).map_err(StoreError::unexpected)?;
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        // Raw SQL: a lateral join over a JSON document of cursors is beyond sea-query.
        let sql = match backend {
            DbBackend::Sqlite => {
                "SELECT user_id, seq, kind, thread_id, message_id, payload, ord FROM (\
                   SELECT e.user_id, e.seq, e.kind, e.thread_id, e.message_id, e.payload, \
                          c.key AS ord, \
                          row_number() OVER (PARTITION BY c.key ORDER BY e.seq) AS n \
                   FROM json_each($1) AS c \
                   JOIN chat_events AS e ON e.user_id = c.value ->> 0 \
                    AND e.seq > c.value ->> 1) \
                 WHERE n <= $2 ORDER BY ord, seq"
            }
            _ => {
                "SELECT e.user_id, e.seq, e.kind, e.thread_id, e.message_id, e.payload, \
                        c.ord - 1 \
                 FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS c (v, ord) \
                 CROSS JOIN LATERAL (SELECT * FROM chat_events AS e \
                   WHERE e.user_id = c.v->>0 AND e.seq > (c.v->>1)::bigint \
                   ORDER BY e.seq LIMIT $2) AS e \
                 ORDER BY c.ord, e.seq"
            }
        };
        // Urgent: every subscriber of these users waits for this read, and under a full
        // load it must not queue behind the writes it reports.
        let rows = self
            .db
            .statement_rows_as(
                statement(backend, sql, vec![Value::from(json), Value::from(limit)]),
                Priority::Urgent,
            )
            .await?;
        let mut lists: Vec<Vec<Event>> = cursors.iter().map(|_| Vec::new()).collect();
        for row in &rows {
            let (_, event) = event_from_row(row)?;
            let ord: i64 = row.get(6)?;
            let list = usize::try_from(ord)
                .ok()
                .and_then(|i| lists.get_mut(i))
                .ok_or_else(|| StoreError::unexpected(UnknownEvent(format!("cursor {ord}"))))?;
            list.push(event);
        }
        Ok(lists)
    }

    async fn delete_older_than(&self, age: Duration, limit: u64) -> Result<u64, StoreError> {
        let backend = self.db.backend();
        let sql = match backend {
            DbBackend::Sqlite => format!(
                "DELETE FROM chat_events WHERE rowid IN (SELECT rowid FROM chat_events \
                 WHERE recorded_ms < {} - $1 LIMIT $2)",
                now_ms(backend)
            ),
            // SKIP LOCKED: several processes sweeping at once each take other rows.
            _ => format!(
                "DELETE FROM chat_events WHERE (user_id, seq) IN (SELECT user_id, seq \
                 FROM chat_events WHERE recorded_ms < {} - $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
                now_ms(backend)
            ),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let statement = statement(
            backend,
            &sql,
            vec![Value::from(millis(age)), Value::from(limit)],
        );
        match &self.db {
            Db::Postgres(pool) => pool.execute(statement).await,
            Db::Sqlite(_) => {
                let mut txn = self.db.begin_write().await?;
                let deleted = txn.execute_statement(statement).await?;
                txn.commit().await?;
                Ok(deleted)
            }
        }
    }
}

/// A thread as the triggers record it (`chat_events_thread_json`).
#[derive(Deserialize)]
struct ThreadImage<'a> {
    id: uuid::Uuid,
    user_id: String,
    title: String,
    #[serde(borrow)]
    metadata: &'a RawValue,
    archived_at: Option<DateTime<Utc>>,
    pinned_at: Option<DateTime<Utc>>,
    message_count: i64,
    last_message_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
    active_leaf_id: Option<uuid::Uuid>,
    active_stream_id: Option<String>,
    /// Absent from events recorded before temporary chats existed.
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// A message as the triggers record it (`chat_events_message_json`).
#[derive(Deserialize)]
struct MessageImage<'a> {
    id: uuid::Uuid,
    thread_id: uuid::Uuid,
    parent_id: Option<uuid::Uuid>,
    role: String,
    content: String,
    #[serde(borrow)]
    parts: Option<&'a RawValue>,
    status: String,
    #[serde(borrow)]
    sources: &'a RawValue,
    #[serde(borrow)]
    metadata: &'a RawValue,
    #[serde(borrow)]
    feedback: Option<&'a RawValue>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

fn thread_from_image(raw: &RawValue) -> Result<Thread, StoreError> {
    let image: ThreadImage<'_> = serde_json::from_str(raw.get()).map_err(StoreError::unexpected)?;
    let id = image.id;
    let invalid = move |err: domain::DomainError| InvalidRow::store_error("chat_events", id, &err);
    Ok(Thread {
        id: ThreadId::from_uuid(id),
        user_id: UserId::parse(image.user_id).map_err(invalid)?,
        title: ThreadTitle::parse(image.title).map_err(invalid)?,
        metadata: Metadata::from_json(image.metadata).map_err(invalid)?,
        archived_at: image.archived_at.map(domain::Timestamp::from_datetime),
        pinned_at: image.pinned_at.map(domain::Timestamp::from_datetime),
        message_count: image.message_count,
        last_message_at: image.last_message_at.map(domain::Timestamp::from_datetime),
        created_at: domain::Timestamp::from_datetime(image.created_at),
        updated_at: domain::Timestamp::from_datetime(image.updated_at),
        version: Version::new(image.version),
        active_leaf_id: image.active_leaf_id.map(MessageId::from_uuid),
        active_stream_id: image
            .active_stream_id
            .map(StreamId::parse)
            .transpose()
            .map_err(invalid)?,
        expires_at: image.expires_at.map(domain::Timestamp::from_datetime),
    })
}

fn message_from_image(raw: &RawValue) -> Result<Message, StoreError> {
    let image: MessageImage<'_> =
        serde_json::from_str(raw.get()).map_err(StoreError::unexpected)?;
    let id = image.id;
    let invalid = move |err: domain::DomainError| InvalidRow::store_error("chat_events", id, &err);
    let content = MessageContent::parse(image.content, &STORED_LIMITS).map_err(invalid)?;
    let parts = match image.parts {
        Some(raw) => MessageParts::from_json(raw).map_err(invalid)?,
        None => MessageParts::from_content(&content),
    };
    Ok(Message {
        id: MessageId::from_uuid(id),
        thread_id: ThreadId::from_uuid(image.thread_id),
        parent_id: image.parent_id.map(MessageId::from_uuid),
        role: Role::parse(&image.role).map_err(invalid)?,
        content,
        parts,
        status: MessageStatus::parse(&image.status).map_err(invalid)?,
        sources: Sources::from_json(image.sources).map_err(invalid)?,
        metadata: Metadata::from_json(image.metadata).map_err(invalid)?,
        feedback: image
            .feedback
            .map(|raw| feedback_from_json(raw).map_err(invalid))
            .transpose()?,
        created_at: domain::Timestamp::from_datetime(image.created_at),
        updated_at: domain::Timestamp::from_datetime(image.updated_at),
        version: Version::new(image.version),
    })
}

/// A `chat_events` row (`user_id, seq, kind, thread_id, message_id, payload`).
fn event_from_row(row: &Row) -> Result<(UserId, Event), StoreError> {
    let user = UserId::parse(row.get::<String>(0)?).map_err(StoreError::unexpected)?;
    let seq: i64 = row.get(1)?;
    let kind: String = row.get(2)?;
    let thread_id = ThreadId::from_uuid(row.get(3)?);
    let message_id = row.get::<Option<uuid::Uuid>>(4)?.map(MessageId::from_uuid);
    let payload = || {
        row.optional_json(5)?
            .ok_or_else(|| StoreError::unexpected(UnknownEvent(format!("{kind} without payload"))))
    };
    let change = match kind.as_str() {
        "thread.created" => Change::ThreadCreated(thread_from_image(payload()?)?),
        "thread.updated" => Change::ThreadUpdated(thread_from_image(payload()?)?),
        "thread.deleted" => Change::ThreadDeleted(thread_id),
        "message.created" => Change::MessageCreated(message_from_image(payload()?)?),
        "message.updated" => Change::MessageUpdated(message_from_image(payload()?)?),
        "message.deleted" => Change::MessageDeleted {
            thread_id,
            message_id: message_id
                .ok_or_else(|| StoreError::unexpected(UnknownEvent(kind.clone())))?,
        },
        other => return Err(StoreError::unexpected(UnknownEvent(other.to_owned()))),
    };
    let id = EventId::new(u64::try_from(seq).map_err(StoreError::unexpected)?);
    Ok((user, Event { id, change }))
}

/// An outbox row this version cannot read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable event: {0}")]
struct UnknownEvent(String);

/// What the holder of [`EventSignals`] learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// These users have new events (or may have: look).
    Users(Vec<UserId>),
    /// The connection that hears other processes' writes was lost: until
    /// [`EventSignals::is_up`] again, their events may arrive late. Subscribers should be
    /// ended so that they reconnect and replay.
    Lost,
}

#[derive(Debug, Default)]
struct Pending {
    users: HashSet<UserId>,
    lost: bool,
}

#[derive(Debug)]
struct Signals {
    /// Tells this process's notifications from those of other processes.
    origin: String,
    local: Mutex<Pending>,
    local_ready: Notify,
    remote: Mutex<HashSet<UserId>>,
    remote_ready: Notify,
    up: AtomicBool,
}

/// Which users have new events: from this process's writes at once, and on PostgreSQL from
/// every process sharing the database through `LISTEN/NOTIFY`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventSignals {
    inner: Arc<Signals>,
    /// PostgreSQL: the pool NOTIFYs are sent on (`None` on SQLite: one process).
    notify_on: Option<Db>,
}

impl EventSignals {
    pub(crate) fn new(db: &Db) -> Self {
        let postgres = matches!(db, Db::Postgres(_));
        Self {
            inner: Arc::new(Signals {
                origin: uuid::Uuid::new_v4().simple().to_string(),
                local: Mutex::new(Pending::default()),
                local_ready: Notify::new(),
                remote: Mutex::new(HashSet::new()),
                remote_ready: Notify::new(),
                up: AtomicBool::new(!postgres),
            }),
            notify_on: postgres.then(|| db.clone()),
        }
    }

    /// A write of `user` committed.
    pub(crate) fn changed(&self, user: &UserId) {
        self.wake_local(std::iter::once(user.clone()));
        if self.notify_on.is_some() {
            lock(&self.inner.remote).insert(user.clone());
            self.inner.remote_ready.notify_one();
        }
    }

    fn wake_local(&self, users: impl IntoIterator<Item = UserId>) {
        lock(&self.inner.local).users.extend(users);
        self.inner.local_ready.notify_one();
    }

    fn lost(&self) {
        self.inner.up.store(false, Ordering::SeqCst);
        lock(&self.inner.local).lost = true;
        self.inner.local_ready.notify_one();
    }

    /// Whether writes of every process sharing the database are heard now (always on
    /// SQLite; on PostgreSQL while the listening connection is up).
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::SeqCst)
    }

    /// Waits for the next news: a loss first, else every user signalled since the last
    /// call (each once).
    pub async fn next(&self) -> Wake {
        loop {
            let notified = self.inner.local_ready.notified();
            if let Some(wake) = self.try_next() {
                return wake;
            }
            notified.await;
        }
    }

    /// The news there is now, as [`EventSignals::next`] would return it, without waiting.
    pub fn try_next(&self) -> Option<Wake> {
        let mut pending = lock(&self.inner.local);
        if pending.lost {
            pending.lost = false;
            return Some(Wake::Lost);
        }
        if pending.users.is_empty() {
            return None;
        }
        Some(Wake::Users(pending.users.drain().collect()))
    }

    /// PostgreSQL: starts the tasks that LISTEN on a connection of its own to `url` and
    /// send this process's NOTIFYs; returns once the first LISTEN is in place. SQLite:
    /// nothing to do. The tasks end when the runtime does.
    ///
    /// # Errors
    /// `Unavailable` when the first connection fails.
    pub(crate) async fn start(&self, url: &str) -> Result<(), StoreError> {
        let Some(db) = self.notify_on.clone() else {
            return Ok(());
        };
        let options = PgConnectOptions::from_str(url)
            .map_err(StoreError::unexpected)?
            .application_name("chat-history events")
            .disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&pool).await.map_err(sqlx_error)?;
        listener.listen(CHANNEL).await.map_err(sqlx_error)?;
        self.inner.up.store(true, Ordering::SeqCst);
        tokio::spawn(listen(self.clone(), listener));
        tokio::spawn(send_notifications(self.clone(), db));
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Hears other processes' notifications; on a lost connection says so and reconnects.
async fn listen(signals: EventSignals, mut listener: PgListener) {
    let own = format!("{}:", signals.inner.origin);
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                let payload = notification.payload();
                if payload.starts_with(&own) {
                    continue;
                }
                let user = payload.split_once(':').map(|(_, user)| user);
                if let Some(user) = user.and_then(|u| UserId::parse(u).ok()) {
                    let mut users = vec![user];
                    while let Some(more) = listener.next_buffered() {
                        if let Some(user) = more
                            .payload()
                            .split_once(':')
                            .filter(|(origin, _)| *origin != signals.inner.origin)
                            .and_then(|(_, u)| UserId::parse(u).ok())
                        {
                            users.push(user);
                        }
                    }
                    signals.wake_local(users);
                }
            }
            Ok(None) | Err(_) => {
                if signals.is_up() {
                    tracing::warn!("the events listener lost its database connection");
                }
                signals.lost();
                // Reconnect (the listener LISTENs again on its new connection), trying
                // once a second while the database is away.
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if sea_orm::sqlx::query("SELECT 1")
                        .execute(&mut listener)
                        .await
                        .is_ok()
                    {
                        break;
                    }
                }
                tracing::info!("the events listener is connected again");
                signals.inner.up.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// Sends this process's notifications, every user signalled since the last batch in one
/// statement, after the writes committed.
async fn send_notifications(signals: EventSignals, db: Db) {
    loop {
        let notified = signals.inner.remote_ready.notified();
        let users: Vec<UserId> = lock(&signals.inner.remote).drain().collect();
        if users.is_empty() {
            notified.await;
            continue;
        }
        let payloads: Vec<String> = users
            .iter()
            .map(|user| format!("{}:{}", signals.inner.origin, user.as_str()))
            .collect();
        let json = match serde_json::to_string(&payloads) {
            Ok(json) => json,
            Err(_) => continue,
        };
        // Raw SQL: `pg_notify` over a JSON array is beyond sea-query.
        let sent = db
            .statement_rows(statement(
                DbBackend::Postgres,
                "SELECT pg_notify($1, p) FROM jsonb_array_elements_text($2::jsonb) AS p",
                vec![Value::from(CHANNEL), Value::from(json)],
            ))
            .await;
        if let Err(err) = sent {
            // Other processes catch up on their own (they look again periodically).
            tracing::debug!(error = %err, "sending event notifications failed");
        }
    }
}
