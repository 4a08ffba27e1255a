-- Seeds a chat-history database (already migrated) for the search-scaling scenarios
-- (bench/search-scaling.sh): one user with many messages, one with few, and optionally
-- many messages of other users, with a common and a rare word at exact frequencies.
--
--   psql -v big_threads=1000 -v small_threads=20 -v other_users=0 \
--        -f bench/search-scaling.sql "$DATABASE_URL"
--
-- big_threads    threads of user 'bench-user-1' ("big"),   50 messages each (1000: 50,000)
-- small_threads  threads of user 'bench-user-2' ("small"), 50 messages each (20: 1,000)
-- other_users    users 'bench-user-3' .. 'bench-user-<other_users + 2>', 20 threads of 50
--                messages (1,000 messages) each: the "messages of others"
--
-- Words, by the message's number i (0-based) among its user's messages, so that every user
-- gets exactly the same share whatever the sizes:
--   'common'   in 6 messages of every 10 ((i * 7 + 3) % 10 < 6): 60 %
--   'zanzibar' in 1 message of every 1,000 (i % 1000 = 617): 0.1 %, 50 for "big", 1 for "small"
-- The rest of every content is a slice of 40 B .. 2 KB of a fixed word corpus (the words of
-- bench/seed.sql, neither of the two above among them), so the tsvectors have a realistic
-- size. Messages alternate user / assistant; assistant messages carry two sources.
--
-- Layout: every thread has 50 messages and all threads are written at the same time: the
-- messages, in insertion (and created_at, and id) order, go round the threads, each round
-- visiting every thread once in a fixed scrambled order. A user's messages are therefore
-- spread evenly over the whole table among everybody else's, as in a database that has
-- served all its users for a while; nothing clusters one user's rows on the same pages.
--
-- Ids are deterministic (the scheme of bench/seed.sql):
--   thread t (1-based): 01800000-0000-7000-8000-<t as 12 hex digits>; threads 1 .. big_threads
--     are "big"'s, then small_threads of "small", then 20 per other user
--   message n (1-based, insertion order): 01900000-0000-7000-8000-<n as 12 hex digits>
--
-- chat_messages.user_id (the owner, as on its thread) is set when the schema has that
-- column, and left out when it does not.
\set ON_ERROR_STOP on
\if :{?big_threads}
\else
\set big_threads 1000
\endif
\if :{?small_threads}
\else
\set small_threads 20
\endif
\if :{?other_users}
\else
\set other_users 0
\endif
SET synchronous_commit = off;
SET client_min_messages = warning;

