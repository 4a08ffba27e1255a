-- Seeds one user's large history for bench/history.sh (the export half), on a database
-- already migrated:
--
--   psql -v threads=2000 -v per_thread=500 -f bench/history.sql "$DATABASE_URL"
--
-- user 'bench-user-1' (:user to change), :threads threads of :per_thread messages each
-- (at most 1023), each thread one linear path on one branch (the thread's id, as the tree
-- migration backfills), alternating user / assistant messages of 40 B .. 2 KB of the
-- corpus of bench/seed.sql, assistant ones with two sources, parts NULL (derived from the
-- content), status 'complete'; created_at one second apart within a thread, threads ten
-- minutes apart. Thread counters (message_count, last_message_at, updated_at, version,
-- active_leaf_id) agree with the messages. Ids follow bench/seed.sql's scheme except the
-- message number: thread t is 01800000-0000-7000-8000-<t in 12 hex digits>, its message m
-- is 01900000-0000-7000-8000-<t * 1024 + m in 12 hex digits>; both grow in insertion
-- order, and thread ids sort in creation order (the export's order).
\set ON_ERROR_STOP on
\if :{?threads}
\else
\set threads 2000
\endif
\if :{?per_thread}
\else
\set per_thread 500
\endif
\if :{?user}
\else
\set user bench-user-1
\endif
SET synchronous_commit = off;
SET client_min_messages = warning;
SELECT :per_thread BETWEEN 1 AND 1023 AS per_thread_ok \gset
\if :per_thread_ok
\else
\echo per_thread must be 1..1023
\quit 1
\endif

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

INSERT INTO chat_threads (id, user_id, title, metadata, message_count, last_message_at,
                          created_at, updated_at, version)
SELECT ('01800000-0000-7000-8000-' || lpad(to_hex(t), 12, '0'))::uuid,
       :'user', 'Thread ' || t, '{}'::jsonb, 0, NULL,
       now() - interval '60 days' + t * interval '10 minutes',
       now() - interval '60 days' + t * interval '10 minutes',
       (extract(epoch FROM now() - interval '60 days') * 1000000)::bigint + t::bigint * 600000000
FROM generate_series(1, :threads) AS t;

-- Foreign-key and event triggers off while loading (consistent by construction; no
-- live events for a seed).
SET session_replication_role = replica;
INSERT INTO chat_messages (id, thread_id, user_id, parent_id, branch_id, role, content,
                           sources, metadata, created_at, updated_at, version)
SELECT ('01900000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid,
       thread_id,
       :'user',
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
FROM generate_series(1, :threads) AS t,
     LATERAL (SELECT m, t::bigint * 1024 + m AS n,
                     ('01800000-0000-7000-8000-' || lpad(to_hex(t), 12, '0'))::uuid AS thread_id,
                     now() - interval '60 days' + t * interval '10 minutes' + m * interval '1 second' AS at
              FROM generate_series(1, :per_thread) AS m) AS s;

-- Counters exactly as the service keeps them (still without events).
UPDATE chat_threads AS th
SET message_count = s.count, last_message_at = s.last, updated_at = s.last,
    version = (extract(epoch FROM s.last) * 1000000)::bigint, active_leaf_id = s.leaf
FROM (SELECT thread_id, count(*) AS count, max(created_at) AS last,
             (array_agg(id ORDER BY created_at DESC, id DESC))[1] AS leaf
      FROM chat_messages GROUP BY thread_id) AS s
WHERE th.id = s.thread_id;
SET session_replication_role = origin;

VACUUM (ANALYZE) chat_threads;
VACUUM (ANALYZE) chat_messages;
SELECT (SELECT count(*) FROM chat_threads) AS threads,
       (SELECT count(*) FROM chat_messages) AS messages,
       pg_size_pretty(pg_database_size(current_database())) AS size;
