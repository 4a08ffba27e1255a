//! [`MessageRepository`] over SeaORM.

use async_trait::async_trait;
use domain::{
    DeleteScope, Feedback, Message, MessageId, MessageListQuery, MessageParts, MessagePatch,
    MessageRepository, ParentChoice, PathMessage, PathPage, PathQuery, PathTarget, SortOrder,
    StoreError, ThreadId, Timestamp, UserId, Version,
};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::LazyLock;

use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, Value};
use sea_orm::{
    DbBackend, EntityTrait, IdenStatic, QueryFilter, QueryOrder, QuerySelect, Select, Statement,
};

use crate::convert::{MESSAGE_COLUMNS, feedback_json, message_from_row, messages_from_rows};
use crate::db::{
    Db, Txn, lock_thread, next_version, sql_limit, thread_alive_sql, timestamp_value, users_thread,
};
use crate::entity::message::{self, Column};
use crate::entity::thread;
use crate::error::{Misuse, TreeRace};
use crate::events::EventSignals;
use crate::tree::{self, Exec};

/// Rows per multi-row `INSERT` (14 bind values each), far below the bind-parameter limits
/// of both backends (65535 on PostgreSQL, 32766 on SQLite).
const INSERT_CHUNK: usize = 1_000;

/// Ids per `IN (...)` list, for the same reason.
const LOOKUP_CHUNK: usize = 1_000;

/// Most messages that PostgreSQL appends in one statement (13 bind values each plus 11);
/// larger appends take the general transaction.
const ONE_STATEMENT_MAX: usize = 1_000;

/// The head of PostgreSQL's one-statement append (see
/// [`SeaOrmMessageRepository::append_chunk`]). Bind values: `$1` thread id, `$2` user id,
/// `$3` number of messages, `$4` now, `$5` now in microseconds, `$6` the earliest and `$7`
/// the latest `created_at` of the new messages, `$8` whether the first message's parent is
/// the active leaf, `$9` its parent otherwise (or NULL), `$10` a fresh branch id for the
/// first message, `$11` the new active leaf; then the ids of the other parents named that
/// are not in the statement (checked to exist), then 13 per message.
///
/// `t` locks the thread's row first (serializing writers of one thread) and, under READ
/// COMMITTED, reads the active leaf as the writer before us committed it. `p` is the first
/// message's parent and whether it has no child in its branch yet (then the first message
/// continues that branch). `ok` holds the thread only when every parent named exists; the
/// `UPDATE` checks ownership through it, moves the counters and the active leaf and grows
/// the version. `last_message_at` becomes the newest new message, moved after the previous
/// newest when the clock of this instance is behind it; `RETURNING` hands that move
/// (`shift`, zero when none) to the `INSERT`. Interval arithmetic is exact here because
/// sqlx sets the session time zone to UTC. No row comes back when the thread is missing or
/// a parent is: the caller then looks at what is missing (a parent that the writer before
/// us created is not in this statement's snapshot, which is a race to run again).
const APPEND_HEAD: &str = r#"WITH "t" AS (SELECT "id", "active_leaf_id" FROM "chat_threads" WHERE "id" = $1 AND "user_id" = $2 AND ("expires_at" IS NULL OR "expires_at" > $4) FOR UPDATE), "fp" AS (SELECT CASE WHEN $8 THEN "t"."active_leaf_id" ELSE $9::uuid END AS "id" FROM "t"), "p" AS (SELECT "m"."branch_id", NOT EXISTS (SELECT 1 FROM "chat_messages" AS "c" WHERE "c"."parent_id" = "m"."id" AND "c"."branch_id" = "m"."branch_id" AND "c"."user_id" = $2) AS "open" FROM "chat_messages" AS "m" JOIN "fp" ON "m"."id" = "fp"."id" WHERE "m"."thread_id" = $1 AND "m"."user_id" = $2), "ok" AS (SELECT "t"."id" FROM "t", "fp" WHERE ("fp"."id" IS NULL OR EXISTS (SELECT 1 FROM "p"))"#;

/// After the check of the other parents: the counters, the active leaf, and the head of
/// the `INSERT`.
const APPEND_MIDDLE: &str = r#"), "thread" AS (UPDATE "chat_threads" SET "message_count" = "message_count" + $3, "updated_at" = $4, "version" = CASE WHEN "version" + 1 > $5 THEN "version" + 1 ELSE $5 END, "last_message_at" = CASE WHEN "last_message_at" >= $6 THEN "last_message_at" + ($7 - $6) + INTERVAL '1 microsecond' ELSE $7 END, "active_leaf_id" = $11 FROM "ok" WHERE "chat_threads"."id" = "ok"."id" RETURNING "chat_threads"."last_message_at" - $7 AS "shift") INSERT INTO "chat_messages" ("id", "thread_id", "user_id", "parent_id", "branch_id", "role", "content", "sources", "metadata", "created_at", "updated_at", "version", "parts", "status") SELECT "v"."id", $1, $2, CASE WHEN "v"."first" THEN (SELECT "id" FROM "fp") ELSE "v"."parent_id" END, COALESCE("v"."branch_id", (SELECT CASE WHEN "p"."open" THEN "p"."branch_id" END FROM "p"), $10), "v"."role", "v"."content", "v"."sources", "v"."metadata", "v"."created_at" + "thread"."shift", "v"."updated_at" + "thread"."shift", "v"."version", "v"."parts", "v"."status" FROM "thread", (VALUES "#;

/// The tail of the one-statement append.
const APPEND_TAIL: &str = r#") AS "v" ("id", "first", "parent_id", "branch_id", "role", "content", "sources", "metadata", "created_at", "updated_at", "version", "parts", "status") RETURNING "id", "created_at", "parent_id", "branch_id""#;