-- Which columns does the schema (from the service's migrations) have: chat_messages.user_id,
-- and the tree columns (parent_id, branch_id, chat_threads.active_leaf_id)? A binary from
-- before either (to compare with it on its own schema) lacks them.
SELECT coalesce(bool_or(column_name = 'user_id'), false) AS has_owner,
       coalesce(bool_or(column_name = 'parent_id'), false) AS has_tree
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'chat_messages' \gset
\if :has_owner
\set owner_column ', user_id'
\set owner_value ', s.user_id'
\else
\set owner_column ''
\set owner_value ''
\endif
\if :has_tree
\set tree_columns 'parent_id, branch_id,'
\set leaf_update ', active_leaf_id = s.leaf'
\else
\set tree_columns ''
\set leaf_update ''
\endif

-- The same corpus as bench/seed.sql (a psql variable: scanned once, not per row).
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

SELECT :big_threads + :small_threads + :other_users * 20 AS threads,
       (:big_threads + :small_threads + :other_users * 20) * 50 AS messages \gset

-- Message n (0-based here) is message j = n / threads of the thread visited at slot
-- n % threads of its round; the slot -> thread map is a fixed permutation (multiplication
-- by a prime that does not divide the number of threads), so that a user's threads, and so
-- its messages, are spread over every round rather than written next to each other.
SELECT CASE WHEN :threads % 1000003 <> 0 THEN 1000003 ELSE 999983 END AS scramble \gset

-- Threads (counters filled in below).
INSERT INTO chat_threads (id, user_id, title, metadata, message_count, last_message_at,
                          created_at, updated_at, version)
SELECT ('01800000-0000-7000-8000-' || lpad(to_hex(t), 12, '0'))::uuid,
       CASE WHEN t <= :big_threads THEN 'bench-user-1'
            WHEN t <= :big_threads + :small_threads THEN 'bench-user-2'
            ELSE 'bench-user-' || (3 + (t - :big_threads - :small_threads - 1) / 20) END,
       'Thread ' || t, '{}'::jsonb,
       0, NULL,
       now() - interval '30 days', now() - interval '30 days',
       (extract(epoch FROM now() - interval '30 days') * 1000000)::bigint
FROM generate_series(1, :threads) AS t;

-- Messages. Foreign-key triggers are off while loading (consistent by construction), and
-- the secondary indexes are dropped and built again afterwards: one build of a GIN index
-- is several times faster than millions of inserts into it (10M messages: about 75
-- minutes with the indexes in place). Indexes that back constraints stay.
CREATE TEMP TABLE seed_indexes AS
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index AS i
WHERE i.indrelid = 'chat_messages'::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid);
SELECT format('DROP INDEX %s', name) FROM seed_indexes \gexec
SET session_replication_role = replica;
-- Each thread is one path (the message before in the same thread is the parent, one
-- branch named by the thread's id), as a client that never sends `parent_id` makes it.
\if :has_tree
\set tree_values 'CASE WHEN s.n >= ' :threads ' THEN (''01900000-0000-7000-8000-'' || lpad(to_hex(s.n - ' :threads ' + 1), 12, ''0''))::uuid END, (''01800000-0000-7000-8000-'' || lpad(to_hex(s.t), 12, ''0''))::uuid,'
\else
\set tree_values ''
\endif
INSERT INTO chat_messages (id, thread_id, :tree_columns role, content, sources,
                           metadata, created_at, updated_at, version :owner_column)
SELECT ('01900000-0000-7000-8000-' || lpad(to_hex(s.n + 1), 12, '0'))::uuid,
       ('01800000-0000-7000-8000-' || lpad(to_hex(s.t), 12, '0'))::uuid,
       :tree_values
       CASE WHEN s.j % 2 = 0 THEN 'user' ELSE 'assistant' END,
       -- corpus slice, with the words spliced in at a point that varies with the message
       substr(:'corpus', s.start, s.len / 2)
         || CASE WHEN (s.i * 7 + 3) % 10 < 6 THEN ' common ' ELSE ' ' END
         || CASE WHEN s.i % 1000 = 617 THEN 'zanzibar ' ELSE '' END
         || substr(:'corpus', s.start + s.len / 2, s.len - s.len / 2),
       CASE WHEN s.j % 2 = 0 THEN '[]'::jsonb
            ELSE format('[{"title":"Source %s","url":"https://example.com/doc/%s","snippet":"A short quote from document %s."},'
                        '{"title":"Reference %s","url":"https://example.org/ref/%s","snippet":"Another quote."}]',
                        s.n, s.n, s.n, s.n + 1, s.n + 1)::jsonb END,
       '{}'::jsonb,
       s.at, s.at,
       (extract(epoch FROM s.at) * 1000000)::bigint
       :owner_value
FROM generate_series(0::bigint, :messages - 1) AS g(n),
     LATERAL (SELECT 1 + ((g.n % :threads) * :scramble) % :threads AS t) AS slot,
     LATERAL (SELECT g.n, slot.t, g.n / :threads AS j,
                     CASE WHEN slot.t <= :big_threads THEN 'bench-user-1'
                          WHEN slot.t <= :big_threads + :small_threads THEN 'bench-user-2'
                          ELSE 'bench-user-' || (3 + (slot.t - :big_threads - :small_threads - 1) / 20) END AS user_id,
                     -- the message's number among its user's messages
                     CASE WHEN slot.t <= :big_threads THEN slot.t - 1
                          WHEN slot.t <= :big_threads + :small_threads THEN slot.t - :big_threads - 1
                          ELSE (slot.t - :big_threads - :small_threads - 1) % 20 END * 50 + g.n / :threads AS i,
                     (1 + (g.n * 7919) % 6000)::int AS start,
                     (CASE WHEN (g.n / :threads) % 2 = 0 THEN 40 + (g.n * 13) % 400
                           ELSE 200 + (g.n * 31) % 1800 END)::int AS len,
                     now() - interval '30 days' + g.n * interval '100 ms' AS at) AS s;
SET session_replication_role = origin;
SET maintenance_work_mem = '1GB';
SELECT def FROM seed_indexes \gexec
RESET maintenance_work_mem;

-- Counters exactly as the service keeps them.
UPDATE chat_threads AS th
SET message_count = s.count, last_message_at = s.last, updated_at = s.last,
    version = (extract(epoch FROM s.last) * 1000000)::bigint :leaf_update
FROM (SELECT thread_id, count(*) AS count, max(created_at) AS last,
             (array_agg(id ORDER BY created_at DESC, id DESC))[1] AS leaf
      FROM chat_messages GROUP BY thread_id) AS s
WHERE th.id = s.thread_id;

VACUUM (ANALYZE) chat_threads;
VACUUM (ANALYZE) chat_messages;

-- What was seeded, per user of interest (the others summed).
SELECT CASE WHEN t.user_id IN ('bench-user-1', 'bench-user-2') THEN t.user_id ELSE 'others' END AS owner,
       count(*) AS messages,
       count(*) FILTER (WHERE m.search_vector @@ to_tsquery('chat_search', 'common')) AS common,
       count(*) FILTER (WHERE m.search_vector @@ to_tsquery('chat_search', 'zanzibar')) AS zanzibar
FROM chat_messages AS m JOIN chat_threads AS t ON t.id = m.thread_id
GROUP BY 1 ORDER BY 1;
SELECT :'has_owner' AS "chat_messages.user_id set", :'has_tree' AS "tree columns set",
       pg_size_pretty(pg_database_size(current_database())) AS size;
