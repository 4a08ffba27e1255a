'use client';

import { createAuthClient } from 'better-auth/react';

// Same origin: Better Auth's routes are app/api/auth/[...all].
export const authClient = createAuthClient();
