//! The chat tables: threads owned by a user, and their messages.
//!
//! This migration has landed: never edit it, add a new one instead. It declares its own
//! identifiers and imports no entity, so later entity changes cannot alter what it did.

use sea_orm_migration::prelude::*;

/// Creates `chat_threads` and `chat_messages` with their list indexes.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChatThreads {
    Table,
    Id,
    UserId,
    Title,
    Metadata,
    ArchivedAt,
    PinnedAt,
    MessageCount,
    LastMessageAt,
    CreatedAt,
    UpdatedAt,
    Version,
}

#[derive(DeriveIden)]
enum ChatMessages {
    Table,
    Id,
    ThreadId,
    Role,
    Content,
    Sources,
    Metadata,
    CreatedAt,
    UpdatedAt,
    Version,
}

const THREADS_LIST_INDEX: &str = "chat_threads_user_updated_idx";
const MESSAGES_LIST_INDEX: &str = "chat_messages_thread_created_idx";
const MESSAGES_THREAD_FK: &str = "chat_messages_thread_id_fkey";
const MESSAGES_ROLE_CHECK: &str = "chat_messages_role_check";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChatThreads::Table)
                    .col(
                        ColumnDef::new(ChatThreads::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ChatThreads::UserId).text().not_null())
                    .col(
                        ColumnDef::new(ChatThreads::Title)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(
                        ColumnDef::new(ChatThreads::Metadata)
                            .json_binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ChatThreads::ArchivedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ChatThreads::PinnedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ChatThreads::MessageCount)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(ChatThreads::LastMessageAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ChatThreads::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ChatThreads::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ChatThreads::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        // A user's thread list reads this index in order: `(updated_at desc, id desc)`.
        manager
            .create_index(
                Index::create()
                    .name(THREADS_LIST_INDEX)
                    .table(ChatThreads::Table)
                    .col(ChatThreads::UserId)
                    .col((ChatThreads::UpdatedAt, IndexOrder::Desc))
                    .col((ChatThreads::Id, IndexOrder::Desc))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChatMessages::Table)
                    .col(
                        ColumnDef::new(ChatMessages::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ChatMessages::ThreadId).uuid().not_null())
                    .col(ColumnDef::new(ChatMessages::Role).text().not_null().check((
                        MESSAGES_ROLE_CHECK,
                        Expr::col(ChatMessages::Role).is_in([
                            "system",
                            "user",
                            "assistant",
                            "tool",
                        ]),
                    )))
                    .col(ColumnDef::new(ChatMessages::Content).text().not_null())
                    .col(
                        ColumnDef::new(ChatMessages::Sources)
                            .json_binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ChatMessages::Metadata)
                            .json_binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ChatMessages::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ChatMessages::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ChatMessages::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name(MESSAGES_THREAD_FK)
                            .from(ChatMessages::Table, ChatMessages::ThreadId)
                            .to(ChatThreads::Table, ChatThreads::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // A thread's message list reads this index in either direction; it also serves the
        // foreign key (cascade deletes find a thread's messages through it).
        manager
            .create_index(
                Index::create()
                    .name(MESSAGES_LIST_INDEX)
                    .table(ChatMessages::Table)
                    .col(ChatMessages::ThreadId)
                    .col(ChatMessages::CreatedAt)
                    .col(ChatMessages::Id)
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ChatMessages::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ChatThreads::Table).to_owned())
            .await
    }
}
