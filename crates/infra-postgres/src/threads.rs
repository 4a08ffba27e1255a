//! [`ThreadRepository`] over SeaORM.

use std::sync::LazyLock;

use async_trait::async_trait;
use domain::{
    ArchivedFilter, Message, MessageId, PurgeRule, Purged, StoreError, Thread, ThreadId,
    ThreadListQuery, ThreadPatch, ThreadRepository, Timestamp, UserId, Version,
};
use sea_orm::sea_query::{
    Expr, ExprTrait, Func, InsertStatement, LockBehavior, LockType, Query, Value,
};
use sea_orm::{DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select, Statement};

use crate::convert::{THREAD_COLUMNS, thread_from_row, threads_from_rows};
use crate::db::{
    Db, lock_thread, next_version, sql_limit, thread_alive, timestamp_value, users_thread,
};
use crate::entity::thread::{self, Column};
use crate::events::EventSignals;
use crate::messages::insert_messages;
use crate::tree::{self, Exec};

/// The thread columns that [`thread_from_row`] reads, from `chat_threads`: built once and
/// copied for each statement (`Entity::find()` lists every column of the entity first,
/// which `select_only` then drops; about a twentieth of a thread list's CPU).
fn select_threads() -> Select<thread::Entity> {
    static SELECT: LazyLock<Select<thread::Entity>> =
        LazyLock::new(|| thread::Entity::find().select_only().columns(THREAD_COLUMNS));
    SELECT.clone()
}

/// Threads in `chat_threads`, every statement scoped by `user_id`.
#[derive(Debug, Clone)]
pub struct SeaOrmThreadRepository {
    db: Db,
    signals: EventSignals,
}

impl SeaOrmThreadRepository {
    pub(crate) fn new(db: Db, signals: EventSignals) -> Self {
        Self { db, signals }
    }

    /// `id = $id AND user_id = $user` and not expired now.
    fn scope(&self, user: &UserId, id: ThreadId) -> Expr {
        users_thread(self.db.backend(), user, id, Timestamp::now())
    }

    /// Runs a `DELETE` of threads that returns each deleted thread's `user_id` and
    /// `message_count`; wakes the event streams of their owners.
    async fn delete_returning(
        &self,
        delete: &sea_orm::sea_query::DeleteStatement,
    ) -> Result<Purged, StoreError> {
        let rows = self
            .db
            .statement_rows(self.db.backend().build(delete))
            .await?;
        let mut purged = Purged::NONE;
        let mut owners = std::collections::BTreeSet::new();
        for row in &rows {
            owners.insert(row.get::<String>(0)?);
            purged.threads += 1;
            purged.messages += count(row.get(1)?)?;
        }
        for owner in owners {
            let owner = UserId::parse(owner).map_err(StoreError::unexpected)?;
            self.signals.changed(&owner);
        }
        Ok(purged)
    }

    /// After a conditional update matched no row: was the thread missing, or its version
    /// not among the expected ones?
    async fn missing_or_mismatch(&self, user: &UserId, id: ThreadId) -> StoreError {
        match tree::thread_exists(&mut Exec::Pool(&self.db), user, id).await {
            Ok(true) => StoreError::VersionMismatch,
            Ok(false) => StoreError::NotFound,
            Err(err) => err,
        }
    }
}

/// The threads that `rule` selects.
fn purge_condition(backend: DbBackend, rule: PurgeRule) -> Expr {
    match rule {
        PurgeRule::User(user) => Expr::col((thread::Entity, Column::UserId)).eq(user.as_str()),
        // Implies `expires_at IS NOT NULL`: the partial index's rows only.
        PurgeRule::ExpiredAt(now) => {
            Expr::col((thread::Entity, Column::ExpiresAt)).lte(timestamp_value(backend, now))
        }
        PurgeRule::UpdatedBefore(cutoff) => {
            Expr::col((thread::Entity, Column::UpdatedAt)).lt(timestamp_value(backend, cutoff))
        }
    }
}

/// A count read back from the database (never negative).
fn count(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(StoreError::unexpected)
}