/// How often an append that lost a race with another writer of the same thread is run
/// again before the race is reported as an error.
const RACE_RETRIES: usize = 8;

/// Messages in `chat_messages`. Every statement is scoped to the user by the message's own
/// `user_id` (`thread_id = $thread AND user_id = $user`), which the foreign key
/// `(thread_id, user_id) -> chat_threads (id, user_id)` keeps equal to its thread's owner.
#[derive(Debug, Clone)]
pub struct SeaOrmMessageRepository {
    db: Db,
    signals: EventSignals,
}

/// The message columns that [`message_at`] reads, from `chat_messages`: built once and
/// copied for each statement (as `threads::select_threads`).
fn select_messages() -> Select<message::Entity> {
    static SELECT: LazyLock<Select<message::Entity>> = LazyLock::new(|| {
        message::Entity::find()
            .select_only()
            .columns(MESSAGE_COLUMNS)
    });
    SELECT.clone()
}

/// `thread_id = $thread AND user_id = $user`.
fn in_users_thread(user: &UserId, thread: ThreadId) -> Expr {
    Expr::col((message::Entity, Column::ThreadId))
        .eq(*thread.as_uuid())
        .and(Expr::col((message::Entity, Column::UserId)).eq(user.as_str()))
}

/// `<in_users_thread> AND EXISTS (<the user's thread, not expired>)`: the condition of
/// every statement that reads or changes messages without locking their thread first
/// (the thread id is a constant, so the check is one primary-key probe per statement).
fn in_live_thread(backend: DbBackend, user: &UserId, thread: ThreadId) -> Expr {
    in_users_thread(user, thread).and(Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(thread::Entity)
            .and_where(users_thread(backend, user, thread, Timestamp::now()))
            .to_owned(),
    ))
}

/// `id = $id AND <in_live_thread>`.
fn message_scope(backend: DbBackend, user: &UserId, thread: ThreadId, id: MessageId) -> Expr {
    Expr::col((message::Entity, Column::Id))
        .eq(*id.as_uuid())
        .and(in_live_thread(backend, user, thread))
}

/// The user's thread on `chat_threads`, if it has not expired ([`users_thread`] now).
fn thread_scope(backend: DbBackend, user: &UserId, thread: ThreadId) -> Expr {
    users_thread(backend, user, thread, Timestamp::now())
}

impl SeaOrmMessageRepository {
    pub(crate) fn new(db: Db, signals: EventSignals) -> Self {
        Self { db, signals }
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
            .and_where(thread_scope(self.db.backend(), user, thread))
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
            .filter(message_scope(txn.backend(), user, thread, id));
        Ok(txn.row(&select).await?.is_some())
    }

    /// PostgreSQL: appends `messages` (at most [`ONE_STATEMENT_MAX`]) in one statement,
    /// on the pool (one round trip, no explicit transaction) or inside `txn`. The ownership
    /// check, the parent checks, the counters, the active leaf, the row lock and the
    /// inserts are that one statement, so a primary-key clash or any other failure undoes
    /// all of it. `first` is the first message's parent choice (`None`: every parent is
    /// in `messages` already, as for the later chunks of a large batch); `plan` the branch
    /// of each message ([`tree::plan_branches`]).
    ///
    /// `Ok(None)`: nothing was written because the thread or a parent is missing (or was
    /// not yet visible); [`Self::diagnose`] tells which.
    ///
    /// This statement is SQL text: sea-query cannot put a `SELECT ... FOR UPDATE` and an
    /// `UPDATE ... RETURNING` in a `WITH` clause in front of an `INSERT ... SELECT` from a
    /// `VALUES` list.
    #[allow(clippy::too_many_arguments)]
    async fn append_chunk(
        &self,
        txn: Option<&mut Txn>,
        user: &UserId,
        thread: ThreadId,
        first: Option<ParentChoice>,
        messages: &[Message],
        plan: &[Option<uuid::Uuid>],
        now: Timestamp,
    ) -> Result<Option<ChunkStored>, StoreError> {
        let db = &self.db;
        let Some(Span {
            first: earliest,
            last,
            count,
        }) = Span::of(messages)
        else {
            return Ok(Some(ChunkStored::default()));
        };
        let (follow_active, first_parent) = match first {
            Some(ParentChoice::Omitted) => (true, None),
            Some(ParentChoice::Message(id)) => (false, Some(*id.as_uuid())),
            Some(ParentChoice::Root) | None => (false, None),
        };
        let last_id = messages.last().map(|m| *m.id.as_uuid());
        let ids: HashSet<uuid::Uuid> = messages.iter().map(|m| *m.id.as_uuid()).collect();
        let others: Vec<uuid::Uuid> = messages
            .iter()
            .enumerate()
            .filter(|(i, _)| first.is_none() || *i > 0)
            .filter_map(|(_, m)| m.parent_id.map(|p| *p.as_uuid()))
            .filter(|p| !ids.contains(p))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();

        let mut sql = String::with_capacity(
            APPEND_HEAD.len() + APPEND_MIDDLE.len() + APPEND_TAIL.len() + 96 * messages.len(),
        );
        sql.push_str(APPEND_HEAD);
        let mut values: Vec<Value> = Vec::with_capacity(11 + others.len() + 13 * messages.len());
        values.extend([
            Value::from(*thread.as_uuid()),
            Value::from(user.as_str()),
            Value::from(count),
            db.timestamp(now),
            Value::from(now.as_micros()),
            db.timestamp(earliest),
            db.timestamp(last),
            Value::from(follow_active),
            Value::Uuid(first_parent),
            Value::from(uuid::Uuid::now_v7()),
            Value::Uuid(last_id),
        ]);
        if !others.is_empty() {
            let list = (0..others.len())
                .map(|i| format!("${}", values.len() + i + 1))
                .collect::<Vec<_>>()
                .join(", ");
            write!(
                sql,
                r#" AND (SELECT count(*) FROM "chat_messages" AS "e" WHERE "e"."id" IN ({list}) AND "e"."thread_id" = $1 AND "e"."user_id" = $2) = {}"#,
                others.len()
            )
            .map_err(StoreError::unexpected)?;
            values.extend(others.iter().map(|id| Value::from(*id)));
        }
        sql.push_str(APPEND_MIDDLE);
        for (i, (m, branch)) in messages.iter().zip(plan).enumerate() {
            let p = values.len();
            if i > 0 {
                sql.push_str(", ");
            }
            write!(
                sql,
                "(${}::uuid, ${}::boolean, ${}::uuid, ${}::uuid, ${}, ${}, ${}::jsonb, ${}::jsonb, ${}::timestamptz, ${}::timestamptz, ${}::bigint, ${}::jsonb, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7,
                p + 8,
                p + 9,
                p + 10,
                p + 11,
                p + 12,
                p + 13
            )
            .map_err(StoreError::unexpected)?;
            let is_first = i == 0 && first.is_some();
            values.extend([
                Value::from(*m.id.as_uuid()),
                Value::from(is_first),
                Value::Uuid(m.parent_id.filter(|_| !is_first).map(|p| *p.as_uuid())),
                Value::Uuid(*branch),
                Value::from(m.role.as_str()),
                Value::from(m.content.as_str()),
                // JSON as the text it was checked as (cast to jsonb above): no tree is
                // built or encoded again.
                Value::from(m.sources.as_raw().get()),
                Value::from(m.metadata.as_raw().get()),
                db.timestamp(m.created_at),
                db.timestamp(m.updated_at),
                Value::from(m.version.get()),
                parts_value(&m.parts),
                Value::from(m.status.as_str()),
            ]);
        }
        sql.push_str(APPEND_TAIL);
        let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
        let rows = match txn {
            Some(txn) => txn.statement_rows(statement).await?,
            None => db.statement_rows(statement).await?,
        };
        if rows.is_empty() {
            return Ok(None);
        }
        if rows.len() != messages.len() {
            return Err(StoreError::unexpected(Misuse(
                "the append stored another number of messages than it was given",
            )));
        }
        // Every new message moved by the same amount; the first row tells how much, and
        // the first message's row its parent and branch.
        let mut stored = ChunkStored::default();
        for row in &rows {
            let id: uuid::Uuid = row.get(0)?;
            let Some(index) = messages.iter().position(|m| *m.id.as_uuid() == id) else {
                return Err(StoreError::unexpected(Misuse(
                    "the append returned an unknown id",
                )));
            };
            if index == 0 {
                stored.shift = row.timestamp(1)?.as_micros() - messages[0].created_at.as_micros();
                stored.first_parent = row.get(2)?;
                stored.first_branch = Some(row.get(3)?);
            }
        }
        Ok(Some(stored))
    }

