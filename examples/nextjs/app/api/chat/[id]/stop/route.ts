// Stops the reply being generated in a thread: the one whose id is the thread's
// active_stream_id. The reply is then saved with status "aborted" and what it had.
import { chatHistory, notFoundOr, signInFirst } from '@/lib/chat-history';
import { replies } from '@/lib/replies';

export const dynamic = 'force-dynamic';

export async function POST(_req: Request, { params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const history = await chatHistory();
  if (!history) return signInFirst();
  let streamId: string | null;
  try {
    // Only the owner gets here: another user's thread answers 404.
    streamId = (await history.getThread(id)).thread.active_stream_id ?? null;
  } catch (e) {
    return notFoundOr(e);
  }
  const reply = replies.get(id);
  const stopped = reply !== undefined && streamId !== null && reply.streamId === streamId;
  if (stopped) reply.controller.abort();
  return Response.json({ stopped });
}