/// `INSERT` of one thread row, as given.
fn insert_statement(backend: DbBackend, thread: &Thread) -> Result<InsertStatement, StoreError> {
    let at = |t: Timestamp| timestamp_value(backend, t);
    let at_or_null = |t: Option<Timestamp>| match (t, backend) {
        (Some(t), _) => at(t),
        (None, DbBackend::Sqlite) => Value::String(None),
        (None, _) => Value::ChronoDateTimeUtc(None),
    };
    Ok(Query::insert()
        .into_table(thread::Entity)
        .columns([
            Column::Id,
            Column::UserId,
            Column::Title,
            Column::Metadata,
            Column::ArchivedAt,
            Column::PinnedAt,
            Column::MessageCount,
            Column::LastMessageAt,
            Column::CreatedAt,
            Column::UpdatedAt,
            Column::Version,
            Column::ActiveLeafId,
            Column::ActiveStreamId,
            Column::ExpiresAt,
        ])
        .values([
            Expr::val(*thread.id.as_uuid()),
            Expr::val(thread.user_id.as_str()),
            Expr::val(thread.title.as_str()),
            Expr::val(thread.metadata.to_value()),
            Expr::val(at_or_null(thread.archived_at)),
            Expr::val(at_or_null(thread.pinned_at)),
            Expr::val(thread.message_count),
            Expr::val(at_or_null(thread.last_message_at)),
            Expr::val(at(thread.created_at)),
            Expr::val(at(thread.updated_at)),
            Expr::val(thread.version.get()),
            Expr::val(Value::Uuid(thread.active_leaf_id.map(|id| *id.as_uuid()))),
            Expr::val(Value::String(
                thread
                    .active_stream_id
                    .as_ref()
                    .map(|s| s.as_str().to_owned()),
            )),
            Expr::val(at_or_null(thread.expires_at)),
        ])
        .map_err(StoreError::unexpected)?
        .to_owned())
}

#[async_trait]
impl ThreadRepository for SeaOrmThreadRepository {
    async fn insert_thread(&self, thread: &Thread) -> Result<(), StoreError> {
        self.db
            .execute(&insert_statement(self.db.backend(), thread)?)
            .await?;
        self.signals.changed(&thread.user_id);
        Ok(())
    }

    async fn get_thread(&self, user: &UserId, id: ThreadId) -> Result<Thread, StoreError> {
        let select = select_threads().filter(self.scope(user, id));
        let row = self.db.row(&select).await?.ok_or(StoreError::NotFound)?;
        thread_from_row(&row)
    }

    async fn list_threads(
        &self,
        user: &UserId,
        query: ThreadListQuery,
    ) -> Result<Vec<Thread>, StoreError> {
        let db = &self.db;
        let mut select = select_threads()
            .filter(Expr::col((thread::Entity, Column::UserId)).eq(user.as_str()))
            .filter(thread_alive(db.backend(), Timestamp::now()));
        let archived_at = Expr::col((thread::Entity, Column::ArchivedAt));
        select = match query.filter.archived {
            ArchivedFilter::Active => select.filter(archived_at.is_null()),
            ArchivedFilter::Archived => select.filter(archived_at.is_not_null()),
            ArchivedFilter::All => select,
        };
        let pinned_at = Expr::col((thread::Entity, Column::PinnedAt));
        select = match query.filter.pinned {
            Some(true) => select.filter(pinned_at.is_not_null()),
            Some(false) => select.filter(pinned_at.is_null()),
            None => select,
        };
        if let Some(after) = query.after {
            // Strictly after in `(updated_at desc, id desc)` order: a smaller pair. The row
            // comparison is evaluated by both backends and lets PostgreSQL seek the index.
            select = select.filter(
                Expr::tuple([
                    Expr::col((thread::Entity, Column::UpdatedAt)),
                    Expr::col((thread::Entity, Column::Id)),
                ])
                .lt(Expr::tuple([
                    Expr::val(db.timestamp(after.updated_at)),
                    Expr::val(*after.id.as_uuid()),
                ])),
            );
        }
        let select = select
            .order_by_desc(Column::UpdatedAt)
            .order_by_desc(Column::Id)
            .limit(sql_limit(query.limit));
        threads_from_rows(&db.rows(&select).await?)
    }

    async fn list_threads_by_id(
        &self,
        user: &UserId,
        after: Option<ThreadId>,
        limit: u64,
    ) -> Result<Vec<Thread>, StoreError> {
        let db = &self.db;
        let mut select = select_threads()
            .filter(Expr::col((thread::Entity, Column::UserId)).eq(user.as_str()))
            .filter(thread_alive(db.backend(), Timestamp::now()));
        if let Some(after) = after {
            select = select.filter(Expr::col((thread::Entity, Column::Id)).gt(*after.as_uuid()));
        }
        let select = select.order_by_asc(Column::Id).limit(sql_limit(limit));
        threads_from_rows(&db.rows(&select).await?)
    }

