-- The Better Auth session lookup the service runs for a session token (on a cache miss).
\set u random(1, :users)
SELECT CAST("userId" AS TEXT) AS user_id, CAST(EXTRACT(EPOCH FROM "expiresAt") * 1000000 AS BIGINT) AS expires_at_us FROM "session" WHERE "token" = 'benchsession' || lpad(:u::text, 20, '0') LIMIT 1;
