//! [`MessageRepository`] over SeaORM.

use async_trait::async_trait;
use domain::{
    Message, MessageId, MessageListQuery, MessagePatch, MessageRepository, SortOrder, StoreError,
    ThreadId, Timestamp, UserId, Version,
};
use std::fmt::Write as _;

use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, Value};
use sea_orm::{DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select, Statement};

use crate::convert::{MESSAGE_COLUMNS, message_from_row, messages_from_rows};
use crate::db::{Db, Txn, next_version, sql_limit, thread_exists};
use crate::entity::message::{self, Column};
use crate::entity::thread;
use crate::error::Misuse;

/// Rows per multi-row `INSERT` (9 bind values each), far below the bind-parameter limits
/// of both backends (65535 on PostgreSQL, 32766 on SQLite).
const INSERT_CHUNK: usize = 1_000;

/// Ids per `IN (...)` list, for the same reason.
const LOOKUP_CHUNK: usize = 1_000;

/// Most messages that PostgreSQL appends in one statement (8 bind values each plus 7);
/// larger appends take the general transaction.
const ONE_STATEMENT_MAX: usize = 1_000;

/// The head of PostgreSQL's one-statement append (see
/// [`SeaOrmMessageRepository::append_in_one_statement`]). Bind values: `$1` thread id,
/// `$2` user id, `$3` number of messages, `$4` now, `$5` now in microseconds, `$6` the
/// earliest and `$7` the latest `created_at` of the new messages; then 8 per message.
///
/// The `UPDATE` checks ownership, moves the counters, grows the version and takes the
/// thread's row lock (serializing appends to one thread; under READ COMMITTED a waiting
/// append re-reads the row its predecessor committed). `last_message_at` becomes the
/// newest new message, moved after the previous newest when the clock of this instance is
/// behind it; `RETURNING` hands that move (`shift`, zero when none) to the `INSERT`.
/// Interval arithmetic is exact here because sqlx sets the session time zone to UTC.
const APPEND_HEAD: &str = r#"WITH "thread" AS (UPDATE "chat_threads" SET "message_count" = "message_count" + $3, "updated_at" = $4, "version" = CASE WHEN "version" + 1 > $5 THEN "version" + 1 ELSE $5 END, "last_message_at" = CASE WHEN "last_message_at" >= $6 THEN "last_message_at" + ($7 - $6) + INTERVAL '1 microsecond' ELSE $7 END WHERE "id" = $1 AND "user_id" = $2 RETURNING "last_message_at" - $7 AS "shift") INSERT INTO "chat_messages" ("id", "thread_id", "user_id", "role", "content", "sources", "metadata", "created_at", "updated_at", "version") SELECT "v"."id", $1, $2, "v"."role", "v"."content", "v"."sources", "v"."metadata", "v"."created_at" + "thread"."shift", "v"."updated_at" + "thread"."shift", "v"."version" FROM "thread", (VALUES "#;

/// The tail of the one-statement append.
const APPEND_TAIL: &str = r#") AS "v" ("id", "role", "content", "sources", "metadata", "created_at", "updated_at", "version") RETURNING "id", "created_at""#;

/// Messages in `chat_messages`. Every statement is scoped to the user by the message's own
/// `user_id` (`thread_id = $thread AND user_id = $user`), which the foreign key
/// `(thread_id, user_id) -> chat_threads (id, user_id)` keeps equal to its thread's owner.
#[derive(Debug, Clone)]
pub struct SeaOrmMessageRepository {
    db: Db,
}

/// The message columns that [`message_at`] reads, from `chat_messages`.
fn select_messages() -> Select<message::Entity> {
    message::Entity::find()
        .select_only()
        .columns(MESSAGE_COLUMNS)
}

/// `thread_id = $thread AND user_id = $user`.
fn in_users_thread(user: &UserId, thread: ThreadId) -> Expr {
    Expr::col((message::Entity, Column::ThreadId))
        .eq(*thread.as_uuid())
        .and(Expr::col((message::Entity, Column::UserId)).eq(user.as_str()))
}