    async fn update_thread(
        &self,
        user: &UserId,
        id: ThreadId,
        patch: ThreadPatch,
        expected: Option<Vec<Version>>,
        now: Timestamp,
    ) -> Result<Thread, StoreError> {
        let db = &self.db;
        if expected.as_ref().is_some_and(Vec::is_empty) {
            // An empty list of expected versions matches nothing.
            return Err(self.missing_or_mismatch(user, id).await);
        }
        // A new active leaf must be a message of the thread when the update commits: the
        // thread's row is locked first (a message delete locks it too), then the message
        // is looked up, then the thread updated.
        let mut txn = match patch.active_leaf {
            Some(Some(leaf)) => {
                let mut txn = db.begin_write().await?;
                lock_thread(&mut txn, user, id).await?;
                let mut exec = Exec::Txn(&mut txn);
                if tree::node(&mut exec, user, id, *leaf.as_uuid())
                    .await?
                    .is_none()
                {
                    return Err(if tree::thread_exists(&mut exec, user, id).await? {
                        StoreError::UnknownMessage(leaf)
                    } else {
                        StoreError::NotFound
                    });
                }
                Some(txn)
            }
            _ => None,
        };
        let mut update = Query::update();
        update.table(thread::Entity);
        if let Some(title) = &patch.title {
            update.value(Column::Title, title.as_str());
        }
        if let Some(metadata) = &patch.metadata {
            update.value(Column::Metadata, metadata.to_value());
        }
        // Archiving an archived thread keeps its original `archived_at`; pinning likewise.
        for (flag, column) in [
            (patch.archived, Column::ArchivedAt),
            (patch.pinned, Column::PinnedAt),
        ] {
            match flag {
                Some(true) => {
                    update.value(
                        column,
                        Func::coalesce([Expr::col(column), Expr::val(db.timestamp(now))]),
                    );
                }
                Some(false) => {
                    update.value(column, db.timestamp_or_null(None));
                }
                None => {}
            }
        }
        if let Some(leaf) = patch.active_leaf {
            update.value(
                Column::ActiveLeafId,
                Value::Uuid(leaf.map(|leaf| *leaf.as_uuid())),
            );
        }
        if let Some(expires_at) = patch.expires_at {
            update.value(Column::ExpiresAt, db.timestamp_or_null(expires_at));
        }
        if let Some(stream) = &patch.active_stream {
            update.value(
                Column::ActiveStreamId,
                Value::String(stream.as_ref().map(|s| s.as_str().to_owned())),
            );
        }
        // Switching the active leaf or the stream id alone leaves the thread's place in
        // the list.
        if patch.bumps_updated_at() {
            update.value(Column::UpdatedAt, db.timestamp(now));
        }
        update
            .value(Column::Version, next_version(Column::Version, now))
            .and_where(self.scope(user, id));
        if let Some(versions) = &expected {
            update.and_where(Expr::col(Column::Version).is_in(versions.iter().map(Version::get)));
        }
        update.returning(Query::returning().columns(THREAD_COLUMNS));
        let statement = db.backend().build(&update);
        let row = match txn.as_mut() {
            Some(txn) => txn.statement_rows(statement).await?,
            None => db.statement_rows(statement).await?,
        }
        .into_iter()
        .next();
        if let (Some(txn), Some(_)) = (txn, &row) {
            txn.commit().await?;
        }
        match row {
            Some(row) => {
                self.signals.changed(user);
                thread_from_row(&row)
            }
            None if expected.is_some() => Err(self.missing_or_mismatch(user, id).await),
            None => Err(StoreError::NotFound),
        }
    }

    async fn delete_thread(&self, user: &UserId, id: ThreadId) -> Result<(), StoreError> {
        // One statement: the foreign key's ON DELETE CASCADE removes the messages in the
        // same transaction.
        let delete = Query::delete()
            .from_table(thread::Entity)
            .and_where(self.scope(user, id))
            .to_owned();
        if self.db.execute(&delete).await? == 0 {
            return Err(StoreError::NotFound);
        }
        self.signals.changed(user);
        Ok(())
    }