    /// PostgreSQL: the whole append, in one statement or (more than [`ONE_STATEMENT_MAX`]
    /// messages, or `locked`) the same statement per chunk inside one transaction that
    /// first locks the thread's row in a statement of its own. The one statement takes the
    /// lock too, but its snapshot predates the wait: behind a concurrent writer of the same
    /// thread it may read the tree as it was and lose a race (`TreeRace`); after the lock
    /// statement, a statement's snapshot includes everything that writer committed.
    #[allow(clippy::too_many_arguments)]
    async fn append_on_postgres(
        &self,
        user: &UserId,
        thread: ThreadId,
        first_parent: ParentChoice,
        messages: &[Message],
        plan: &[Option<uuid::Uuid>],
        now: Timestamp,
        locked: bool,
    ) -> Result<ChunkStored, StoreError> {
        if messages.len() <= ONE_STATEMENT_MAX && !locked {
            return match self
                .append_chunk(None, user, thread, Some(first_parent), messages, plan, now)
                .await?
            {
                Some(stored) => Ok(stored),
                None => Err(self
                    .diagnose(
                        &mut Exec::Pool(&self.db),
                        user,
                        thread,
                        first_parent,
                        messages,
                    )
                    .await),
            };
        }
        let mut txn = self.db.begin_write().await?;
        lock_thread(&mut txn, user, thread).await?;
        let mut first: Option<ChunkStored> = None;
        for (chunk, chunk_plan) in messages
            .chunks(ONE_STATEMENT_MAX)
            .zip(plan.chunks(ONE_STATEMENT_MAX))
        {
            let (choice, chunk_plan) = match &first {
                None => (Some(first_parent), chunk_plan.to_vec()),
                // Later chunks: the first group's branch is known now.
                Some(done) => (
                    None,
                    chunk_plan.iter().map(|b| b.or(done.first_branch)).collect(),
                ),
            };
            let outcome = self
                .append_chunk(
                    Some(&mut txn),
                    user,
                    thread,
                    choice,
                    chunk,
                    &chunk_plan,
                    now,
                )
                .await?;
            match (outcome, &first) {
                (Some(stored), None) => first = Some(stored),
                (Some(_), Some(_)) => {}
                (None, _) => {
                    return Err(self
                        .diagnose(
                            &mut Exec::Txn(&mut txn),
                            user,
                            thread,
                            first_parent,
                            messages,
                        )
                        .await);
                }
            }
        }
        txn.commit().await?;
        first.ok_or_else(|| StoreError::unexpected(Misuse("an append of no chunk")))
    }

