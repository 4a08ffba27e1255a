// Creates (or updates) Better Auth's tables: user, session, account, verification and the
// jwt plugin's jwks. `DATABASE_URL=postgres://... npm run migrate`; e2e.test.mjs runs it
// before it starts the app. Nothing is fetched: Better Auth's migrator is in node_modules.
import { getMigrations } from "better-auth/db/migration";
import pg from "pg";

import { authConfig } from "../lib/auth-config.mjs";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("set DATABASE_URL to Better Auth's PostgreSQL database");
  process.exit(2);
}
const pool = new pg.Pool({ connectionString: url, max: 2 });
try {
  const { toBeCreated, toBeAdded, runMigrations } = await getMigrations({
    ...authConfig(pool),
    secret: process.env.BETTER_AUTH_SECRET ?? "migrations-need-no-secret-0123456789",
    baseURL: process.env.BETTER_AUTH_URL ?? "http://localhost:3000",
  });
  await runMigrations();
  console.log(
    `Better Auth migrations: ${toBeCreated.length} table(s) created, ${toBeAdded.length} changed`,
  );
} finally {
  await pool.end();
}
