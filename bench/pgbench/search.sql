-- GET /api/v1/search?q=...: the other branch's design (tsvector column "search", GIN index,
-- websearch_to_tsquery('simple', q), ts_rank_cd). Used only when the service has the route
-- and the table the column; adjust to the merged SQL.
\set u random(1, :users)
SELECT m."id", m."thread_id", m."role", m."content", m."sources", m."metadata", m."created_at", m."updated_at", m."version", t."title", ts_rank_cd(m."search", q) AS rank FROM "chat_messages" m JOIN "chat_threads" t ON t."id" = m."thread_id", websearch_to_tsquery('simple', 'postgres') q WHERE t."user_id" = 'bench-user-' || :u AND m."search" @@ q ORDER BY rank DESC, m."created_at" DESC, m."id" DESC LIMIT 21;