    /// After an append wrote nothing: the thread is missing (`NotFound`), a parent named is
    /// not in it (`UnknownMessage`), or everything is there now, so the append lost a race
    /// with another writer of the thread and may run again ([`TreeRace`]).
    async fn diagnose(
        &self,
        exec: &mut Exec<'_>,
        user: &UserId,
        thread: ThreadId,
        first_parent: ParentChoice,
        messages: &[Message],
    ) -> StoreError {
        let ids: HashSet<MessageId> = messages.iter().map(|m| m.id).collect();
        let mut named: Vec<MessageId> = Vec::new();
        if let ParentChoice::Message(id) = first_parent {
            named.push(id);
        }
        named.extend(
            messages
                .iter()
                .skip(1)
                .filter_map(|m| m.parent_id)
                .filter(|p| !ids.contains(p)),
        );
        let exists = match tree::thread_exists(exec, user, thread).await {
            Ok(exists) => exists,
            Err(err) => return err,
        };
        if !exists {
            return StoreError::NotFound;
        }
        let wanted: Vec<uuid::Uuid> = named.iter().map(|id| *id.as_uuid()).collect();
        let found = match tree::nodes(exec, user, thread, &wanted).await {
            Ok(found) => found,
            Err(err) => return err,
        };
        match named
            .iter()
            .find(|id| !found.iter().any(|n| n.id == *id.as_uuid()))
        {
            Some(missing) => StoreError::UnknownMessage(*missing),
            None => StoreError::unexpected(TreeRace),
        }
    }

    /// SQLite: the append as a transaction of portable statements (writers are serialized
    /// by `BEGIN IMMEDIATE`, so what this reads stays true until it commits).
    async fn append_in_transaction(
        &self,
        user: &UserId,
        thread: ThreadId,
        first_parent: ParentChoice,
        messages: Vec<Message>,
        plan: &[Option<uuid::Uuid>],
        now: Timestamp,
    ) -> Result<Vec<Message>, StoreError> {
        let db = &self.db;
        let Some(Span { first, last, count }) = Span::of(&messages) else {
            return Ok(messages);
        };
        let mut txn = db.begin_write().await?;
        // (1) The thread as it is (BEGIN IMMEDIATE holds the write lock): its newest
        // message and active leaf before this append, and whether the user owns it.
        let select = Query::select()
            .columns([thread::Column::LastMessageAt, thread::Column::ActiveLeafId])
            .from(thread::Entity)
            .and_where(thread_scope(self.db.backend(), user, thread))
            .to_owned();
        let statement = txn.backend().build(&select);
        let row = txn
            .statement_rows(statement)
            .await?
            .into_iter()
            .next()
            .ok_or(StoreError::NotFound)?;
        let previous_last = row.optional_timestamp(0)?;
        let active_leaf: Option<uuid::Uuid> = row.get(1)?;

        // (2) The parents: the first message's, and every other one named outside the
        // batch, must be messages of this thread.
        let first_parent_id = match first_parent {
            ParentChoice::Omitted => active_leaf,
            ParentChoice::Root => None,
            ParentChoice::Message(id) => Some(*id.as_uuid()),
        };
        let ids: HashSet<MessageId> = messages.iter().map(|m| m.id).collect();
        let mut named: Vec<uuid::Uuid> = first_parent_id.into_iter().collect();
        named.extend(
            messages
                .iter()
                .skip(1)
                .filter_map(|m| m.parent_id)
                .filter(|p| !ids.contains(p))
                .map(|p| *p.as_uuid()),
        );
        let found = tree::nodes(&mut Exec::Txn(&mut txn), user, thread, &named).await?;
        if let Some(missing) = named.iter().find(|id| !found.iter().any(|n| n.id == **id)) {
            return Err(StoreError::UnknownMessage(MessageId::from_uuid(*missing)));
        }
        // The first message continues its parent's branch when it is the parent's first
        // child there.
        let first_branch = match found.iter().find(|n| Some(n.id) == first_parent_id) {
            Some(parent)
                if !tree::has_child_in_branch(&mut Exec::Txn(&mut txn), user, parent).await? =>
            {
                parent.branch
            }
            _ => uuid::Uuid::now_v7(),
        };

        // (3) The new messages must sort after every message already in the thread: when the
        // clock of this instance is behind the last append (or a retry raced it), move them
        // forward, keeping their spacing.
        let shift = match previous_last {
            Some(last) if last >= first => last.as_micros() - first.as_micros() + 1,
            _ => 0,
        };
        let mut stored = shifted(messages, shift);
        if let Some(m) = stored.first_mut() {
            m.parent_id = first_parent_id.map(MessageId::from_uuid);
        }
        let branches: Vec<uuid::Uuid> = plan.iter().map(|b| b.unwrap_or(first_branch)).collect();

        // (4) All rows at once; a primary-key clash aborts the whole transaction.
        insert_messages(&mut txn, user, thread, &stored, &branches).await?;

        // (5) The newest message is now one of these, and the last one the active leaf; the
        // counters and the version change in this one statement (the thread's event).
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
            .value(
                thread::Column::LastMessageAt,
                db.timestamp(last.plus_micros(shift)),
            )
            .value(
                thread::Column::ActiveLeafId,
                stored.last().map(|m| *m.id.as_uuid()),
            )
            .and_where(thread_scope(self.db.backend(), user, thread))
            .to_owned();
        txn.execute(&update).await?;
        txn.commit().await?;
        Ok(stored)
    }
}