/// `id = $id AND <in_users_thread>`.
fn message_scope(user: &UserId, thread: ThreadId, id: MessageId) -> Expr {
    Expr::col((message::Entity, Column::Id))
        .eq(*id.as_uuid())
        .and(in_users_thread(user, thread))
}

/// `id = $thread AND user_id = $user` on `chat_threads`.
fn thread_scope(user: &UserId, thread: ThreadId) -> Expr {
    Expr::col((thread::Entity, thread::Column::Id))
        .eq(*thread.as_uuid())
        .and(Expr::col((thread::Entity, thread::Column::UserId)).eq(user.as_str()))
}

impl SeaOrmMessageRepository {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }

    /// Sets the thread's `updated_at = now` and grows its version, which also locks its row
    /// until the transaction ends (serializing writers of one thread) and checks that the
    /// user owns it.
    ///
    /// Errors: `NotFound` when the thread is missing or another user's.
    async fn touch_thread(
        &self,
        txn: &mut Txn,
        user: &UserId,
        thread: ThreadId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let update = Query::update()
            .table(thread::Entity)
            .value(thread::Column::UpdatedAt, self.db.timestamp(now))
            .value(
                thread::Column::Version,
                next_version(thread::Column::Version, now),
            )
            .and_where(thread_scope(user, thread))
            .to_owned();
        if txn.execute(&update).await? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn message_exists(
        txn: &mut Txn,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
    ) -> Result<bool, StoreError> {
        let select = message::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(message_scope(user, thread, id));
        Ok(txn.row(&select).await?.is_some())
    }

    /// PostgreSQL: appends `messages` (at most [`ONE_STATEMENT_MAX`]) in one statement,
    /// on the pool (one round trip, no explicit transaction) or inside `txn`. The ownership
    /// check, the counters, the row lock and the inserts are that one statement, so a
    /// primary-key clash or any other failure undoes all of it.
    ///
    /// This statement is SQL text: sea-query cannot put an `UPDATE ... RETURNING` in a
    /// `WITH` clause in front of an `INSERT ... SELECT` from a `VALUES` list.
    async fn append_chunk(
        &self,
        txn: Option<&mut Txn>,
        user: &UserId,
        thread: ThreadId,
        messages: Vec<Message>,
        now: Timestamp,
    ) -> Result<Vec<Message>, StoreError> {
        let db = &self.db;
        let Some(Span { first, last, count }) = Span::of(&messages) else {
            return Ok(messages);
        };
        let mut sql =
            String::with_capacity(APPEND_HEAD.len() + APPEND_TAIL.len() + 64 * messages.len());
        sql.push_str(APPEND_HEAD);
        let mut values: Vec<Value> = Vec::with_capacity(7 + 8 * messages.len());
        values.extend([
            Value::from(*thread.as_uuid()),
            Value::from(user.as_str()),
            Value::from(count),
            db.timestamp(now),
            Value::from(now.as_micros()),
            db.timestamp(first),
            db.timestamp(last),
        ]);
        for (i, m) in messages.iter().enumerate() {
            let p = values.len();
            if i > 0 {
                sql.push_str(", ");
            }
            write!(
                sql,
                "(${}, ${}, ${}, ${}::jsonb, ${}::jsonb, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7,
                p + 8
            )
            .map_err(StoreError::unexpected)?;
            values.extend([
                Value::from(*m.id.as_uuid()),
                Value::from(m.role.as_str()),
                Value::from(m.content.as_str()),
                // JSON as the text it was checked as (cast to jsonb above): no tree is
                // built or encoded again.
                Value::from(m.sources.as_raw().get()),
                Value::from(m.metadata.as_raw().get()),
                db.timestamp(m.created_at),
                db.timestamp(m.updated_at),
                Value::from(m.version.get()),
            ]);
        }
        sql.push_str(APPEND_TAIL);
        let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
        let rows = match txn {
            Some(txn) => txn.statement_rows(statement).await?,
            None => db.statement_rows(statement).await?,
        };
        // No row: the thread is missing or another user's (the UPDATE matched nothing).
        let Some(row) = rows.first() else {
            return Err(StoreError::NotFound);
        };
        if rows.len() != messages.len() {
            return Err(StoreError::unexpected(Misuse(
                "the append stored another number of messages than it was given",
            )));
        }
        // Every new message moved by the same amount; one row tells how much.
        let id: uuid::Uuid = row.get(0)?;
        let stored_at = row.timestamp(1)?;
        let requested = messages
            .iter()
            .find(|m| *m.id.as_uuid() == id)
            .ok_or_else(|| StoreError::unexpected(Misuse("the append returned an unknown id")))?;
        let shift = stored_at.as_micros() - requested.created_at.as_micros();
        Ok(shifted(messages, shift))
    }

    /// SQLite: the append as a transaction of portable statements.
    async fn append_in_transaction(
        &self,
        user: &UserId,
        thread: ThreadId,
        messages: Vec<Message>,
        now: Timestamp,
    ) -> Result<Vec<Message>, StoreError> {
        let db = &self.db;
        let Some(Span { first, last, count }) = Span::of(&messages) else {
            return Ok(messages);
        };
        let mut txn = db.begin_write().await?;
        // (1) Write first: this locks the database (already taken by BEGIN IMMEDIATE) and
        // checks ownership. `last_message_at` is not changed by this statement, so
        // RETURNING gives the value before this append.
        let update = Query::update()
            .table(thread::Entity)
            .value(
                thread::Column::MessageCount,
                Expr::col(thread::Column::MessageCount).add(count),
            )
            .value(thread::Column::UpdatedAt, db.timestamp(now))
            .value(
                thread::Column::Version,
                next_version(thread::Column::Version, now),
            )
            .and_where(thread_scope(user, thread))
            .returning_col(thread::Column::LastMessageAt)
            .to_owned();
        let row = txn.returning(&update).await?.ok_or(StoreError::NotFound)?;
        let previous_last = row.optional_timestamp(0)?;

        // (2) The new messages must sort after every message already in the thread: when the
        // clock of this instance is behind the last append (or a retry raced it), move them
        // forward, keeping their spacing.
        let shift = match previous_last {
            Some(last) if last >= first => last.as_micros() - first.as_micros() + 1,
            _ => 0,
        };
        let stored = shifted(messages, shift);

        // (3) All rows at once; a primary-key clash aborts the whole transaction.
        self.insert_messages(&mut txn, user, thread, &stored)
            .await?;

        // (4) The newest message is now one of these.
        let update = Query::update()
            .table(thread::Entity)
            .value(
                thread::Column::LastMessageAt,
                db.timestamp(last.plus_micros(shift)),
            )
            .and_where(thread_scope(user, thread))
            .to_owned();
        txn.execute(&update).await?;
        txn.commit().await?;
        Ok(stored)
    }

    async fn insert_messages(
        &self,
        txn: &mut Txn,
        user: &UserId,
        thread: ThreadId,
        messages: &[Message],
    ) -> Result<(), StoreError> {
        let db = &self.db;
        for chunk in messages.chunks(INSERT_CHUNK) {
            let mut insert = Query::insert();
            insert.into_table(message::Entity).columns([
                Column::Id,
                Column::ThreadId,
                Column::UserId,
                Column::Role,
                Column::Content,
                Column::Sources,
                Column::Metadata,
                Column::CreatedAt,
                Column::UpdatedAt,
                Column::Version,
            ]);
            for m in chunk {
                insert
                    .values([
                        Expr::val(*m.id.as_uuid()),
                        Expr::val(*thread.as_uuid()),
                        Expr::val(user.as_str()),
                        Expr::val(m.role.as_str()),
                        Expr::val(m.content.as_str()),
                        Expr::val(m.sources.to_value()),
                        Expr::val(m.metadata.to_value()),
                        Expr::val(db.timestamp(m.created_at)),
                        Expr::val(db.timestamp(m.updated_at)),
                        Expr::val(m.version.get()),
                    ])
                    .map_err(StoreError::unexpected)?;
            }
            txn.execute(&insert).await?;
        }
        Ok(())
    }
}

