import { betterAuth } from 'better-auth';
import { nextCookies } from 'better-auth/next-js';
import { Pool } from 'pg';

import { authConfig } from './auth-config.mjs';

// One pool per server process (Next.js may evaluate this module more than once).
const globalForPool = globalThis as unknown as { betterAuthPool?: Pool };
const pool = (globalForPool.betterAuthPool ??= new Pool({
  connectionString: process.env.DATABASE_URL,
  max: 5,
}));

const config = authConfig(pool);

export const auth = betterAuth({
  ...config,
  // nextCookies: sign-in and sign-up from server actions set the cookie.
  plugins: [...config.plugins, nextCookies()],
});