impl SeaOrmMessageRepository {
    /// Where a page of a path ends, as [`PathQuery`] says: `(end, contains)`, where `end`
    /// `None` means the thread's active leaf, and `contains` names the end of the walk so
    /// far, which the active path must contain (else the walk stays on its own path).
    async fn path_end(
        &self,
        user: &UserId,
        thread: ThreadId,
        query: &PathQuery,
    ) -> Result<(Option<uuid::Uuid>, Option<uuid::Uuid>), StoreError> {
        let mut exec = Exec::Pool(&self.db);
        let through = |x: MessageId| async move {
            let mut exec = Exec::Pool(&self.db);
            match tree::descend(&mut exec, user, thread, Some(*x.as_uuid())).await? {
                Some(leaf) => Ok(leaf),
                // A missing thread answers as one, whatever message it is asked about.
                None if tree::thread_exists(&mut exec, user, thread).await? => {
                    Err(StoreError::UnknownMessage(x))
                }
                None => Err(StoreError::NotFound),
            }
        };
        Ok(match (query.resume_from, query.order, query.target) {
            (None, _, PathTarget::Active) => (None, None),
            (None, _, PathTarget::Through(x)) => (Some(through(x).await?), None),
            (Some(end), SortOrder::Desc, _) => (Some(*end.as_uuid()), None),
            (Some(end), SortOrder::Asc, PathTarget::Active) => (None, Some(*end.as_uuid())),
            (Some(end), SortOrder::Asc, PathTarget::Through(x)) => {
                match tree::descend(&mut exec, user, thread, Some(*end.as_uuid())).await? {
                    Some(leaf) => (Some(leaf), None),
                    None => (Some(through(x).await?), None),
                }
            }
        })
    }

    /// One page of the path ending at `end` (the thread's active leaf when `None`).
    async fn read_path(
        &self,
        user: &UserId,
        thread: ThreadId,
        end: Option<uuid::Uuid>,
        contains: Option<uuid::Uuid>,
        query: &PathQuery,
    ) -> Result<PathRead, StoreError> {
        match self.db.backend() {
            DbBackend::Postgres => {
                self.read_path_in_one_statement(user, thread, end, contains, query)
                    .await
            }
            _ => {
                self.read_path_by_segments(user, thread, end, contains, query)
                    .await
            }
        }
    }