/// The timestamps and the number of messages to append.
struct Span {
    /// The earliest `created_at`.
    first: Timestamp,
    /// The latest `created_at`.
    last: Timestamp,
    count: i64,
}

impl Span {
    /// `None` for no messages.
    fn of(messages: &[Message]) -> Option<Self> {
        Some(Self {
            first: messages.iter().map(|m| m.created_at).min()?,
            last: messages.iter().map(|m| m.created_at).max()?,
            count: i64::try_from(messages.len()).ok()?,
        })
    }
}

/// The messages moved later by `shift` microseconds (their spacing kept).
fn shifted(messages: Vec<Message>, shift: i64) -> Vec<Message> {
    if shift == 0 {
        return messages;
    }
    messages
        .into_iter()
        .map(|mut m| {
            m.created_at = m.created_at.plus_micros(shift);
            m.updated_at = m.updated_at.plus_micros(shift);
            m
        })
        .collect()
}

#[async_trait]
impl MessageRepository for SeaOrmMessageRepository {
    async fn append_messages(
        &self,
        user: &UserId,
        thread: ThreadId,
        messages: Vec<Message>,
        now: Timestamp,
    ) -> Result<Vec<Message>, StoreError> {
        let db = &self.db;
        if messages.iter().any(|m| m.thread_id != thread) {
            return Err(StoreError::unexpected(Misuse(
                "append_messages was given a message of another thread",
            )));
        }
        if messages.is_empty() {
            // Nothing to append: only the thread has to exist.
            return if thread_exists(db, user, thread).await? {
                Ok(messages)
            } else {
                Err(StoreError::NotFound)
            };
        }
        match db.backend() {
            DbBackend::Postgres if messages.len() <= ONE_STATEMENT_MAX => {
                self.append_chunk(None, user, thread, messages, now).await
            }
            DbBackend::Postgres => {
                // More than one statement can carry: the same statement per chunk, in one
                // transaction (the first chunk's UPDATE holds the thread's row lock).
                let mut txn = db.begin_write().await?;
                let mut stored = Vec::with_capacity(messages.len());
                let mut rest = messages.into_iter();
                loop {
                    let chunk: Vec<Message> = rest.by_ref().take(ONE_STATEMENT_MAX).collect();
                    if chunk.is_empty() {
                        break;
                    }
                    stored.extend(
                        self.append_chunk(Some(&mut txn), user, thread, chunk, now)
                            .await?,
                    );
                }
                txn.commit().await?;
                Ok(stored)
            }
            _ => {
                self.append_in_transaction(user, thread, messages, now)
                    .await
            }
        }
    }

