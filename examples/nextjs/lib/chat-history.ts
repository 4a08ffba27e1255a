// The one place where the app makes a chat-history client: for the signed-in user, with a
// Better Auth JWT (the jwt plugin) as the bearer token. Never the browser's cookie: the
// service is another origin, and a forwarded cookie would also make every write a
// cookie-authenticated one (Origin checks, TRUSTED_ORIGINS) for no gain.
import { createChatHistoryClient, type ChatHistoryClient } from '@chat-history/client';
import { headers } from 'next/headers';

import { auth } from '@/lib/auth';

/** Where the service is: its origin, without /api/v1. */
function serviceUrl(): string {
  const url = process.env.CHAT_HISTORY_URL;
  if (!url) throw new Error('set CHAT_HISTORY_URL to the chat-history service (e.g. http://127.0.0.1:8080)');
  return url;
}

/** A fresh JWT of the user whose request `requestHeaders` are, or null when signed out. */
async function jwtFor(requestHeaders: Headers): Promise<string | null> {
  try {
    const { token } = await auth.api.getToken({ headers: requestHeaders });
    return token;
  } catch {
    return null; // no session: 401 from Better Auth
  }
}

/**
 * A client for the user of the current request (a route handler or a server component),
 * or `null` when nobody is signed in.
 *
 * `longLived`: for a request that outlives the JWT (15 minutes; the events feed): the
 * token is signed anew before each (re)connection, while the session lasts.
 */
export async function chatHistory({ longLived = false } = {}): Promise<ChatHistoryClient | null> {
  const requestHeaders = new Headers(await headers());
  const token = await jwtFor(requestHeaders);
  if (token === null) return null;
  if (!longLived) return createChatHistoryClient({ baseUrl: serviceUrl(), token });
  let current = token;
  let signedAt = Date.now();
  return createChatHistoryClient({
    baseUrl: serviceUrl(),
    getToken: async () => {
      if (Date.now() - signedAt > 10 * 60_000) {
        current = (await jwtFor(requestHeaders)) ?? current;
        signedAt = Date.now();
      }
      return current;
    },
  });
}

/** The session of the current request (server components: who is signed in). */
export async function currentSession() {
  return auth.api.getSession({ headers: await headers() });
}

/** 401 for route handlers when nobody is signed in. */
export function signInFirst(): Response {
  return Response.json({ error: 'sign in first' }, { status: 401 });
}

/** Maps the service's "not yours / not there / not a UUID" answers to 404; rethrows the rest. */
export function notFoundOr(e: unknown): Response {
  const status = (e as { status?: number })?.status;
  if (status === 400 || status === 404 || status === 422) {
    return Response.json({ error: (e as Error).message }, { status: status === 422 ? 422 : 404 });
  }
  throw e;
}