    /// PostgreSQL: the page in one statement. `leaf` is the end, `seg` the path's segments
    /// (a recursive walk up the branches, two index probes per branch point), `info` what
    /// the caller needs to know when there is no page to read, and `page` reads each
    /// segment from the branch index, root side first, at most a page from each, and stops
    /// at a page; the sibling lists are read for the page's messages only.
    ///
    /// This statement is SQL text: sea-query writes neither recursive common table
    /// expressions with correlated subqueries nor lateral joins.
    async fn read_path_in_one_statement(
        &self,
        user: &UserId,
        thread: ThreadId,
        end: Option<uuid::Uuid>,
        contains: Option<uuid::Uuid>,
        query: &PathQuery,
    ) -> Result<PathRead, StoreError> {
        let db = &self.db;
        let columns = |alias: &str| {
            MESSAGE_COLUMNS
                .iter()
                .map(|c| format!(r#""{alias}"."{0}""#, c.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (segment_order, order, compare) = match query.order {
            SortOrder::Asc => ("DESC", "", ">"),
            SortOrder::Desc => ("ASC", " DESC", "<"),
        };
        let mut values = vec![
            Value::from(*thread.as_uuid()),
            Value::from(user.as_str()),
            Value::Uuid(end),
            Value::Uuid(contains),
        ];
        let after = match query.after {
            Some(key) => {
                values.push(db.timestamp(key.created_at));
                values.push(Value::from(*key.id.as_uuid()));
                format!(
                    r#" AND ("m"."created_at", "m"."id") {compare} (${}, ${})"#,
                    values.len() - 1,
                    values.len()
                )
            }
            None => String::new(),
        };
        values.push(Value::from(
            i64::try_from(crate::db::sql_limit(query.limit)).unwrap_or(i64::MAX),
        ));
        let limit = values.len();
        values.push(db.timestamp(Timestamp::now()));
        let alive = thread_alive_sql("t", &format!("${}", values.len()));
        let m = columns("m");
        let page = columns("page");
        let sql = format!(
            r#"WITH RECURSIVE "leaf" AS (SELECT COALESCE($3::uuid, "t"."active_leaf_id") AS "id" FROM "chat_threads" AS "t" WHERE "t"."id" = $1 AND "t"."user_id" = $2 AND {alive}), "seg" ("branch_id", "upto_at", "upto_id", "depth") AS (SELECT "m"."branch_id", "m"."created_at", "m"."id", 0 FROM "chat_messages" AS "m" JOIN "leaf" ON "m"."id" = "leaf"."id" WHERE "m"."thread_id" = $1 AND "m"."user_id" = $2 UNION ALL SELECT "p"."branch_id", "p"."created_at", "p"."id", "seg"."depth" + 1 FROM "seg" JOIN "chat_messages" AS "p" ON "p"."user_id" = $2 AND "p"."id" = (SELECT "h"."parent_id" FROM "chat_messages" AS "h" WHERE "h"."branch_id" = "seg"."branch_id" AND "h"."user_id" = $2 ORDER BY "h"."created_at", "h"."id" LIMIT 1)), "info" AS (SELECT "leaf"."id" AS "end_id", EXISTS (SELECT 1 FROM "seg") AS "end_found", ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM "seg" JOIN "chat_messages" AS "e" ON "e"."branch_id" = "seg"."branch_id" WHERE "e"."id" = $4::uuid AND "e"."user_id" = $2 AND ("e"."created_at", "e"."id") <= ("seg"."upto_at", "seg"."upto_id"))) AS "on_path" FROM "leaf"), "page" AS (SELECT "m".* FROM (SELECT * FROM "seg" ORDER BY "depth" {segment_order}) AS "s" CROSS JOIN LATERAL (SELECT {m} FROM "chat_messages" AS "m" WHERE "m"."branch_id" = "s"."branch_id" AND "m"."user_id" = $2 AND ("m"."created_at", "m"."id") <= ("s"."upto_at", "s"."upto_id"){after} ORDER BY "m"."created_at"{order}, "m"."id"{order} LIMIT ${limit}) AS "m" WHERE (SELECT "on_path" FROM "info") ORDER BY "s"."depth" {segment_order}, "m"."created_at"{order}, "m"."id"{order} LIMIT ${limit}) SELECT {page}, CASE WHEN "page"."id" IS NULL THEN NULL WHEN "page"."parent_id" IS NULL THEN (SELECT string_agg("r"."id"::text, ',' ORDER BY "r"."created_at", "r"."id") FROM "chat_messages" AS "r" WHERE "r"."thread_id" = $1 AND "r"."user_id" = $2 AND "r"."parent_id" IS NULL) ELSE (SELECT string_agg("c"."id"::text, ',' ORDER BY "c"."created_at", "c"."id") FROM "chat_messages" AS "c" WHERE "c"."parent_id" = "page"."parent_id" AND "c"."user_id" = $2) END AS "sibling_ids", "info"."end_id", "info"."end_found", "info"."on_path" FROM "info" LEFT JOIN "page" ON true ORDER BY "page"."created_at"{order}, "page"."id"{order}"#
        );
        let rows = db
            .statement_rows(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .await?;
        let Some(first) = rows.first() else {
            return Err(StoreError::NotFound);
        };
        let end: Option<uuid::Uuid> = first.get_named("end_id")?;
        let found: bool = first.get_named("end_found")?;
        let on_path: bool = first.get_named("on_path")?;
        let Some(end) = end.filter(|_| found) else {
            return Ok(PathRead::NoEnd);
        };
        if !on_path {
            return Ok(PathRead::OffPath);
        }
        let mut messages = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.get::<Option<uuid::Uuid>>(0)?.is_none() {
                continue;
            }
            let message = message_from_row(row)?;
            let siblings: Option<String> = row.get_named("sibling_ids")?;
            messages.push(PathMessage {
                sibling_ids: parse_ids(siblings.as_deref().unwrap_or_default())?,
                message,
            });
        }
        Ok(PathRead::Page(PathPage {
            messages,
            end: Some(MessageId::from_uuid(end)),
        }))
    }

    /// SQLite: the same page in a few statements on the embedded database (no round
    /// trips): the segments, then each segment's rows until the page is full, then the
    /// sibling lists.
    async fn read_path_by_segments(
        &self,
        user: &UserId,
        thread: ThreadId,
        end: Option<uuid::Uuid>,
        contains: Option<uuid::Uuid>,
        query: &PathQuery,
    ) -> Result<PathRead, StoreError> {
        let db = &self.db;
        let mut exec = Exec::Pool(db);
        let end = match end {
            Some(end) => {
                if !tree::thread_exists(&mut exec, user, thread).await? {
                    return Err(StoreError::NotFound);
                }
                end
            }
            None => {
                let select = thread::Entity::find()
                    .select_only()
                    .column(thread::Column::ActiveLeafId)
                    .filter(thread_scope(db.backend(), user, thread));
                let row = db.row(&select).await?.ok_or(StoreError::NotFound)?;
                match row.get::<Option<uuid::Uuid>>(0)? {
                    Some(leaf) => leaf,
                    None => return Ok(PathRead::NoEnd),
                }
            }
        };
        let mut segments = tree::segments(&mut exec, user, thread, end).await?;
        if segments.is_empty() {
            return Ok(PathRead::NoEnd);
        }
        if let Some(walked) = contains {
            let node = tree::node(&mut exec, user, thread, walked).await?;
            if !node.is_some_and(|n| tree::on_path(&n, &segments)) {
                return Ok(PathRead::OffPath);
            }
        }
        if query.order == SortOrder::Asc {
            segments.reverse();
        }
        let limit = crate::db::sql_limit(query.limit);
        let mut rows = Vec::new();
        for segment in segments {
            let remaining = limit - rows.len() as u64;
            if remaining == 0 {
                break;
            }
            let position = || {
                Expr::tuple([
                    Expr::col((message::Entity, Column::CreatedAt)),
                    Expr::col((message::Entity, Column::Id)),
                ])
            };
            let mut select = select_messages()
                .filter(Expr::col((message::Entity, Column::BranchId)).eq(segment.branch))
                .filter(Expr::col((message::Entity, Column::UserId)).eq(user.as_str()))
                .filter(position().lte(Expr::tuple([
                    Expr::val(db.timestamp(segment.upto_at)),
                    Expr::val(segment.upto_id),
                ])));
            if let Some(after) = query.after {
                let key = Expr::tuple([
                    Expr::val(db.timestamp(after.created_at)),
                    Expr::val(*after.id.as_uuid()),
                ]);
                select = select.filter(match query.order {
                    SortOrder::Asc => position().gt(key),
                    SortOrder::Desc => position().lt(key),
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
            rows.extend(db.rows(&select.limit(remaining)).await?);
        }
        let messages = messages_from_rows(&rows)?;
        let parents: Vec<Option<uuid::Uuid>> = messages
            .iter()
            .map(|m| m.parent_id.map(|p| *p.as_uuid()))
            .collect();
        let mut lists = tree::siblings(&mut exec, user, thread, &parents).await?;
        let messages = messages
            .into_iter()
            .map(|message| {
                let key = message.parent_id.map(|p| *p.as_uuid());
                PathMessage {
                    sibling_ids: lists.get(&key).cloned().unwrap_or_default(),
                    message,
                }
            })
            .collect();
        lists.clear();
        Ok(PathRead::Page(PathPage {
            messages,
            end: Some(MessageId::from_uuid(end)),
        }))
    }
}

/// What reading a page of a path found.
enum PathRead {
    /// The page.
    Page(PathPage),
    /// The end asked for is not a message of the thread (or, asked for the active leaf,
    /// the thread has none).
    NoEnd,
    /// The message the path had to contain is not on it.
    OffPath,
}

/// Comma-separated ids, as the page statement aggregates sibling lists.
fn parse_ids(text: &str) -> Result<Vec<MessageId>, StoreError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            uuid::Uuid::parse_str(s)
                .map(MessageId::from_uuid)
                .map_err(StoreError::unexpected)
        })
        .collect()
}

/// Inserts messages as given (parents set, feedback too), each into its branch.
pub(crate) async fn insert_messages(
    txn: &mut Txn,
    user: &UserId,
    thread: ThreadId,
    messages: &[Message],
    branches: &[uuid::Uuid],
) -> Result<(), StoreError> {
    let backend = txn.backend();
    for (chunk, chunk_branches) in messages
        .chunks(INSERT_CHUNK)
        .zip(branches.chunks(INSERT_CHUNK))
    {
        let mut insert = Query::insert();
        insert.into_table(message::Entity).columns([
            Column::Id,
            Column::ThreadId,
            Column::UserId,
            Column::ParentId,
            Column::BranchId,
            Column::Role,
            Column::Content,
            Column::Sources,
            Column::Metadata,
            Column::CreatedAt,
            Column::UpdatedAt,
            Column::Version,
            Column::Parts,
            Column::Status,
            Column::Feedback,
        ]);
        for (m, branch) in chunk.iter().zip(chunk_branches) {
            let feedback = m.feedback.as_ref().map(feedback_json).transpose()?;
            insert
                .values([
                    Expr::val(*m.id.as_uuid()),
                    Expr::val(*thread.as_uuid()),
                    Expr::val(user.as_str()),
                    Expr::val(Value::Uuid(m.parent_id.map(|p| *p.as_uuid()))),
                    Expr::val(*branch),
                    Expr::val(m.role.as_str()),
                    Expr::val(m.content.as_str()),
                    Expr::val(m.sources.to_value()),
                    Expr::val(m.metadata.to_value()),
                    Expr::val(timestamp_value(backend, m.created_at)),
                    Expr::val(timestamp_value(backend, m.updated_at)),
                    Expr::val(m.version.get()),
                    parts_expr(backend, &m.parts),
                    Expr::val(m.status.as_str()),
                    json_text(backend, Value::String(feedback)),
                ])
                .map_err(StoreError::unexpected)?;
        }
        txn.execute(&insert).await?;
    }
    Ok(())
}

/// The `parts` column's value as a bound text (cast to `jsonb` by the statement): `NULL`
/// for parts derived from the content.
fn parts_value(parts: &MessageParts) -> Value {
    Value::String((!parts.is_derived()).then(|| parts.as_raw().get().to_owned()))
}

/// The `parts` column's value in a sea-query statement: `NULL` for parts derived from the
/// content, else the JSON text.
fn parts_expr(backend: DbBackend, parts: &MessageParts) -> Expr {
    json_text(backend, parts_value(parts))
}

/// JSON text (or `NULL`) for a JSON column: bound as text, cast to `jsonb` on PostgreSQL
/// (SQLite stores JSON as text).
fn json_text(backend: DbBackend, text: Value) -> Expr {
    match backend {
        DbBackend::Postgres => Expr::val(text).cast_as(sea_orm::sea_query::Alias::new("jsonb")),
        _ => Expr::val(text),
    }
}

/// What a PostgreSQL append chunk stored, beyond what it was given.
#[derive(Debug, Clone, Copy, Default)]
struct ChunkStored {
    /// How far `created_at` moved.
    shift: i64,
    /// The first message's parent as resolved.
    first_parent: Option<uuid::Uuid>,
    /// The first message's branch.
    first_branch: Option<uuid::Uuid>,
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
        first_parent: ParentChoice,
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
            return if tree::thread_exists(&mut Exec::Pool(db), user, thread).await? {
                Ok(messages)
            } else {
                Err(StoreError::NotFound)
            };
        }
        let plan = tree::plan_branches(&messages);
        if db.backend() != DbBackend::Postgres {
            let stored = self
                .append_in_transaction(user, thread, first_parent, messages, &plan, now)
                .await?;
            self.signals.changed(user);
            return Ok(stored);
        }
        let mut attempt = 0;
        let stored = loop {
            // A retry locks the thread first, in a statement of its own: the append's
            // statement then reads the tree as the previous writer left it.
            match self
                .append_on_postgres(
                    user,
                    thread,
                    first_parent,
                    &messages,
                    &plan,
                    now,
                    attempt > 0,
                )
                .await
            {
                Err(err) if TreeRace::is(&err) && attempt < RACE_RETRIES => attempt += 1,
                other => break other?,
            }
        };
        self.signals.changed(user);
        let mut messages = shifted(messages, stored.shift);
        if let Some(first) = messages.first_mut() {
            first.parent_id = stored.first_parent.map(MessageId::from_uuid);
        }
        Ok(messages)
    }

