// A real Better Auth installation for the interop test: email and password sign-in, the
// `bearer` and `jwt` plugins, PostgreSQL through `pg`, Better Auth's own migrations.
//
// Imported by interop.test.mjs, or run on its own to poke at it by hand:
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/some_db \
//   BETTER_AUTH_SECRET=... PORT=3000 node server.mjs
import http from "node:http";
import { pathToFileURL } from "node:url";

import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { bearer, jwt } from "better-auth/plugins";
import pg from "pg";

/**
 * Migrates the database and serves Better Auth on 127.0.0.1.
 *
 * @param {{databaseUrl: string, secret: string, port?: number}} options `port` 0 (the
 *   default) picks a free port.
 * @returns {Promise<{url: string, auth: object, pool: pg.Pool, close: () => Promise<void>}>}
 *   `url` is the base URL (also the JWT issuer and audience).
 */
export async function startBetterAuth({ databaseUrl, secret, port = 0 }) {
  // The port must be known before Better Auth is configured (its base URL is the JWT
  // issuer), so bind first and attach the handler afterwards.
  let handler = null;
  const server = http.createServer((req, res) => {
    if (handler === null) {
      res.writeHead(503).end();
      return;
    }
    handler(req, res);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}`;

  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const options = {
    baseURL: url,
    secret,
    database: pool,
    emailAndPassword: { enabled: true, autoSignIn: true },
    trustedOrigins: [url],
    telemetry: { enabled: false },
    plugins: [bearer(), jwt()],
  };
  const { runMigrations } = await getMigrations(options);
  await runMigrations();

  const auth = betterAuth(options);
  handler = toNodeHandler(auth);

  return {
    url,
    auth,
    pool,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await pool.end();
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { DATABASE_URL, BETTER_AUTH_SECRET, PORT } = process.env;
  if (!DATABASE_URL || !BETTER_AUTH_SECRET) {
    console.error("set DATABASE_URL and BETTER_AUTH_SECRET (and optionally PORT)");
    process.exit(2);
  }
  const { url } = await startBetterAuth({
    databaseUrl: DATABASE_URL,
    secret: BETTER_AUTH_SECRET,
    port: Number(PORT ?? 0),
  });
  console.log(`Better Auth listening on ${url}`);
}
