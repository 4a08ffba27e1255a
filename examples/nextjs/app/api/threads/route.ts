// The sidebar's list (newest first; ?archived=true for the archive) and "New chat".
import { generateUuid } from '@chat-history/client';

import { chatHistory, signInFirst } from '@/lib/chat-history';

export const dynamic = 'force-dynamic';

export async function GET(req: Request) {
  const history = await chatHistory();
  if (!history) return signInFirst();
  const archived = new URL(req.url).searchParams.get('archived') === 'true' ? 'true' : 'false';
  // Most recently updated first (the service's order); the sidebar puts pinned ones on top.
  const page = await history.listThreads({ archived, limit: 100 });
  return Response.json({ threads: page.data, hasMore: page.has_more });
}

export async function POST() {
  const history = await chatHistory();
  if (!history) return signInFirst();
  // A client id makes the create safe to retry.
  const thread = await history.createThread({ id: generateUuid(), title: '' });
  return Response.json({ thread }, { status: 201 });
}
