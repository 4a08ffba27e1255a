//! `chat_threads`.

use sea_orm::entity::prelude::*;

/// One row of `chat_threads`. Timestamps are `timestamptz` on PostgreSQL and fixed-width
/// RFC 3339 text on SQLite (see `crate::db::Db::timestamp`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_threads")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: String,
    pub title: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    pub archived_at: Option<DateTimeUtc>,
    pub pinned_at: Option<DateTimeUtc>,
    pub message_count: i64,
    pub last_message_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i64,
    pub active_leaf_id: Option<Uuid>,
    pub active_stream_id: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {
    #[sea_orm(has_many = "super::message::Entity")]
    Message,
}

impl Related<super::message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Message.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
