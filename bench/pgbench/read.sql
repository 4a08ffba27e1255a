-- GET /api/v1/threads/{t}/messages?limit=50&order=desc: the service's one statement
-- (ownership checked by the message's own user_id; 51 rows fetched to know has_more).
\set u random(1, :users)
\set k random(1, 20)
\set t (:u - 1) * 20 + :k
SELECT "chat_messages"."id", "chat_messages"."thread_id", "chat_messages"."role", "chat_messages"."content", "chat_messages"."sources", "chat_messages"."metadata", "chat_messages"."created_at", "chat_messages"."updated_at", "chat_messages"."version" FROM "chat_messages" WHERE "chat_messages"."thread_id" = ('01800000-0000-7000-8000-' || lpad(to_hex(:t::bigint), 12, '0'))::uuid AND "chat_messages"."user_id" = 'bench-user-' || :u ORDER BY "chat_messages"."created_at" DESC, "chat_messages"."id" DESC LIMIT 51;
