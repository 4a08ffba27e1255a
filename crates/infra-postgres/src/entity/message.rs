//! `chat_messages`.

use sea_orm::entity::prelude::*;

/// One row of `chat_messages`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_messages")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub thread_id: Uuid,
    pub user_id: String,
    pub parent_id: Option<Uuid>,
    /// The branch (a chain of parent links) the message is part of; internal.
    pub branch_id: Uuid,
    pub role: String,
    pub content: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub sources: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    /// `NULL`: derived from `content`.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub parts: Option<Json>,
    pub status: String,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub feedback: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {
    #[sea_orm(
        belongs_to = "super::thread::Entity",
        from = "Column::ThreadId",
        to = "super::thread::Column::Id",
        on_delete = "Cascade"
    )]
    Thread,
}

impl Related<super::thread::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Thread.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