    async fn get_message(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
    ) -> Result<Message, StoreError> {
        let select = select_messages().filter(message_scope(self.db.backend(), user, thread, id));
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
                .filter(in_live_thread(self.db.backend(), user, thread));
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
        let mut select = select_messages().filter(in_live_thread(db.backend(), user, thread));
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
        if rows.is_empty() && !tree::thread_exists(&mut Exec::Pool(db), user, thread).await? {
            return Err(StoreError::NotFound);
        }
        messages_from_rows(&rows)
    }

    async fn list_path(
        &self,
        user: &UserId,
        thread: ThreadId,
        query: PathQuery,
    ) -> Result<PathPage, StoreError> {
        let mut query = query;
        loop {
            let (end, contains) = self.path_end(user, thread, &query).await?;
            let outcome = match self.read_path(user, thread, end, contains, &query).await? {
                PathRead::NoEnd if end.is_none() => {
                    // No active leaf: the path through the newest root.
                    match tree::descend(&mut Exec::Pool(&self.db), user, thread, None).await? {
                        None => {
                            return Ok(PathPage {
                                messages: Vec::new(),
                                end: None,
                            });
                        }
                        Some(leaf) => {
                            self.read_path(user, thread, Some(leaf), contains, &query)
                                .await?
                        }
                    }
                }
                other => other,
            };
            let outcome = match (outcome, contains) {
                // The active leaf moved to another branch: the walk stays on its path.
                (PathRead::OffPath, Some(walked)) => {
                    self.read_path(user, thread, Some(walked), None, &query)
                        .await?
                }
                (other, _) => other,
            };
            match outcome {
                PathRead::Page(page) => return Ok(page),
                // The end of a resumed walk is gone: go on as a first page would.
                PathRead::NoEnd | PathRead::OffPath if query.resume_from.is_some() => {
                    query.resume_from = None;
                }
                PathRead::NoEnd | PathRead::OffPath => {
                    return Err(StoreError::unexpected(Misuse(
                        "a path end that was just resolved does not exist",
                    )));
                }
            }
        }
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
        if let Some((content, parts)) = &patch.text {
            update.value(Column::Content, content.as_str());
            update.value(Column::Parts, parts_expr(db.backend(), parts));
        }
        if let Some(status) = patch.status {
            update.value(Column::Status, status.as_str());
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
            .and_where(message_scope(self.db.backend(), user, thread, id));
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
        self.signals.changed(user);
        Ok(message)
    }

    async fn set_feedback(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
        feedback: Option<Feedback>,
        now: Timestamp,
    ) -> Result<Message, StoreError> {
        let db = &self.db;
        let json = feedback.as_ref().map(feedback_json).transpose()?;
        let value = json_text(db.backend(), Value::String(json));
        let update = Query::update()
            .table(message::Entity)
            .value(Column::Feedback, value)
            .value(Column::Version, next_version(Column::Version, now))
            .and_where(message_scope(self.db.backend(), user, thread, id))
            .returning(Query::returning().columns(MESSAGE_COLUMNS))
            .to_owned();
        let row = db
            .statement_rows(db.backend().build(&update))
            .await?
            .into_iter()
            .next()
            .ok_or(StoreError::NotFound)?;
        self.signals.changed(user);
        message_from_row(&row)
    }

    async fn delete_message(
        &self,
        user: &UserId,
        thread: ThreadId,
        id: MessageId,
        scope: DeleteScope,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().await?;
        lock_thread(&mut txn, user, thread).await?;
        let backend = txn.backend();
        let node = tree::node(&mut Exec::Txn(&mut txn), user, thread, *id.as_uuid())
            .await?
            .ok_or(StoreError::NotFound)?;
        let thread_id = Value::from(*thread.as_uuid());
        let user_id = Value::from(user.as_str());
        let parent = Value::Uuid(node.parent);
        let deleted = Value::from(node.id);
        let statement = |sql: &str, values: &[&Value]| {
            tree::statement(backend, sql, values.iter().map(|v| (*v).clone()).collect())
        };
        match scope {
            DeleteScope::Message => {
                // The message first, then its children move up to its parent: the slot
                // (parent, branch) its own child in its branch takes is the one it frees.
                // PostgreSQL checks the parent foreign key at commit.
                txn.execute_statement(statement(
                    "DELETE FROM chat_messages WHERE id = $3 AND thread_id = $1 AND user_id = $2",
                    &[&thread_id, &user_id, &deleted],
                ))
                .await?;
                // Their representation changed (`parent_id`): so does their version.
                txn.execute_statement(statement(
                    "UPDATE chat_messages SET parent_id = $4, \
                     version = CASE WHEN version + 1 > $5 THEN version + 1 ELSE $5 END \
                     WHERE parent_id = $3 AND thread_id = $1 AND user_id = $2",
                    &[
                        &thread_id,
                        &user_id,
                        &deleted,
                        &parent,
                        &Value::from(now.as_micros()),
                    ],
                ))
                .await?;
            }
            DeleteScope::Subtree => {
                txn.execute_statement(statement(
                    "WITH RECURSIVE sub (id) AS (\
                     SELECT id FROM chat_messages WHERE id = $3 AND thread_id = $1 AND user_id = $2 \
                     UNION ALL \
                     SELECT c.id FROM chat_messages AS c JOIN sub ON c.parent_id = sub.id \
                     WHERE c.user_id = $2) \
                     DELETE FROM chat_messages WHERE user_id = $2 AND id IN (SELECT id FROM sub)",
                    &[&thread_id, &user_id, &deleted],
                ))
                .await?;
            }
        }
        // An active leaf that went moves up to the deleted message's parent.
        txn.execute_statement(statement(
            "UPDATE chat_threads SET active_leaf_id = $3 \
             WHERE id = $1 AND user_id = $2 AND active_leaf_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM chat_messages AS m \
             WHERE m.id = chat_threads.active_leaf_id AND m.user_id = $2)",
            &[&thread_id, &user_id, &parent],
        ))
        .await?;
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
            .value(thread::Column::UpdatedAt, self.db.timestamp(now))
            .value(
                thread::Column::Version,
                next_version(thread::Column::Version, now),
            )
            .and_where(thread_scope(self.db.backend(), user, thread))
            .to_owned();
        txn.execute(&update).await?;
        txn.commit().await?;
        self.signals.changed(user);
        Ok(())
    }
}