    async fn get_message(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
    ) -> Result<Message, StoreError> {
        let select = select_messages().filter(message_scope(user, thread, id));
        let row = self.db.row(&select).await?.ok_or(StoreError::NotFound)?;
        message_from_row(&row)
    }

    async fn find_messages(
        &self,
        user: &UserId,
        thread: ThreadId,
        ids: Vec<MessageId>,
    ) -> Result<Vec<Message>, StoreError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let select = select_messages()
                .filter(
                    Expr::col((message::Entity, Column::Id))
                        .is_in(chunk.iter().map(|id| *id.as_uuid())),
                )
                .filter(in_users_thread(user, thread));
            found.extend(messages_from_rows(&self.db.rows(&select).await?)?);
        }
        Ok(found)
    }

    async fn list_messages(
        &self,
        user: &UserId,
        thread: ThreadId,
        query: MessageListQuery,
    ) -> Result<Vec<Message>, StoreError> {
        let db = &self.db;
        let mut select = select_messages().filter(in_users_thread(user, thread));
        if let Some(after) = query.after {
            let position = Expr::tuple([
                Expr::col((message::Entity, Column::CreatedAt)),
                Expr::col((message::Entity, Column::Id)),
            ]);
            let key = Expr::tuple([
                Expr::val(db.timestamp(after.created_at)),
                Expr::val(*after.id.as_uuid()),
            ]);
            select = select.filter(match query.order {
                SortOrder::Asc => position.gt(key),
                SortOrder::Desc => position.lt(key),
            });
        }
        select = match query.order {
            SortOrder::Asc => select
                .order_by_asc(Column::CreatedAt)
                .order_by_asc(Column::Id),
            SortOrder::Desc => select
                .order_by_desc(Column::CreatedAt)
                .order_by_desc(Column::Id),
        };
        let select = select.limit(sql_limit(query.limit));
        let rows = db.rows(&select).await?;
        // An empty page needs one more look: an empty thread, or no thread at all?
        if rows.is_empty() && !thread_exists(db, user, thread).await? {
            return Err(StoreError::NotFound);
        }
        messages_from_rows(&rows)
    }

    async fn update_message(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
        patch: MessagePatch,
        expected: Option<Vec<Version>>,
        now: Timestamp,
    ) -> Result<Message, StoreError> {
        let db = &self.db;
        let mut txn = db.begin_write().await?;
        self.touch_thread(&mut txn, user, thread, now).await?;
        if expected.as_ref().is_some_and(Vec::is_empty) {
            // An empty list of expected versions matches nothing.
            return Err(if Self::message_exists(&mut txn, user, thread, id).await? {
                StoreError::VersionMismatch
            } else {
                StoreError::NotFound
            });
        }
        let mut update = Query::update();
        update.table(message::Entity);
        if let Some(content) = &patch.content {
            update.value(Column::Content, content.as_str());
        }
        if let Some(sources) = &patch.sources {
            update.value(Column::Sources, sources.to_value());
        }
        if let Some(metadata) = &patch.metadata {
            update.value(Column::Metadata, metadata.to_value());
        }
        update
            .value(Column::UpdatedAt, db.timestamp(now))
            .value(Column::Version, next_version(Column::Version, now))
            .and_where(message_scope(user, thread, id));
        if let Some(versions) = &expected {
            update.and_where(Expr::col(Column::Version).is_in(versions.iter().map(Version::get)));
        }
        update.returning(Query::returning().columns(MESSAGE_COLUMNS));
        let Some(row) = txn.returning(&update).await? else {
            // Dropping the transaction rolls the thread's bump back.
            return Err(
                if expected.is_some() && Self::message_exists(&mut txn, user, thread, id).await? {
                    StoreError::VersionMismatch
                } else {
                    StoreError::NotFound
                },
            );
        };
        let message = message_from_row(&row)?;
        txn.commit().await?;
        Ok(message)
    }

    async fn delete_message(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().await?;
        self.touch_thread(&mut txn, user, thread, now).await?;
        let delete = Query::delete()
            .from_table(message::Entity)
            .and_where(message_scope(user, thread, id))
            .to_owned();
        if txn.execute(&delete).await? == 0 {
            return Err(StoreError::NotFound);
        }
        // Recount rather than decrement: exact whatever happened before.
        let of_thread = |column: Expr| {
            Query::select()
                .expr(column)
                .from(message::Entity)
                .and_where(in_users_thread(user, thread))
                .to_owned()
        };
        let update = Query::update()
            .table(thread::Entity)
            .value(
                thread::Column::MessageCount,
                of_thread(Func::count(Expr::col((message::Entity, Column::Id))).into()),
            )
            .value(
                thread::Column::LastMessageAt,
                of_thread(Func::max(Expr::col((message::Entity, Column::CreatedAt))).into()),
            )
            .and_where(thread_scope(user, thread))
            .to_owned();
        txn.execute(&update).await?;
        txn.commit().await?;
        Ok(())
    }
}
