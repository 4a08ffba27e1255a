-- Seeds a chat-history database (already migrated) with a realistic, deterministic data set.
--
--   psql -v users=1000 -f bench/seed.sql "$DATABASE_URL"
--
-- users          : number of users (each with one Better Auth session)
-- 20 threads per user, 10..90 messages per thread (50 on average): users * 1000 messages.
-- Messages alternate user / assistant; assistant messages carry two sources; contents are
-- slices of 40 B .. 2 KB of a word corpus (so full-text search has words to find).
--
-- Ids are deterministic, so the load scripts can name any thread without a lookup:
--   user u      : 'bench-user-<u>'
--   thread t    : 01800000-0000-7000-8000-<t as 12 hex digits>, t = (u - 1) * 20 + k, k in 1..20
--   message m of thread t: 01900000-0000-7000-8000-<t * 128 + m as 12 hex digits>
--   session of u: token 'benchsession' || lpad(u, 20, '0') (32 characters, like Better Auth's)
-- Both id sequences grow with insertion order, like UUIDv7, so every B-tree is appended to.
\set ON_ERROR_STOP on
\if :{?users}
\else
\set users 1000
\endif
SET synchronous_commit = off;
SET client_min_messages = warning;

-- Better Auth's tables, in the shape of its Kysely migrations (only "session" is read).
CREATE TABLE IF NOT EXISTS "user" (
    id text PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE,
    "emailVerified" boolean NOT NULL DEFAULT false, image text,
    "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS "session" (
    id text PRIMARY KEY, "expiresAt" timestamptz NOT NULL, token text NOT NULL UNIQUE,
    "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL DEFAULT now(),
    "ipAddress" text, "userAgent" text,
    "userId" text NOT NULL REFERENCES "user"(id) ON DELETE CASCADE);

-- A ~8 KiB corpus of words, the same on every run, held in a psql variable: a constant is
-- decompressed and scanned once, a TOASTed column value once per row.
SELECT setseed(0.42);
WITH words AS (
    SELECT array_agg(w) AS w FROM unnest(string_to_array(
      'the a of to and in is it you that for on with as are this be at have or from by not '
      'but what all were when we there can an your which their said if do will each about '
      'how up out them then she many some so these would other into has more her two like '
      'him see time could no make than first been its who now people my made over did down '
      'only way find use may water long little very after words called just where most know '
      'postgres rust thread message history search index query latency throughput cache '
      'session token append page cursor keyset benchmark database server client request '
      'lisbon alfama travel restaurant museum train ticket hotel weather river bridge castle '
      'recipe garlic olive bread coffee tea pasta tomato lemon salt pepper butter sugar '
      'python javascript compiler borrow checker lifetime trait async await future tokio '
      'actix sqlx seaorm migration transaction commit rollback vacuum analyze explain plan '
      'kubernetes docker container replica backup restore snapshot metrics tracing logs '
      'invoice payment refund order shipping delivery customer support account password '
      'physics energy quantum gravity planet orbit galaxy telescope photon electron '
      'music guitar piano melody rhythm concert album song lyrics chorus verse tempo', ' ')) AS w)
SELECT string_agg(w[1 + floor(random() * array_length(w, 1))::int], ' ') AS corpus
FROM words, generate_series(1, 1400) \gset

-- Threads: 20 per user, counters filled in below.
INSERT INTO chat_threads (id, user_id, title, metadata, message_count, last_message_at,
                          created_at, updated_at, version)
SELECT ('01800000-0000-7000-8000-' || lpad(to_hex(t), 12, '0'))::uuid,
       'bench-user-' || ((t - 1) / 20 + 1),
       'Thread ' || t,
       '{}'::jsonb,
       0, NULL,
       now() - interval '60 days' + t * interval '10 ms',
       now() - interval '60 days' + t * interval '10 ms',
       (extract(epoch FROM now() - interval '60 days') * 1000000)::bigint + t * 10000
FROM generate_series(1, :users * 20) AS t;

-- Messages: thread t has 10 + (t * 7919) % 81 of them, one second apart; message m of
-- thread t is number n = t * 128 + m (so ids grow in insertion order without a sort).
-- Each thread is one path (what a client that never sends `parent_id` makes): message m's
-- parent is m - 1, all on one branch (the thread's id, as the tree migration backfills).
-- Foreign-key triggers are off while loading (the rows are consistent by construction).
SET session_replication_role = replica;
INSERT INTO chat_messages (id, thread_id, user_id, parent_id, branch_id, role, content,
                           sources, metadata, created_at, updated_at, version)
SELECT ('01900000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid,
       thread_id,
       'bench-user-' || ((t - 1) / 20 + 1),
       CASE WHEN m > 1 THEN ('01900000-0000-7000-8000-' || lpad(to_hex(n - 1), 12, '0'))::uuid END,
       thread_id,
       CASE WHEN m % 2 = 1 THEN 'user' ELSE 'assistant' END,
       substr(:'corpus', (1 + (n * 7919) % 6000)::int,
              (CASE WHEN m % 2 = 1 THEN 40 + (n * 13) % 400 ELSE 200 + (n * 31) % 1800 END)::int),
       CASE WHEN m % 2 = 1 THEN '[]'::jsonb
            ELSE format('[{"title":"Source %s","url":"https://example.com/doc/%s","snippet":"A short quote from document %s."},'
                        '{"title":"Reference %s","url":"https://example.org/ref/%s","snippet":"Another quote."}]',
                        n, n, n, n + 1, n + 1)::jsonb END,
       '{}'::jsonb,
       at, at,
       (extract(epoch FROM at) * 1000000)::bigint
FROM generate_series(1, :users * 20) AS t,
     LATERAL (SELECT m, t::bigint * 128 + m AS n,
                     ('01800000-0000-7000-8000-' || lpad(to_hex(t), 12, '0'))::uuid AS thread_id,
                     now() - interval '60 days' + t * interval '10 ms' + m * interval '1 second' AS at
              FROM generate_series(1, 10 + (t * 7919) % 81) AS m) AS s;
SET session_replication_role = origin;

-- Counters exactly as the service keeps them.
UPDATE chat_threads AS th
SET message_count = s.count, last_message_at = s.last, updated_at = s.last,
    version = (extract(epoch FROM s.last) * 1000000)::bigint, active_leaf_id = s.leaf
FROM (SELECT thread_id, count(*) AS count, max(created_at) AS last,
             (array_agg(id ORDER BY created_at DESC, id DESC))[1] AS leaf
      FROM chat_messages GROUP BY thread_id) AS s
WHERE th.id = s.thread_id;

-- One user row and one live session per user.
INSERT INTO "user" (id, name, email, "emailVerified")
SELECT 'bench-user-' || u, 'Bench User ' || u, 'bench' || u || '@example.com', true
FROM generate_series(1, :users) AS u
ON CONFLICT DO NOTHING;
INSERT INTO "session" (id, "expiresAt", token, "userId", "userAgent")
SELECT 'bench-session-' || u, now() + interval '7 days',
       'benchsession' || lpad(u::text, 20, '0'), 'bench-user-' || u, 'bench'
FROM generate_series(1, :users) AS u
ON CONFLICT DO NOTHING;

VACUUM (ANALYZE) chat_threads;
VACUUM (ANALYZE) chat_messages;
VACUUM (ANALYZE) "session";
SELECT (SELECT count(*) FROM chat_threads) AS threads,
       (SELECT count(*) FROM chat_messages) AS messages,
       (SELECT count(*) FROM "session") AS sessions,
       pg_size_pretty(pg_database_size(current_database())) AS size;
