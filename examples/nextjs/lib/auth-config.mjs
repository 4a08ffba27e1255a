// Better Auth's options, shared by the app (lib/auth.ts) and its migrations
// (scripts/migrate.mjs), so that both know the same plugins and so the same tables.
import { jwt } from "better-auth/plugins";

/**
 * @param {import("pg").Pool} pool Better Auth's PostgreSQL database.
 */
export function authConfig(pool) {
  return {
    database: pool,
    // BETTER_AUTH_URL and BETTER_AUTH_SECRET are read from the environment by Better Auth.
    // chat-history gets the same BETTER_AUTH_URL: it fetches the JWKS from
    // `$BETTER_AUTH_URL/api/auth/jwks` and expects it as the JWTs' `iss` and `aud`.
    emailAndPassword: { enabled: true, autoSignIn: true },
    telemetry: { enabled: false },
    // The jwt plugin: `auth.api.getToken` signs a short-lived (15 min) EdDSA JWT of the
    // signed-in user, the credential every route handler sends to chat-history.
    plugins: [jwt()],
  };
}
