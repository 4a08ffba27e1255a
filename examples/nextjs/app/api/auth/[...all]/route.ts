import { toNextJsHandler } from 'better-auth/next-js';

import { auth } from '@/lib/auth';

// Sign-up, sign-in, sessions, and the jwt plugin's /api/auth/token and /api/auth/jwks
// (chat-history fetches the public keys from there).
export const { GET, POST } = toNextJsHandler(auth);
