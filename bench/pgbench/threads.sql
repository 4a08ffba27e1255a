-- GET /api/v1/threads?limit=20: the user's active threads that have not expired, newest
-- first (21 rows for has_more), as the service sends it (its columns, the expiry condition
-- with the request's time as a parameter).
\set u random(1, :users)
SELECT "chat_threads"."id", "chat_threads"."user_id", "chat_threads"."title", "chat_threads"."metadata", "chat_threads"."archived_at", "chat_threads"."pinned_at", "chat_threads"."message_count", "chat_threads"."last_message_at", "chat_threads"."created_at", "chat_threads"."updated_at", "chat_threads"."version", "chat_threads"."active_leaf_id", "chat_threads"."active_stream_id", "chat_threads"."expires_at" FROM "chat_threads" WHERE "chat_threads"."user_id" = 'bench-user-' || :u AND ("chat_threads"."expires_at" IS NULL OR "chat_threads"."expires_at" > now()) AND "chat_threads"."archived_at" IS NULL ORDER BY "chat_threads"."updated_at" DESC, "chat_threads"."id" DESC LIMIT 21;