    async fn fork_thread(
        &self,
        user: &UserId,
        source: ThreadId,
        message: MessageId,
        fork: &Thread,
    ) -> Result<Thread, StoreError> {
        let db = &self.db;
        let backend = db.backend();
        let mut txn = db.begin_write().await?;
        let mut exec = Exec::Txn(&mut txn);
        if !tree::thread_exists(&mut exec, user, source).await? {
            return Err(StoreError::NotFound);
        }
        let path = tree::whole_path(&mut exec, user, source, *message.as_uuid()).await?;
        let Some(last) = path.last() else {
            return Err(StoreError::UnknownMessage(message));
        };
        // Copies: new ids, one new branch, each the child of the one before.
        let mut copies = Vec::with_capacity(path.len());
        let mut parent = None;
        for original in &path {
            let id = MessageId::generate();
            copies.push(Message {
                id,
                thread_id: fork.id,
                parent_id: parent,
                role: original.role,
                content: original.content.clone(),
                parts: original.parts.clone(),
                status: original.status,
                sources: original.sources.clone(),
                metadata: original.metadata.clone(),
                feedback: None,
                created_at: original.created_at,
                updated_at: fork.created_at,
                version: Version::new(fork.version.get()),
            });
            parent = Some(id);
        }
        let stored = Thread {
            message_count: i64::try_from(copies.len()).map_err(StoreError::unexpected)?,
            last_message_at: Some(last.created_at),
            active_leaf_id: parent,
            ..fork.clone()
        };
        txn.execute(&insert_statement(backend, &stored)?).await?;
        let branch = vec![uuid::Uuid::now_v7(); copies.len()];
        insert_messages(&mut txn, user, fork.id, &copies, &branch).await?;
        txn.commit().await?;
        self.signals.changed(user);
        Ok(stored)
    }

    async fn import_thread(
        &self,
        thread: &Thread,
        messages: &[Message],
    ) -> Result<bool, StoreError> {
        let db = &self.db;
        let mut txn = db.begin_write().await?;
        let owner = thread::Entity::find()
            .select_only()
            .column(Column::UserId)
            .filter(Expr::col((thread::Entity, Column::Id)).eq(*thread.id.as_uuid()));
        if let Some(row) = txn.row(&owner).await? {
            return if row.get::<String>(0)? == thread.user_id.as_str() {
                Ok(false)
            } else {
                Err(StoreError::AlreadyExists)
            };
        }
        txn.execute(&insert_statement(db.backend(), thread)?)
            .await?;
        // Each message continues its parent's branch when it is the first of the
        // parent's children here, else starts one (see `tree`); a root starts one.
        let fresh = uuid::Uuid::now_v7();
        let branches: Vec<uuid::Uuid> = tree::plan_branches(messages)
            .into_iter()
            .map(|branch| branch.unwrap_or(fresh))
            .collect();
        insert_messages(&mut txn, &thread.user_id, thread.id, messages, &branches).await?;
        txn.commit().await?;
        self.signals.changed(&thread.user_id);
        Ok(true)
    }

    async fn delete_all_threads(&self, user: &UserId) -> Result<Purged, StoreError> {
        let delete = Query::delete()
            .from_table(thread::Entity)
            .and_where(Expr::col((thread::Entity, Column::UserId)).eq(user.as_str()))
            .returning(Query::returning().columns([Column::UserId, Column::MessageCount]))
            .to_owned();
        self.delete_returning(&delete).await
    }

    async fn purge_threads(&self, rule: PurgeRule, limit: u64) -> Result<Purged, StoreError> {
        let backend = self.db.backend();
        let mut pick = Query::select();
        pick.column(Column::Id)
            .from(thread::Entity)
            .and_where(purge_condition(backend, rule))
            .limit(sql_limit(limit));
        if backend == DbBackend::Postgres {
            // Replicas sweeping at once take disjoint batches instead of queueing behind
            // each other's locks (SQLite's writers are serialized anyway).
            pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let delete = Query::delete()
            .from_table(thread::Entity)
            .and_where(Expr::col((thread::Entity, Column::Id)).in_subquery(pick))
            .returning(Query::returning().columns([Column::UserId, Column::MessageCount]))
            .to_owned();
        self.delete_returning(&delete).await
    }

    async fn count_purgeable(&self, rule: PurgeRule) -> Result<Purged, StoreError> {
        let db = &self.db;
        let select = Query::select()
            .expr(Func::count(Expr::col((thread::Entity, Column::Id))))
            .expr(Func::cast_as(
                Func::coalesce([
                    Func::sum(Expr::col((thread::Entity, Column::MessageCount))).into(),
                    Expr::val(0i64),
                ]),
                "bigint",
            ))
            .from(thread::Entity)
            .and_where(purge_condition(db.backend(), rule))
            .to_owned();
        let row = db.statement_one_row(db.backend().build(&select)).await?;
        Ok(Purged {
            threads: count(row.get(0)?)?,
            messages: count(row.get(1)?)?,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // Through the executor that serves requests: ready means a request can get a
        // connection and run a statement now.
        let db = &self.db;
        db.statement_rows(Statement::from_string(db.backend(), "SELECT 1"))
            .await?;
        Ok(())
    }
}
